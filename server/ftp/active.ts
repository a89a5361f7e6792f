/**
 * Active data connections (PORT RFC 959 §4.1.2, EPRT RFC 2428 §2): firmdrop connects to a target that
 * active-target.ts parsed and checked (the client's own host, a port >= 1024: RFC 2577 §3, the FTP bounce).
 */
import net from 'node:net';
import type { Logger } from '../log.ts';
import type { ActiveTarget } from './active-target.ts';
import { DataWait, DataWaitError, endDataSocket, type DataChannel } from './data-wait.ts';

/** What an ActiveChannel needs from its session. */
export interface ActiveOptions {
  target: ActiveTarget;
  /** How long the connection may take, ms; then the waiting command gets 425. */
  waitMs: number;
  onDataSocket: (s: net.Socket) => void;
  log: Logger;
}

/**
 * The data connection of one PORT/EPRT: connecting starts at once, with TCP_NODELAY and keep-alive; a command
 * waiting for it is told as soon as it connects or fails (no polling).
 */
export class ActiveChannel implements DataChannel {
  readonly kind = 'active';
  #socket: net.Socket | undefined;
  #connected = false;
  readonly #wait = new DataWait();

  constructor(private readonly o: ActiveOptions) {}

  /** Starts connecting to the target; gives up after `waitMs`. */
  connect(): void {
    const { host, port, family } = this.o.target;
    const socket = net.connect({ host, port, family, noDelay: true });
    socket.on('error', (err) => this.o.log.debug({ err: err.message }, 'active data connection error'));
    this.#socket = socket;
    this.o.onDataSocket(socket);
    const timer = setTimeout(() => socket.destroy(), this.o.waitMs);
    timer.unref();
    socket.once('connect', () => {
      clearTimeout(timer);
      this.#connected = true;
      this.#wait.resolveAll(socket);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!this.#connected) this.#wait.rejectAll('Data connection failed');
    });
  }

  connection(timeoutMs: number): Promise<net.Socket> {
    const s = this.#socket;
    if (!s || s.destroyed) return Promise.reject(new DataWaitError('Data connection failed'));
    if (this.#connected) return Promise.resolve(s);
    return this.#wait.wait(timeoutMs);
  }

  abortWait(): boolean {
    return this.#wait.rejectAll('Data connection aborted', true) > 0;
  }

  end(): void {
    this.#wait.rejectAll('Data connection closed');
    endDataSocket(this.#socket);
    this.#socket = undefined;
  }
}
