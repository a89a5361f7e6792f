/**
 * Sending one RETR's bytes down a data connection: from a shared in-memory Buffer (offered snapshots and
 * UPGRADE.TXT, server/offered.ts SnapshotCache) or from an open file descriptor, from the REST offset to the end,
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

/** The bytes to send (server/device-fs.ts RetrSource): `buffer` or `fd` (closed here when the transfer ends), from `offset`. */
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
  let settled = false;
  let resolveDone!: () => void;
  let rejectDone!: (e: TransferError) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined); // the caller awaits it; never an unhandled rejection when it does not
  let fd = src.fd;
  let pos = Math.min(Math.max(0, src.offset), src.size);
  let writing = 0; // writes handed to the socket whose callback has not come yet
  let reading = false; // an fd read in flight
  let endOfSource = pos >= src.size;
  let pendingClose: number | undefined; // an fd released while a read was in flight: closed when it returns

  const releaseFd = () => {
    if (fd === undefined) return;
    const f = fd;
    fd = undefined;
    if (!reading) closeFd(f, () => undefined);
    else pendingClose = f;
  };

  const finish = (err?: TransferError) => {
    if (settled) return;
    settled = true;
    data.off('drain', pump);
    data.off('close', onClose);
    data.off('error', onError);
    releaseFd();
    if (err) rejectDone(err);
    else resolveDone();
  };
  const onClose = () => finish(new TransferError('Data connection closed', false));
  const onError = (e: Error) => finish(new TransferError(`Data connection failed: ${e.message}`, false));
  const afterWrite = (err?: Error | null) => {
    writing--;
    if (err) finish(new TransferError(`Data connection failed: ${err.message}`, false));
    else if (endOfSource && writing === 0) finish();
  };
  const write = (chunk: Buffer): boolean => {
    writing++;
    onProgress(chunk.length);
    return data.write(chunk, afterWrite);
  };

  function pump(): void {
    if (settled) return;
    if (src.buffer) {
      const bytes = src.buffer;
      while (!settled && pos < src.size) {
        const end = Math.min(pos + CHUNK_BYTES, src.size);
        const chunk = bytes.subarray(pos, end);
        pos = end;
        endOfSource = pos >= src.size;
        if (!write(chunk)) return; // wait for 'drain'
      }
      return;
    }
    if (reading || fd === undefined || pos >= src.size) return;
    reading = true;
    const want = Math.min(CHUNK_BYTES, src.size - pos);
    readFd(fd, Buffer.allocUnsafe(want), 0, want, pos, (err, n, buf) => {
      reading = false;
      if (pendingClose !== undefined) {
        closeFd(pendingClose, () => undefined);
        pendingClose = undefined;
      }
      if (settled) return;
      if (err || n === 0) {
        finish(new TransferError(err ? `Read failed: ${err.message}` : 'File shorter than its size', true));
        return;
      }
      pos += n;
      endOfSource = pos >= src.size;
      if (endOfSource) releaseFd();
      if (write(n === buf.length ? buf : buf.subarray(0, n))) pump();
    });
  }

  if (data.destroyed || !data.writable) {
    finish(new TransferError('Data connection closed', false));
  } else {
    data.on('drain', pump);
    data.once('close', onClose);
    data.on('error', onError);
    if (endOfSource) {
      // REST at or past the end: nothing to send, the transfer is complete.
      releaseFd();
      queueMicrotask(() => finish());
    } else pump();
  }

  return {
    done,
    destroy(err?: Error) {
      finish(new TransferError(err?.message ?? 'Transfer stopped', false));
    },
  };
}
