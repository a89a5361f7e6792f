import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ByteFaultStream, type ByteFault } from './byte-faults.ts';
import {
  defaultDirection, defaultTarget, normalizeFaults, targetMatches,
  type ConnIdentity, type Direction, type Fault, type Faults, type SplitFault,
} from './faults.ts';
import { FtpLineGate } from './ftp-line-gate.ts';
import { bytesPerMs, getLinkProfile, oneWayLatencyMs, type LinkProfile } from './profiles.ts';
import { ShapeStream } from './shaper.ts';
import { SocketWriter } from './socket-writer.ts';

export type { Fault, Faults, FaultTarget, Direction } from './faults.ts';

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

interface Conn {
  stats: ConnectionStats;
  client: Socket;
  server?: Socket;
  faults: Fault[];
  streams: Duplex[];
  /** A 'fin' cut happened server → client: the client's FIN is not passed on until the server finished. */
  cutFin: boolean;
  /** Data listeners opened for this control connection's PASV/EPSV replies and not yet used. */
  pasv: Set<Server>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
/** Reply sent for PORT/EPRT: the proxy relays passive mode only. */
export const ACTIVE_MODE_REPLY = '502 Active mode (PORT/EPRT) is not relayed by the firmdrop fault proxy; use PASV or EPSV.\r\n';

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Resolves once `sock` has emitted 'close' (at once when it already has, or when there is no socket). */
function whenClosed(sock: Socket | undefined): Promise<void> {
  if (!sock || sock.closed) return Promise.resolve();
  return new Promise((resolve) => sock.once('close', () => resolve()));
}

/** Prefix test for the control-line gates: hold lines starting with one of `words`. */
function gateFor(words: string[]): (prefix: string) => 'pass' | 'hold' | 'undecided' {
  return (prefix) => {
    const p = prefix.toUpperCase();
    if (words.some((w) => p.startsWith(w))) return 'hold';
    if (words.some((w) => w.startsWith(p))) return 'undecided';
    return 'pass';
  };
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
  let faults = normalizeFaults(opts.faults);
  let uses = new Map<Fault, number>();
  const t0 = Date.now();
  const stats: FaultProxyStats = {
    controlConnections: 0, dataConnections: 0, refused: 0, bytesDown: 0, bytesUp: 0, connections: [], events: [],
  };
  const conns = new Set<Conn>();
  const listeners = new Set<Server>();
  let closing = false;

  const event = (c: Conn | ConnectionStats, kind: FaultEvent['kind'], detail: string, direction?: Direction): void => {
    const id = 'stats' in c ? c.stats.id : c.id;
    stats.events.push({ atMs: Date.now() - t0, connection: id, kind, direction, detail });
  };

  /** The faults of the current list that apply to a new connection (consumes their `times`). */
  const faultsFor = (who: ConnIdentity): Fault[] => {
    const picked: Fault[] = [];
    for (const f of faults) {
      if (!targetMatches(f.on ?? defaultTarget(f.kind), who)) continue;
      const used = uses.get(f) ?? 0;
      if (f.times !== undefined && used >= f.times) continue;
      uses.set(f, used + 1);
      picked.push(f);
    }
    return picked;
  };

  const newStats = (who: ConnIdentity): ConnectionStats => {
    const s: ConnectionStats = {
      id: stats.connections.length + 1, kind: who.kind, dataIndex: who.dataIndex,
      down: { received: 0, forwarded: 0 }, up: { received: 0, forwarded: 0 }, closed: false,
    };
    stats.connections.push(s);
    return s;
  };

  const teardown = (c: Conn, reset: boolean): void => {
    for (const s of c.streams) s.destroy();
    for (const sock of [c.client, c.server]) {
      if (!sock || sock.destroyed) continue;
      if (reset && sock.readyState !== 'opening') sock.resetAndDestroy();
      else sock.destroy();
    }
    for (const l of c.pasv) { l.close(); listeners.delete(l); }
    c.pasv.clear();
  };

  /** Builds one direction: from → [gate] → byte faults → shaper → writer → to. */
  const relay = (c: Conn, from: Socket, to: Socket, direction: Direction, gate?: FtpLineGate): void => {
    const mine = c.faults.filter((f) => f.kind !== 'refuse' && (f.direction ?? defaultDirection(f.kind)) === direction);
    const byteFaults = mine.filter((f): f is ByteFault => f.kind !== 'split' && f.kind !== 'refuse');
    const split = mine.find((f): f is SplitFault => f.kind === 'split');
    const dirStats = c.stats[direction];
    const faultStream = new ByteFaultStream(byteFaults, {
      onReceived: (n) => { dirStats.received += n; },
      onFire: (kind, detail) => event(c, kind, detail, direction),
      onCut: (mode) => {
        if (mode === 'reset') teardown(c, true);
        else if (direction === 'down') c.cutFin = true;
      },
    });
    const shaper = new ShapeStream({
      bytesPerMs: profile ? bytesPerMs(profile, direction) : 0,
      latencyMs: profile ? oneWayLatencyMs(profile, direction) : 0,
      loss: profile?.loss,
      onLossStall: (after, ms) => event(c, 'loss-stall', `after ${after} bytes for ${ms} ms`, direction),
    });
    const writer = new SocketWriter(to, split && { maxSegment: split.maxSegment, seed: split.seed ?? 1, gapMs: split.gapMs }, {
      onForwarded: (n) => {
        dirStats.forwarded += n;
        if (direction === 'down') stats.bytesDown += n; else stats.bytesUp += n;
      },
      onEnd: () => {
        if (direction === 'up' && c.cutFin && c.server) {
          // Keep the server's side open until it has sent everything (which the proxy discards).
          const srv = c.server;
          if (srv.readableEnded) srv.end(); else srv.once('end', () => srv.end());
          return;
        }
        to.end();
      },
    });
    if (split) event(c, 'split', `pieces of 1..${split.maxSegment} bytes`, direction);
    const stages: Duplex[] = gate ? [gate, faultStream, shaper] : [faultStream, shaper];
    c.streams.push(...stages, writer as unknown as Duplex);
    let src: NodeJS.ReadableStream = from;
    for (const st of stages) src = src.pipe(st);
    src.pipe(writer);
  };

  /** Wires the two sockets of a connection and their error/close handling. */
  const wire = (c: Conn, gates?: { down: FtpLineGate; up: FtpLineGate }): void => {
    const server = c.server!;
    const onError = (): void => teardown(c, true);
    c.client.on('error', onError);
    server.on('error', onError);
    const onClose = (): void => {
      if (c.client.destroyed && server.destroyed) {
        c.stats.closed = true;
        conns.delete(c);
        teardown(c, false);
      }
    };
    c.client.on('close', onClose);
    server.on('close', onClose);
    relay(c, server, c.client, 'down', gates?.down);
    relay(c, c.client, server, 'up', gates?.up);
  };

  const refuse = (sock: Socket, s: ConnectionStats): void => {
    stats.refused++;
    s.closed = true;
    event(s, 'refuse', 'connection reset on accept');
    sock.on('error', () => { /* already being reset */ });
    sock.resetAndDestroy();
  };

  /** A data connection accepted on a one-shot listener: relay it to the server's data port. */
  const acceptData = (client: Socket, serverPort: number): void => {
    const who: ConnIdentity = { kind: 'data', dataIndex: ++stats.dataConnections };
    const s = newStats(who);
    const cf = faultsFor(who);
    if (closing || cf.some((f) => f.kind === 'refuse')) { refuse(client, s); return; }
    const c: Conn = { stats: s, client, faults: cf, streams: [], cutFin: false, pasv: new Set() };
    c.server = net.connect({ host: opts.target.host, port: serverPort, allowHalfOpen: true });
    conns.add(c);
    wire(c);
  };

  /** Opens a one-shot data listener for a PASV/EPSV reply of control connection `c`; returns its port. */
  const openDataListener = async (c: Conn, serverPort: number): Promise<number> => {
    for (const old of c.pasv) { old.close(); listeners.delete(old); } // a new PASV supersedes an unused one
    c.pasv.clear();
    const l = net.createServer({ allowHalfOpen: true }, (sock) => {
      l.close();
      listeners.delete(l);
      c.pasv.delete(l);
      acceptData(sock, serverPort);
    });
    l.on('error', () => { /* listener errors end the listener only */ });
    listeners.add(l);
    c.pasv.add(l);
    return listen(l, listenHost);
  };

  const acceptControl = (client: Socket): void => {
    const who: ConnIdentity = { kind: 'control' };
    stats.controlConnections++;
    const s = newStats(who);
    const cf = faultsFor(who);
    if (closing || cf.some((f) => f.kind === 'refuse')) { refuse(client, s); return; }
    const c: Conn = { stats: s, client, faults: cf, streams: [], cutFin: false, pasv: new Set() };
    c.server = net.connect({ host: opts.target.host, port: opts.target.port, allowHalfOpen: true });
    conns.add(c);
    const hostDigits = (listenHost === 'localhost' || listenHost === '::1' ? '127.0.0.1' : listenHost).split('.').join(',');
    const down = new FtpLineGate(gateFor(['227', '229']), async (line) => {
      if (line.startsWith('227')) {
        const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(line);
        if (!m) return line;
        const port = await openDataListener(c, Number(m[5]) * 256 + Number(m[6]));
        return line.replace(m[0], `${hostDigits},${port >> 8},${port & 0xff}`);
      }
      const m = /\(([!-~])\1\1(\d+)\1\)/.exec(line);
      if (!m) return line;
      const port = await openDataListener(c, Number(m[2]));
      return line.replace(m[0], `(${m[1]}${m[1]}${m[1]}${port}${m[1]})`);
    });
    const up = new FtpLineGate(gateFor(['PORT', 'EPRT']), (line) => {
      event(c, 'active-mode-refused', line.trim(), 'up');
      down.inject(ACTIVE_MODE_REPLY);
      return null;
    });
    wire(c, { down, up });
  };

  const main = net.createServer({ allowHalfOpen: true }, acceptControl);
  listeners.add(main);
  const port = await listen(main, listenHost);

  return {
    host: listenHost,
    port,
    stats,
    setFaults(next) {
      faults = normalizeFaults(next);
      uses = new Map();
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => main.close(() => resolve()));
      for (const l of listeners) if (l !== main) l.close();
      listeners.clear();
      const open = [...conns];
      for (const c of open) teardown(c, false);
      conns.clear();
      await Promise.all(open.flatMap((c) => [c.client, c.server]).map(whenClosed));
      for (const c of open) c.stats.closed = true;
      await closed;
    },
  };
}
