/**
 * Binary transfers in progress, for live progress on the operator page: the device mirror and, when the server
 * passes the same instance to startFtp (server/app.ts), the FTP layer record each download from its start to its
 * end, and the event stream (server/http/events.ts) reads the byte counts while they run. Session events
 * (server/http/hooks.ts) only say when a transfer starts and ends; this says how far it got between.
 */
import type { RunningTransfer, TransferRecorder } from '../ftp/hooks.ts';

/**
 * One running transfer, over the mirror or FTP (../ftp/hooks.ts RunningTransfer): `offset`, `size` and `sent()` are
 * bytes; `sent()` counts what was handed to the socket; over HTTP `offset` is a Range's first byte.
 */
export type LiveTransfer = RunningTransfer;

/** The running transfers, by session id. */
export class LiveTransfers implements TransferRecorder {
  readonly #running = new Map<string, LiveTransfer>();

  /** Records a transfer that started. */
  start(sessionId: string, t: LiveTransfer): void {
    this.#running.set(sessionId, t);
  }

  /** Forgets a transfer that ended (whatever its outcome). */
  end(sessionId: string): void {
    this.#running.delete(sessionId);
  }

  /** The running transfers. */
  all(): IterableIterator<[string, LiveTransfer]> {
    return this.#running.entries();
  }

  /** How many are running. */
  get size(): number {
    return this.#running.size;
  }
}
