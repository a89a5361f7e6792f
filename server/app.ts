/**
 * The composition root: one running firmdrop = publisher (reconciled with the root) + watcher + FTP server.
 * `firmdrop serve`, the end-to-end tests and the benchmark all start firmdrop through {@link startFirmdrop}.
 */
import { type Config, assertRootDir } from './config.ts';
import { type FtpHandle, startFtp } from './ftp/server.ts';
import { type Logger, createLogger } from './log.ts';
import { Publisher } from './publisher.ts';
import { loadTls } from './tls.ts';
import { startWatcher } from './watcher.ts';

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
export async function startFirmdrop(config: Config, logger: Logger = loggerFor(config)): Promise<Firmdrop> {
  await assertRootDir(config.root);
  // FTPS files are checked before anything starts: a bad one stops firmdrop with one line (ConfigError).
  const tls = config.tlsCert && config.tlsKey ? await loadTls({ certFile: config.tlsCert, keyFile: config.tlsKey }) : undefined;
  const publisher = new Publisher({ root: config.root, checksums: config.checksums, logger });
  await publisher.reconcile();
  const watcher = await startWatcher({ root: config.root, publisher, logger, stabilityMs: config.stabilityMs });
  let ftp: FtpHandle;
  try {
    ftp = await startFtp({
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
    }, logger);
  } catch (err) {
    await watcher.close();
    throw err;
  }
  logger.info({ host: ftp.host, port: ftp.port, root: config.root, build: RUNNING_BUILD }, 'listening');
  if (tls) {
    const expired = tls.validTo.getTime() < Date.now();
    logger[expired ? 'warn' : 'info']({ subject: tls.subject, validTo: tls.validTo.toISOString() }, expired ? 'FTPS certificate expired' : 'FTPS enabled (AUTH TLS)');
  }
  logger.info({ manifest: (await publisher.current()) ?? null }, 'manifest');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await watcher.close();
      } finally {
        await ftp.close(config.drainTimeoutMs);
        logger.info('stopped');
      }
    })();
    return closing;
  };
  return { ftp, publisher, close };
}
