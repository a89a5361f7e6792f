/**
 * Passive data connections (PASV RFC 959 §4.1.1, EPSV RFC 2428 §3): the port pool over the configured range and
 * the listener of one PASV, closed as soon as the data connection arrives.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log.ts';
import { DataWait, DataWaitError, endDataSocket, type DataChannel } from './data-wait.ts';
import { plainIp } from './net-util.ts';

/**
 * Passive ports when none are configured: the OS's ephemeral range (Linux ip_local_port_range, default
 * 32768–60999), so passive listeners never sit on a service's well-known port.
 */
const DEFAULT_PASV_RANGE: readonly [number, number] = (() => {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! >= 1024 && hi! >= lo!) return [lo!, hi!] as const;
  } catch {
    // not Linux
  }
  return [32768, 60999] as const;
})();

/**
 * How long a passive listener keeps its port for sure, ms. Past that, it is closed when every port of the range is
 * held and another PASV needs one (PassivePortPool.listen).
 */
export const PASSIVE_RECLAIM_MS = 5_000;

/** A port taken from the pool; `release` is idempotent. */
export interface PortLease {
  port: number;
  release(): void;
}

interface Holder {
  /** When the port was taken, ms epoch. */
  since: number;
  /** Takes the port back from its listener (set once listening). */
  reclaim?: () => void;
}

/**
 * Passive ports: listens a server on a free port of [min, max], trying every port of the range at most once per
 * request from a random start, and never handing out a port one of our own listeners holds. A port returns to the
 * pool as soon as its listener closes, which happens when the client's data connection arrives.
 * Why random: devices behind one carrier NAT share an IP address, so the address check on the data connection
 * cannot tell them apart; with sequential ports a neighbour could guess the next port and connect first ("port
 * stealing", RFC 2577 §8).
 * Ports are always chosen here, never with bind(0): under load the kernel's own search for an ephemeral port is
 * slow and then fails with EADDRINUSE; an explicit bind succeeds on a port that only has TIME_WAIT sockets
 * (Node listens with SO_REUSEADDR). A port is held before the asynchronous listen starts, so concurrent requests
 * never try the same port.
 * When every port of the range is held, listeners that have waited PASSIVE_RECLAIM_MS or more are closed first
 * (their command gets 425): a device connects within a round trip of its PASV, so such listeners belong to
 * clients that will not connect, and without this a few sessions sending PASV without connecting would lock every
 * device out of a small range.
 */
export class PassivePortPool {
  readonly #held = new Map<number, Holder>();
  readonly #min: number;
  readonly #max: number;

  /** @param host address listeners bind to; min/max the range, inclusive (unset: the OS's ephemeral range) */
  constructor(private readonly host: string, min?: number, max?: number) {
    this.#min = min ?? DEFAULT_PASV_RANGE[0];
    this.#max = max ?? DEFAULT_PASV_RANGE[1];
  }

  /** Listens `server` on a free port of the range; rejects with `no free passive port` when none is free. */
  async listen(server: net.Server, reclaim: () => void): Promise<PortLease> {
    const span = this.#max - this.#min + 1;
    if (this.#held.size >= span) this.#reclaimStale(Date.now() - PASSIVE_RECLAIM_MS);
    const start = randomInt(span);
    for (let tried = 0; tried < span && this.#held.size < span; tried++) {
      const port = this.#min + ((start + tried) % span);
      if (this.#held.has(port)) continue;
      const holder: Holder = { since: Date.now() };
      this.#held.set(port, holder);
      try {
        await listenOn(server, port, this.host);
      } catch (err) {
        this.#held.delete(port);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') continue;
        throw err;
      }
      holder.reclaim = reclaim;
      return { port, release: () => this.#release(port, holder) };
    }
    throw new Error('no free passive port');
  }

  #release(port: number, holder: Holder): void {
    if (this.#held.get(port) === holder) this.#held.delete(port);
  }

  /** Closes the listeners that have held their port since `cutoff` (ms epoch) or longer. */
  #reclaimStale(cutoff: number): void {
    for (const h of [...this.#held.values()]) if (h.reclaim && h.since <= cutoff) h.reclaim();
  }

  /** Ports held now (listening or about to). */
  get held(): number {
    return this.#held.size;
  }
}

function listenOn(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, backlog: 64 });
  });
}

/** What a PassiveChannel needs from its session. */
export interface PassiveOptions {
  pool: PassivePortPool;
  /** How long the listener waits for the data connection, ms. */
  waitMs: number;
  /** The control connection's client IP: a data connection from elsewhere is refused (RFC 2577 §5). */
  clientIp: string;
  /** Set after AUTH TLS: the data connection is TLS too (RFC 4217 §9, PROT P). */
  secureContext?: tls.SecureContext;
  /** Sees every accepted data socket (the session tracks them to close them at its end). */
  onDataSocket: (s: net.Socket) => void;
  log: Logger;
}

/**
 * The listener of one PASV/EPSV: from the port pool, closed the moment the data connection arrives (or after
 * `waitMs` without one), refusing a data connection from an address other than the control connection's.
 */
export class PassiveChannel implements DataChannel {
  readonly kind = 'passive';
  #server: net.Server | undefined;
  #socket: net.Socket | undefined;
  #lease: PortLease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  readonly #wait = new DataWait();

  constructor(private readonly o: PassiveOptions) {}

  /** Opens the listener; resolves with its port. Rejects when no port is free or the channel ended meanwhile. */
  async listen(): Promise<number> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true });
    server.on('error', (err) => this.o.log.debug({ err: err.message }, 'passive listener error'));
    server.on('connection', (socket) => this.#accept(socket));
    this.#server = server;
    const lease = await this.o.pool.listen(server, () => {
      this.o.log.info('passive port reclaimed: no data connection came and every port was in use');
      this.#closeServer();
    });
    this.#lease = lease;
    if (this.#server !== server) {
      // ended (or reclaimed) while the port was being found
      server.close();
      lease.release();
      throw new Error('data channel ended');
    }
    this.#timer = setTimeout(() => this.#closeServer(), this.o.waitMs);
    this.#timer.unref();
    return lease.port;
  }

  #accept(socket: net.Socket): void {
    socket.on('error', (err) => this.o.log.debug({ err: err.message }, 'data socket error'));
    const from = plainIp(socket.remoteAddress);
    if (!from) {
      // Reset by the peer before it was accepted: its address is gone, so it cannot be checked or used. A command
      // already waiting fails now (425) rather than after waitMs; otherwise the client may connect again.
      socket.destroy();
      if (!this.#socket) this.#wait.rejectAll('Data connection reset');
      return;
    }
    if (this.#socket || from !== this.o.clientIp) {
      this.o.log.warn({ from }, 'data connection from another address refused');
      socket.destroy();
      return;
    }
    // curl starts the data channel's TLS handshake only after the 150 reply: hand the TLS socket over at once
    // (writes wait for the handshake).
    const data = this.o.secureContext ? new tls.TLSSocket(socket, { isServer: true, secureContext: this.o.secureContext }) : socket;
    if (data !== socket) data.on('error', (err) => this.o.log.debug({ err: err.message }, 'data TLS error'));
    this.#socket = data;
    this.o.onDataSocket(data);
    this.#closeServer(); // the port goes back to the pool now; the accepted socket lives on
    this.#wait.resolveAll(data);
  }

  connection(timeoutMs: number): Promise<net.Socket> {
    const s = this.#socket;
    if (s && !s.destroyed) return Promise.resolve(s);
    if (!this.#server || this.#ended) return Promise.reject(new DataWaitError('No data connection'));
    return this.#wait.wait(timeoutMs);
  }

  abortWait(): boolean {
    return this.#wait.rejectAll('Data connection aborted', true) > 0;
  }

  #closeServer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#server) {
      this.#server.close();
      this.#server = undefined;
    }
    this.#lease?.release();
    if (!this.#socket) this.#wait.rejectAll('No data connection');
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wait.rejectAll('Data connection closed');
    this.#closeServer();
    endDataSocket(this.#socket);
    this.#socket = undefined;
  }
}
