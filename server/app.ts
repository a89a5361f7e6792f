/**
 * The composition root: one running firmdrop = publisher (reconciled with the root) + watcher + FTP server.
 * `firmdrop serve`, the end-to-end tests and the benchmark all start firmdrop through {@link startFirmdrop}.
 */
import net from 'node:net';
import { type Config, ConfigError, DEFAULT_USERS, assertRootDir } from './config.ts';
import { type FtpHandle, startFtp } from './ftp/server.ts';
import { type Logger, createLogger } from './log.ts';
import { Publisher } from './publisher.ts';
import { loadTls } from './tls.ts';
import { startWatcher } from './watcher.ts';
// HTTP server (operator page, API, device mirror): started only with --http-port
import { loadAdminPassword } from './http/admin-password.ts';
import type { MirrorHooks } from './http/hooks.ts';
import { LiveTransfers } from './http/transfers.ts';
import { type HttpHandle, startHttp } from './http/server.ts';
import { type ServedFleet, openServedFleet } from './fleet/serve.ts';

/**
 * Which code is running, for the `listening` log line: `dist` when this module was loaded from the precompiled
 * JavaScript build (`npm start` builds it first: bin/dist.js), `sources` when TypeScript is run through tsx.
 */
export const RUNNING_BUILD: 'dist' | 'sources' = import.meta.url.endsWith('.js') ? 'dist' : 'sources';

/** A running firmdrop. `close()` is idempotent. */
export interface Firmdrop {
  /** The FTP server; `ftp.port` is the real port when the config asked for 0. */
  ftp: FtpHandle;
  /** The one writer of UPGRADE.TXT for this root. */
  publisher: Publisher;
  /** The HTTP server (operator page, API, device mirror) when `config.httpPort` is set. */
  http?: HttpHandle;
  /** Device logins, offers, status, metrics (server/fleet); `fleet.fleet` is undefined with --no-fleet. */
  fleet: ServedFleet;
  /** Stops the watcher (no more publishing), then the FTP server (running transfers get `drainTimeoutMs`). */
  close(): Promise<void>;
}

/** The logger `startFirmdrop` uses when none is given: the config's level and format, to stdout. */
export function loggerFor(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const pretty = config.logFormat === 'auto' ? Boolean(process.stdout.isTTY) : config.logFormat === 'pretty';
  return createLogger({ level: config.logLevel, pretty });
}

/**
 * Starts firmdrop on `config.root`: reconciles UPGRADE.TXT with the files there (so it never advertises bytes that
 * are not there), starts the watcher, then the FTP server. Logs one `listening` line (`host`, `port`, `root`, `build`) and
 * one `manifest` line (the manifest being served, or `null` when the root has none).
 * Nothing is left running when it throws.
 * @throws ConfigError when the root is not a directory; whatever reconcile, the watcher or the FTP listener throw
 *   (for example EADDRINUSE).
 */
export async function startFirmdrop(config: Config, logger: Logger = loggerFor(config), opts: { httpHooks?: MirrorHooks } = {}): Promise<Firmdrop> {
  await assertRootDir(config.root);
  // A busy port is found before anything is logged or written: its error is the only line a failed start prints.
  await assertPortFree(config.host, config.port);
  if (config.httpPort !== undefined) await assertPortFree(config.httpHost, config.httpPort);
  const adminPassword = config.httpPort === undefined ? undefined : await loadAdminPassword(config);
  // FTPS files are checked before anything starts: a bad one stops firmdrop with one line (ConfigError).
  const tls = config.tlsCert && config.tlsKey ? await loadTls({ certFile: config.tlsCert, keyFile: config.tlsKey }) : undefined;
  // fleet: device logins, per-device UPGRADE.TXT, status, audit, metrics (server/fleet/serve.ts)
  const fleet = openServedFleet(config, logger);
  const publisher = new Publisher({ root: config.root, checksums: config.checksums, logger, fleet: fleet.publisherHooks });
  await publisher.reconcile();
  const watcher = await startWatcher({ root: config.root, publisher, logger, stabilityMs: config.stabilityMs });
  // Running downloads for the operator page's live progress: the mirror's and the FTP server's, in one place.
  const transfers = config.httpPort === undefined ? undefined : new LiveTransfers();
  let ftp: FtpHandle;
  try {
    ftp = await startFtp({
      hooks: fleet.ftpHooks, // device logins, per-device offers, status (server/ftp/hooks.ts)
      root: config.root,
      host: config.host,
      port: config.port,
      pasvUrl: config.pasvAddress, // unset: ftp.ts answers with the address the client connected to
      pasvMin: config.pasvMin,
      pasvMax: config.pasvMax,
      users: config.users,
      anonymous: config.anonymous,
      idleTimeoutMs: config.idleTimeoutMs,
      loginTimeoutMs: config.loginTimeoutMs,
      maxConnections: config.maxConnections === 0 ? Infinity : config.maxConnections, // 0 = unlimited
      maxPerAddress: config.maxPerAddress === 0 ? undefined : config.maxPerAddress, // 0 = unlimited (ftp.ts default)
      tls: tls?.options,
      transfers,
    }, logger);
    const served = ftp;
    await fleet.startMetrics(() => served.stats());
  } catch (err) {
    await watcher.close();
    await fleet.close();
    throw err;
  }
  let http: HttpHandle | undefined;
  if (config.httpPort !== undefined) {
    try {
      http = await startHttp({
        host: config.httpHost, port: config.httpPort, publisher, users: { users: config.users, anonymous: config.anonymous },
        adminPassword, hooks: opts.httpHooks ?? fleet.ftpHooks, fleet: fleet.fleet, log: logger, transfers,
      });
    } catch (err) {
      await watcher.close();
      await ftp.close(0);
      await fleet.close();
      throw err;
    }
    if (adminPassword === undefined) logger.warn('no admin password (FIRMDROP_ADMIN_PASSWORD or --admin-password-file): the operator page refuses logins');
  }
  logger.info({ host: ftp.host, port: ftp.port, root: config.root, build: RUNNING_BUILD }, 'listening');
  warnDefaultPassword(config, logger);
  if (tls) {
    const expired = tls.validTo.getTime() < Date.now();
    logger[expired ? 'warn' : 'info']({ subject: tls.subject, validTo: tls.validTo.toISOString() }, expired ? 'FTPS certificate expired' : 'FTPS enabled (AUTH TLS)');
  }
  logger.info({ manifest: (await publisher.current()) ?? null }, 'manifest');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await http?.close();
        await watcher.close();
      } finally {
        await ftp.close(config.drainTimeoutMs);
        await fleet.close();
        await publisher.close();
        logger.info('stopped');
      }
    })();
    return closing;
  };
  return { ftp, publisher, http, fleet, close };
}

/** True for an address only this machine can reach: 127.0.0.0/8, ::1, localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

/**
 * One warning line when an account still has its default password (ota/libelium, the Meshlium OTA default published
 * in Libelium's OTA guide) and the server listens on an address other machines can reach.
 */
export function warnDefaultPassword(config: Pick<Config, 'host' | 'port' | 'users'>, logger: Logger): void {
  if (isLoopback(config.host)) return;
  const known = config.users.filter((u) => DEFAULT_USERS.some((d) => d.user === u.user && d.pass === u.pass));
  if (known.length === 0) return;
  const names = known.map((u) => `${u.user}/${u.pass}`).join(', ');
  logger.warn({ host: config.host, users: known.map((u) => u.user) },
    `default password served on ${config.host}: anyone who reaches this port can log in as ${names} (the published Meshlium default); ` +
    'set your own account with --user NAME:PASSWORD or FIRMDROP_USERS');
}

/**
 * Resolves when `host`:`port` can be listened on now (port 0 always can); the probe listener is closed at once.
 * @throws ConfigError (one line) when the port is in use or not allowed
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'is in use (EADDRINUSE): is another firmdrop or FTP server running? choose another --port'
        : e.code === 'EACCES' ? 'needs privileges (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE; choose --port 2121'
          : `cannot be listened on (${e.code ?? e.message})`;
      reject(new ConfigError(`port ${port} on ${host} ${why}`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
