/**
 * The one FTP client model behind every emulated modem (issue 3 item 2; research/modem-at-ftp.md §5, §6).
 *
 * `FtpSession` wraps a basic-ftp `Client` with what a modem's built-in FTP client does: connect + log in
 * (phase-aware error classification), TYPE, CWD, PWD, SIZE (falling back to parsing `LIST <file>`),
 * raw `LIST`, and downloads that fill a bounded module buffer (`Download`) from which the dialect pulls
 * chunks (Telit `#FTPRECV`, SIM900 `FTPGET=2`) or which it drains as a stream (Telit `#FTPGET`,
 * SIM5215 `+CFTPGET`, iChip `AT+iFRCV`), or stores in the module file system.
 *
 * Wire behaviour (research §5, all marked inference there):
 * - Login sends `USER`/`PASS` only (no FEAT/OPTS), TYPE is sent only when the dialect asks.
 * - Data connections always use PASV (`enterPassiveModeIPv4`), or EPSV-then-PASV with `epsv: true`.
 *   **Active mode is accepted by every dialect but never used on the wire**: basic-ftp has no PORT
 *   support; `activeRequested` records what the host asked for.
 * - Resume is `REST <n>` then `RETR` (basic-ftp `downloadTo(..., startAt)`).
 * - Before each RETR the session knows the file's size (unless `verifySize: false`), so that a transfer
 *   the server ends early with a `226` (e.g. a proxy cut the data connection after the server had
 *   written everything) is reported as `dropped`, never as short success. The size comes from an earlier
 *   `SIZE` of the same path in the same session and directory (Telit `#FTPFSIZE` before `#FTPGETPKT`, as
 *   Waspmote does), else the session sends `SIZE` itself — an extra command real modems may not send;
 *   it is the emulator's guard and is documented here.
 * - Timeouts: `timeoutMs` bounds every server reply, the opening of the data connection and any gap
 *   in data (basic-ftp's transfer watchdog; our own back-pressure does not count as a stall).
 *
 * Errors: every method rejects with `FtpFailure` (errors.ts), never with a raw basic-ftp error.
 * After a `connect`/`dropped`/`timeout` failure basic-ftp has closed the client: `isOpen` turns false.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { Client, FTPError, enterPassiveModeIPv4, type FileInfo } from 'basic-ftp';
import { FtpFailure, classifyFtpError, type FtpPhase } from './errors.ts';

/** How to reach and log in to the FTP server. */
export interface FtpConnectOptions {
  host: string;
  /** Control port (default 21). */
  port?: number;
  user: string;
  pass: string;
  /** The host's data-connection mode request. true = passive. Recorded only: the wire is always passive. */
  passive?: boolean;
  /** Explicit FTPS (AUTH TLS); certificates are not verified (emulator). Default false. */
  secure?: boolean;
  /** Try EPSV before PASV (Telit `#FTPCFG` FTPext). Default false: PASV only. */
  epsv?: boolean;
  /** Server reply / data gap / data-connection timeout in ms (the modem's FTP timeout). */
  timeoutMs: number;
  /** Receives every FTP control line sent (`> USER x`) and received (`< 230 ...`), for tracing. */
  wireTrace?: (line: string) => void;
}

/** Options of one download. */
export interface DownloadOptions {
  /** Byte offset to resume at (`REST <offset>`); default 0. */
  offset?: number;
  /** Module buffer size in bytes: the data connection is back-pressured beyond it. Default 64 KiB. */
  capacity?: number;
  /** Send SIZE first and treat fewer bytes than (size − offset) as `dropped`. Default true. */
  verifySize?: boolean;
}

/**
 * One file download into a bounded module buffer.
 *
 * State: `received` bytes arrived so far (from `offset`), `available` bytes buffered and not yet taken,
 * `complete` true once the server confirmed the transfer AND all expected bytes arrived, `failure` set
 * when the transfer failed (buffered bytes remain readable). `expected` is size − offset when known.
 * Events: `'change'` on every data arrival, completion or failure.
 * `started` resolves at the first data or completion and rejects (FtpFailure) if the transfer fails
 * before any byte arrived; `done` resolves at completion and rejects with the failure. Neither causes
 * an unhandled rejection when unobserved.
 */
export class Download extends EventEmitter {
  readonly path: string;
  readonly offset: number;
  readonly capacity: number;
  expected?: number;
  received = 0;
  taken = 0;
  complete = false;
  failure?: FtpFailure;
  readonly started: Promise<void>;
  readonly done: Promise<void>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pendingWrite?: () => void;
  private resolveStarted!: () => void;
  private rejectStarted!: (e: FtpFailure) => void;
  private resolveDone!: () => void;
  private rejectDone!: (e: FtpFailure) => void;
  private abortFn?: () => void;

  constructor(path: string, offset: number, capacity: number) {
    super();
    this.path = path;
    this.offset = offset;
    this.capacity = capacity;
    this.started = new Promise((res, rej) => { this.resolveStarted = res; this.rejectStarted = rej; });
    this.done = new Promise((res, rej) => { this.resolveDone = res; this.rejectDone = rej; });
    this.started.catch(() => undefined);
    this.done.catch(() => undefined);
  }

  /** Bytes buffered in the module and not yet taken by the host. */
  get available(): number {
    return this.buffered;
  }

  /** True once the transfer completed or failed. */
  get settled(): boolean {
    return this.complete || this.failure !== undefined;
  }

  /** True when complete and every byte has been taken (the Telit `<eof>` = 1 condition). */
  get drained(): boolean {
    return this.complete && this.buffered === 0;
  }

  /** Take up to `max` buffered bytes (possibly 0). Releases back-pressure on the data connection. */
  read(max: number): Buffer {
    const want = Math.max(0, Math.min(max, this.buffered));
    const out = Buffer.allocUnsafe(want);
    let filled = 0;
    while (filled < want) {
      const c = this.chunks[0]!;
      const n = Math.min(c.length, want - filled);
      c.copy(out, filled, 0, n);
      filled += n;
      if (n === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(n);
    }
    this.buffered -= want;
    this.taken += want;
    if (this.pendingWrite && this.buffered < this.capacity) {
      const cb = this.pendingWrite;
      this.pendingWrite = undefined;
      cb();
    }
    return out;
  }

  /**
   * Wait until something changes (data, completion, failure) or `timeoutMs` passes.
   * Resolves true on a change, false on timeout. Resolves at once if already settled.
   */
  waitChange(timeoutMs: number): Promise<boolean> {
    if (this.settled && this.buffered === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.off('change', on); resolve(false); }, timeoutMs);
      const on = () => { clearTimeout(t); resolve(true); };
      this.once('change', on);
    });
  }

  /**
   * Hand every byte to `onChunk` (chunks of at most `maxChunk` bytes) as it arrives, until the download
   * completes or fails; `onChunk` may be async (its back-pressure holds the data connection). Resolves
   * when settled and drained — check `failure` afterwards (buffered bytes are always delivered first).
   */
  async drain(onChunk: (bytes: Buffer) => Promise<void> | void, maxChunk = Number.MAX_SAFE_INTEGER): Promise<void> {
    for (;;) {
      if (this.buffered > 0) await onChunk(this.read(maxChunk));
      else if (this.settled) return;
      else await this.waitChange(1000);
    }
  }

  /** Abort the transfer (closes the FTP client); the download fails with `notConnected` unless settled. */
  abort(reason = 'download aborted'): void {
    if (!this.settled) this.fail(new FtpFailure('notConnected', 'data', reason));
    this.abortFn?.();
  }

  /** @internal The sink the FTP client writes into. */
  sink(): Writable {
    return new Writable({
      highWaterMark: 16 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        if (this.settled) { cb(); return; }
        this.chunks.push(chunk);
        this.buffered += chunk.length;
        this.received += chunk.length;
        this.resolveStarted();
        this.emit('change');
        if (this.buffered < this.capacity) cb();
        else this.pendingWrite = cb;
      },
    });
  }

  /** @internal */
  setAbort(fn: () => void): void {
    this.abortFn = fn;
  }

  /** @internal */
  finish(): void {
    if (this.settled) return;
    if (this.expected !== undefined && this.received < this.expected) {
      this.fail(new FtpFailure('dropped', 'data', `transfer of ${this.path} ended after ${this.received} of ${this.expected} bytes`));
      return;
    }
    this.complete = true;
    this.resolveStarted();
    this.resolveDone();
    this.emit('change');
  }

  /** @internal */
  fail(f: FtpFailure): void {
    if (this.settled) return;
    this.failure = f;
    const cb = this.pendingWrite;
    this.pendingWrite = undefined;
    cb?.();
    this.rejectStarted(f);
    this.rejectDone(f);
    this.emit('change');
  }
}

/** An open, logged-in FTP session. Create with {@link FtpSession.open}. One operation at a time. */
export class FtpSession {
  readonly client: Client;
  readonly host: string;
  readonly port: number;
  /** True when the host asked for active mode (never used on the wire, see module docstring). */
  readonly activeRequested: boolean;
  /** Last reply line received from the server (Telit `#FTPMSG`). */
  lastReply = '';
  /** The running download, if any. */
  download?: Download;
  private quitting = false;
  /** Sizes learnt by size() in this session and working directory (so RETR does not repeat SIZE). */
  private sizes = new Map<string, number>();

  private constructor(client: Client, opts: FtpConnectOptions) {
    this.client = client;
    this.host = opts.host;
    this.port = opts.port ?? 21;
    this.activeRequested = opts.passive === false;
  }

  /**
   * Connect, optionally AUTH TLS, log in. Rejects with FtpFailure of kind dns/connect (phase connect),
   * login (phase login) or timeout.
   */
  static async open(opts: FtpConnectOptions): Promise<FtpSession> {
    const client = new Client(opts.timeoutMs);
    holdPartialReplyLines(client);
    const session = new FtpSession(client, opts);
    client.ftp.verbose = true;
    client.ftp.log = (m: string) => {
      if (m.startsWith('< ')) session.lastReply = m.slice(2).split(/\r?\n/).filter(Boolean).pop() ?? '';
      // A send on a destroyed control socket never reaches the wire (basic-ftp's close() after our QUIT).
      if (m.startsWith('> ') && client.ftp.socket.destroyed) return;
      if (opts.wireTrace && (m.startsWith('< ') || m.startsWith('> '))) opts.wireTrace(m.trimEnd());
    };
    if (!opts.epsv) client.prepareTransfer = enterPassiveModeIPv4;
    client.availableListCommands = ['LIST'];
    let phase: FtpPhase = 'connect';
    try {
      await client.connect(opts.host, opts.port ?? 21);
      if (opts.secure) await client.useTLS({ rejectUnauthorized: false });
      phase = 'login';
      await client.login(opts.user, opts.pass);
      return session;
    } catch (err) {
      client.close();
      throw classifyFtpError(err, phase);
    }
  }

  /** False once closed by us or by a network failure. */
  get isOpen(): boolean {
    return !this.client.closed && !this.quitting;
  }

  /** True while a download is neither complete nor failed (the control connection is busy). */
  get transferring(): boolean {
    return this.download !== undefined && !this.download.settled;
  }

  /** Change the FTP timeout (ms) for later operations (Telit `#FTPTO`). */
  setTimeout(ms: number): void {
    (this.client.ftp as unknown as { timeout: number }).timeout = ms;
  }

  /** `TYPE I` (binary) or `TYPE A`. */
  async type(binary: boolean): Promise<void> {
    await this.run('command', () => this.client.send(binary ? 'TYPE I' : 'TYPE A'));
  }

  /** `CWD <dir>`. 550 → notFound. */
  async cwd(dir: string): Promise<void> {
    this.sizes.clear();
    await this.run('command', () => this.client.cd(dir));
  }

  /** `PWD`: the path and the raw server reply line (e.g. `257 "/" is current directory`). */
  async pwd(): Promise<{ path: string; reply: string }> {
    const res = await this.run('command', () => this.client.send('PWD'));
    const m = /"((?:[^"]|"")*)"/.exec(res.message);
    return { path: m ? m[1]!.replace(/""/g, '"') : '', reply: res.message.split(/\r?\n/)[0] ?? res.message };
  }

  /**
   * Size of a remote file in bytes: `SIZE <path>`; if the server does not implement SIZE (500–504),
   * `LIST <path>` and the entry's size. Missing file → notFound.
   */
  async size(path: string): Promise<number> {
    try {
      const n = await this.run('command', () => this.client.size(path));
      this.sizes.set(path, n);
      return n;
    } catch (err) {
      if (!(err instanceof FtpFailure) || err.ftpCode === undefined || err.ftpCode < 500 || err.ftpCode > 504) throw err;
    }
    const entries = await this.list(path);
    const base = path.split('/').pop();
    const hit = entries.find((e) => e.isFile && (e.name === base || e.name === path)) ?? (entries.length === 1 ? entries[0] : undefined);
    if (!hit) throw new FtpFailure('notFound', 'command', `no such file: ${path}`);
    return hit.size;
  }

  /** `LIST <path>` parsed by basic-ftp. */
  async list(path = ''): Promise<FileInfo[]> {
    return (await this.listing(path)).entries;
  }

  /** `LIST <path>`: the raw listing bytes as the server sent them (SIM5215 `+CFTPLIST`, u-blox op 13). */
  async listRaw(path = ''): Promise<Buffer> {
    return (await this.listing(path)).raw;
  }

  /**
   * Start downloading `path` into a module buffer. Resolves once the download is set up (SIZE done when
   * `verifySize`); transfer errors surface on the returned {@link Download}. Rejects (FtpFailure) when
   * SIZE fails with notFound, or `busy` when another transfer runs.
   */
  async startDownload(path: string, opts: DownloadOptions = {}): Promise<Download> {
    if (this.transferring) throw new FtpFailure('busy', 'command', 'a transfer is already running on this session');
    const offset = opts.offset ?? 0;
    const dl = new Download(path, offset, opts.capacity ?? 64 * 1024);
    if (opts.verifySize ?? true) {
      try {
        const total = this.sizes.get(path) ?? await this.size(path);
        dl.expected = Math.max(0, total - offset);
      } catch (err) {
        const f = err as FtpFailure;
        if (f.kind === 'notFound' || f.kind === 'dropped' || f.kind === 'timeout' || f.kind === 'connect') throw f;
        // other SIZE refusals: continue without a size check
      }
    }
    this.download = dl;
    dl.setAbort(() => this.client.close());
    this.client.downloadTo(dl.sink(), path, offset).then(
      () => dl.finish(),
      (err: unknown) => {
        const f = classifyFtpError(err, 'data');
        // ftp-srv answers 551 for any read error, also after bytes flowed: once data arrived it is a drop.
        dl.fail(f.kind === 'notFound' && dl.received > 0
          ? new FtpFailure('dropped', 'data', `transfer of ${path} aborted after ${dl.received} bytes: ${f.message}`, { ftpCode: f.ftpCode, serverText: f.serverText, cause: f })
          : f);
      },
    );
    return dl;
  }

  /** Download a whole file (from `offset`) into memory; rejects with FtpFailure (short data → dropped). */
  async getBuffer(path: string, opts: DownloadOptions = {}): Promise<Buffer> {
    const dl = await this.startDownload(path, { ...opts, capacity: Number.MAX_SAFE_INTEGER });
    await dl.done;
    return dl.read(dl.available);
  }

  /**
   * `QUIT` and close. Never throws; waits at most the FTP timeout. Aborts a running download first.
   * Returns false when the session was already gone (useful for "not connected" errors).
   */
  async close(): Promise<boolean> {
    if (this.client.closed || this.quitting) return false;
    this.quitting = true;
    if (this.transferring) {
      this.download!.abort('session closed');
      return true;
    }
    try {
      await this.client.send('QUIT');
    } catch {
      // server already gone or replied oddly: closing anyway
    }
    // A module sends QUIT once (RFC 959 §4.1.1: 221, then the server closes); basic-ftp's close() would send its own
    // QUIT again, so the control socket is closed first.
    this.client.ftp.socket.destroy();
    this.client.close();
    return true;
  }

  /** Close the sockets without QUIT. */
  destroy(): void {
    this.quitting = true;
    this.download?.abort('session destroyed');
    this.client.close();
  }

  private async listing(path: string): Promise<{ raw: Buffer; entries: FileInfo[] }> {
    let raw = Buffer.alloc(0);
    const parse = this.client.parseList;
    this.client.parseList = (text: string) => {
      raw = Buffer.from(text, 'utf8');
      return parse(text);
    };
    try {
      const entries = await this.run('data', () => this.client.list(path));
      return { raw, entries };
    } finally {
      this.client.parseList = parse;
    }
  }

  private async run<T>(phase: FtpPhase, fn: () => Promise<T>): Promise<T> {
    if (this.client.closed || this.quitting) throw new FtpFailure('notConnected', phase, 'FTP session is not open');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FTPError || err instanceof Error) {
        if (/still running/i.test((err as Error).message)) throw new FtpFailure('busy', phase, (err as Error).message, { cause: err });
      }
      throw classifyFtpError(err, phase);
    }
  }
}

/**
 * Open a session, run `fn`, QUIT — the per-operation session model of SIM800/SIM900 and SIM5215
 * (research §6.1). The session is closed whatever `fn` does; `fn`'s result or FtpFailure is returned.
 */
export async function withSession<T>(opts: FtpConnectOptions, fn: (s: FtpSession) => Promise<T>): Promise<T> {
  const s = await FtpSession.open(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * Make basic-ftp wait for a whole reply line before parsing it, as a modem's FTP client does.
 *
 * basic-ftp 6.2.3 parses every chunk of the control connection on its own: a TCP segment holding only `220`
 * (no `\n` yet) matches its single-line reply pattern and is taken as a complete reply, so a reply split by the
 * network right after its code is misread (seen behind the fault proxy's `split` fault; slow cellular links split
 * segments like that). This wrapper feeds the library whole lines only and keeps the unterminated tail for the next
 * chunk. It relies on `client.ftp._onControlSocketData(chunk: string)`, which the library's socket handler calls
 * by name; tests/modem-core.spec.ts fails if that hook point disappears.
 * @throws Error when the installed basic-ftp no longer has the hook point.
 */
export function holdPartialReplyLines(client: Client): void {
  const ctx = client.ftp as unknown as { _onControlSocketData?: (chunk: string) => void };
  const original = ctx._onControlSocketData;
  if (typeof original !== 'function') throw new Error('basic-ftp: FtpContext._onControlSocketData is gone; update holdPartialReplyLines');
  let tail = '';
  ctx._onControlSocketData = function (this: unknown, chunk: string | Buffer) {
    const text = tail + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      // Bounded like the library's own limit (64 KiB) so a server that never sends LF cannot grow this forever.
      if (text.length > 65536) { tail = ''; original.call(this, text); } else tail = text;
      return;
    }
    tail = text.slice(end + 1);
    original.call(this, text.slice(0, end + 1));
  };
}
