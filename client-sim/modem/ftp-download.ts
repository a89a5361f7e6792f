/**
 * The data-connection side of the modems' FTP client: one RETR into a bounded module buffer (`Download`).
 *
 * A modem does not hand the host the data connection: the bytes land in the module's own RAM and the host takes them
 * in chunks (Telit `#FTPRECV`, SIM900 `AT+FTPGET=2,<n>`), as a stream (Telit `#FTPGET`, Quectel `"COM:"`, u-blox
 * `+UFTPC=6`, SIM5215 `+CFTPGET`, iChip `AT+iFRCV`) or into the module file system (fs-download.ts). The buffer is
 * bounded (`capacity`): beyond it the data connection is back-pressured, as a module's TCP window closes when its
 * buffer is full. The control dialogue (USER/PASS, TYPE, SIZE, REST, RETR) is in ftp-session.ts.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { FtpFailure } from './errors.ts';

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
