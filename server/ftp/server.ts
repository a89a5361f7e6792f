/**
 * The FTP server devices talk to (RFC 959, read-only): listen, the connection gate (limits → 421, TCP_NODELAY,
 * keep-alive), and close() with a drain deadline. One control connection is a Session (control.ts); commands
 * run through the command table (commands.ts).
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Jail } from '../jail.ts';
import type { Logger } from '../log.ts';
import { LoginThrottle, type LoginThrottleOptions } from '../login-throttle.ts';
import { SnapshotCache } from '../snapshots/reader.ts';
import { ManifestBytes } from './manifest-bytes.ts';
import { ManifestPins } from '../pins.ts';
import type { FtpUser } from '../users.ts';
import { dispatch } from './commands.ts';
import type { ServerContext } from './context.ts';
import { LinkState, Session } from './control.ts';
import type { FtpHooks, FtpStats, TransferRecorder } from './hooks.ts';
import { MAX_COMMAND_BYTES } from './line-reader.ts';
import { endSocket, KEEPALIVE_MS, plainIp } from './net-util.ts';
import { PassivePortPool } from './passive.ts';
import { replyLine } from './reply.ts';

export { MAX_LOGIN_FAILURES } from './cmd-login.ts';
export { MAX_COMMAND_BYTES } from './line-reader.ts';

/** Options of startFtp (ARCHITECTURE.md contract). Times in ms, sizes in bytes. */
export interface FtpOptions {
  /** The OTA root served read-only. */
  root: string;
  /** Address to listen on, e.g. `0.0.0.0` or `127.0.0.1`. */
  host: string;
  /** Control port; 0 = ephemeral (the handle tells the real one). */
  port: number;
  /**
   * Address put in 227 replies: a bare IPv4 address, or a function of the client's IP returning one (a host name
   * would break the 227 reply, RFC 959 §4.1.2). Unset: the address the client reached us on. Loopback clients
   * always get the local address when a fixed string is configured.
   */
  pasvUrl?: string | ((clientIp: string) => string);
  /** Passive port range, inclusive. Both or neither; unset = the OS's ephemeral range (Linux default 32768–60999). */
  pasvMin?: number;
  pasvMax?: number;
  /** Accounts; config.ts supplies the default `ota` / `libelium`. Unused when `hooks.authenticate` is set. */
  users: FtpUser[];
  /** Allow `anonymous` / `ftp` with any password (RFC 1635). Default false. */
  anonymous?: boolean;
  /** Close a control connection that sent no command and moved no transfer byte for this long, ms. Default 300000. */
  idleTimeoutMs?: number;
  /** Close a control connection that has not logged in this long after connecting, ms (`421`). Default 60000. */
  loginTimeoutMs?: number;
  /** Connections at once, all clients; the next one gets `421 Too many connections`. Default 10000. */
  maxConnections?: number;
  /** Connections at once from one IP address (carrier NAT puts many devices behind one). Default unlimited. */
  maxPerAddress?: number;
  /** Longest command line accepted, bytes (longer: `500`, line dropped). Default 4096. */
  maxCommandBytes?: number;
  /** How long a passive listener waits for the client's data connection, ms. Default 30000. */
  passiveWaitMs?: number;
  /** Per-address brute-force policy (../login-throttle.ts). Default LOGIN_THROTTLE_DEFAULTS. */
  loginThrottle?: LoginThrottleOptions;
  /** FTPS: explicit `AUTH TLS` (RFC 4217) with these options (../tls.ts loadTls()); unset = plain FTP only. */
  tls?: tls.SecureContextOptions;
  /** Extension points: logins, per-login offers, session events (hooks.ts). */
  hooks?: FtpHooks;
  /** Where RETRs of binaries are recorded while they run, for live progress (hooks.ts TransferRecorder). */
  transfers?: TransferRecorder;
}

/** A running FTP server. */
export interface FtpHandle {
  /** The address and the real port listened on. */
  host: string;
  port: number;
  /**
   * Stops accepting, lets commands and transfers in progress finish until `deadlineMs` (default 10000), tells
   * idle clients `421`, then destroys what is left. Resolves when every socket and listener is closed; leaves no
   * timer behind. Idempotent.
   */
  close(deadlineMs?: number): Promise<void>;
  /** Live figures (sessions, passive ports, transfers). */
  stats(): FtpStats;
}

/** Listen queue of the control port: a burst of devices connecting at once must not overflow it (SYN retries 1 s, 3 s…). */
const LISTEN_BACKLOG = 4096;

/** The shared state of a new server (options with their defaults applied). */
function makeContext(opts: FtpOptions, jail: Jail, logger: Logger, onGone: () => void): ServerContext {
  return {
    opts: {
      host: opts.host,
      users: opts.users,
      anonymous: opts.anonymous ?? false,
      idleMs: opts.idleTimeoutMs ?? 300_000,
      loginMs: opts.loginTimeoutMs ?? 60_000,
      maxLine: opts.maxCommandBytes ?? MAX_COMMAND_BYTES,
      passiveWaitMs: opts.passiveWaitMs ?? 30_000,
      pasvUrl: opts.pasvUrl,
      tls: Boolean(opts.tls),
    },
    log: logger.child({ component: 'ftp' }),
    rootLogger: logger,
    pool: new PassivePortPool(opts.host, opts.pasvMin, opts.pasvMax),
    files: { jail, pins: new ManifestPins(), cache: new SnapshotCache(), manifest: new ManifestBytes() },
    throttle: new LoginThrottle(opts.loginThrottle),
    hooks: opts.hooks ?? {},
    transfers: opts.transfers,
    // One context for the control and data connections (the ticket keys in opts.tls let clients resume sessions).
    secureContext: opts.tls ? tls.createSecureContext(opts.tls) : undefined,
    counters: { transfers: 0 },
    closing: false,
    onSessionGone: onGone,
  };
}

/**
 * The connection gate: refuses with `421 Too many connections` past `maxConnections` in all or `maxPerAddress`
 * from one IP (carrier NAT puts many devices behind one), else opens a Session and greets it (RFC 959 §5.4: 220).
 */
function gate(ctx: ServerContext, sessions: Set<Session>, limits: { all: number; perAddress: number }): (socket: net.Socket) => void {
  const perAddress = new Map<string, number>();
  return (socket) => {
    socket.on('error', () => undefined);
    const address = plainIp(socket.remoteAddress);
    if (ctx.closing || !address) {
      socket.destroy();
      return;
    }
    const fromAddress = perAddress.get(address) ?? 0;
    if (sessions.size >= limits.all || fromAddress >= limits.perAddress) {
      ctx.log.warn({ address, connections: sessions.size, fromAddress }, 'connection refused: too many connections');
      endSocket(socket, '421 Too many connections');
      return;
    }
    perAddress.set(address, fromAddress + 1);
    const s = new Session(ctx, socket, dispatch);
    sessions.add(s);
    socket.once('close', () => {
      sessions.delete(s);
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n > 0) perAddress.set(address, n);
      else perAddress.delete(address);
      ctx.onSessionGone();
    });
    s.emit({ type: 'connect', sessionId: s.id, address, at: Date.now() });
    s.send(replyLine(220, 'firmdrop FTP server ready'));
  };
}

/**
 * Stops accepting, answers idle sessions 421 at once and busy ones when their command ends, waits for them until
 * `deadlineMs`, then destroys what is left.
 */
async function shutdown(ctx: ServerContext, server: net.Server, sessions: Set<Session>, deadlineMs: number,
                        setOnGone: (f: (() => void) | undefined) => void): Promise<void> {
  ctx.closing = true;
  const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of sessions) if (!s.busy) s.pump(); // idle sessions get 421 now; busy ones when their command ends
  if (sessions.size) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      setOnGone(() => {
        if (sessions.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }
  setOnGone(undefined);
  for (const s of [...sessions]) {
    s.endReason ??= 'shutdown deadline';
    s.transfer?.destroy();
    s.destroyDataSockets();
    s.socket.destroy();
  }
  await listenerClosed;
  ctx.log.info('FTP server closed');
}

/**
 * Starts the FTP server. Resolves once listening.
 * @throws Error when the root is not a folder, an option is invalid (the message names it), or the port cannot be
 *   bound (EADDRINUSE, EACCES)
 */
export async function startFtp(opts: FtpOptions, logger: Logger): Promise<FtpHandle> {
  validateOptions(opts);
  const jail = await Jail.open(opts.root);
  const sessions = new Set<Session>();
  let onGone: (() => void) | undefined;
  const ctx = makeContext(opts, jail, logger, () => onGone?.());
  // allowHalfOpen: a client may send its last commands and a FIN at once (a modem closing its write side); the
  // replies still owed are sent before the connection is closed (Session.onPeerEnd).
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
  const maxConnections = opts.maxConnections ?? 10_000;
  server.maxConnections = maxConnections + 64; // a backstop only: the gate answers 421 first
  server.on('error', (err) => ctx.log.error({ err: err.message }, 'FTP server error'));
  server.on('connection', gate(ctx, sessions, { all: maxConnections, perAddress: opts.maxPerAddress ?? Infinity }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  ctx.log.info({ host: opts.host, port: address.port, root: opts.root }, 'FTP server listening');
  let closed: Promise<void> | undefined;
  return {
    host: opts.host,
    port: address.port,
    close(deadlineMs = 10_000) {
      closed ??= shutdown(ctx, server, sessions, deadlineMs, (f) => (onGone = f));
      return closed;
    },
    stats(): FtpStats {
      let active = 0;
      for (const s of sessions) if (s.link !== LinkState.Gone) active++;
      return { activeSessions: active, passivePortsInUse: ctx.pool.held, activeTransfers: ctx.counters.transfers };
    },
  };
}

/** Throws an Error naming the first invalid option. */
function validateOptions(opts: FtpOptions): void {
  const isPort = (n: unknown, min: number) => Number.isInteger(n) && (n as number) >= min && (n as number) <= 65535;
  if (!isPort(opts.port, 0)) throw new Error(`FTP port must be 0..65535, got ${opts.port}`);
  if ((opts.pasvMin === undefined) !== (opts.pasvMax === undefined)) throw new Error('pasvMin and pasvMax go together');
  if (opts.pasvMin !== undefined) {
    if (!isPort(opts.pasvMin, 1) || !isPort(opts.pasvMax, 1) || opts.pasvMin > opts.pasvMax!) {
      throw new Error(`passive port range must be 1..65535 with min <= max, got ${opts.pasvMin}-${opts.pasvMax}`);
    }
  }
  if (typeof opts.pasvUrl === 'string' && !net.isIPv4(opts.pasvUrl)) {
    throw new Error(`pasvUrl must be a bare IPv4 address (a 227 reply carries four numbers, RFC 959 §4.1.2), got ${JSON.stringify(opts.pasvUrl)}`);
  }
  for (const [name, v] of [['idleTimeoutMs', opts.idleTimeoutMs], ['maxConnections', opts.maxConnections], ['maxPerAddress', opts.maxPerAddress], ['maxCommandBytes', opts.maxCommandBytes], ['passiveWaitMs', opts.passiveWaitMs], ['loginTimeoutMs', opts.loginTimeoutMs]] as const) {
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new Error(`${name} must be a positive number, got ${v}`);
  }
}
