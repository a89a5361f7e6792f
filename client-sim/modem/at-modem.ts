/**
 * `AtModem`: the AT command interpreter every emulated modem family extends (ITU-T V.250 command line and result
 * code framing; the response shapes of the Telit, u-blox, Quectel and SIMCom AT manuals: synchronous, deferred URC,
 * counted binary payload, transparent data mode).
 *
 * Byte stream contract (a `stream.Duplex`):
 * - The host writes command bytes; a command ends at `\r` (`\n` is ignored). Commands are processed
 *   one at a time, in order: a command received while another runs waits in a queue (real modems
 *   would usually drop or refuse it; queueing is the conservative choice for host code under test).
 *   Concatenated commands (`AT+A;+B`) are not supported.
 * - Echo is OFF by default (`echo: true` or `ATE1` turns it on: the command line and `\r` are echoed).
 * - Replies and URCs are written as `\r\n<text>\r\n` (families may override `frame()`, e.g. iChip
 *   writes `<text>\r\n`). Binary payloads are written as exact Buffers, counted, never escaped.
 * - Built in: `AT`, `ATE0`/`ATE1`, `ATI` (identity lines), `AT+CMEE=<0|1|2>` and `AT+CMEE?`.
 *   Errors follow CMEE: 0 → `ERROR`, 1 → `+CME ERROR: <n>`, 2 → `+CME ERROR: <text>`. Syntax errors and
 *   unknown commands always answer plain `ERROR` (V.25ter).
 * - `timing.responseDelayMs` passes before each command's response; the FTP timeout is
 *   `timing.ftpTimeoutMs` (see timing.ts).
 * - `trace` receives every command, reply line, URC, binary payload (as a byte count) and FTP wire line,
 *   with a timestamp; {@link formatTrace} prints them like an Arduino serial monitor
 *   log (`15:24:08.715 -> AT+USORD=0,512`).
 * - Output honours back-pressure: large streamed payloads wait for the reader.
 */
import { Duplex } from 'node:stream';
import { FtpSession, type FtpConnectOptions } from './ftp-session.ts';
import { type ErrorCodeTable, type FtpFailure, type FtpFailureKind, codeFor, withOverrides } from './errors.ts';
import { ModuleFs } from './module-fs.ts';
import { resolveTiming, sleep, type TimingOption, type TimingProfile } from './timing.ts';
import { EscapeDetector } from './escape-detector.ts';
import { splitArgs, type TraceEvent } from './at-text.ts';

export { formatTrace, splitArgs, intArg, type TraceEvent } from './at-text.ts';

/** Options every family accepts. */
export interface AtModemOptions {
  /** Echo commands back (ATE1). Default false. */
  echo?: boolean;
  /** Initial AT+CMEE value. Default 0 (plain ERROR), as on the modules after power-up. */
  cmee?: 0 | 1 | 2;
  /** Timing preset or overrides; default 'fast'. */
  timing?: TimingOption;
  /** Called for every command, reply, URC, payload and FTP wire line. */
  trace?: (ev: TraceEvent) => void;
  /** Override the family's error code per failure kind (codes no public source settles, e.g. Telit's CME for a bad login). */
  errorCodes?: Partial<Record<FtpFailureKind, number>>;
  /** Module file system to use (shared between modem instances if wanted); default a new 4 MiB one. */
  fs?: ModuleFs;
  /** Module download buffer in bytes (the FTP data connection is back-pressured beyond it). Default 64 KiB. */
  bufferBytes?: number;
  /** Send SIZE before RETR to detect short transfers (ftp-session.ts). Default true. */
  verifySize?: boolean;
}

/** A command handler: `args` is everything after the command name (`=...`, `?`, `=?`, `:...` or ''). */
export type AtHandler = (args: string, raw: string) => Promise<void> | void;

/** Base class of every family emulator. See the module docstring for the byte-stream contract. */
export abstract class AtModem extends Duplex {
  readonly family: string;
  readonly timing: TimingProfile;
  readonly fs: ModuleFs;
  echo: boolean;
  cmee: 0 | 1 | 2;
  protected readonly options: AtModemOptions;
  protected readonly bufferBytes: number;
  protected readonly verifySize: boolean;
  private handlers: { name: string; fn: AtHandler }[] = [];
  private inbuf = '';
  private queue: string[] = [];
  private pumping = false;
  private readWaiters: (() => void)[] = [];
  private closedFlag = false;
  private outChain: Promise<void> = Promise.resolve();
  private outLocked = false;
  private deferredUrcs: string[] = [];
  private dataMode?: EscapeDetector;
  /**
   * The representation type the family's FTP client is configured for when the dialect passes none to
   * {@link ftpOptions}: `'I'` (binary). The session sends `TYPE I` before the first SIZE/RETR (ftp-session.ts).
   * iChip (`AT+iF*` has no type setting; WaspWIFI_PRO reads binaries), u-blox (`+UFTP` has no type setting) and
   * SIMCom (which send `+FTPTYPE`/`+CFTPTYPE` explicitly) keep it; Telit sets undefined (its `#FTPTYPE` sends TYPE
   * at once, and without it the server's default stands); Quectel follows `+QFTPCFG="filetype"`.
   */
  protected ftpTransferType: 'I' | 'A' | undefined = 'I';
  /** Put a space after the colon of `+NAME:` replies built with {@link kv} (SIM900 firmware: no space). */
  protected colonSpace = true;

  /** The family's error table (errors.ts); overrides from `options.errorCodes` are applied by {@link errorCode}. */
  protected abstract readonly errorTable: ErrorCodeTable;
  /** Text for AT+CMEE=2; default `error <n>`. */
  protected errorText(code: number): string {
    return `error ${code}`;
  }
  /** Lines answered to ATI. */
  protected identity(): string[] {
    return [this.family];
  }
  /** Close FTP sessions etc. when the stream ends; families override. */
  protected async shutdown(): Promise<void> {}

  constructor(family: string, options: AtModemOptions = {}) {
    super({ allowHalfOpen: false });
    this.family = family;
    this.options = options;
    this.timing = resolveTiming(family, options.timing);
    this.fs = options.fs ?? new ModuleFs();
    this.echo = options.echo ?? false;
    this.cmee = options.cmee ?? 0;
    this.bufferBytes = options.bufferBytes ?? 64 * 1024;
    this.verifySize = options.verifySize ?? true;
    this.register('E0', () => { this.echo = false; return this.ok(); });
    this.register('E1', () => { this.echo = true; return this.ok(); });
    this.register('E', () => { this.echo = false; return this.ok(); });
    this.register('I', async () => { for (const l of this.identity()) this.info(l); await this.ok(); });
    this.register('+CMEE', async (args) => {
      if (args === '?') { this.info(`+CMEE: ${this.cmee}`); return this.ok(); }
      if (args === '=?') { this.info('+CMEE: (0-2)'); return this.ok(); }
      const m = /^=([012])$/.exec(args);
      if (!m) return this.syntaxError();
      this.cmee = Number(m[1]) as 0 | 1 | 2;
      return this.ok();
    });
  }

  /** Register a command by name after `AT` (case-insensitive), e.g. `#FTPOPEN`, `+SAPBR`, `+IFOPN`. Longest name wins. */
  protected register(name: string, fn: AtHandler): void {
    this.handlers.push({ name: name.toUpperCase(), fn });
    this.handlers.sort((a, b) => b.name.length - a.name.length);
  }

  /**
   * The family code for a failure, after `errorCodes` overrides. Anything that is not a classified
   * failure (an emulator-internal error) counts as `unexpected`.
   */
  protected errorCode(f: Pick<FtpFailure, 'kind' | 'phase'> | unknown): number {
    const table = withOverrides(this.errorTable, this.options.errorCodes);
    const ff = f as Partial<Pick<FtpFailure, 'kind' | 'phase'>> | undefined;
    const kind = ff?.kind !== undefined && ff.kind in table.codes ? ff.kind : 'unexpected';
    return codeFor(table, { kind, phase: ff?.phase ?? 'command' });
  }

  /** FTP connection options for this modem (timeout from timing, wire lines to the trace). */
  protected ftpOptions(o: { host: string; port?: number; user: string; pass: string; passive?: boolean; secure?: boolean; epsv?: boolean; transferType?: 'I' | 'A' }): FtpConnectOptions {
    return {
      ...o,
      transferType: 'transferType' in o ? o.transferType : this.ftpTransferType,
      timeoutMs: this.timing.ftpTimeoutMs,
      wireTrace: this.options.trace ? (line) => this.trace('wire', line) : undefined,
    };
  }

  /** Open and log in an FTP session, then wait `timing.loginDelayMs`. Rejects with FtpFailure. */
  protected async ftpLogin(o: Parameters<AtModem['ftpOptions']>[0]): Promise<FtpSession> {
    const s = await FtpSession.open(this.ftpOptions(o));
    if (this.timing.loginDelayMs > 0) await sleep(this.timing.loginDelayMs);
    return s;
  }

  // ---- output primitives -------------------------------------------------------------------------

  /** How a text line is framed on the wire; default `\r\n<text>\r\n`. */
  protected frame(text: string): string {
    return `\r\n${text}\r\n`;
  }

  /** Write an information/result line. */
  protected info(text: string): void {
    this.trace('reply', text);
    this.out(Buffer.from(this.frame(text), 'latin1'));
  }

  /**
   * Write an unsolicited result code. While a command response or a multi-part frame is being written
   * (see {@link withOutput}), the URC is held back and written right after it, so a URC never lands
   * inside a counted payload.
   */
  protected urc(text: string): void {
    if (this.outLocked) { this.deferredUrcs.push(text); return; }
    this.trace('urc', text);
    this.out(Buffer.from(this.frame(text), 'latin1'));
  }

  /**
   * Run `fn` with exclusive use of the output (command responses run inside it; background emitters of
   * multi-part output such as `+CFTPGET: DATA,<n>` + bytes must use it too). URCs raised meanwhile are
   * written when `fn` ends. Never await another `withOutput` inside `fn` (it would deadlock).
   */
  protected async withOutput<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.outChain;
    let release!: () => void;
    this.outChain = new Promise<void>((r) => { release = r; });
    await prev;
    this.outLocked = true;
    try {
      return await fn();
    } finally {
      this.outLocked = false;
      const urcs = this.deferredUrcs;
      this.deferredUrcs = [];
      for (const u of urcs) this.urc(u);
      release();
    }
  }

  /** `<name>: <rest>` or `<name>:<rest>` per {@link colonSpace}. */
  protected kv(name: string, rest: string | number): string {
    return `${name}:${this.colonSpace ? ' ' : ''}${rest}`;
  }

  /**
   * Register a local configuration parameter command (`AT<name>=<v>` → OK, `AT<name>?` → `<name>: <v>`),
   * e.g. SIMCom `+FTPSERV`. `set` returns false for a bad value (→ ERROR). Strings are shown quoted.
   */
  protected registerParam(name: string, p: { get: () => string | number; set: (v: string) => boolean }): void {
    this.register(name, (args) => {
      if (args === '?') {
        const v = p.get();
        this.info(this.kv(name, typeof v === 'string' ? `"${v}"` : v));
        return this.ok();
      }
      const a = args.startsWith('=') ? splitArgs(args.slice(1)) : undefined;
      if (!a || a.length !== 1 || !p.set(a[0]!)) return this.syntaxError();
      this.ok();
    });
  }

  /** Write bytes exactly as given (binary payload or pre-framed text); resolves when the reader can take more. */
  protected async raw(buf: Buffer, traceAs?: string): Promise<void> {
    this.trace('data', traceAs ?? `<${buf.length} bytes>`, buf.length);
    await this.outAsync(buf);
  }

  /** Final result `OK`. */
  protected ok(): void {
    this.info('OK');
  }

  /** Final error result per AT+CMEE: `ERROR`, `+CME ERROR: <code>`, or `+CME ERROR: <text>`. */
  protected cmeError(code: number): void {
    if (this.cmee === 0) this.info('ERROR');
    else if (this.cmee === 1) this.info(`+CME ERROR: ${code}`);
    else this.info(`+CME ERROR: ${this.errorText(code)}`);
  }

  /** Final `ERROR` for malformed commands (always plain). */
  protected syntaxError(): void {
    this.info('ERROR');
  }

  /**
   * Enter online data mode (after a `CONNECT`): bytes from the host no longer reach the command parser. The escape
   * sequence, `+++` with at least `guardMs` of silence before and after it (ITU-T V.250 §6.3.11 escape guard time,
   * S12 = 50 × 20 ms = 1 s by default on Quectel and u-blox modules), calls `onEscape` once and leaves data mode.
   * Every other byte is discarded: during a download the host has nothing to send.
   */
  protected enterDataMode(guardMs: number, onEscape: () => void): void {
    this.leaveDataMode();
    this.dataMode = new EscapeDetector(guardMs, () => {
      this.dataMode = undefined;
      this.trace('cmd', '+++');
      onEscape();
    });
  }

  /** Leave online data mode (the transfer ended by itself); later bytes are commands again. */
  protected leaveDataMode(): void {
    this.dataMode?.stop();
    this.dataMode = undefined;
  }

  /** Emit a trace event. */
  protected trace(kind: TraceEvent['kind'], text: string, bytes?: number): void {
    this.options.trace?.({ time: new Date(), family: this.family, kind, text, bytes });
  }

  /** True once the stream was closed/destroyed. */
  protected get isShutDown(): boolean {
    return this.closedFlag;
  }

  // ---- Duplex plumbing -----------------------------------------------------------------------------

  private out(buf: Buffer): void {
    if (this.closedFlag) return;
    this.push(buf);
  }

  private async outAsync(buf: Buffer): Promise<void> {
    if (this.closedFlag) return;
    if (!this.push(buf)) await new Promise<void>((r) => this.readWaiters.push(r));
  }

  override _read(): void {
    const w = this.readWaiters;
    this.readWaiters = [];
    for (const r of w) r();
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.dataMode) {
      this.dataMode.input(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      cb();
      return;
    }
    this.inbuf += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    let i: number;
    while ((i = this.inbuf.indexOf('\r')) >= 0) {
      const line = this.inbuf.slice(0, i).replace(/\n/g, '');
      this.inbuf = this.inbuf.slice(i + 1);
      this.queue.push(line);
    }
    if (this.inbuf.length > 4096) this.inbuf = this.inbuf.slice(-4096);
    void this.pump();
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finish().then(() => cb(), (e) => cb(e));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.finish().then(() => cb(err), () => cb(err));
  }

  private async finish(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.leaveDataMode();
    this._read();
    await this.shutdown().catch(() => undefined);
    this.push(null);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closedFlag) {
        const line = this.queue.shift()!;
        await this.dispatch(line);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async dispatch(rawLine: string): Promise<void> {
    const line = rawLine.trim();
    if (line === '') return;
    await this.withOutput(async () => {
      if (this.echo) this.out(Buffer.from(`${rawLine}\r`, 'latin1'));
      this.trace('cmd', line);
      if (!/^AT/i.test(line)) { this.syntaxError(); return; }
      const rest = line.slice(2);
      // Yield to I/O before every command: an in-process host polling in a tight loop (e.g. #FTPRECV
      // answered 0) would otherwise starve the FTP sockets that fill the module buffer.
      if (this.timing.responseDelayMs > 0) await sleep(this.timing.responseDelayMs);
      else await new Promise<void>((r) => setImmediate(r));
      if (rest === '') { this.ok(); return; }
      const up = rest.toUpperCase();
      const h = this.handlers.find((x) => up.startsWith(x.name) && this.argsStart(rest.slice(x.name.length)));
      if (!h) { this.syntaxError(); return; }
      try {
        await h.fn(rest.slice(h.name.length), line);
      } catch (err) {
        this.trace('reply', `(emulator error: ${(err as Error).message})`);
        this.info('ERROR');
      }
    });
  }

  /** The text after a command name must start its arguments (or be empty), so `+FTPGET` never matches `+FTPGETNAME`. */
  private argsStart(after: string): boolean {
    return after === '' || /^[^A-Za-z0-9]/.test(after);
  }
}
