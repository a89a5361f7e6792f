/**
 * Sending one RETR's bytes down a data connection: from a shared in-memory Buffer (offered snapshots and
 * UPGRADE.TXT, server/snapshots/reader.ts SnapshotCache) or from an open file descriptor, from the REST offset to the end,
 * with the socket's back-pressure respected (a device on a 40 kbit/s GPRS link holds at most one chunk in the
 * server's memory beyond what the kernel buffers), and a clear outcome: done when the last byte has been handed to
 * the kernel, failed when the data connection closes or errors first, when the file cannot be read, or when the
 * transfer is stopped (ABOR, shutdown, the control connection lost).
 */
import { read as readFd, close as closeFd } from 'node:fs';
import type net from 'node:net';

/** Bytes per write to the data connection: buffer chunks are views of the shared Buffer, never copies. */
export const CHUNK_BYTES = 64 * 1024;

/** Why a transfer failed: `local` = the server could not read the file (FTP 451), else the connection (426). */
export class TransferError extends Error {
  constructor(message: string, readonly local: boolean) {
    super(message);
    this.name = 'TransferError';
  }
}

/** A transfer in progress. */
export interface Transfer {
  /** Resolves when every byte was written and flushed to the kernel; rejects with a TransferError. Settles once. */
  readonly done: Promise<void>;
  /**
   * Stops the transfer: `done` rejects with `err`'s message (default "Transfer stopped"), an fd source is closed.
   * The data socket is left to the caller. Harmless after the end.
   */
  destroy(err?: Error): void;
}

/** The bytes to send (files.ts RetrSource): `buffer` or `fd` (closed here when the transfer ends), from `offset`. */
export interface TransferSource {
  offset: number;
  size: number;
  buffer?: Buffer;
  fd?: number;
}

/**
 * Sends `src` from `src.offset` to its end on `data`. `onProgress(n)` is called with each chunk's length (bytes)
 * as it is handed to the socket. An fd source is read sequentially with positional reads (it is not shared);
 * a short read (the file shrank under us) ends the transfer as a local error rather than sending fewer bytes
 * than the SIZE reply announced. Never throws; the outcome is `done`.
 */
export function sendBytes(data: net.Socket, src: TransferSource, onProgress: (bytes: number) => void): Transfer {
  const sender = new Sender(data, src, onProgress);
  sender.start();
  return { done: sender.done, destroy: (err?: Error) => sender.finish(new TransferError(err?.message ?? 'Transfer stopped', false)) };
}

/** One transfer's state: the position, writes in flight, an fd read in flight. */
class Sender {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: TransferError) => void;
  #settled = false;
  #fd: number | undefined;
  #pos: number;
  /** Writes handed to the socket whose callback has not come yet. */
  #writing = 0;
  /** An fd read in flight. */
  #reading = false;
  #endOfSource: boolean;
  /** An fd released while a read was in flight: closed when the read returns. */
  #pendingClose: number | undefined;
  readonly #pump = () => this.pump();
  readonly #onClose = () => this.finish(new TransferError('Data connection closed', false));
  readonly #onError = (e: Error) => this.finish(new TransferError(`Data connection failed: ${e.message}`, false));
  readonly #afterWrite = (err?: Error | null) => {
    this.#writing--;
    if (err) this.finish(new TransferError(`Data connection failed: ${err.message}`, false));
    else if (this.#endOfSource && this.#writing === 0) this.finish();
  };

  constructor(private readonly data: net.Socket, private readonly src: TransferSource, private readonly onProgress: (bytes: number) => void) {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => undefined); // the caller awaits it; never an unhandled rejection when it does not
    this.#fd = src.fd;
    this.#pos = Math.min(Math.max(0, src.offset), src.size);
    this.#endOfSource = this.#pos >= src.size;
  }

  start(): void {
    const data = this.data;
    if (data.destroyed || !data.writable) {
      this.finish(new TransferError('Data connection closed', false));
      return;
    }
    data.on('drain', this.#pump);
    data.once('close', this.#onClose);
    data.on('error', this.#onError);
    if (this.#endOfSource) {
      // REST at or past the end: nothing to send, the transfer is complete.
      this.#releaseFd();
      queueMicrotask(() => this.finish());
    } else this.pump();
  }

  /** Settles `done` once (rejects with `err`), detaches from the socket, closes an fd source. */
  finish(err?: TransferError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.data.off('drain', this.#pump);
    this.data.off('close', this.#onClose);
    this.data.off('error', this.#onError);
    this.#releaseFd();
    if (err) this.#reject(err);
    else this.#resolve();
  }

  #releaseFd(): void {
    if (this.#fd === undefined) return;
    const f = this.#fd;
    this.#fd = undefined;
    if (!this.#reading) closeFd(f, () => undefined);
    else this.#pendingClose = f;
  }

  #write(chunk: Buffer): boolean {
    this.#writing++;
    this.onProgress(chunk.length);
    return this.data.write(chunk, this.#afterWrite);
  }

  /** Writes until the socket asks to wait ('drain'): views of the buffer, or one positional fd read at a time. */
  pump(): void {
    if (this.#settled) return;
    const { src } = this;
    if (src.buffer) {
      while (!this.#settled && this.#pos < src.size) {
        const end = Math.min(this.#pos + CHUNK_BYTES, src.size);
        const chunk = src.buffer.subarray(this.#pos, end);
        this.#pos = end;
        this.#endOfSource = this.#pos >= src.size;
        if (!this.#write(chunk)) return; // wait for 'drain'
      }
      return;
    }
    if (this.#reading || this.#fd === undefined || this.#pos >= src.size) return;
    this.#reading = true;
    const want = Math.min(CHUNK_BYTES, src.size - this.#pos);
    readFd(this.#fd, Buffer.allocUnsafe(want), 0, want, this.#pos, (err, n, buf) => this.#onRead(err, n, buf));
  }

  #onRead(err: NodeJS.ErrnoException | null, n: number, buf: Buffer): void {
    this.#reading = false;
    if (this.#pendingClose !== undefined) {
      closeFd(this.#pendingClose, () => undefined);
      this.#pendingClose = undefined;
    }
    if (this.#settled) return;
    if (err || n === 0) {
      this.finish(new TransferError(err ? `Read failed: ${err.message}` : 'File shorter than its size', true));
      return;
    }
    this.#pos += n;
    this.#endOfSource = this.#pos >= this.src.size;
    if (this.#endOfSource) this.#releaseFd();
    if (this.#write(n === buf.length ? buf : buf.subarray(0, n))) this.pump();
  }
}
