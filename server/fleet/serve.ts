/**
 * The fleet's part of a running firmdrop (server/app.ts): the fleet (when `config.fleet`), the Publisher hooks
 * (watcher drops held during a rollout, audit of what the server publishes), the FTP hooks, and the metrics endpoint
 * (when `config.metricsPort` is set).
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { FtpHooks, FtpStats } from '../ftp/hooks.ts';
import type { PublisherFleetHooks } from '../publisher.ts';
import { SERVER_ACTOR, publisherAudit } from './audit.ts';
import { Fleet } from './fleet.ts';
import { FleetMetrics, type MetricsServer, startMetricsServer } from './metrics.ts';

/** The fleet of a running server. `close()` is idempotent. */
export interface ServedFleet {
  fleet: Fleet | undefined;
  /** For `new Publisher({ fleet })`. */
  publisherHooks: PublisherFleetHooks;
  /** For `FtpOptions.hooks` (undefined: neither fleet nor metrics). */
  ftpHooks: FtpHooks | undefined;
  /** Starts the metrics endpoint when configured; `stats` reads the FTP server's live figures (FtpHandle.stats). */
  startMetrics(stats: () => FtpStats | undefined): Promise<MetricsServer | undefined>;
  /** The metrics endpoint once started (its real port when the config asked for 0). */
  readonly metricsServer: MetricsServer | undefined;
  close(): Promise<void>;
}

/** Opens the fleet of `config.root` as configured. @throws StoreError, SQLite errors */
export function openServedFleet(config: Config, logger: Logger): ServedFleet {
  const fleet = config.fleet ? new Fleet({ root: config.root, policy: { users: config.users, anonymous: config.anonymous }, checksums: config.checksums, logger }) : undefined;
  let metrics: FleetMetrics | undefined;
  let server: MetricsServer | undefined;
  let stats: () => FtpStats | undefined = () => undefined;
  if (config.metricsPort !== undefined) {
    metrics = new FleetMetrics(fleet, () => stats());
    fleet?.observe(metrics);
  }
  const ftpHooks: FtpHooks | undefined = fleet ? fleet.hooks() : metrics ? { onEvent: (e) => metrics!.event(e) } : undefined;
  const publisherHooks: PublisherFleetHooks = fleet
    ? { holdOffer: (name) => fleet.holdOffer(name), onChange: publisherAudit(fleet.store, config.root, SERVER_ACTOR).onChange }
    : {};
  return {
    fleet, publisherHooks, ftpHooks,
    get metricsServer() { return server; },
    async startMetrics(s) {
      stats = s;
      if (!metrics || config.metricsPort === undefined) return undefined;
      server = await startMetricsServer(metrics, config.metricsHost, config.metricsPort);
      logger.info({ host: server.host, port: server.port }, `metrics at http://${server.host}:${server.port}/metrics`);
      return server;
    },
    async close() {
      await server?.close();
      server = undefined;
      if (fleet?.store) {
        try { fleet.close(); } catch { /* already closed */ }
      }
    },
  };
}
