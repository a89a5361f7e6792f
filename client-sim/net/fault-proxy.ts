/**
 * The FTP-aware fault-injecting TCP proxy: options, statistics and {@link startFaultProxy}. The relaying itself
 * (control and data connections, PASV/EPSV rewriting, the fault and shaping pipeline) is in proxy-server.ts.
 */
import { normalizeFaults, type Direction, type Fault, type Faults } from './faults.ts';
import { getLinkProfile, type LinkProfile } from './profiles.ts';
import { LOOPBACK, ProxyServer } from './proxy-server.ts';

export type { Fault, Faults, FaultTarget, Direction } from './faults.ts';
export { ACTIVE_MODE_REPLY } from './proxy-server.ts';

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The real FTP server (control port). Data connections go to this host too, whatever the 227 reply says. */
  target: { host: string; port: number };
  /** Faults applied to new connections (see client-sim/net/faults.ts). */
  faults?: Faults;
  /** Link shaping: a profile name from profiles.ts ('gprs', '3g', 'catm1', 'nbiot', 'cat1') or a custom profile. */
  profile?: string | LinkProfile;
  /** Loopback address to listen on (control and data); default 127.0.0.1. Non-loopback addresses are refused. */
  listenHost?: string;
}

/** Byte accounting of one direction of one connection. */
export interface DirectionStats {
  /** Bytes received from the sender. */
  received: number;
  /** Bytes handed to the receiver (after faults: drops/cuts make it smaller). */
  forwarded: number;
}

/** One relayed (or refused) connection. */
export interface ConnectionStats {
  /** Proxy-wide connection number, from 1. */
  id: number;
  kind: 'control' | 'data';
  /** For data connections: n-th data connection of this proxy, from 1. */
  dataIndex?: number;
  /** Server → client. */
  down: DirectionStats;
  /** Client → server. */
  up: DirectionStats;
  /** True once both sockets are closed. */
  closed: boolean;
}

/** A fault that took effect. */
export interface FaultEvent {
  /** ms since the proxy started. */
  atMs: number;
  connection: number;
  kind: Fault['kind'] | 'loss-stall' | 'active-mode-refused';
  direction?: Direction;
  detail: string;
}

/** Live statistics of a proxy (the object is updated in place). */
export interface FaultProxyStats {
  controlConnections: number;
  dataConnections: number;
  refused: number;
  /** Sum of `forwarded` server → client over all connections. */
  bytesDown: number;
  /** Sum of `forwarded` client → server over all connections. */
  bytesUp: number;
  connections: ConnectionStats[];
  events: FaultEvent[];
}

/** A running proxy. */
export interface FaultProxy {
  host: string;
  port: number;
  stats: FaultProxyStats;
  /** Replaces the fault list; applies to connections accepted from now on (open ones keep theirs). */
  setFaults(faults: Faults | undefined): void;
  /** Stops listening, destroys every relayed connection, clears every timer; resolves once every socket is closed. */
  close(): Promise<void>;
}

/**
 * Starts an FTP-aware fault-injecting TCP proxy on loopback, in front of the FTP server `target`.
 *
 * The control connection is relayed byte for byte, except that 227 (PASV) and 229 (EPSV) replies are rewritten
 * so the client's data connection comes to a one-shot proxy listener, which relays to the server's real data port
 * on `target.host` (the 227 address is ignored, like Telit's "IP private ignoring"). PORT/EPRT (active mode) are
 * refused by the proxy itself with {@link ACTIVE_MODE_REPLY} and never reach the server: relaying a server-initiated
 * data connection would need the proxy to impersonate the client, and no modem emulator here uses active mode.
 * Faults and shaping apply per connection and per direction (see faults.ts, profiles.ts).
 *
 * @throws Error if `listenHost` is not a loopback address, a fault is malformed, or the profile name is unknown.
 */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const listenHost = opts.listenHost ?? '127.0.0.1';
  if (!LOOPBACK.test(listenHost)) throw new Error(`fault proxy listens on loopback only, not "${listenHost}"`);
  const profile = opts.profile === undefined ? undefined : getLinkProfile(opts.profile);
  const proxy = new ProxyServer(opts.target, listenHost, profile, normalizeFaults(opts.faults));
  const port = await proxy.start();
  return {
    host: listenHost,
    port,
    stats: proxy.stats,
    setFaults(next) { proxy.setFaults(normalizeFaults(next)); },
    close: () => proxy.close(),
  };
}
