/**
 * The wait of RETR, LIST, NLST and MLSD for their data connection (RFC 959 §5.2: the server answers 425 when it
 * cannot open one), on native promises: each waiter has its own timeout; all are settled together when the
 * connection arrives, fails, or is given up (ABOR, a new PASV, the end of the session).
 */
import type net from 'node:net';

/** Why a wait for the data connection ended without one; `aborted` when ABOR gave it up (→ 426, else 425). */
export class DataWaitError extends Error {
  constructor(message: string, readonly aborted = false) {
    super(message);
    this.name = 'DataWaitError';
  }
}

interface Waiter {
  resolve(socket: net.Socket): void;
  reject(err: DataWaitError): void;
  timer: NodeJS.Timeout;
}

/** Commands waiting for one data connection. Holds nothing (no array) while nobody waits. */
export class DataWait {
  #waiters: Waiter[] | undefined;

  /** A promise of the data socket; rejects with DataWaitError after `timeoutMs` ms. */
  wait(timeoutMs: number): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve, reject) => {
      const waiter: Waiter = {
        resolve, reject,
        timer: setTimeout(() => {
          this.#remove(waiter);
          reject(new DataWaitError('Data connection timed out'));
        }, timeoutMs),
      };
      waiter.timer.unref();
      (this.#waiters ??= []).push(waiter);
    });
  }

  /** Commands waiting now. */
  get size(): number {
    return this.#waiters?.length ?? 0;
  }

  /** Hands `socket` to every waiter. */
  resolveAll(socket: net.Socket): void {
    for (const w of this.#take()) {
      clearTimeout(w.timer);
      w.resolve(socket);
    }
  }

  /** Fails every waiter (→ 425, or 426 when `aborted`); returns how many there were. */
  rejectAll(message: string, aborted = false): number {
    const list = this.#take();
    for (const w of list) {
      clearTimeout(w.timer);
      w.reject(new DataWaitError(message, aborted));
    }
    return list.length;
  }

  #take(): Waiter[] {
    const list = this.#waiters ?? [];
    this.#waiters = undefined;
    return list;
  }

  #remove(w: Waiter): void {
    if (!this.#waiters) return;
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
  }
}

/**
 * One session's data channel (RFC 959 §3.2), set up by PASV/EPSV (passive.ts) or PORT/EPRT (active.ts) and used
 * by the next RETR, LIST, NLST or MLSD.
 */
export interface DataChannel {
  readonly kind: 'passive' | 'active';
  /** Resolves with the data socket once connected; rejects with DataWaitError after `timeoutMs` ms (→ 425). */
  connection(timeoutMs: number): Promise<net.Socket>;
  /** Fails the commands waiting for the connection as aborted (ABOR); true if there were any. */
  abortWait(): boolean;
  /** Closes the listener, ends the data socket (FIN once its bytes are flushed), fails any waiter. Idempotent. */
  end(): void;
}

/** Ends a data socket politely (FIN after its bytes are flushed), then destroys it. */
export function endDataSocket(socket: net.Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  socket.end(() => socket.destroy());
}
