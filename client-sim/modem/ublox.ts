/**
 * u-blox SARA-R4 / SARA-U2 FTP dialect (u-blox SARA-R4 AT Commands Manual UBX-17003787 R09 pp.215-216 and R16
 * pp.258-260, "FTP" chapter; u-blox application note UBX-17049154 "SARA-R4 firmware update" §3, FTP FOTA), a thin
 * layer on the shared core (core.ts); the module file-system commands are in ublox-fs.ts.
 *
 * Commands:
 * - `+UFTP=<op>[,<value>]` profile: 0 server IP, 1 host name, 2 user, 3 password, 4 account (recorded, ACCT is not
 *   sent), 5 inactivity timeout (s, recorded only), 6 mode (0 active = default, 1 passive; the wire is always
 *   passive, ftp-session.ts), 7 port (default 21), 8 secure (0/1). `+UFTP=<op>` alone resets that parameter.
 *   `+UFTP?` lists the profile. There is no transfer-type setting: the session sends `TYPE I` before its first
 *   SIZE/RETR (ftp-session.ts; inferred: the module downloads binaries byte-exact).
 * - `+UFTPC=<op>,...` answers `OK` at once; the result follows as the URC `+UUFTPCR: <op>,<1|0>` (R16 p.258):
 *   0 logout, 1 login, 4 retrieve into the module file system (`<retrieving_mode>` 1 resumes from the bytes the
 *   local file already holds, R16 p.259), 6 direct link (below), 8 change directory, 13 file info
 *   (`+UUFTPCD: 13,<len>,"<ls -l line(s)>"` first), 14 name list (`+UUFTPCD: 14,<len>,"<names>"`), 100 FOTA
 *   download (below). `+UFTPC=?` → `+UFTPC: (0-5,8,10,11,13,14,100)` (R16 p.258). Ops 2, 3, 5, 7, 10, 11
 *   (delete/rename/store/mkdir/rmdir: writes, which firmdrop's read-only server refuses anyway) answer
 *   `+CME ERROR: 4` (operation not supported). A `+UFTPC` while another op runs → `+CME ERROR: 3`.
 * - Op 13's `ls -l` line: by default the trailing CRLF is stripped and the closing quote follows the line; with
 *   `fileInfoCrlf` the CRLF stays inside the quotes (Arduino MKRGSM src/GSMFTP.cpp skips a line that is only `"`,
 *   which suggests that form; medium-low confidence). `<len>` counts the bytes between the quotes.
 * - `+UFTPER` → `+UFTPER: <class>,<code>`: class 0 with the FTP server's reply code when the server refused
 *   (R16 p.260); class 8 code 40 after the host cancelled a FOTA download (UBX-17049154 §3.5 example); any other
 *   failure (DNS, connect, timeout, short transfer) → class `errorClass` (default 1, the manual's only example
 *   `+UFTPER: 1,1`) with a per-kind code from {@link UBLOX_ERRORS}. Those class-1 codes are PLACEHOLDERS: the
 *   manual's error-class appendix (A.6) is not public here; override them with the `errorCodes` option.
 *
 * Direct link (op 6, `AT+UFTPC=6,"<remote>"[,<offset>]`): `CONNECT`, the raw file from `<offset>` (REST), then
 * `+UUFTPCR: 6,1` (or `6,0` + `+UFTPER` when the transfer failed or came short). How the module leaves data mode is
 * disputed: R09 p.215 says it exits by itself (`directLinkExit: 'auto'`, the default) after `directLinkExitDelayMs`
 * ("may take up to 10 s"); UBX-17003787 (R16) says the host ends it with `+++` (`directLinkExit: 'escape'`: after
 * the data the module stays in data mode until `+++` with `escapeGuardMs` of silence around it; a `+++` before the
 * end stops the data, the rest of the server's transfer is discarded and the result is `6,0`). No `OK` is sent
 * after the data in either mode (not in the sources).
 *
 * FOTA (op 100, UBX-17049154 §3.2–3.4): `AT+UFTPC=100,"<remote>"[,<fw_download_status>]` (status 0 cancels, 1
 * resumes from the bytes stored so far). The image goes to a FOTA area (not the file system; `fotaImage()`).
 * SARA-R410M/R412M: progress `+UUFTPCR: 100,<stored> / <total>` every `fotaProgressBytes`, then
 * `+UUFTPCR: 100,1` (no MD5); SARA-R422S/R422M8S: no progress, final `+UUFTPCR: 100,1,"<md5 hex>"`.
 * `model` picks those defaults; `fotaMd5`/`fotaProgress` override them. SARA-U2 has no op 100 (`+CME ERROR: 4`).
 */
import { createHash } from 'node:crypto';
import { intArg, splitArgs } from './at-modem.ts';
import { FtpFailure, type ErrorCodeTable } from './errors.ts';
import { downloadToModuleFs } from './fs-download.ts';
import type { Download, FtpSession } from './ftp-session.ts';
import { ModuleFsError } from './module-fs.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';
import { UbloxFsModem, type UbloxFsOptions } from './ublox-fs.ts';

/** u-blox models with different FTP FOTA behaviour (UBX-17049154 §3.3). */
export type UbloxModel = 'SARA-R410M' | 'SARA-R412M' | 'SARA-R422S' | 'SARA-R422M8S' | 'SARA-U201';

/** Class-1 `+UFTPER` codes per failure kind: placeholders (the A.6 table is not public), see the module docstring. */
export const UBLOX_ERRORS: ErrorCodeTable = {
  codes: {
    unexpected: 1, dns: 2, connect: 3, login: 4, notFound: 5, dataConnection: 6,
    timeout: 7, dropped: 8, busy: 9, notConnected: 10,
  },
};

/** Generic +CME codes used by this dialect (3GPP TS 27.007 §9.2.1). */
const CME_NOT_ALLOWED = 3;
const CME_NOT_SUPPORTED = 4;

/** u-blox options. */
export interface UbloxOptions extends UbloxFsOptions {
  /** Module model; default SARA-R410M. */
  model?: UbloxModel;
  /** Final op-100 URC carries the MD5 (default: true for R422S/R422M8S, false for R410M/R412M). */
  fotaMd5?: boolean;
  /** Op-100 progress URCs (default: true for R410M/R412M, false for R422S/R422M8S). */
  fotaProgress?: boolean;
  /** Bytes between two op-100 progress URCs (default 102400, the spacing in UBX-17049154's example). */
  fotaProgressBytes?: number;
  /** `+UFTPER` class for failures without a server reply code (default 1). */
  errorClass?: number;
  /** Delay in ms before the module leaves op-6 direct link mode (default 0; the manual: up to 10 s). */
  directLinkExitDelayMs?: number;
  /** How op 6 ends: 'auto' (by itself, R09; default) or 'escape' (the host sends `+++`, R16). */
  directLinkExit?: 'auto' | 'escape';
  /** Escape guard time in ms around `+++` (default 1000, S12 = 50). */
  escapeGuardMs?: number;
  /** Op 13: keep the `ls -l` line's CRLF inside the quotes (default false; see the module docstring). */
  fileInfoCrlf?: boolean;
}

interface Profile { ip: string; host: string; user: string; pass: string; account: string; timeout: number; mode: number; port: number; secure: number }
const DEFAULT_PROFILE: Profile = { ip: '', host: '', user: '', pass: '', account: '', timeout: 0, mode: 0, port: 21, secure: 0 };
const PROFILE_KEYS: (keyof Profile)[] = ['ip', 'host', 'user', 'pass', 'account', 'timeout', 'mode', 'port', 'secure'];
const NUMERIC_RANGE: Partial<Record<keyof Profile, [number, number]>> = {
  timeout: [0, 86400], mode: [0, 1], port: [1, 65535], secure: [0, 1],
};

/** u-blox SARA-R4/U2 emulator. */
export class UbloxModem extends UbloxFsModem {
  protected readonly errorTable = UBLOX_ERRORS;
  readonly model: UbloxModel;
  private profile: Profile = { ...DEFAULT_PROFILE };
  private session?: FtpSession;
  private busyOp?: number;
  private lastError: [number, number] = [0, 0];
  private fota: Buffer[] = [];
  private fotaLength = 0;
  private fotaDl?: Download;
  private fotaCancelled = false;
  private readonly opts: UbloxOptions;

  constructor(options: UbloxOptions = {}) {
    super('ublox', options);
    this.opts = options;
    this.model = options.model ?? 'SARA-R410M';
    this.register('+UFTPC', (a) => this.uftpc(a));
    this.register('+UFTPER', (a) => this.uftper(a));
    this.register('+UFTP', (a) => this.uftp(a));
  }

  /** The FOTA image stored by op 100 so far (a copy). */
  fotaImage(): Buffer {
    return Buffer.concat(this.fota, this.fotaLength);
  }

  protected override identity(): string[] {
    return ['u-blox', `${this.model} (firmdrop emulator)`];
  }

  protected override errorText(code: number): string {
    if (code === this.fsNotFound) return 'FILE NOT FOUND';
    if (code === CME_NOT_ALLOWED) return 'operation not allowed';
    if (code === CME_NOT_SUPPORTED) return 'operation not supported';
    return `error ${code}`;
  }

  protected override async shutdown(): Promise<void> {
    this.fotaDl?.abort('modem shut down');
    this.session?.destroy();
    this.session = undefined;
  }

  protected get isR4(): boolean {
    return this.model.startsWith('SARA-R4');
  }

  /** Records a failure for `+UFTPER` (class 0 = server reply code). */
  private record(err: unknown): void {
    if (err instanceof FtpFailure) {
      this.lastError = err.ftpCode !== undefined ? [0, err.ftpCode] : [this.opts.errorClass ?? 1, this.errorCode(err)];
    } else if (err instanceof ModuleFsError) {
      this.lastError = [this.opts.errorClass ?? 1, this.errorCode({ kind: 'unexpected', phase: 'data' })];
    } else {
      this.lastError = [this.opts.errorClass ?? 1, this.errorCode({ kind: 'unexpected', phase: 'command' })];
    }
  }

  // ---- +UFTP profile ------------------------------------------------------------------------------

  private uftp(a: string): void {
    if (a === '?') {
      const p = this.profile;
      for (const [op, key] of PROFILE_KEYS.entries()) {
        if (key === 'pass') continue; // the read form does not show the password
        const v = p[key];
        this.info(`+UFTP: ${op},${typeof v === 'number' ? v : `"${v}"`}`);
      }
      return this.ok();
    }
    if (a === '=?') { this.info('+UFTP: (0-8)'); return this.ok(); }
    const args = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const op = intArg(args?.[0]);
    if (!args || op === undefined || op >= PROFILE_KEYS.length) return this.syntaxError();
    const key = PROFILE_KEYS[op]!;
    if (args.length < 2) { (this.profile as unknown as Record<string, unknown>)[key] = DEFAULT_PROFILE[key]; return this.ok(); }
    const range = NUMERIC_RANGE[key];
    if (range) {
      const n = intArg(args[1]);
      if (n === undefined || n < range[0] || n > range[1]) return this.syntaxError();
      (this.profile as unknown as Record<string, number>)[key] = n;
    } else {
      (this.profile as unknown as Record<string, string>)[key] = args[1]!;
    }
    this.ok();
  }

  private uftper(a: string): void {
    if (a !== '') return this.syntaxError();
    this.info(`+UFTPER: ${this.lastError[0]},${this.lastError[1]}`);
    this.ok();
  }

  // ---- +UFTPC operations ----------------------------------------------------------------------------

  private async uftpc(a: string): Promise<void> {
    if (a === '=?') { this.info('+UFTPC: (0-5,8,10,11,13,14,100)'); return this.ok(); }
    const args = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const op = intArg(args?.[0]);
    if (!args || op === undefined) return this.syntaxError();
    const p = args.slice(1);
    if (op === 100 && p[1] === '0') return this.fotaCancel();
    if (this.busyOp !== undefined) return this.cmeError(CME_NOT_ALLOWED);
    switch (op) {
      case 0: return this.background(0, () => this.logout());
      case 1: return this.background(1, () => this.login());
      case 4: {
        const mode = p[2] === undefined ? 0 : intArg(p[2]);
        if (!p[0] || !p[1] || (mode !== 0 && mode !== 1)) return this.syntaxError();
        return this.background(4, () => this.retrieve(p[0]!, p[1]!, mode === 1));
      }
      case 6: {
        const offset = p[1] === undefined ? 0 : intArg(p[1]);
        if (!p[0] || offset === undefined) return this.syntaxError();
        return this.directLink(p[0], offset);
      }
      case 8:
        if (!p[0]) return this.syntaxError();
        return this.background(8, async () => { await this.live().cwd(p[0]!); });
      case 13: return this.background(13, () => this.fileInfo(p[0] ?? ''));
      case 14: return this.background(14, () => this.nameList(p[0] ?? ''));
      case 100: {
        if (this.model === 'SARA-U201') return this.cmeError(CME_NOT_SUPPORTED);
        const status = p[1] === undefined ? undefined : intArg(p[1]);
        if (!p[0] || (status !== undefined && status !== 1)) return this.syntaxError();
        return this.fotaStart(p[0], status === 1);
      }
      case 2: case 3: case 5: case 7: case 10: case 11: return this.cmeError(CME_NOT_SUPPORTED);
      default: return this.syntaxError();
    }
  }

  /** `OK` now, run `work`, then `+UUFTPCR: <op>,<1|0>[<suffix>]` (R16 p.258). Does not block other commands. */
  private background(op: number, work: () => Promise<string | void>): void {
    this.busyOp = op;
    this.ok();
    void (async () => {
      let result = '0';
      try {
        result = `1${(await work()) ?? ''}`;
      } catch (err) {
        this.record(err);
        if (op === 100 && this.fotaCancelled) this.lastError = [8, 40]; // UBX-17049154 §3.5: host cancelled
      } finally {
        this.busyOp = undefined;
      }
      if (!this.isShutDown) this.urc(`+UUFTPCR: ${op},${result}`);
    })();
  }

  /** The logged-in session; throws FtpFailure notConnected when there is none (or the network killed it). */
  private live(): FtpSession {
    if (this.session && !this.session.isOpen) this.session = undefined;
    if (!this.session) throw new FtpFailure('notConnected', 'command', 'not logged in (AT+UFTPC=1 first)');
    return this.session;
  }

  private async login(): Promise<void> {
    const p = this.profile;
    const host = p.ip || p.host;
    if (!host) throw new FtpFailure('dns', 'connect', 'no server in the FTP profile (AT+UFTP=0 or 1)');
    this.session?.destroy();
    this.session = undefined;
    this.session = await this.ftpLogin({ host, port: p.port, user: p.user, pass: p.pass, passive: p.mode === 1, secure: p.secure === 1 });
  }

  private async logout(): Promise<void> {
    const s = this.live();
    this.session = undefined;
    await s.close();
  }

  private async retrieve(remote: string, local: string, resume: boolean): Promise<void> {
    const s = this.live();
    const offset = resume && this.fs.has(local) ? this.fs.size(local) : 0;
    if (offset === 0) this.fs.write(local, Buffer.alloc(0));
    const dl = await s.startDownload(remote, { offset, capacity: this.bufferBytes, verifySize: this.verifySize });
    await downloadToModuleFs(dl, this.fs, local);
  }

  private async fileInfo(path: string): Promise<void> {
    const listed = (await this.live().listRaw(path)).toString('latin1');
    const raw = this.opts.fileInfoCrlf ? listed.replace(/\r?\n$/, '\r\n') : listed.replace(/\r?\n$/, '');
    this.urc(`+UUFTPCD: 13,${Buffer.byteLength(raw, 'latin1')},"${raw}"`);
  }

  private async nameList(path: string): Promise<void> {
    const names = (await this.live().list(path)).map((e) => e.name).join('\r\n');
    this.urc(`+UUFTPCD: 14,${Buffer.byteLength(names, 'latin1')},"${names}"`);
  }

  /** Op 6: CONNECT, raw bytes, leave data mode, `+UUFTPCR: 6,<1|0>`. Blocks the command queue (data mode). */
  private async directLink(remote: string, offset: number): Promise<void> {
    let dl: Download;
    try {
      dl = await this.live().startDownload(remote, { offset, capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.started;
    } catch (err) {
      this.record(err);
      this.ok();
      this.urc('+UUFTPCR: 6,0');
      return;
    }
    this.busyOp = 6;
    this.info('CONNECT');
    const escape = this.opts.directLinkExit === 'escape';
    let escaped = false;
    const exited = new Promise<void>((resolve) => {
      if (!escape) { resolve(); return; }
      this.enterDataMode(this.opts.escapeGuardMs ?? 1000, () => { escaped = true; dl.emit('change'); resolve(); });
    });
    while (!escaped) {
      if (dl.available > 0) await this.raw(dl.read(dl.available));
      else if (dl.settled) break;
      else await dl.waitChange(1000);
    }
    await exited;
    const exitDelay = this.opts.directLinkExitDelayMs ?? 0;
    if (exitDelay > 0) await sleep(exitDelay);
    this.busyOp = undefined;
    if (!dl.settled) void dl.drain(() => undefined); // escaped before the end: discard the rest
    const failure = dl.failure ?? (escaped && !dl.drained ? new FtpFailure('dropped', 'data', 'direct link left before the end of the file') : undefined);
    if (failure) this.record(failure);
    this.urc(`+UUFTPCR: 6,${failure ? 0 : 1}`);
  }

  // ---- op 100: FOTA download (UBX-17049154) --------------------------------------------------------------

  private fotaStart(remote: string, resume: boolean): void {
    const md5 = this.opts.fotaMd5 ?? (this.model === 'SARA-R422S' || this.model === 'SARA-R422M8S');
    const progress = this.opts.fotaProgress ?? !md5;
    const step = Math.max(1, this.opts.fotaProgressBytes ?? 102_400);
    if (!resume) { this.fota = []; this.fotaLength = 0; }
    this.fotaCancelled = false;
    this.background(100, async () => {
      const offset = this.fotaLength;
      const dl = await this.live().startDownload(remote, { offset, capacity: this.bufferBytes, verifySize: true });
      this.fotaDl = dl;
      const total = (dl.expected ?? 0) + offset;
      let nextReport = (Math.floor(offset / step) + 1) * step;
      try {
        for (;;) {
          if (dl.available > 0) {
            const chunk = dl.read(dl.available);
            this.fota.push(chunk);
            this.fotaLength += chunk.length;
            if (progress && this.fotaLength >= nextReport && this.fotaLength < total) {
              this.urc(`+UUFTPCR: 100,${this.fotaLength} / ${total}`);
              nextReport = (Math.floor(this.fotaLength / step) + 1) * step;
            }
            continue;
          }
          if (dl.failure) throw dl.failure;
          if (dl.complete) break;
          await dl.waitChange(1000);
        }
      } finally {
        this.fotaDl = undefined;
      }
      return md5 ? `,"${createHash('md5').update(this.fotaImage()).digest('hex')}"` : '';
    });
  }

  /** `AT+UFTPC=100,"<f>",0`: cancel; the running download ends with `+UUFTPCR: 100,0` and `+UFTPER: 8,40`. */
  private fotaCancel(): void {
    this.ok();
    this.fotaCancelled = true;
    if (this.fotaDl) this.fotaDl.abort('FOTA download cancelled by the host');
    else this.urc('+UUFTPCR: 100,0');
    this.lastError = [8, 40];
    this.fota = [];
    this.fotaLength = 0;
  }
}

registerFamily('ublox', (o) => new UbloxModem(o as UbloxOptions));
