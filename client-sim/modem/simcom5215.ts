/**
 * SIMCom SIM5215 / SIM5320 FTP dialect (Waspmote 3G), SIM5215 AT Command Set (FTP) and Wasp3G.cpp and
 * Wasp3G.cpp.
 *
 * Profile (local, OK at once; `?` reads back): `+CFTPSERV="host"`, `+CFTPPORT=<n>`, `+CFTPMODE=<0|1>`,
 * `+CFTPTYPE=<I|A>`, `+CFTPUN="u"`, `+CFTPPW="p"`. No login command: every operation logs in and out
 * (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).2, §6.1).
 * - `+CFTPLIST="<path>"` → `OK`, then `+CFTPLIST: DATA,<len>\r\n<len bytes of the server's LIST output>`
 *   (one or more frames) and `+CFTPLIST: 0`, or `+CFTPLIST: <err>`.
 * - `+CFTPGETFILE="<path>",<dir 0-8>[,<rest_size>]` → `OK`, then `+CFTPGETFILE: 0` with the file stored in
 *   the module file system under the path's last component, or `+CFTPGETFILE: <err>`. With `<rest_size>`
 *   the stored file is cut to that size and the rest appended (resume; a `<rest_size>` past the stored
 *   file's end is refused with the `unexpected` code). On failure the bytes received so far are kept (so a
 *   resume can continue) and the error is reported — never `0`. A full module file system also ends
 *   with the `unexpected` code.
 * - `+CFTPGET="<path>"[,<rest_size>]` → `OK`, then `+CFTPGET: DATA,<len>\r\n<len bytes>` frames (at most
 *   `frameBytes`, default 1024, per frame — SIM7600 uses 1024, the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).2), then `+CFTPGET: 0` or
 *   `+CFTPGET: <err>` (after any frames already sent: short data is never followed by 0).
 * - Module file system, as Waspmote's 3G library uses it (Wasp3G.cpp getFileSize :8459, getXModemFile :7958,
 *   del :8520): `AT+FSATTRI=<name>` → `+FSATTRI: <bytes>, <date> <time>`; `AT+FSDEL=<name>` → `OK`;
 *   `AT+CTXFILE="<name>"` → `OK`, then the module sends the file by XMODEM (checksum variant: it waits for the
 *   host's NAK, sends 132-byte blocks SOH, n, 255−n, 128 data bytes padded with 0x1A, 8-bit sum; ACK → next block,
 *   NAK → the same block again, CAN aborts; after the last block EOT until ACKed). A missing file answers
 *   `FILE NOT EXISTING` then `ERROR` (the text Wasp3G.cpp awaits; the real module's exact answer is not public). Missing file
 *   for FSATTRI/FSDEL → ERROR.
 * - `AT+CGREG?` → `+CGREG: 0,1`; `AT+CGSOCKCONT=…` and `AT+CSOCKAUTH=…` → `OK` (the PDP context is not modelled).
 * - One operation at a time: a second one while one runs → ERROR.
 *
 * Codes: notFound 213 and timeout/connect 219 are observed (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).2 [W3G; CFTPJP]); dns 219 too.
 * The other kinds (login, dataConnection, dropped, busy, notConnected, unexpected) have **no public
 * evidence** (no public table): this emulator answers 201 for them as a placeholder — override with the
 * `errorCodes` option when the real table is known.
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';
import { FtpFailure, type ErrorCodeTable } from './errors.ts';
import { withSession, type FtpSession } from './ftp-session.ts';
import { ModuleFsError } from './module-fs.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';

/** Placeholder for kinds no public source gives a code for (see module docstring). */
export const SIM5215_UNKNOWN_CODE = 201;

/** SIM5215 `+CFTPGET`/`+CFTPGETFILE`/`+CFTPLIST` codes per failure kind. */
export const SIM5215_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 219, connect: 219, timeout: 219, notFound: 213,
    login: SIM5215_UNKNOWN_CODE, dataConnection: SIM5215_UNKNOWN_CODE, dropped: SIM5215_UNKNOWN_CODE,
    busy: SIM5215_UNKNOWN_CODE, notConnected: SIM5215_UNKNOWN_CODE, unexpected: SIM5215_UNKNOWN_CODE,
  },
};

/** SIM5215 options. */
export interface Simcom5215Options extends AtModemOptions {
  /** Maximum bytes per `DATA,<len>` frame (default 1024). */
  frameBytes?: number;
}

/** SIM5215/SIM5320 emulator. */
export class Simcom5215Modem extends AtModem {
  protected readonly errorTable = SIM5215_ERRORS;
  private readonly frameBytes: number;
  private cfg = { serv: '', port: 21, mode: 0, type: 'I', un: '', pw: '' };
  private busy = false;
  private current?: FtpSession;

  constructor(options: Simcom5215Options = {}) {
    super('simcom5215', options);
    this.frameBytes = options.frameBytes ?? 1024;
    const str = (k: 'serv' | 'un' | 'pw') => ({ get: () => this.cfg[k], set: (v: string) => { this.cfg[k] = v; return true; } });
    this.registerParam('+CFTPSERV', str('serv'));
    this.registerParam('+CFTPUN', str('un'));
    this.registerParam('+CFTPPW', str('pw'));
    this.registerParam('+CFTPPORT', { get: () => this.cfg.port, set: (v) => { const n = intArg(v); if (n === undefined || n < 1 || n > 65535) return false; this.cfg.port = n; return true; } });
    this.registerParam('+CFTPMODE', { get: () => this.cfg.mode, set: (v) => { const n = intArg(v); if (n !== 0 && n !== 1) return false; this.cfg.mode = n; return true; } });
    this.registerParam('+CFTPTYPE', { get: () => this.cfg.type, set: (v) => { const t = v.toUpperCase(); if (t !== 'I' && t !== 'A') return false; this.cfg.type = t; return true; } });
    this.register('+CFTPLIST', (a) => this.list(a));
    this.register('+CFTPGETFILE', (a) => this.getFile(a));
    this.register('+CFTPGET', (a) => this.get(a));
    this.register('+FSATTRI', (a) => this.fsAttri(a));
    this.register('+FSDEL', (a) => this.fsDel(a));
    this.register('+CTXFILE', (a) => this.ctxFile(a));
    this.register('+CGREG', (a) => (a === '?' ? (this.info('+CGREG: 0,1'), this.ok()) : this.syntaxError()));
    this.register('+CGSOCKCONT', (a) => (a.startsWith('=') ? this.ok() : this.syntaxError()));
    this.register('+CSOCKAUTH', (a) => (a.startsWith('=') ? this.ok() : this.syntaxError()));
  }

  protected override identity(): string[] {
    return ['SIMCOM INCORPORATED', 'SIMCOM_SIM5215 (firmdrop emulator)'];
  }

  protected override async shutdown(): Promise<void> {
    this.current?.destroy();
  }

  /**
   * Answer OK and run `op` inside a per-operation FTP session in the background; `op` returns the
   * final URC text; a failure becomes `<name>: <code>`.
   */
  private background(name: string, op: (s: FtpSession) => Promise<string>): void {
    if (this.busy) return this.syntaxError();
    this.busy = true;
    this.ok();
    void (async () => {
      let final: string;
      try {
        final = await withSession(this.ftpOptions({ host: this.cfg.serv, port: this.cfg.port, user: this.cfg.un, pass: this.cfg.pw, passive: this.cfg.mode === 1 }), async (s) => {
          this.current = s;
          if (this.timing.loginDelayMs > 0) await sleep(this.timing.loginDelayMs);
          await s.type(this.cfg.type === 'I');
          return op(s);
        });
      } catch (err) {
        // module FS errors (full, bad name) are not FTP failures: report them as `unexpected`
        const f = err instanceof FtpFailure ? err : new FtpFailure('unexpected', 'data', (err as Error).message, { cause: err });
        final = `${name}: ${this.errorCode(f)}`;
      }
      this.current = undefined;
      this.busy = false;
      this.urc(final);
    })();
  }

  /** Emit one `<name>: DATA,<len>\r\n<bytes>` frame, atomically with respect to other output. */
  private dataFrame(name: string, bytes: Buffer): Promise<void> {
    return this.withOutput(async () => {
      this.info(`${name}: DATA,${bytes.length}`);
      await this.raw(bytes);
    });
  }

  private async frames(name: string, data: Buffer): Promise<void> {
    for (let o = 0; o < data.length; o += this.frameBytes) {
      if (this.timing.urcDelayMs > 0) await sleep(this.timing.urcDelayMs);
      await this.dataFrame(name, data.subarray(o, o + this.frameBytes));
    }
  }

  private list(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || p.length !== 1) return this.syntaxError();
    this.background('+CFTPLIST', async (s) => {
      const raw = await s.listRaw(p[0]!);
      await this.frames('+CFTPLIST', raw);
      return '+CFTPLIST: 0';
    });
  }

  private getFile(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const dir = intArg(p?.[1]);
    const rest = p?.[2] === undefined ? 0 : intArg(p[2]);
    if (!p || !p[0] || dir === undefined || dir > 8 || rest === undefined || p.length > 3) return this.syntaxError();
    const remote = p[0];
    const name = remote.split('/').filter(Boolean).pop() ?? remote;
    this.background('+CFTPGETFILE', async (s) => {
      if (rest > 0) {
        const have = this.fs.has(name) ? this.fs.size(name) : 0;
        if (have < rest) throw new FtpFailure('unexpected', 'command', `rest_size ${rest} is past the ${have} bytes of module file ${name}`);
        this.fs.truncate(name, rest);
      } else this.fs.write(name, Buffer.alloc(0));
      const dl = await s.startDownload(remote, { offset: rest, capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.drain((b) => this.fs.append(name, b));
      if (dl.failure) throw dl.failure;
      return '+CFTPGETFILE: 0';
    });
  }

  private get(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const rest = p?.[1] === undefined ? 0 : intArg(p[1]);
    if (!p || !p[0] || rest === undefined || p.length > 2) return this.syntaxError();
    this.background('+CFTPGET', async (s) => {
      const dl = await s.startDownload(p[0]!, { offset: rest, capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.drain(async (b) => {
        if (this.timing.urcDelayMs > 0) await sleep(this.timing.urcDelayMs);
        await this.dataFrame('+CFTPGET', b);
      }, this.frameBytes);
      if (dl.failure) throw dl.failure;
      return '+CFTPGET: 0';
    });
  }

  /** `<name>` or `"<name>"` after `=`. */
  private fsName(a: string): string | undefined {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    return p && p.length === 1 && p[0] ? p[0] : undefined;
  }

  private fsAttri(a: string): void {
    const name = this.fsName(a);
    if (!name || !this.fs.has(name)) return this.syntaxError();
    this.info(`+FSATTRI: ${this.fs.size(name)}, 2026/01/01 00:00:00`);
    this.ok();
  }

  private fsDel(a: string): void {
    const name = this.fsName(a);
    try {
      if (!name || !this.fs.has(name)) return this.syntaxError();
      this.fs.delete(name);
      this.ok();
    } catch (err) {
      if (err instanceof ModuleFsError) return this.syntaxError();
      throw err;
    }
  }

  private ctxFile(a: string): void {
    const name = this.fsName(a);
    if (!name) return this.syntaxError();
    if (!this.fs.has(name)) { this.info('FILE NOT EXISTING'); return this.syntaxError(); }
    this.xm = { data: this.fs.read(name, 0, this.fs.size(name)), block: 0, eot: false };
    this.ok();
    this.armXmodemTimer();
  }

  /** XMODEM sender state while `AT+CTXFILE` runs; host bytes then go to {@link xmodemByte}. */
  private xm?: { data: Buffer; block: number; eot: boolean; timer?: NodeJS.Timeout };

  private armXmodemTimer(): void {
    if (!this.xm) return;
    if (this.xm.timer) clearTimeout(this.xm.timer);
    // a host that stops answering for 60 s ends the transfer (the module's own limit is not public)
    this.xm.timer = setTimeout(() => { this.xm = undefined; }, 60_000);
    this.xm.timer.unref();
  }

  override _write(chunk: Buffer | string, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.xm) return super._write(chunk, enc, cb);
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    for (const b of buf) this.xmodemByte(b);
    cb();
  }

  /** One host byte during XMODEM: NAK (re)sends, ACK advances, CAN aborts; others are ignored. */
  private xmodemByte(b: number): void {
    const xm = this.xm;
    if (!xm) return;
    this.armXmodemTimer();
    if (b === 0x18) { clearTimeout(xm.timer); this.xm = undefined; return; }
    if (b === 0x06) {
      if (xm.eot) { clearTimeout(xm.timer); this.xm = undefined; return; }
      if (xm.block > 0) xm.block++;
    } else if (b !== 0x15) return;
    if (xm.block === 0) xm.block = 1;
    const off = (xm.block - 1) * 128;
    if (off >= xm.data.length) { xm.eot = true; void this.raw(Buffer.from([0x04]), '<EOT>'); return; }
    const pkt = Buffer.alloc(132, 0x1a);
    pkt[0] = 0x01; pkt[1] = xm.block & 0xff; pkt[2] = 255 - (xm.block & 0xff);
    xm.data.copy(pkt, 3, off, Math.min(off + 128, xm.data.length));
    let sum = 0;
    for (let i = 3; i < 131; i++) sum = (sum + pkt[i]!) & 0xff;
    pkt[131] = sum;
    void this.raw(pkt, `<XMODEM block ${xm.block}>`);
  }
}

registerFamily('simcom5215', (o) => new Simcom5215Modem(o as Simcom5215Options));
