/**
 * Prometheus metrics at `http://HOST:PORT/metrics` (text exposition format 0.0.4, Prometheus documentation
 * "Exposition formats"), through prom-client 15 with its own registry. Off unless `--metrics-port` is given; it
 * listens on `--metrics-host` (127.0.0.1 by default: metrics are for the operator, not for devices).
 *
 * Series: firmdrop_sessions_active, firmdrop_sessions_total{outcome}, firmdrop_logins_refused_total,
 * firmdrop_downloads_total{program,version,outcome}, firmdrop_bytes_sent_total, firmdrop_passive_ports_in_use,
 * firmdrop_transfers_active, firmdrop_publishes_total (publishes recorded in the audit, by any process),
 * firmdrop_rollout_state{program,version,state}, firmdrop_rollout_failures, firmdrop_rollout_wave,
 * firmdrop_devices{state}.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { FtpStats, SessionEvent } from '../ftp/hooks.ts';
import type { DeviceState } from '../store/store.ts';
import type { Fleet } from './fleet.ts';

const STATES: readonly DeviceState[] = ['never-seen', 'offered', 'downloading', 'downloaded', 'updated', 'failed', 'no-update'];

/** Session outcome label: `downloaded` (a fetch completed), `cut-short`, `failed`, `manifest-only`, `idle` (logged in, read nothing), `no-login`. */
type SessionOutcome = 'downloaded' | 'cut-short' | 'failed' | 'manifest-only' | 'idle' | 'no-login';

/** The metrics registry of one server, fed by session events. */
export class FleetMetrics {
  readonly registry = new Registry();
  private readonly sessions = new Map<string, SessionOutcome>();
  private readonly sessionsTotal: Counter<'outcome'>;
  private readonly refused: Counter;
  private readonly downloads: Counter<'program' | 'version' | 'outcome'>;
  private readonly bytes: Counter;

  /** @param fleet the fleet (device states, rollout, audit counts); @param stats the FTP server's live figures */
  constructor(fleet: Fleet | undefined, stats: () => FtpStats | undefined) {
    const registers = [this.registry];
    this.sessionsTotal = new Counter({ name: 'firmdrop_sessions_total', help: 'FTP sessions ended, by outcome', labelNames: ['outcome'], registers });
    this.refused = new Counter({ name: 'firmdrop_logins_refused_total', help: 'logins refused (530)', registers });
    this.downloads = new Counter({ name: 'firmdrop_downloads_total', help: 'binary transfers ended, by program, VERSION and outcome', labelNames: ['program', 'version', 'outcome'], registers });
    this.bytes = new Counter({ name: 'firmdrop_bytes_sent_total', help: 'bytes of binaries sent', registers });
    const live = (name: string, help: string, pick: (s: FtpStats) => number) => new Gauge({ name, help, registers, collect() {
      const s = stats();
      if (s) this.set(pick(s));
    } });
    live('firmdrop_sessions_active', 'FTP control connections open now', (s) => s.activeSessions);
    live('firmdrop_passive_ports_in_use', 'passive data ports held now', (s) => s.passivePortsInUse);
    live('firmdrop_transfers_active', 'RETRs running now', (s) => s.activeTransfers);
    if (fleet) this.fleetSeries(fleet, registers);
  }

  private fleetSeries(fleet: Fleet, registers: Registry[]): void {
    let published = 0;
    new Counter({ name: 'firmdrop_publishes_total', help: 'releases published (any process: from the audit)', registers, collect() {
      const n = fleet.store.auditCounts().get('publish') ?? 0;
      if (n > published) this.inc(n - published);
      published = n;
    } });
    new Gauge({ name: 'firmdrop_devices', help: 'device logins by state', labelNames: ['state'], registers, collect() {
      const counts = new Map<string, number>(STATES.map((s) => [s, 0]));
      for (const d of fleet.deviceList()) {
        const st = fleet.status.get(d.login).state;
        counts.set(st, (counts.get(st) ?? 0) + 1);
      }
      for (const [state, n] of counts) this.set({ state }, n);
    } });
    new Gauge({ name: 'firmdrop_rollout_state', help: 'the rollout in progress (1), by program, VERSION and state', labelNames: ['program', 'version', 'state'], registers, collect() {
      this.reset();
      const r = fleet.currentRollout();
      if (r) this.set({ program: r.name, version: String(r.version), state: r.state }, 1);
    } });
    new Gauge({ name: 'firmdrop_rollout_failures', help: 'downloads of the rollout release cut short or failed', registers, collect() {
      this.set(fleet.currentRollout()?.failures ?? 0);
    } });
    new Gauge({ name: 'firmdrop_rollout_wave', help: 'current wave of the rollout (0 = first)', registers, collect() {
      this.set(fleet.currentRollout()?.wave ?? 0);
    } });
  }

  /** Counts one session event. Never throws. */
  event(e: SessionEvent): void {
    switch (e.type) {
      case 'connect': this.sessions.set(e.sessionId, 'no-login'); break;
      case 'login': this.sessions.set(e.sessionId, 'idle'); break;
      case 'login-failed': this.refused.inc(); break;
      case 'manifest-read': if (this.sessions.get(e.sessionId) === 'idle') this.sessions.set(e.sessionId, 'manifest-only'); break;
      case 'fetch-start': break;
      case 'fetch-end':
        this.downloads.inc({ program: e.name, version: String(e.version ?? ''), outcome: e.outcome });
        this.bytes.inc(e.bytes);
        if (this.sessions.get(e.sessionId) !== 'downloaded') this.sessions.set(e.sessionId, e.outcome === 'completed' ? 'downloaded' : e.outcome);
        break;
      case 'disconnect':
        this.sessionsTotal.inc({ outcome: this.sessions.get(e.sessionId) ?? 'no-login' });
        this.sessions.delete(e.sessionId);
        break;
    }
  }
}

/** A running metrics endpoint. */
export interface MetricsServer { host: string; port: number; close(): Promise<void> }

/**
 * Serves `metrics` at `GET /metrics` on host:port (port 0: a free port; the real one is in the result). Other
 * paths get 404.
 * @throws the listen error (EADDRINUSE, EACCES)
 */
export async function startMetricsServer(metrics: FleetMetrics, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    host: addr.address, port: addr.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
