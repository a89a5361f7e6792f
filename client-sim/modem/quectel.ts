/**
 * Quectel EC2x / EG9x / EC200U / EG800K / BG96 FTP dialect (Quectel UC15 and EC2x/BG96 FTP AT Commands Manuals),
 * a thin layer on the shared core; the `+QF*` module file commands are in quectel-fs.ts, the error table in
 * quectel-errors.ts.
 *
 * Model: almost every `+QFTPxxx` answers `OK` (or `+CME ERROR: <err>`) at once and the result follows as the URC
 * `+QFTPxxx: <err>,<value|server reply>`: `<err>` 0 = success (the second field is then the value), otherwise a 6xx
 * code with the server's reply code as the second field (0 when none) (UC15 FTP manual §2; Quectel BG95 driver).
 *
 * Commands:
 * - `+QIACT=1` / `+QIACT?` / `+QIDEACT=1`: the PDP context (active at start unless `pdpActive: false`;
 *   `+QFTPOPEN` with the context down → `+QFTPOPEN: 605,0`).
 * - `+QFTPCFG="contextid",<1-16>` / `"account","<u>","<p>"` / `"filetype",<0|1>` / `"transmode",<0|1>` /
 *   `"rsptimeout",<20-180>` / `"ssltype",<0-2>` / `"sslctxid",<0-5>`; `+QFTPCFG="<name>"` reads one back (the
 *   password masked with `*`, EG800K test report). `rsptimeout` (s) becomes the FTP timeout (reply, data-connection
 *   open and data gap; UC15 manual). `filetype` 0 (binary, the default here) makes the session send `TYPE I` before
 *   its first SIZE/RETR (ftp-session.ts; inferred: the manual does not say when TYPE is sent). transmode defaults to
 *   0 (active; inferred); the wire is always passive.
 * - `+QFTPOPEN="<host>"[,<port>]` → `+QFTPOPEN: 0,0`; `+QFTPCWD="<dir>"` → `+QFTPCWD: 0,0`; `+QFTPPWD` →
 *   `+QFTPPWD: 0,/` on EC2x/BG96 (EC20 and EC25 captures) and `+QFTPPWD: 0,"/"` on ECx00/EG800K (EG800K test
 *   report), following `model` (`pwdQuoted` overrides); `+QFTPSIZE="<f>"` → `+QFTPSIZE: 0,<bytes>` (missing:
 *   `+QFTPSIZE: 627,550`, EG800K test report).
 * - `+QFTPGET="<f>","COM:"[,<startpos>[,<downloadlen>]]` → `CONNECT`, the raw bytes (exactly `<downloadlen>` when
 *   given, UC15 manual), `OK`, `+QFTPGET: 0,<transferlen>`. With `<downloadlen>` the rest of the server's transfer
 *   is drained and discarded in the background; FTP commands that follow wait for that drain (state 2 meanwhile).
 *   A transfer that fails after CONNECT leaves data mode with `OK` and `+QFTPGET: <err>,<proto>` (inferred). A GET
 *   that cannot start (missing file) answers `OK` then `+QFTPGET: 627,550`. During the data, `+++` with the escape
 *   guard time around it (`escapeGuardMs`, default 1 s) aborts the download: `OK`, no `+QFTPGET` URC, the session
 *   stays logged in (`+QFTPSTAT: 0,1`) and `ATO` answers `NO CARRIER` (EG800K test report). The emulator reads the
 *   rest of the server's transfer and discards it (how the module ends the data connection is not documented).
 * - `+QFTPGET="<f>","UFS:<name>"|"RAM:<name>"|"<name>"[,<startpos>]` → `OK`, then `+QFTPGET: 0,<transferlen>`; the
 *   bytes go to the module file system as they arrive (a failed transfer keeps its prefix; `<startpos>` keeps the
 *   first startpos bytes of the local file and appends from there).
 * - `+QFTPSTAT` → `OK`, then `+QFTPSTAT: 0,<state>` (EC2x capture; the BG96 branch of a public Quectel driver,
 *   QuecFtp.cpp `_FtpGetConnectionStatus`, reads `OK` then `+QFTPSTAT: 0,4`). On ECx00/EG800K the status line comes
 *   before `OK` (EG800K test report); `statAfterOk` overrides. States: 0 opening (inferred), 1 idle (logged in),
 *   2 transferring, 3 closing, 4 closed.
 * - `+QFTPCLOSE` → `OK`, then after `closeLatencyMs` `+QFTPCLOSE: 0,0`. Meanwhile every other FTP command gets
 *   `+CME ERROR: 603` (EG800K test report). An FTP command while another one runs also gets 603 ("busy").
 * - A data connection that cannot be opened (`<err>` 615): with `dataFailureCme` (default on for ECx00/EG800K, where
 *   it was seen on an upload; off for EC2x/BG96, which report `OK` then `+QFTPGET: 615,<proto>`; source quality
 *   medium-low) the GET answers `+CME ERROR: 615` at once and every later FTP command except `+QFTPCLOSE` and
 *   `+QFTPSTAT` gets `+CME ERROR: 603` until a close completes.
 */
import { intArg, splitArgs } from './at-modem.ts';
import { FtpFailure } from './errors.ts';
import { downloadToModuleFs } from './fs-download.ts';
import type { Download, FtpSession } from './ftp-session.ts';
import { defaultQuectelConfig, qftpcfg, type QuectelFtpConfig } from './quectel-config.ts';
import { QUECTEL_BUSY, QUECTEL_ERRORS, QUECTEL_FTP_ERRORS, quectelCodes } from './quectel-errors.ts';
import { QuectelFsModem, type QuectelFsOptions } from './quectel-fs.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';

export { QUECTEL_ERRORS, QUECTEL_FTP_ERRORS, QUECTEL_REPLY_MAP } from './quectel-errors.ts';

const BUSY = QUECTEL_BUSY;
const DATA_CONNECTION_FAILED = 615;

/** Modules the emulator can announce; the model picks the defaults that differ between firmware lines. */
export type QuectelModel = 'EC20' | 'EC21' | 'EC25' | 'BG96' | 'EC200U' | 'EG800K';

/** Quectel options. */
export interface QuectelOptions extends QuectelFsOptions {
  /** Announced module (ATI); default EC21. EC200U and EG800K are the ECx00/EG8xx firmware line. */
  model?: QuectelModel;
  /** PDP context active at start (default true). */
  pdpActive?: boolean;
  /** Delay in ms between `+QFTPCLOSE`'s OK and its URC (default 0; 2000 with the 'realistic' timing preset). */
  closeLatencyMs?: number;
  /** `+QFTPSTAT` answers OK first and the state after it (default: true, except on ECx00/EG800K). */
  statAfterOk?: boolean;
  /** `+QFTPPWD: 0,"<dir>"` quoted (default: true on ECx00/EG800K, false on EC2x/BG96). */
  pwdQuoted?: boolean;
  /** A failed data connection answers `+CME ERROR: 615` at once, then 603 until closed (default: ECx00/EG800K). */
  dataFailureCme?: boolean;
  /** Escape guard time in ms around `+++` during a `COM:` download (default 1000, S12 = 50). */
  escapeGuardMs?: number;
}

/** Quectel EC2x/BG96/ECx00 emulator. */
export class QuectelModem extends QuectelFsModem {
  protected readonly errorTable = QUECTEL_ERRORS;
  readonly model: QuectelModel;
  private cfg: QuectelFtpConfig = defaultQuectelConfig();
  private pdpActive: boolean;
  private session?: FtpSession;
  private opening = false;
  private busy = false;
  private closing = false;
  /** Set after a 615 in `dataFailureCme` mode: FTP commands get 603 until a close completes. */
  private stuck = false;
  private draining?: Promise<void>;
  /** The running drain is the rest of a download the host escaped from: the module is idle meanwhile. */
  private drainIdle = false;
  private readonly opts: QuectelOptions;

  constructor(options: QuectelOptions = {}) {
    super('quectel', options);
    this.opts = options;
    this.model = options.model ?? 'EC21';
    this.pdpActive = options.pdpActive ?? true;
    // 'realistic' timing: the FTP timeout is rsptimeout's default, 90 s (UC15 manual), unless set.
    if (this.realistic && !(typeof options.timing === 'object' && options.timing.ftpTimeoutMs !== undefined)) {
      this.timing.ftpTimeoutMs = this.cfg.rsptimeout * 1000;
    }
    this.register('+QIACT', (a) => this.qiact(a));
    this.register('+QIDEACT', (a) => { if (!/^=\d+$/.test(a)) return this.syntaxError(); this.pdpActive = false; this.ok(); });
    this.register('+QFTPCFG', (a) => this.qftpcfg(a));
    this.register('+QFTPOPEN', (a) => this.qftpopen(a));
    this.register('+QFTPCWD', (a) => this.withFile(a, (dir) => this.op('+QFTPCWD', async (s) => { await s.cwd(dir); return '0'; })));
    this.register('+QFTPPWD', (a) => (a !== '' ? this.syntaxError() : this.op('+QFTPPWD', async (s) => this.pwdText((await s.pwd()).path))));
    this.register('+QFTPSIZE', (a) => this.withFile(a, (f) => this.op('+QFTPSIZE', async (s) => String(await s.size(f)))));
    this.register('+QFTPGET', (a) => this.qftpget(a));
    this.register('+QFTPSTAT', (a) => this.qftpstat(a));
    this.register('+QFTPCLOSE', (a) => this.qftpclose(a));
    this.register('O', (a) => (a !== '' ? this.syntaxError() : this.info('NO CARRIER')));
  }

  protected override identity(): string[] {
    return ['Quectel', this.model, 'Revision: firmdrop emulator'];
  }

  protected override errorText(code: number): string {
    if (code === this.fileNotFound) return 'file not found';
    return QUECTEL_FTP_ERRORS[code] ?? `error ${code}`;
  }

  protected override async shutdown(): Promise<void> {
    this.session?.destroy();
    this.session = undefined;
  }

  /** ECx00/EG8xx firmware line (EC200U, EG800K) rather than EC2x/BG96. */
  private get ecx00(): boolean {
    return this.model === 'EC200U' || this.model === 'EG800K';
  }

  /** True with the 'realistic' timing preset. */
  private get realistic(): boolean {
    const t = this.opts.timing;
    return t === 'realistic' || (typeof t === 'object' && t.preset === 'realistic');
  }

  /** `+QFTPPWD` value: `/dir` on EC2x/BG96, `"/dir"` on ECx00. */
  private pwdText(dir: string): string {
    return (this.opts.pwdQuoted ?? this.ecx00) ? `"${dir}"` : dir;
  }

  /** `<err>,<proto>` for a failure (quectel-errors.ts). */
  private codes(err: unknown): [number, number] {
    return quectelCodes(err, (f) => this.errorCode(f));
  }

  /** True when FTP commands must answer 603 now (closing, busy, or stuck after a 615). */
  private get refusing(): boolean {
    return this.closing || this.busy || this.stuck;
  }

  /** +QFTPSTAT state (see the module docstring). */
  private get state(): number {
    if (this.closing) return 3;
    if (this.opening) return 0;
    if (this.busy) return 2;
    if (this.draining) return this.drainIdle ? 1 : 2;
    if (this.session?.transferring) return 2;
    if (this.session?.isOpen) return 1;
    return 4;
  }

  /** The logged-in session after any background drain; throws FtpFailure notConnected. */
  private async live(): Promise<FtpSession> {
    if (this.draining) await this.draining;
    if (this.session && !this.session.isOpen) this.session = undefined;
    if (!this.session) throw new FtpFailure('notConnected', 'command', 'no FTP session (AT+QFTPOPEN first)');
    return this.session;
  }

  /** Parses `="<name>"` and runs `fn(name)`; ERROR when malformed. */
  private withFile(a: string, fn: (name: string) => void | Promise<void>): void | Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    return fn(p[0]);
  }

  /** `OK` now; `work` in the background; then `<name>: 0,<value>` or `<name>: <err>,<proto>`. 603 when refusing. */
  private op(name: string, work: (s: FtpSession) => Promise<string>, started = false): void {
    if (!started) {
      if (this.refusing) return this.cmeError(BUSY);
      this.busy = true;
      this.ok();
    }
    void (async () => {
      let text: string;
      try {
        text = `0,${await work(await this.live())}`;
      } catch (err) {
        text = this.codes(err).join(',');
      } finally {
        this.busy = false;
      }
      if (!this.isShutDown) this.urc(`${name}: ${text}`);
    })();
  }

  // ---- PDP context and configuration -------------------------------------------------------------

  private qiact(a: string): void {
    if (a === '?') {
      if (this.pdpActive) this.info(`+QIACT: ${this.cfg.contextid},1,1,"10.0.0.3"`);
      return this.ok();
    }
    if (!/^=\d+$/.test(a)) return this.syntaxError();
    this.pdpActive = true;
    this.ok();
  }

  private qftpcfg(a: string): void {
    const r = qftpcfg(a, this.cfg);
    if (!r) return this.syntaxError();
    for (const l of r.lines) this.info(l);
    if (r.set === 'filetype') this.session?.setTransferType(this.cfg.filetype === 1 ? 'A' : 'I');
    if (r.set === 'rsptimeout') {
      this.timing.ftpTimeoutMs = this.cfg.rsptimeout * 1000;
      this.session?.setTimeout(this.timing.ftpTimeoutMs);
    }
    this.ok();
  }

  // ---- FTP session ---------------------------------------------------------------------------------

  private qftpopen(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const port = p?.[1] === undefined || p[1] === '' ? 21 : intArg(p[1]);
    if (!p || !p[0] || port === undefined || port < 1 || port > 65535) return this.syntaxError();
    if (this.refusing || this.opening || this.session?.isOpen) return this.cmeError(BUSY);
    const host = p[0];
    this.opening = true;
    this.ok();
    void (async () => {
      let text = '0,0';
      try {
        if (!this.pdpActive) throw new FtpFailure('connect', 'connect', 'PDP context not active (AT+QIACT=1)');
        const c = this.cfg;
        this.session = await this.ftpLogin({ host, port, user: c.user, pass: c.pass, passive: c.transmode === 1, secure: c.ssltype > 0,
          transferType: c.filetype === 1 ? 'A' : 'I' });
      } catch (err) {
        text = this.codes(err).join(',');
      } finally {
        this.opening = false;
      }
      if (!this.isShutDown) this.urc(`+QFTPOPEN: ${text}`);
    })();
  }

  private async qftpclose(a: string): Promise<void> {
    if (a !== '') return this.syntaxError();
    if (this.closing) return this.cmeError(BUSY);
    const latency = this.opts.closeLatencyMs ?? (this.realistic ? 2000 : 0);
    this.closing = true;
    this.ok();
    const s = this.session;
    this.session = undefined;
    void (async () => {
      await s?.close();
      if (latency > 0) await sleep(latency);
      this.closing = false;
      this.stuck = false;
      if (!this.isShutDown) this.urc('+QFTPCLOSE: 0,0');
    })();
  }

  private qftpstat(a: string): void {
    if (a !== '') return this.syntaxError();
    const line = `+QFTPSTAT: 0,${this.state}`;
    if (this.opts.statAfterOk ?? !this.ecx00) { this.ok(); this.urc(line); return; }
    this.info(line);
    this.ok();
  }

  private async qftpget(a: string): Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const startpos = p?.[2] === undefined ? 0 : intArg(p[2]);
    const downloadlen = p?.[3] === undefined ? undefined : intArg(p[3]);
    if (!p || !p[0] || !p[1] || startpos === undefined || (p[3] !== undefined && (downloadlen === undefined || downloadlen < 1))) {
      return this.syntaxError();
    }
    if (this.refusing) return this.cmeError(BUSY);
    const [remote, local] = [p[0], p[1]];
    if (local.toUpperCase() === 'COM:') return this.getToCom(remote, startpos, downloadlen);
    const name = this.localName(local);
    const prepare = () => (startpos > 0 ? this.fs.truncate(name, startpos) : this.fs.write(name, Buffer.alloc(0)));
    if (!this.dataFailureCme) {
      return this.op('+QFTPGET', async (s) => {
        prepare();
        return String(await downloadToModuleFs(await this.openDownload(s, remote, startpos), this.fs, name));
      });
    }
    this.busy = true;
    const dl = await this.startOrRefuse(remote, startpos);
    if (!dl) return;
    this.ok();
    this.op('+QFTPGET', async () => {
      if (dl instanceof FtpFailure) throw dl;
      prepare();
      return String(await downloadToModuleFs(dl, this.fs, name));
    }, true);
  }

  private get dataFailureCme(): boolean {
    return this.opts.dataFailureCme ?? this.ecx00;
  }

  /** Start a download and wait for its first byte (or its end); rejects with FtpFailure. */
  private async openDownload(s: FtpSession, remote: string, startpos: number): Promise<Download> {
    const dl = await s.startDownload(remote, { offset: startpos, capacity: this.bufferBytes, verifySize: this.verifySize });
    await dl.started;
    return dl;
  }

  /**
   * With the command still pending (busy set): start the download. A 615 in `dataFailureCme` mode answers
   * `+CME ERROR: 615`, marks the module stuck and returns undefined; other failures are returned for the URC.
   */
  private async startOrRefuse(remote: string, startpos: number): Promise<Download | FtpFailure | undefined> {
    try {
      return await this.openDownload(await this.live(), remote, startpos);
    } catch (err) {
      const f = err instanceof FtpFailure ? err : new FtpFailure('unexpected', 'data', String(err));
      if (this.codes(f)[0] !== DATA_CONNECTION_FAILED) return f;
      this.busy = false;
      this.stuck = true;
      this.cmeError(DATA_CONNECTION_FAILED);
      return undefined;
    }
  }

  /** `COM:` GET: CONNECT, raw bytes, OK, `+QFTPGET: 0,<len>` (or `<err>,<proto>`). Holds the command queue (data mode). */
  private async getToCom(remote: string, startpos: number, downloadlen: number | undefined): Promise<void> {
    this.busy = true;
    let dl: Download;
    try {
      dl = await this.openDownload(await this.live(), remote, startpos);
    } catch (err) {
      if (this.dataFailureCme && this.codes(err)[0] === DATA_CONNECTION_FAILED) {
        this.busy = false;
        this.stuck = true;
        return this.cmeError(DATA_CONNECTION_FAILED);
      }
      this.busy = false;
      this.ok();
      this.urc(`+QFTPGET: ${this.codes(err).join(',')}`);
      return;
    }
    this.info('CONNECT');
    const { sent, escaped } = await this.stream(dl, downloadlen ?? Number.MAX_SAFE_INTEGER);
    this.busy = false;
    this.info('OK');
    if (!escaped) {
      const failed = sent < (downloadlen ?? Number.MAX_SAFE_INTEGER) && dl.failure;
      this.urc(`+QFTPGET: ${failed ? this.codes(dl.failure).join(',') : `0,${sent}`}`);
    }
    if (!dl.settled) this.discardRest(dl, escaped);
  }

  /** Send the download's bytes in data mode until `limit`, its end, or the host's `+++`. */
  private async stream(dl: Download, limit: number): Promise<{ sent: number; escaped: boolean }> {
    let escaped = false;
    this.enterDataMode(this.opts.escapeGuardMs ?? 1000, () => { escaped = true; dl.emit('change'); });
    let sent = 0;
    try {
      while (sent < limit && !escaped) {
        if (dl.available > 0) {
          const chunk = dl.read(Math.min(dl.available, limit - sent));
          sent += chunk.length;
          await this.raw(chunk);
        } else if (dl.settled) break;
        else await dl.waitChange(1000);
      }
    } finally {
      this.leaveDataMode();
    }
    return { sent, escaped };
  }

  /** Read and discard the rest of the server's transfer, keeping the session (FTP commands wait for it). */
  private discardRest(dl: Download, idle: boolean): void {
    this.drainIdle = idle;
    this.draining = (async () => {
      while (!dl.settled || dl.available > 0) {
        if (dl.available > 0) dl.read(dl.available);
        else await dl.waitChange(1000);
      }
    })().finally(() => { this.draining = undefined; this.drainIdle = false; });
  }
}

registerFamily('quectel', (o) => new QuectelModem(o as QuectelOptions));
