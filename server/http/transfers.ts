/**
 * Binary transfers in progress, for live progress on the operator page: the device mirror records each download
 * from its start to its end, and the event stream (server/http/events.ts) reads the byte counts while they run.
 * Session events (server/http/hooks.ts) only say when a transfer starts and ends; this says how far it got between.
 */

/** One running transfer. `offset`, `size` and `sent()` are bytes; `sent()` counts what was handed to the socket. */
export interface LiveTransfer {
  login: string;
  name: string;
  version: number | undefined;
  /** Where the transfer started (a Range's first byte, the REST offset over FTP). */
  offset: number;
  /** The whole file's size. */
  size: number;
  sent(): number;
}

/** The running transfers, by session id. */
export class LiveTransfers {
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
