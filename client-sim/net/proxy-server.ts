/**
 * The relaying core of the fault proxy (fault-proxy.ts): accepts control connections, relays them byte for byte
 * through the fault and shaping pipeline, rewrites 227 (PASV, RFC 959 §4.1.2) and 229 (EPSV, RFC 2428 §3) replies
 * so that data connections come to one-shot proxy listeners, and refuses PORT/EPRT itself.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ByteFaultStream, type ByteFault } from './byte-faults.ts';
import {
  defaultDirection, defaultTarget, targetMatches,
  type ConnIdentity, type Direction, type Fault, type SplitFault,
} from './faults.ts';
import type { ConnectionStats, FaultEvent, FaultProxyStats } from './fault-proxy.ts';
import { FtpLineGate } from './ftp-line-gate.ts';
import { bytesPerMs, oneWayLatencyMs, type LinkProfile } from './profiles.ts';
import { ShapeStream } from './shaper.ts';
import { SocketWriter } from './socket-writer.ts';

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

/** Addresses the proxy may listen on: loopback only (the proxy is a test and desk tool, never a relay). */
export const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
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

/** One proxy: its listeners, connections, faults and statistics. */
export class ProxyServer {
  readonly stats: FaultProxyStats = {
    controlConnections: 0, dataConnections: 0, refused: 0, bytesDown: 0, bytesUp: 0, connections: [], events: [],
  };
  private uses = new Map<Fault, number>();
  private readonly t0 = Date.now();
  private readonly conns = new Set<Conn>();
  private readonly listeners = new Set<Server>();
  private closing = false;
  private main?: Server;

  constructor(private readonly target: { host: string; port: number }, private readonly listenHost: string,
    private readonly profile: LinkProfile | undefined, private faults: Fault[]) {}

  /** Listens on `listenHost`, an ephemeral port; resolves with it. */
  async start(): Promise<number> {
    this.main = net.createServer({ allowHalfOpen: true }, (c) => this.acceptControl(c));
    this.listeners.add(this.main);
    return listen(this.main, this.listenHost);
  }

  /** Replaces the fault list for connections accepted from now on. */
  setFaults(faults: Fault[]): void {
    this.faults = faults;
    this.uses = new Map();
  }

  /** Stops listening, destroys every relayed connection; resolves once every socket is closed. */
  async close(): Promise<void> {
    this.closing = true;
    const main = this.main;
    const closed = new Promise<void>((resolve) => (main ? main.close(() => resolve()) : resolve()));
    for (const l of this.listeners) if (l !== main) l.close();
    this.listeners.clear();
    const open = [...this.conns];
    for (const c of open) this.teardown(c, false);
    this.conns.clear();
    await Promise.all(open.flatMap((c) => [c.client, c.server]).map(whenClosed));
    for (const c of open) c.stats.closed = true;
    await closed;
  }

  private event(c: Conn | ConnectionStats, kind: FaultEvent['kind'], detail: string, direction?: Direction): void {
    const id = 'stats' in c ? c.stats.id : c.id;
    this.stats.events.push({ atMs: Date.now() - this.t0, connection: id, kind, direction, detail });
  }

  /** The faults of the current list that apply to a new connection (consumes their `times`). */
  private faultsFor(who: ConnIdentity): Fault[] {
    const picked: Fault[] = [];
    for (const f of this.faults) {
      if (!targetMatches(f.on ?? defaultTarget(f.kind), who)) continue;
      const used = this.uses.get(f) ?? 0;
      if (f.times !== undefined && used >= f.times) continue;
      this.uses.set(f, used + 1);
      picked.push(f);
    }
    return picked;
  }

  private newStats(who: ConnIdentity): ConnectionStats {
    const s: ConnectionStats = {
      id: this.stats.connections.length + 1, kind: who.kind, dataIndex: who.dataIndex,
      down: { received: 0, forwarded: 0 }, up: { received: 0, forwarded: 0 }, closed: false,
    };
    this.stats.connections.push(s);
    return s;
  }

  private teardown(c: Conn, reset: boolean): void {
    for (const s of c.streams) s.destroy();
    for (const sock of [c.client, c.server]) {
      if (!sock || sock.destroyed) continue;
      if (reset && sock.readyState !== 'opening') sock.resetAndDestroy();
      else sock.destroy();
    }
    for (const l of c.pasv) { l.close(); this.listeners.delete(l); }
    c.pasv.clear();
  }

  /** Builds one direction: from → [gate] → byte faults → shaper → writer → to. */
  private relay(c: Conn, from: Socket, to: Socket, direction: Direction, gate?: FtpLineGate): void {
    const mine = c.faults.filter((f) => f.kind !== 'refuse' && (f.direction ?? defaultDirection(f.kind)) === direction);
    const byteFaults = mine.filter((f): f is ByteFault => f.kind !== 'split' && f.kind !== 'refuse');
    const split = mine.find((f): f is SplitFault => f.kind === 'split');
    const dirStats = c.stats[direction];
    const faultStream = new ByteFaultStream(byteFaults, {
      onReceived: (n) => { dirStats.received += n; },
      onFire: (kind, detail) => this.event(c, kind, detail, direction),
      onCut: (mode) => {
        if (mode === 'reset') this.teardown(c, true);
        else if (direction === 'down') c.cutFin = true;
      },
    });
    const profile = this.profile;
    const shaper = new ShapeStream({
      bytesPerMs: profile ? bytesPerMs(profile, direction) : 0,
      latencyMs: profile ? oneWayLatencyMs(profile, direction) : 0,
      loss: profile?.loss,
      onLossStall: (after, ms) => this.event(c, 'loss-stall', `after ${after} bytes for ${ms} ms`, direction),
    });
    const writer = new SocketWriter(to, split && { maxSegment: split.maxSegment, seed: split.seed ?? 1, gapMs: split.gapMs }, {
      onForwarded: (n) => {
        dirStats.forwarded += n;
        if (direction === 'down') this.stats.bytesDown += n; else this.stats.bytesUp += n;
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
    if (split) this.event(c, 'split', `pieces of 1..${split.maxSegment} bytes`, direction);
    const stages: Duplex[] = gate ? [gate, faultStream, shaper] : [faultStream, shaper];
    c.streams.push(...stages, writer as unknown as Duplex);
    let src: NodeJS.ReadableStream = from;
    for (const st of stages) src = src.pipe(st);
    src.pipe(writer);
  }

  /** Wires the two sockets of a connection and their error/close handling. */
  private wire(c: Conn, gates?: { down: FtpLineGate; up: FtpLineGate }): void {
    const server = c.server!;
    const onError = (): void => this.teardown(c, true);
    c.client.on('error', onError);
    server.on('error', onError);
    const onClose = (): void => {
      if (c.client.destroyed && server.destroyed) {
        c.stats.closed = true;
        this.conns.delete(c);
        this.teardown(c, false);
      }
    };
    c.client.on('close', onClose);
    server.on('close', onClose);
    this.relay(c, server, c.client, 'down', gates?.down);
    this.relay(c, c.client, server, 'up', gates?.up);
  }

  private refuse(sock: Socket, s: ConnectionStats): void {
    this.stats.refused++;
    s.closed = true;
    this.event(s, 'refuse', 'connection reset on accept');
    sock.on('error', () => { /* already being reset */ });
    sock.resetAndDestroy();
  }

  /** A new relayed connection to `port` of the target, or undefined when refused. */
  private open(client: Socket, who: ConnIdentity, port: number): Conn | undefined {
    const s = this.newStats(who);
    const cf = this.faultsFor(who);
    if (this.closing || cf.some((f) => f.kind === 'refuse')) { this.refuse(client, s); return undefined; }
    const c: Conn = { stats: s, client, faults: cf, streams: [], cutFin: false, pasv: new Set() };
    c.server = net.connect({ host: this.target.host, port, allowHalfOpen: true });
    this.conns.add(c);
    return c;
  }

  /** A data connection accepted on a one-shot listener: relay it to the server's data port. */
  private acceptData(client: Socket, serverPort: number): void {
    const c = this.open(client, { kind: 'data', dataIndex: ++this.stats.dataConnections }, serverPort);
    if (c) this.wire(c);
  }

  /** Opens a one-shot data listener for a PASV/EPSV reply of control connection `c`; returns its port. */
  private async openDataListener(c: Conn, serverPort: number): Promise<number> {
    for (const old of c.pasv) { old.close(); this.listeners.delete(old); } // a new PASV supersedes an unused one
    c.pasv.clear();
    const l = net.createServer({ allowHalfOpen: true }, (sock) => {
      l.close();
      this.listeners.delete(l);
      c.pasv.delete(l);
      this.acceptData(sock, serverPort);
    });
    l.on('error', () => { /* listener errors end the listener only */ });
    this.listeners.add(l);
    c.pasv.add(l);
    return listen(l, this.listenHost);
  }

  /** Rewrites a 227/229 reply so the data connection comes to a new proxy listener. */
  private async rewritePassive(c: Conn, line: string): Promise<string> {
    const lh = this.listenHost;
    const hostDigits = (lh === 'localhost' || lh === '::1' ? '127.0.0.1' : lh).split('.').join(',');
    if (line.startsWith('227')) {
      const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(line);
      if (!m) return line;
      const port = await this.openDataListener(c, Number(m[5]) * 256 + Number(m[6]));
      return line.replace(m[0], `${hostDigits},${port >> 8},${port & 0xff}`);
    }
    const m = /\(([!-~])\1\1(\d+)\1\)/.exec(line);
    if (!m) return line;
    const port = await this.openDataListener(c, Number(m[2]));
    return line.replace(m[0], `(${m[1]}${m[1]}${m[1]}${port}${m[1]})`);
  }

  private acceptControl(client: Socket): void {
    this.stats.controlConnections++;
    const c = this.open(client, { kind: 'control' }, this.target.port);
    if (!c) return;
    const down = new FtpLineGate(gateFor(['227', '229']), (line) => this.rewritePassive(c, line));
    const up = new FtpLineGate(gateFor(['PORT', 'EPRT']), (line) => {
      this.event(c, 'active-mode-refused', line.trim(), 'up');
      down.inject(ACTIVE_MODE_REPLY);
      return null;
    });
    this.wire(c, { down, up });
  }
}
