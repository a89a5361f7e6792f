/**
 * The FTP server devices talk to: ftp-srv 4.6.3 wired to the read-only DeviceFileSystem, with every fix for
 * ftp-srv's known faults in this one file. Each fix cites its item in research/stack.md ("stack.md #N").
 *
 * How the pieces fit: ftp-srv accepts the socket and runs most commands. In front of it firmdrop puts
 *  - a connection gate on the listening socket (limits → 421, TCP_NODELAY, keep-alive),
 *  - a line buffer that replaces ftp-srv's `data` handler (split commands, long lines, one command at a time,
 *    idle time measured between commands),
 *  - a few command overrides (FEAT, PASV, EPSV, RETR pre-check, SIZE, MDTM, ABOR, USER, and refusal of every
 *    write command),
 *  - its own passive data connector (a port pool over the configured range; listener closed at accept),
 *  - its own close(): drain, deadline, no timers left behind.
 *
 * research/stack.md items and where they are handled here:
 *   #1 split commands ........ attach() + onData(): line buffer, 500 for lines over maxCommandBytes
 *   #2 passive ports ......... PassivePortPool + FirmdropPassive (port released when the data connection arrives;
 *                              random choice; idle listeners reclaimed when the range is full)
 *   #3 timeout cuts transfers  ftp-srv `timeout: 0`; onIdle(): time since the last command or transfer progress;
 *                              TCP keep-alive reclaims vanished devices
 *   #4 data connection address FirmdropPassive.#accept(); PORT/EPRT: active-target.ts (strict parsing, the
 *                              client's own host only, ports >= 1024) and FirmdropActive (ftp-srv's active connector
 *                              and its `ip`-package check are never used: a crafted EPRT froze the server ~30 s)
 *   #5 pasv_url .............. pasvAddress(): bare IPv4 or function of the client IP, validated at start
 *   #6 signal handlers ....... removed right after `new FtpSrv()`
 *   #7 close() timers ........ disconnectClient() replaced; shutdown() drains with a deadline
 *   #8 ABOR ignored .......... onData() stops the running RETR or LIST/NLST, or its wait for the data connection;
 *                              ABOR answers 226 after the command's 426
 *   #9 client drops .......... detach(), onRead(): fetch logged as cut short, data socket and file closed
 *   #10 symlinks, path leaks . device-fs.ts (read-only, realpath jail, generic messages)
 *   #11 FEAT, 227 wording, MDTM, no connection limit: runCommand() overrides; connection gate (421)
 *   Nagle .................... TCP_NODELAY on control and data sockets
 *   FTPS (issue 5 item 6) .... `tls` option (server/tls.ts); runCommand() AUTH: the line buffer follows the TLS
 *                              socket; FirmdropPassive: TLS data connections; PORT/EPRT refused over TLS
 */
import { randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import * as ftpSrvModule from 'ftp-srv';
import { ActiveTargetError, isClientHost, parseEprtArg, parsePortArg, type ActiveTarget } from './active-target.ts';
import { DeviceFileSystem, formatListLine, ManifestPins, MSG_DENIED, MSG_NOT_FOUND, type RetrSource } from './device-fs.ts';
import { sendBytes, TransferError, type Transfer, type TransferSource } from './transfer.ts';
import { SessionLog, type FetchLog, type Logger } from './log.ts';
import { SnapshotCache } from './offered.ts';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.ts';
import { checkLogin, type FtpUser } from './users.ts';

/** Options of startFtp (ARCHITECTURE.md contract; `maxCommandBytes` and `passiveWaitMs` are compatible extensions). */
export interface FtpOptions {
  /** The OTA root served read-only. */
  root: string;
  /** Address to listen on, e.g. `0.0.0.0` or `127.0.0.1`. */
  host: string;
  /** Control port; 0 = ephemeral (the handle tells the real one). */
  port: number;
  /**
   * Address put in 227 replies: a bare IPv4 address, or a function of the client's IP returning one
   * (stack.md #5: a host name would break the 227 reply). Unset: the address the client reached us on.
   * Loopback clients always get the local address when a fixed string is configured.
   */
  pasvUrl?: string | ((clientIp: string) => string);
  /** Passive port range, inclusive. Both or neither; unset = the OS's ephemeral range (Linux default 32768–60999). */
  pasvMin?: number;
  pasvMax?: number;
  /** Accounts; config.ts supplies the default `ota` / `libelium`. */
  users: FtpUser[];
  /** Allow `anonymous` / `ftp` with any password. Default false. */
  anonymous?: boolean;
  /**
   * Close a control connection that sent no command and moved no transfer byte for this long, ms. A transfer that
   * keeps moving is never cut. Default 300000.
   */
  idleTimeoutMs?: number;
  /**
   * Close a control connection that has not logged in this long after connecting, ms (`421`). Default 60000.
   * Without it, connections that never log in would each hold a socket for the whole idle timeout: a few thousand
   * of them could fill maxConnections and lock devices out.
   */
  loginTimeoutMs?: number;
  /** Connections at once, all clients; the next one gets `421 Too many connections`. Default 10000. */
  maxConnections?: number;
  /** Connections at once from one IP address (carrier NAT puts many devices behind one). Default unlimited. */
  maxPerAddress?: number;
  /** Longest command line accepted, bytes (longer: `500`, line dropped). Default 4096. */
  maxCommandBytes?: number;
  /** How long a passive listener waits for the client's data connection, ms. Default 30000 (ftp-srv's). */
  passiveWaitMs?: number;
  /**
   * Per-address brute-force policy (server/login-throttle.ts; issue 5 item 4): how long a failed PASS waits before
   * its 530, growing with the failures from the same address across connections. Default LOGIN_THROTTLE_DEFAULTS.
   */
  loginThrottle?: LoginThrottleOptions;
  /** FTPS: explicit `AUTH TLS` (RFC 4217) with these options (server/tls.ts loadTls()); unset = plain FTP only. */
  tls?: tls.SecureContextOptions;
}

/** A running FTP server. */
export interface FtpHandle {
  /** The address and the real port listened on. */
  host: string;
  port: number;
  /**
   * Stops accepting, lets commands and transfers in progress finish until `deadlineMs` (default 10000), tells
   * idle clients `421`, then destroys what is left. Resolves when every socket and listener is closed; leaves no
   * timer behind (stack.md #7). Idempotent.
   */
  close(deadlineMs?: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// ftp-srv internals firmdrop relies on (4.6.3). checkFtpSrvInternals() fails loudly if they change.

// ftp-srv's .d.ts lacks parts that exist at run time (stack.md #13): cast narrowly.
const { FtpSrv } = ftpSrvModule as unknown as { FtpSrv: new (options: Record<string, unknown>) => FtpServerInternals };
const requireHere = createRequire(import.meta.url);
const requireFtpSrv = createRequire(requireHere.resolve('ftp-srv'));
const FtpConnectionClass = requireFtpSrv('./src/connection.js') as { prototype: Record<string, unknown>; toString(): string };
const FtpConnection = FtpConnectionClass as unknown as new (server: FtpServerInternals, options: { log: unknown; socket: net.Socket }) => FtpConnectionInternals;
const BaseConnector = requireFtpSrv('./src/connector/base.js') as new (connection: unknown) => ConnectorInternals;
const COMMAND_REGISTRY = requireFtpSrv('./src/commands/registry.js') as Record<string, unknown>;
// The same bluebird ftp-srv uses: its RETR/LIST handlers call `.tap()` on waitForConnection()'s promise and catch
// `Promise.TimeoutError` by class to answer 425.
const Bluebird = requireFtpSrv('bluebird') as BluebirdLike;

// ftp-srv's reply texts for a bare code (e.g. 150, 331), used by fastReply() as by ftp-srv's own reply().
const DEFAULT_MESSAGE = requireFtpSrv('./src/messages.js') as Record<number, string>;
// ftp-srv names each connection with `uuid.v4()` (uuid 3.4, a crypto.randomBytes(16) call per connection: ~2 % of
// the server's CPU at C=1 in a profile). Node's randomUUID() draws from a cached entropy pool: same format, same
// randomness source, no per-call allocation. ftp-srv looks `v4` up at each call, so replacing it here is enough.
const uuidOfFtpSrv = requireFtpSrv('uuid') as { v4: () => string };
uuidOfFtpSrv.v4 = () => randomUUID();

interface BluebirdLike {
  new <T>(executor: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): PromiseLike<T>;
  resolve(): PromiseLike<void>;
  TimeoutError: new (message?: string) => Error;
}

interface ConnectorInternals {
  type: string | false;
  dataSocket: (net.Socket & { connected?: boolean }) | null;
  dataServer: net.Server | null;
  readonly socket: net.Socket | null;
  connection: FtpConnectionInternals;
  end(): void;
  closeServer(): void;
  closeSocket(): void;
  waitForConnection(opts?: { timeout?: number }): PromiseLike<net.Socket>;
}

interface FtpConnectionInternals extends EventEmitter {
  id: string;
  commandSocket: net.Socket;
  /** AUTH TLS done: commandSocket is now a TLSSocket. */
  secure?: boolean;
  authenticated?: boolean;
  username?: string;
  transferType?: 'ascii' | 'binary';
  fs?: DeviceFileSystem;
  connector: ConnectorInternals;
  restByteCount?: number;
  commands: {
    handle(command: string | FtpCommand): PromiseLike<unknown>;
  };
  reply(options: number | Record<string, unknown>, ...letters: unknown[]): PromiseLike<unknown>;
  close(code?: number, message?: string): PromiseLike<unknown>;
}

interface FtpServerInternals extends EventEmitter {
  server: net.Server;
  log: unknown;
  /** Greeting lines before the last 220 line (none: firmdrop sets no greeting), and that last line ('Ready'). */
  _greeting: string[];
  _features: string;
  connections: Record<string, FtpConnectionInternals>;
  disconnectClient(id: string): PromiseLike<unknown>;
  listen(): PromiseLike<unknown>;
}

/**
 * Checks that ftp-srv still has the internals firmdrop hooks into (the connection's `data` handler, the
 * connector base class, bluebird's TimeoutError). Throws an Error naming what changed. Called by startFtp, and
 * by tests so a library upgrade that moves them fails the suite instead of silently losing a fix.
 */
export function checkFtpSrvInternals(): void {
  const problems: string[] = [];
  if (typeof FtpConnectionClass.prototype._handleData !== 'function') problems.push('FtpConnection.prototype._handleData missing');
  if (!FtpConnectionClass.toString().includes("this.commandSocket.on('data', this._handleData.bind(this))")) {
    problems.push("FtpConnection no longer attaches `commandSocket.on('data', this._handleData.bind(this))`");
  }
  for (const m of ['end', 'closeServer', 'closeSocket']) {
    if (typeof (BaseConnector.prototype as unknown as Record<string, unknown>)[m] !== 'function') problems.push(`connector/base.js lacks ${m}()`);
  }
  if (typeof Bluebird.TimeoutError !== 'function') problems.push('bluebird TimeoutError missing');
  for (const d of ['RETR', 'LIST', 'SIZE', 'USER', 'PASS', 'PORT', 'EPRT', 'REST', 'TYPE', 'QUIT']) {
    if (!Object.hasOwn(COMMAND_REGISTRY, d)) problems.push(`commands/registry.js lacks ${d}`);
  }
  if (problems.length) throw new Error(`ftp-srv internals changed (firmdrop's fixes in server/ftp.ts need review): ${problems.join('; ')}`);
}

/** A command line parsed as ftp-srv parses it (src/commands/index.js parse()): the shape its handlers take. */
interface FtpCommand {
  /** Upper-cased first word, e.g. `RETR`. */
  directive: string;
  /** The rest of the line after the first space (flags such as `-l` taken out, except for RETR/SIZE/STOR), or null. */
  arg: string | null;
  /** `-x` words of the line (LIST -l). */
  flags: string[];
  /** The line as received (CRLF removed). */
  raw: string;
}

const FLAG_WORD = /^-(\w{1})$/;
const NO_FLAG_DIRECTIVES = new Set(['RETR', 'SIZE', 'STOR']);

/**
 * Parses a command line exactly as ftp-srv 4.6.3 does (double quotes removed, split on single spaces, `-x` words
 * become flags except for RETR/SIZE/STOR), without lodash: firmdrop parses every line once and hands the object to
 * ftp-srv's handlers, which accept a parsed command. Never throws.
 */
export function parseCommand(line: string): FtpCommand {
  const words = line.replace(/"/g, '').split(' ');
  const directive = words[0]!.trim().toUpperCase();
  const flagsAllowed = !NO_FLAG_DIRECTIVES.has(directive);
  const arg: string[] = [];
  const flags: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (flagsAllowed && FLAG_WORD.test(w)) flags.push(w);
    else arg.push(w);
  }
  return { directive, arg: arg.length ? arg.join(' ') : null, flags, raw: line };
}

/** The rest of a command line after its first space, as sent ('' when there is none): USER's name, PASS's password. */
function argOf(line: string): string {
  const i = line.indexOf(' ');
  return i < 0 ? '' : line.slice(i + 1);
}

/** What ftp-srv's reply() accepts as one letter: a message, or an object with message/code/raw/socket/encoding. */
interface Letter {
  message?: unknown;
  code?: number;
  raw?: boolean;
  socket?: net.Socket;
  encoding?: BufferEncoding;
}

function isThenable(x: unknown): boolean {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

/**
 * ftp-srv 4.6.3's FtpConnection.reply() (src/connection.js) with the same arguments and bytes, minus its promise
 * pipeline: `options` is a code or `{ code, socket, eol, useEmptyMessage }`, each letter a string or a Letter;
 * a letter without a message gets ftp-srv's default text for the code; multi-line replies use `code-` on every
 * line but the last. The lines for one socket go out in one write (one syscall, not one per line). Resolves once
 * the write is done; never rejects (ftp-srv logs a failed or impossible write and resolves too). Letters or
 * messages that are promises are handed to ftp-srv's own reply(), `original`.
 * Why: ftp-srv's reply() builds ~10 bluebird promises per reply (Promise.map + mapSeries) and calls
 * `socket.address()` (a getsockname syscall) for a trace line even when tracing is off; per OTA session that was
 * the largest share of ftp-srv's CPU after the write itself (BENCHMARKS.md, "The fast path").
 */
function fastReply(conn: FtpConnectionInternals, original: FtpConnectionInternals['reply'],
                   options: number | Record<string, unknown> | undefined, letters: unknown[]): PromiseLike<unknown> {
  const opts: Record<string, unknown> = typeof options === 'number' ? { code: options } : (options ?? {});
  const list = letters.length ? letters : [{}];
  for (const l of list) {
    if (isThenable(l) || (l && typeof l === 'object' && isThenable((l as Letter).message))) return original(options ?? {}, ...letters);
  }
  const code = opts.code as number | undefined;
  const writes: Array<{ socket: net.Socket; encoding: BufferEncoding | undefined; text: string }> = [];
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const letter: Letter = !raw ? {} : typeof raw === 'string' ? { message: raw } : (raw as Letter);
    const socket = letter.socket ?? (opts.socket as net.Socket | undefined) ?? conn.commandSocket;
    let encoding = letter.encoding;
    let line: string;
    if (opts.useEmptyMessage) line = '';
    else {
      const message = letter.message || (code !== undefined && DEFAULT_MESSAGE[code]) || 'No information';
      encoding ||= (conn as unknown as { encoding?: BufferEncoding }).encoding;
      const last = Object.hasOwn(opts, 'eol') ? Boolean(opts.eol) : i === list.length - 1;
      const lineCode = letter.code || code;
      line = letter.raw ? String(message) : lineCode ? `${lineCode}${last ? ' ' : '-'}${message}` : String(message);
    }
    const prev = writes[writes.length - 1];
    if (prev && prev.socket === socket && prev.encoding === encoding) prev.text += `${line}\r\n`;
    else writes.push({ socket, encoding, text: `${line}\r\n` });
  }
  return new Bluebird<void>((resolve) => {
    let pending = writes.length;
    const done = () => {
      if (--pending === 0) resolve();
    };
    for (const w of writes) {
      if (!w.socket || !w.socket.writable) {
        done();
        continue;
      }
      w.socket.write(w.text, w.encoding ?? 'utf8', done);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** Longest command line by default, bytes. */
export const MAX_COMMAND_BYTES = 4096;
/**
 * Commands (and their bytes) queued behind the running one before firmdrop stops reading the control socket until
 * the queue drains (TCP flow control, no disconnect). With the line cap this bounds a connection's command memory
 * to about one socket read (64 KiB) plus these.
 */
const MAX_QUEUED_COMMANDS = 32;
const MAX_QUEUED_BYTES = 16 * 1024;
// The real pause/resume: the per-socket `pause` is made a no-op for ftp-srv (see attach()).
const pauseSocket = net.Socket.prototype.pause;
const resumeSocket = net.Socket.prototype.resume;
const KEEPALIVE_MS = 60_000;
/**
 * How long a passive listener keeps its port for sure, ms. Past that, it is closed when every port of the range is
 * held and another PASV needs one (PassivePortPool.listen).
 */
const PASSIVE_RECLAIM_MS = 5_000;
/** Listen queue of the control port and of passive listeners (connections not yet accepted). */
const LISTEN_BACKLOG = 4096;
/** How long a socket we closed may take to finish its FIN handshake before it is destroyed, ms. */
const CLOSE_GRACE_MS = 2_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
/** FEAT lines (stack.md #11: ftp-srv lists neither EPSV nor REST). Same set as vsftpd's, without TVFS. */
export const FEATURES: readonly string[] = ['EPRT', 'EPSV', 'MDTM', 'PASV', 'REST STREAM', 'SIZE', 'UTF8'];
/** FEAT lines added when TLS is configured (RFC 4217 §6). */
export const TLS_FEATURES: readonly string[] = ['AUTH TLS', 'PBSZ', 'PROT'];
/** Failed logins on one connection before it is closed (brute force, issue 5 item 4). */
export const MAX_LOGIN_FAILURES = 3;
/** Control characters have no place in a command line; a CR or NUL inside one could forge reply lines. */
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;
/** Commands that would change the root: refused with 550 once logged in (issue 2 item 5). */
const WRITE_COMMANDS = new Set(['STOR', 'APPE', 'STOU', 'DELE', 'RNFR', 'RNTO', 'MKD', 'XMKD', 'RMD', 'XRMD', 'SITE']);
/** Commands HELP lists: ftp-srv's, less the refused write commands. */
const HELP_COMMANDS: readonly string[] = Object.keys(COMMAND_REGISTRY).filter((c) => !WRITE_COMMANDS.has(c)).sort();
/** HELP's list, eight commands per line (each line starts with a space: no line can look like a reply code). */
const HELP_LINES = Array.from({ length: Math.ceil(HELP_COMMANDS.length / 8) }, (_, i) => ({
  message: ` ${HELP_COMMANDS.slice(i * 8, i * 8 + 8).join(' ')}`, raw: true,
}));

/** A bunyan-shaped logger that drops everything (ftp-srv calls child() per connection and per command). */
const QUIET_LOG: Record<string, unknown> = {};
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) QUIET_LOG[m] = () => undefined;
QUIET_LOG.child = () => QUIET_LOG;

/** An IP without the IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4` → `1.2.3.4`). */
function plainIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/** Sets TCP_NODELAY and keep-alive on a socket, connected or not (stack.md: Nagle made a session 92 ms → 7 ms). */
function tuneSocket(socket: net.Socket): void {
  try {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
  } catch {
    // a socket already destroyed: nothing to tune
  }
}

/** Ends a socket politely, then destroys it if the peer does not finish closing within CLOSE_GRACE_MS. */
function endSocket(socket: net.Socket, lastLine?: string): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume(); // read (and drop) what the peer still sends, so its FIN is seen
  try {
    if (lastLine !== undefined) socket.end(`${lastLine}\r\n`);
    else socket.end();
  } catch {
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Passive data connections (stack.md #2, #4)

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

/** A port taken from the pool; `release` is idempotent. */
interface PortLease {
  port: number;
  release(): void;
}

/**
 * Passive ports: listens a server on a free port of [min, max], trying every port of the range at most once per
 * request from a random start (ftp-srv tries 5 and then answers `400 Unable to find valid port`, stack.md #2),
 * and never handing out a port one of our own listeners holds. A port returns to the pool as soon as its listener
 * closes, which happens when the client's data connection arrives (the accepted socket keeps working).
 * Why random: devices behind one carrier NAT share an IP address, so the address check on the data connection
 * (FirmdropPassive.#accept) cannot tell them apart; with sequential ports a neighbour could guess the next port
 * and connect first ("port stealing", RFC 2577 §8). A random port out of the range has to be found by scanning.
 */
class PassivePortPool {
  /** Ports held: since when (ms epoch), and how to take the port back from its listener (set once listening). */
  readonly #held = new Map<number, { since: number; reclaim?: () => void }>();

  constructor(
    private readonly host: string,
    private readonly min?: number,
    private readonly max?: number,
  ) {}

  /**
   * Listens `server` on a free port of the range; rejects when none is free. Ports are always chosen here, never
   * with bind(0): under load (tens of thousands of transfers a minute leave as many TIME_WAIT sockets) the kernel's
   * own search for an ephemeral port fails with EADDRINUSE, and before that it is slow (measured: 42% of the
   * server's CPU at C=50 after a polling storm). An explicit bind is cheap and succeeds on a port that only has
   * TIME_WAIT sockets, because Node listens with SO_REUSEADDR.
   * A port is taken (held) before the asynchronous listen starts: concurrent requests then never try the same
   * port. (With a shared starting point they used to, while the first listen was in flight: at C=1000 the bench
   * counted 1.5 failed listen() per PASV, ~10 % of the CPU.)
   * When every port of the range is held, listeners that have waited PASSIVE_RECLAIM_MS or more for their data
   * connection are closed first (`reclaim`, which answers a command waiting on one with 425): a device connects
   * within a round trip of its PASV, so such listeners belong to clients that will not connect, and without this
   * a few sessions sending PASV without connecting would lock every device out of a small `--pasv-range`.
   */
  async listen(server: net.Server, reclaim: () => void): Promise<PortLease> {
    const min = this.min ?? DEFAULT_PASV_RANGE[0];
    const max = this.max ?? DEFAULT_PASV_RANGE[1];
    const span = max - min + 1;
    if (this.#held.size >= span) this.#reclaimStale(Date.now() - PASSIVE_RECLAIM_MS);
    const start = randomInt(span);
    for (let tried = 0; tried < span && this.#held.size < span; tried++) {
      const port = min + ((start + tried) % span);
      if (this.#held.has(port)) continue;
      const holder: { since: number; reclaim?: () => void } = { since: Date.now() };
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
      let released = false;
      return {
        port,
        release: () => {
          if (released) return;
          released = true;
          this.#held.delete(port);
        },
      };
    }
    throw new Error('no free passive port');
  }

  /** Closes the listeners that have held their port since `cutoff` (ms epoch) or longer. */
  #reclaimStale(cutoff: number): void {
    for (const h of [...this.#held.values()]) if (h.reclaim && h.since <= cutoff) h.reclaim();
  }

  /** Ports held by open listeners (for tests and status). */
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

/**
 * Commands (RETR, LIST, NLST) waiting for a connector's data connection. Each waits with its own timeout (then
 * bluebird's TimeoutError, which the commands answer with 425); all are settled together when the connection
 * arrives, fails, or is given up (ABOR, a new PASV, the end of the session).
 */
class DataWaiters {
  #list: Array<{ resolve: (s: net.Socket) => void; reject: (e: unknown) => void }> = [];

  /** A bluebird promise of the data socket; rejects with TimeoutError after `timeoutMs` ms. */
  wait(timeoutMs: number): PromiseLike<net.Socket> {
    return new Bluebird<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#list = this.#list.filter((w) => w !== waiter);
        reject(new Bluebird.TimeoutError('Data connection timed out'));
      }, timeoutMs);
      timer.unref();
      const waiter = {
        resolve: (s: net.Socket) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#list.push(waiter);
    });
  }

  resolveAll(socket: net.Socket): void {
    for (const w of this.#list.splice(0)) w.resolve(socket);
  }

  /** Fails every waiting command (→ 425, or 426 after ABOR); returns how many there were. */
  rejectAll(message: string): number {
    const list = this.#list.splice(0);
    for (const w of list) w.reject(new Bluebird.TimeoutError(message));
    return list.length;
  }
}

/** A bluebird promise already settled with `socket`, or rejected with TimeoutError(`failure`). */
function settled(socket: net.Socket | undefined, failure: string): PromiseLike<net.Socket> {
  return new Bluebird<net.Socket>((resolve, reject) => (socket ? resolve(socket) : reject(new Bluebird.TimeoutError(failure))));
}

/** firmdrop's connectors can give up a command's wait for the data connection (ABOR). */
interface AbortableConnector {
  /** Fails the commands waiting for the data connection; true if there were any. */
  abortWait(): boolean;
}

/**
 * ftp-srv connector for PASV/EPSV that replaces its Passive connector (stack.md #2): the listener comes from the
 * port pool, closes the moment the data connection arrives (or after `waitMs` without one, ftp-srv keeps it
 * 30 s whatever happens), refuses a data connection from an address other than the control connection's
 * (stack.md #4), and waitForConnection() is event-driven instead of polling every 50 ms for 5 s.
 */
class FirmdropPassive extends BaseConnector {
  #lease: PortLease | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #waiters = new DataWaiters();

  constructor(
    connection: FtpConnectionInternals,
    private readonly ctx: {
      pool: PassivePortPool; waitMs: number; onDataSocket: (s: net.Socket) => void; log: Logger;
      /** Set after AUTH TLS: the data connection is TLS too (ftp-srv's PROT accepts only P). */
      secureContext?: tls.SecureContext;
    },
  ) {
    super(connection);
    this.type = 'passive';
  }

  /** Opens the listener; resolves with its port. */
  async listen(): Promise<number> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    server.on('error', (err) => this.ctx.log.debug({ err: err.message }, 'passive listener error'));
    server.on('connection', (socket) => this.#accept(socket));
    this.dataServer = server;
    try {
      this.#lease = await this.ctx.pool.listen(server, () => {
        this.ctx.log.info('passive port reclaimed: no data connection came and every port was in use');
        this.closeServer();
      });
    } catch (err) {
      this.dataServer = null;
      throw err;
    }
    if (this.dataServer !== server) {
      // ended while we were finding a port
      server.close();
      this.#lease.release();
      throw new Error('data connector ended');
    }
    this.#timer = setTimeout(() => this.closeServer(), this.ctx.waitMs);
    this.#timer.unref();
    return this.#lease.port;
  }

  #accept(socket: net.Socket & { connected?: boolean }): void {
    socket.on('error', (err) => this.ctx.log.debug({ err: err.message }, 'data socket error'));
    const from = plainIp(socket.remoteAddress);
    if (!from) {
      // Reset by the peer before it was accepted: Node no longer knows its address, so it cannot be checked or
      // used. A command already waiting for it fails now (425) rather than after passiveWaitMs; otherwise the
      // listener stays open for the client to connect again.
      socket.destroy();
      if (!this.dataSocket && this.#waiters.rejectAll('Data connection reset') > 0) {
        this.ctx.log.debug('data connection reset before it was accepted');
      }
      return;
    }
    const expected = plainIp(this.connection.commandSocket.remoteAddress);
    if (this.dataSocket || from !== expected) {
      this.ctx.log.warn({ from }, 'data connection from another address refused');
      socket.destroy();
      return;
    }
    // curl starts the data channel's TLS handshake only after the 150 reply: hand the TLS socket over at once
    // (writes wait for the handshake) rather than wait for it as ftp-srv's passive connector does.
    const data: net.Socket & { connected?: boolean } = this.ctx.secureContext
      ? new tls.TLSSocket(socket, { isServer: true, secureContext: this.ctx.secureContext })
      : socket;
    if (data !== socket) data.on('error', (err) => this.ctx.log.debug({ err: err.message }, 'data TLS error'));
    this.dataSocket = data;
    data.connected = true;
    this.ctx.onDataSocket(data);
    this.closeServer(); // the port goes back to the pool now; the accepted socket lives on
    this.#waiters.resolveAll(data);
  }

  /** Resolves with the data socket once connected; rejects with bluebird's TimeoutError after `timeout` ms (→ 425). */
  waitForConnection({ timeout = this.ctx.waitMs }: { timeout?: number } = {}): PromiseLike<net.Socket> {
    const ds = this.dataSocket;
    if (ds && ds.connected && !ds.destroyed) return settled(ds, '');
    if (!this.dataServer) return settled(undefined, 'No data connection');
    return this.#waiters.wait(timeout);
  }

  abortWait(): boolean {
    return this.#waiters.rejectAll('Data connection aborted') > 0;
  }

  override closeServer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.dataServer) {
      this.dataServer.close();
      this.dataServer = null;
    }
    this.#lease?.release();
    if (!this.dataSocket) this.#waiters.rejectAll('No data connection');
  }

  override end(): void {
    this.#waiters.rejectAll('Data connection closed');
    super.end();
  }
}

/**
 * ftp-srv connector for PORT/EPRT that replaces its Active connector (stack.md #4): connects at once to a target
 * that active-target.ts parsed and checked (the client's own host, a port >= 1024), with TCP_NODELAY and
 * keep-alive. waitForConnection() is event-driven (ftp-srv polled every 250 ms for 5 s, adding up to 250 ms to
 * each transfer) and fails as soon as the connection does (→ 425).
 */
class FirmdropActive extends BaseConnector {
  readonly #waiters = new DataWaiters();

  constructor(
    connection: FtpConnectionInternals,
    private readonly ctx: { target: ActiveTarget; waitMs: number; onDataSocket: (s: net.Socket) => void; log: Logger },
  ) {
    super(connection);
    this.type = 'active';
  }

  /** Starts connecting to the target; gives up after `waitMs`. */
  connect(): void {
    const { host, port, family } = this.ctx.target;
    const socket: net.Socket & { connected?: boolean } = net.connect({
      host, port, family, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS,
    });
    socket.on('error', (err) => this.ctx.log.debug({ err: err.message }, 'active data connection error'));
    this.dataSocket = socket;
    this.ctx.onDataSocket(socket);
    const timer = setTimeout(() => socket.destroy(), this.ctx.waitMs);
    timer.unref();
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.connected = true;
      this.#waiters.resolveAll(socket);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!socket.connected) this.#waiters.rejectAll('Data connection failed');
    });
  }

  waitForConnection({ timeout = this.ctx.waitMs }: { timeout?: number } = {}): PromiseLike<net.Socket> {
    const ds = this.dataSocket;
    if (!ds || ds.destroyed) return settled(undefined, 'Data connection failed');
    if (ds.connected) return settled(ds, '');
    return this.#waiters.wait(timeout);
  }

  abortWait(): boolean {
    return this.#waiters.rejectAll('Data connection aborted') > 0;
  }

  override end(): void {
    this.#waiters.rejectAll('Data connection closed');
    super.end();
  }
}

/** Gives up the wait for a data connection of `conn`'s connector, if one is waited for (ABOR). */
function abortDataWait(conn: FtpConnectionInternals): boolean {
  const c = conn.connector as Partial<AbortableConnector> | undefined;
  return typeof c?.abortWait === 'function' ? c.abortWait() : false;
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions

const TOO_LONG = Symbol('too long');
type QueueItem = string | typeof TOO_LONG;

interface Session {
  conn: FtpConnectionInternals;
  socket: net.Socket;
  address: string;
  log: SessionLog;
  partial: Buffer[];
  partialBytes: number;
  discarding: boolean;
  queue: QueueItem[];
  queuedBytes: number;
  /** Reading stopped because the queue is full. */
  throttled: boolean;
  busy: boolean;
  /** closeSession() ran: no further command is read or run. */
  ending: boolean;
  /** The control socket closed (detach() ran). */
  gone: boolean;
  closing: boolean;
  endReason?: string;
  idle: NodeJS.Timeout;
  fetch?: FetchLog;
  /** The RETR in progress: ABOR, shutdown and a vanished client stop it with destroy(). */
  stream?: Transfer;
  dataSockets: Set<net.Socket>;
  failedLogins: number;
  /** ABOR arrived during a RETR or LIST (or its wait for the data connection): its reply is 426, ABOR's 226. */
  aborting: boolean;
  /** EPSV ALL was sent: PASV, PORT and EPRT are refused from now on (RFC 2428 §4). */
  epsvAll: boolean;
  /** The client half-closed (sent FIN): the queued commands are answered, then the connection is closed. */
  peerEnded: boolean;
  /** Closes the connection unless it logs in first (FtpOptions.loginTimeoutMs). */
  loginTimer?: NodeJS.Timeout;
  /** Replies sent so far: tells whether a command whose ftp-srv handler threw was answered. */
  replies: number;
}

/**
 * Removes telnet commands (RFC 854 IAC sequences, e.g. the IAC IP IAC DM some clients send before ABOR) from a
 * command line; `IAC IAC` stays as one 0xFF byte.
 */
function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(0xff)) return line;
  const out: number[] = [];
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== 0xff) {
      out.push(b);
      continue;
    }
    const cmd = line[i + 1];
    if (cmd === 0xff) out.push(0xff);
    i += cmd !== undefined && cmd >= 0xfb && cmd <= 0xfe ? 2 : 1; // WILL/WONT/DO/DONT carry an option byte
  }
  return Buffer.from(out);
}

/**
 * Starts the FTP server. Resolves once listening; rejects when the root is not a readable folder, an option is
 * invalid (message names it), or the port cannot be bound.
 */
export async function startFtp(opts: FtpOptions, logger: Logger): Promise<FtpHandle> {
  checkFtpSrvInternals();
  validateOptions(opts);
  const rootStat = await fsp.stat(opts.root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new Error(`FTP root is not a folder: ${opts.root}`);
  const realRoot = await fsp.realpath(opts.root);

  const idleMs = opts.idleTimeoutMs ?? 300_000;
  const loginMs = opts.loginTimeoutMs ?? 60_000;
  const maxConnections = opts.maxConnections ?? 10_000;
  const maxPerAddress = opts.maxPerAddress ?? Infinity;
  const maxLine = opts.maxCommandBytes ?? MAX_COMMAND_BYTES;
  const passiveWaitMs = opts.passiveWaitMs ?? 30_000;
  const pool = new PassivePortPool(opts.host, opts.pasvMin, opts.pasvMax);
  // One context for every TLS data connection (the ticket keys in opts.tls let clients resume the control session).
  const dataTls = opts.tls ? tls.createSecureContext(opts.tls) : undefined;
  // Which release each client address last read in UPGRADE.TXT, so a device fetching the binary in a later
  // session is served the snapshot its manifest named (device-fs.ts, ManifestPins). One table per server.
  const pins = new ManifestPins();
  // Failed logins per client address, across connections: each failure's 530 waits longer (login-throttle.ts).
  const loginThrottle = new LoginThrottle(opts.loginThrottle);
  // Offered snapshots are immutable: their bytes are read once and shared by every RETR (offered.ts, SnapshotCache).
  const snapshotCache = new SnapshotCache();
  const log = logger.child({ component: 'ftp' });

  // stack.md #6: every `new FtpSrv()` adds SIGINT/SIGTERM/SIGQUIT listeners that call process.exit(0). Remove
  // exactly the ones the constructor added; shutting down on signals is the CLI's job (it calls close()).
  const before = new Map(SIGNALS.map((sig) => [sig, new Set(process.listeners(sig))]));
  const urlHost = net.isIPv6(opts.host) ? `[${opts.host}]` : opts.host;
  const srv = new FtpSrv({
    url: `ftp://${urlHost}:${opts.port}`,
    anonymous: false, // anonymous logins go through the 'login' listener like every other (users.ts)
    file_format: formatListLine, // stack.md #11 / waspmote-ota.md §2: the 5th field is the size
    timeout: 0, // stack.md #3: ftp-srv's timeout would cut slow transfers; firmdrop measures idleness itself
    // ftp-srv logs every refused command at error level and makes a child logger per connection and per command;
    // firmdrop logs what matters itself, so ftp-srv gets a logger that does nothing unless tracing.
    log: logger.isLevelEnabled('trace') ? logger.child({ component: 'ftp-srv' }) : QUIET_LOG,
    tls: opts.tls ?? false, // ftp-srv's AUTH/PBSZ/PROT; without it AUTH TLS gets 502
  });
  for (const sig of SIGNALS) {
    for (const l of process.listeners(sig)) if (!before.get(sig)!.has(l)) process.removeListener(sig, l as (...a: unknown[]) => void);
  }

  // stack.md #7: ftp-srv's disconnectClient() arms a 1 s timer per disconnect that is never cleared and keeps the
  // process alive. Same job without the timer.
  srv.disconnectClient = (id: string) => {
    const c = srv.connections[id];
    delete srv.connections[id];
    if (c) {
      try {
        void c.close(0);
      } catch {
        // already closed
      }
    }
    return Bluebird.resolve();
  };

  const sessions = new Set<Session>();
  const byConnection = new WeakMap<object, Session>();
  const perAddress = new Map<string, number>();
  let accepted = 0;
  let closing = false;
  let onSessionGone: (() => void) | undefined;

  srv.on('server-error', ({ error }: { error: Error }) => log.error({ err: error.message }, 'FTP server error'));
  // The server never crashes on what a client sends: socket errors are expected (resets, timeouts).
  srv.on('client-error', ({ context, error }: { context: string; error: Error }) =>
    log.debug({ context, err: error?.message }, 'client socket error'),
  );

  // ---- connection gate: limits (issue 5 item 3), TCP_NODELAY and keep-alive (stack.md: Nagle; #3 vanished devices)
  const netServer = srv.server;
  const ftpSrvAccept = netServer.listeners('connection');
  if (ftpSrvAccept.length !== 1) throw new Error('ftp-srv internals changed: expected one connection listener');
  if (!Array.isArray(srv._greeting) || typeof srv._features !== 'string' || typeof srv.connections !== 'object') {
    throw new Error('ftp-srv internals changed: FtpSrv lacks _greeting, _features or connections (handOver() needs review)');
  }
  netServer.removeAllListeners('connection');
  // A client may send its last commands and a FIN at once (`printf 'USER..\r\nQUIT\r\n' | nc`, or a modem
  // closing its write side): with Node's default, the socket is ended at the FIN and the replies still owed are
  // lost. Half-open sockets stay writable; onPeerEnd() closes each once its queued commands are answered.
  (netServer as net.Server & { allowHalfOpen: boolean }).allowHalfOpen = true;
  // stack.md #11: ftp-srv sets no limit. Our own checks answer 421; this is only a hard backstop.
  netServer.maxConnections = maxConnections + 64;
  netServer.on('connection', (socket: net.Socket) => {
    socket.on('error', () => undefined); // errors before ftp-srv attaches its own handler
    const address = plainIp(socket.remoteAddress);
    if (closing || !address) {
      socket.destroy();
      return;
    }
    const fromAddress = perAddress.get(address) ?? 0;
    if (accepted >= maxConnections || fromAddress >= maxPerAddress) {
      log.warn({ address, connections: accepted, fromAddress }, 'connection refused: too many connections');
      endSocket(socket, '421 Too many connections');
      return;
    }
    accepted++;
    perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      accepted--;
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n > 0) perAddress.set(address, n);
      else perAddress.delete(address);
    });
    tuneSocket(socket);
    handOver(socket); // → ftp-srv's connection, 'connect' → attach(), 220
  });

  srv.on('connect', ({ connection }: { connection: FtpConnectionInternals }) => attach(connection));

  /**
   * ftp-srv's serverConnectionHandler (src/index.js), step for step: a new FtpConnection on the socket, registered
   * in `srv.connections`, removed at close, the 'connect' event (→ attach()), then the 220 greeting and resume().
   * ftp-srv also counted its connections with `Object.keys(this.connections)` at every connect and disconnect, a
   * copy of every connection id twice per session (O(n) each: at C=1000, two arrays of 1,000 strings per session);
   * the count given here is firmdrop's own. The socket timeout it set is 0 here (firmdrop measures idleness).
   */
  function handOver(socket: net.Socket): void {
    const connection = new FtpConnection(srv, { log: srv.log, socket });
    srv.connections[connection.id] = connection;
    socket.once('close', () => void srv.disconnectClient(connection.id));
    srv.emit('connect', { connection, id: connection.id, newConnectionCount: accepted });
    void connection.reply(220, ...srv._greeting, srv._features).then(() => socket.resume());
  }

  /**
   * Checks a USER/PASS pair for session `s` (users.ts). Accepted: the connection is logged in with its read-only
   * DeviceFileSystem and true is returned. Refused: the failure is counted (per connection: MAX_LOGIN_FAILURES
   * closes it; per address: loginThrottle) and logged with its delay, and false is returned after that delay
   * (0.5 s for the first failures of an address, then doubling up to 30 s with the defaults). Only the failing
   * connection waits: other devices behind the same address (carrier NAT) log in at full speed.
   */
  async function logIn(s: Session, username: string, password: string): Promise<boolean> {
    const conn = s.conn;
    const who = checkLogin({ users: opts.users, anonymous: opts.anonymous }, username, password);
    if (!who) {
      s.failedLogins++;
      const delayMs = loginThrottle.failed(s.address);
      s.log.loginRefused(username, { failures: loginThrottle.failures(s.address), delayMs });
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      return false;
    }
    loginThrottle.succeeded(s.address);
    clearTimeout(s.loginTimer);
    s.log.login(who.user, who.anonymous);
    conn.fs = new DeviceFileSystem(conn, {
      root: opts.root, realRoot, pins, clientIp: s.address, snapshotCache,
    });
    conn.authenticated = true;
    return true;
  }

  // ftp-srv calls this only from its own USER/PASS handlers, which runCommand() replaces; kept so that any other
  // path into ftp-srv's login() gets the same policy.
  srv.on(
    'login',
    (
      { connection, username, password }: { connection: FtpConnectionInternals; username: string; password: string },
      resolve: (r: { fs: DeviceFileSystem }) => void,
      reject: (e: Error) => void,
    ) => {
      const s = byConnection.get(connection);
      if (!s) {
        reject(new Error('Login incorrect'));
        return;
      }
      logIn(s, String(username ?? ''), String(password ?? '')).then(
        (ok) => (ok ? resolve({ fs: connection.fs! }) : reject(new Error('Login incorrect'))),
        reject,
      );
    },
  );

  /** Takes over a new ftp-srv connection: line buffer, idle timer, session log. */
  function attach(conn: FtpConnectionInternals): void {
    const socket = conn.commandSocket;
    // stack.md #1: ftp-srv's `_handleData` splits each TCP chunk on CRLF and runs the pieces, so a command split
    // across segments (`SI` + `ZE f\r\n`) becomes two bad commands. Replace that handler with a line buffer.
    const hooks = socket.listeners('data').filter((l) => l.name === 'bound _handleData');
    if (hooks.length !== 1) {
      log.error('ftp-srv internals changed: no _handleData listener; closing connection');
      endSocket(socket, '421 Service not available');
      return;
    }
    socket.removeListener('data', hooks[0] as (...a: unknown[]) => void);
    const address = plainIp(socket.remoteAddress);
    const idle = setTimeout(() => onIdle(s), idleMs);
    idle.unref();
    const s: Session = {
      conn,
      socket,
      address,
      log: new SessionLog(logger, conn.id, address),
      partial: [],
      partialBytes: 0,
      discarding: false,
      queue: [],
      queuedBytes: 0,
      throttled: false,
      busy: false,
      ending: false,
      gone: false,
      closing,
      idle,
      dataSockets: new Set(),
      failedLogins: 0,
      aborting: false,
      epsvAll: false,
      peerEnded: false,
      replies: 0,
    };
    s.loginTimer = setTimeout(() => onLoginTimeout(s), Math.min(loginMs, idleMs));
    s.loginTimer.unref();
    sessions.add(s);
    byConnection.set(conn, s);
    // ftp-srv pauses the control socket during RETR/LIST/STOR, so ABOR is never read (stack.md #8). Commands are
    // queued and run one at a time here anyway, so keep reading: ABOR can then stop a transfer.
    socket.pause = () => socket;
    const original = conn.reply.bind(conn);
    conn.reply = (options, ...letters) => {
      s.replies++;
      return fastReply(conn, original, options, letters);
    };
    socket.on('data', (chunk: Buffer) => onData(s, chunk));
    socket.once('end', () => onPeerEnd(s));
    socket.once('close', () => detach(s));
  }

  /**
   * The client sent FIN: answer what is queued, then close (see allowHalfOpen above). A FIN while a transfer is
   * in progress is a client that left (no FTP client half-closes while it waits for a 226): the transfer stops
   * and the connection closes at once, as a vanished device's (stack.md #9).
   */
  function onPeerEnd(s: Session): void {
    if (s.peerEnded) return;
    s.peerEnded = true;
    if (s.stream) {
      s.endReason ??= 'client closed';
      s.stream.destroy(new Error('control connection closed'));
      closeSession(s);
      return;
    }
    pump(s);
  }

  /** FtpOptions.loginTimeoutMs: a connection that has not logged in by now is closed. */
  function onLoginTimeout(s: Session): void {
    if (s.gone || s.conn.authenticated) return;
    s.endReason = 'login timeout';
    closeSession(s, '421 Login timeout, closing control connection');
  }

  /** Splits received bytes into command lines (LF or CRLF); caps a line at `maxLine` bytes. */
  function onData(s: Session, chunk: Buffer): void {
    if (s.gone || s.ending) return;
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      if (nl < 0) {
        if (!s.discarding && piece.length) {
          s.partial.push(piece);
          s.partialBytes += piece.length;
          if (s.partialBytes > maxLine) {
            // Never buffer without bound: answer 500 now, drop the rest of the line up to its LF.
            s.partial = [];
            s.partialBytes = 0;
            s.discarding = true;
            enqueue(s, TOO_LONG);
          }
        }
        break;
      }
      start = nl + 1;
      if (s.discarding) {
        s.discarding = false;
        continue;
      }
      const raw = s.partial.length ? Buffer.concat([...s.partial, piece]) : piece;
      s.partial = [];
      s.partialBytes = 0;
      if (raw.length > maxLine) {
        enqueue(s, TOO_LONG);
        continue;
      }
      let end = raw.length;
      if (end > 0 && raw[end - 1] === 0x0d) end--;
      const line = stripTelnet(raw.subarray(0, end)).toString('utf8');
      if (line.trim() === '') continue; // ftp-srv ignored empty lines too
      if (s.busy && /^\s*ABOR\s*$/i.test(line) && (s.stream || abortDataWait(s.conn))) {
        // ABOR during a RETR or LIST, or while it waits for its data connection: stop it now; ABOR is answered
        // right after the command's 426.
        s.aborting = true;
        s.stream?.destroy(new Error('Transfer aborted'));
        s.queue.unshift(line);
        s.queuedBytes += line.length;
        continue;
      }
      enqueue(s, line);
    }
    pump(s);
  }

  function enqueue(s: Session, item: QueueItem): void {
    if (s.ending) return;
    // Idle time runs from the last complete command line, not the last byte: a client trickling a line that
    // never ends (slowloris) is idle.
    s.idle.refresh();
    s.queue.push(item);
    s.queuedBytes += typeof item === 'string' ? item.length : 0;
    // checked every time: ftp-srv's own resume() after a transfer may have restarted reading
    if (s.queue.length >= MAX_QUEUED_COMMANDS || s.queuedBytes >= MAX_QUEUED_BYTES) {
      s.throttled = true;
      pauseSocket.call(s.socket);
    }
  }

  /** Runs queued commands one at a time, in order (ftp-srv ran the lines of different TCP chunks concurrently). */
  function pump(s: Session): void {
    if (s.busy || s.gone || s.ending) return;
    if (s.closing) {
      s.endReason ??= 'server shutdown';
      closeSession(s, '421 Server shutting down');
      return;
    }
    const item = s.queue.shift();
    if (item === undefined) {
      if (s.peerEnded) {
        s.endReason ??= 'client closed';
        closeSession(s);
      }
      return;
    }
    if (typeof item === 'string') s.queuedBytes -= item.length;
    if (s.throttled && s.queue.length < MAX_QUEUED_COMMANDS / 2 && s.queuedBytes < MAX_QUEUED_BYTES / 2) {
      s.throttled = false;
      resumeSocket.call(s.socket);
    }
    s.busy = true;
    Promise.resolve()
      .then(() => runCommand(s, item))
      .catch((err: unknown) => s.log.log.debug({ err: (err as Error)?.message }, 'command failed'))
      .finally(() => {
        s.busy = false;
        if (!s.gone) s.idle.refresh();
        pump(s);
      });
  }

  /** stack.md #3: idle = no command received and no transfer byte moved for idleMs. */
  function onIdle(s: Session): void {
    if (s.gone) return;
    s.endReason = 'idle timeout';
    closeSession(s, '421 Idle timeout, closing control connection');
  }

  /** Sends a last reply (if any) and closes the control connection. */
  function closeSession(s: Session, lastLine?: string): void {
    if (s.gone || s.ending) return;
    s.ending = true;
    s.queue = [];
    s.queuedBytes = 0;
    endSocket(s.socket, lastLine);
  }

  /** The control connection closed: end the fetch and the log, release everything the session held. */
  function detach(s: Session): void {
    if (s.gone) return;
    s.gone = true;
    clearTimeout(s.idle);
    clearTimeout(s.loginTimer);
    s.queue = [];
    const transferring = s.stream !== undefined;
    s.fetch?.end('cut short', 'control connection closed');
    s.stream?.destroy();
    for (const d of s.dataSockets) {
      if (transferring) {
        d.destroy(); // the device is gone: stop sending
        continue;
      }
      // A data socket still flushing a completed transfer may finish; one that never drains is destroyed later.
      const t = setTimeout(() => d.destroy(), idleMs);
      t.unref();
      d.once('close', () => clearTimeout(t));
    }
    sessions.delete(s);
    s.log.end(s.endReason ?? 'client closed');
    onSessionGone?.();
  }

  function trackDataSocket(s: Session, d: net.Socket): void {
    if (s.dataSockets.has(d)) return;
    tuneSocket(d);
    d.on('error', () => undefined);
    s.dataSockets.add(d);
    d.once('close', () => s.dataSockets.delete(d));
  }

  /**
   * Waits for the data connection of the current connector (passiveWaitMs at most). Resolves with it, or with
   * undefined after answering the command: 426 when ABOR gave up the wait, 425 when the connection never came or
   * failed.
   */
  async function dataConnection(s: Session): Promise<net.Socket | undefined> {
    const connector = s.conn.connector;
    try {
      return await connector.waitForConnection();
    } catch {
      connector.end();
      if (s.aborting) await s.conn.reply(426, 'Connection closed; transfer aborted');
      else await s.conn.reply(425, 'No connection established');
      return undefined;
    }
  }

  /**
   * Sends `src` on the data connection `data` as RFC 959 orders it: 150, the bytes, the data connection closed,
   * then 226 (`okText`) — the order vsftpd uses, so a modem that waits for the data socket's close sees every
   * byte first. A data connection that closes or fails first, or ABOR, gives 426; a local read error 451.
   * `onProgress(bytes)` sees each chunk; the idle timer is refreshed as bytes move, so a slow device is never idle
   * while its transfer progresses (stack.md #3). `onEnd(failure)` runs when the bytes are done, before the final
   * reply (so the outcome is logged before the client can see it). Resolves after the final reply.
   */
  async function sendOnData(s: Session, data: net.Socket, src: TransferSource, okText: string | undefined,
                            onProgress: (bytes: number) => void, onEnd: (failure?: TransferError) => void): Promise<void> {
    const conn = s.conn;
    const connector = conn.connector;
    trackDataSocket(s, data);
    const transfer = sendBytes(data, src, (n) => {
      onProgress(n);
      if (!s.gone) s.idle.refresh();
    });
    s.stream = transfer;
    let failure: TransferError | undefined;
    try {
      await conn.reply(150);
      await transfer.done;
    } catch (err) {
      failure = err instanceof TransferError ? err : new TransferError(String((err as Error)?.message ?? err), false);
    } finally {
      if (s.stream === transfer) s.stream = undefined;
    }
    onEnd(failure);
    if (failure) {
      transfer.destroy(); // closes an fd source
      data.destroy();
      connector.end();
      await (failure.local
        ? conn.reply(451, 'Requested action aborted: local error in processing')
        : conn.reply(426, 'Connection closed; transfer aborted'));
      return;
    }
    connector.end(); // data.end(): FIN once every byte is flushed
    await (okText === undefined ? conn.reply(226) : conn.reply(226, okText));
  }

  /**
   * RETR on a prepared file (runCommand checked login, the file and the data connector): waits for the data
   * connection, then sendOnData() from the REST offset; logs the fetch (completed or cut short, bytes, ms).
   * Replaces ftp-srv's RETR handler, which wrapped the bytes in two more streams and a dozen promises and
   * waited forever when a data socket closed without an error (stack.md #9).
   */
  async function retr(s: Session, name: string): Promise<unknown> {
    const conn = s.conn;
    const data = await dataConnection(s);
    if (!data) {
      conn.restByteCount = 0;
      return undefined;
    }
    let src: RetrSource;
    try {
      src = await conn.fs!.openRetr(name, { start: conn.restByteCount });
    } catch {
      conn.connector.end();
      return conn.reply(550, MSG_NOT_FOUND);
    } finally {
      conn.restByteCount = 0;
    }
    const fetch = s.log.fetch(src.file, src.offset, src.size);
    s.fetch = fetch;
    await sendOnData(s, data, src, src.file, (n) => fetch.addBytes(n), (failure) => {
      if (s.fetch === fetch) s.fetch = undefined;
      if (failure) fetch.end('cut short', failure.message);
      else fetch.end('completed');
    });
    return undefined;
  }

  /**
   * LIST and NLST (RFC 959 §4.1.3): the entries of a folder, or the one line of a file, in the `ls -l` form
   * devices parse (device-fs.ts formatListLine: the 5th field is the size) or as bare names; sent like a RETR by
   * sendOnData(). Replaces ftp-srv's handler, which answered 226 even when the data connection had been reset
   * before the listing was written. A path that cannot be listed gives 451 with device-fs's generic message.
   */
  async function list(s: Session, cmd: FtpCommand): Promise<unknown> {
    const conn = s.conn;
    const data = await dataConnection(s);
    if (!data) return undefined;
    let bytes: Buffer;
    try {
      const fsys = conn.fs!;
      const where = cmd.arg || '.';
      const st = await fsys.get(where);
      const entries = st.isDirectory() ? await fsys.list(where) : [st];
      const text = entries.map((e) => `${cmd.directive === 'NLST' ? e.name : formatListLine(e)}\r\n`).join('');
      bytes = Buffer.from(text, (conn as unknown as { encoding?: BufferEncoding }).encoding ?? 'utf8');
    } catch (err) {
      conn.connector.end();
      return conn.reply(451, (err as Error)?.message || MSG_NOT_FOUND);
    }
    await sendOnData(s, data, { offset: 0, size: bytes.length, buffer: bytes }, undefined, () => undefined, () => undefined);
    return undefined;
  }

  function replyAuthFirst(s: Session): PromiseLike<unknown> {
    return s.conn.reply(530, 'Please login with USER and PASS');
  }

  /** The address for a 227 reply, or undefined when none can be given (IPv6 client without pasvUrl). */
  function pasvAddress(s: Session): string | undefined {
    const local = plainIp(s.socket.localAddress);
    const p = opts.pasvUrl;
    let address: string | undefined;
    if (typeof p === 'function') {
      try {
        address = p(s.address);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'pasvUrl function failed');
      }
    } else if (p && !isLoopback(s.address)) address = p;
    address ??= local;
    return net.isIPv4(address) ? address : undefined;
  }

  async function openPassive(s: Session, extended: boolean): Promise<unknown> {
    if (!s.conn.authenticated) return replyAuthFirst(s);
    const address = extended ? '' : pasvAddress(s);
    if (address === undefined) return s.conn.reply(425, 'Use EPSV');
    if (s.conn.connector?.type) s.conn.connector.end(); // one pending data connection per session
    const connector = new FirmdropPassive(s.conn, {
      pool,
      waitMs: passiveWaitMs,
      secureContext: s.conn.secure ? dataTls : undefined,
      onDataSocket: (d) => trackDataSocket(s, d),
      log: s.log.log,
    });
    s.conn.connector = connector;
    let port: number;
    try {
      port = await connector.listen();
    } catch (err) {
      s.log.log.warn({ err: (err as Error).message }, 'no passive port');
      if (s.conn.connector === connector) connector.end();
      return s.conn.reply(425, 'Can not open data connection');
    }
    if (extended) return s.conn.reply(229, `Entering Extended Passive Mode (|||${port}|)`);
    // stack.md #11: ftp-srv words it `227 PASV OK (...)`; the RFC 959 wording is what modem firmware expects.
    return s.conn.reply(227, `Entering Passive Mode (${address.replace(/\./g, ',')},${port >> 8},${port & 255})`);
  }

  /** Stat of a visible regular file, or undefined. */
  async function regularFile(s: Session, arg: string | null): Promise<{ size: number; mtime: Date } | undefined> {
    try {
      const st = await s.conn.fs!.get(arg ?? '');
      return st.isFile() ? st : undefined;
    } catch {
      return undefined;
    }
  }

  /** Dispatches one command line: firmdrop's overrides first, ftp-srv's handlers for the rest. */
  async function runCommand(s: Session, item: QueueItem): Promise<unknown> {
    const conn = s.conn;
    if (item === TOO_LONG) return conn.reply(500, 'Command line too long');
    // Never echo client bytes that could break reply framing (reply injection, issue 5 item 4).
    if (CONTROL_CHARS.test(item)) return conn.reply(500, 'Syntax error in command line');
    const cmd = parseCommand(item);
    const directive = cmd.directive;
    // ftp-srv answers `502 Command not allowed: <what the client sent>`; answer without the echo.
    if (!Object.hasOwn(COMMAND_REGISTRY, directive)) return conn.reply(502, 'Command not implemented');
    if (WRITE_COMMANDS.has(directive)) {
      // Read-only server (issue 2 item 5). ftp-srv would first wait for a data connection on STOR (→ 425).
      return conn.authenticated ? conn.reply(550, MSG_DENIED) : replyAuthFirst(s);
    }
    switch (directive) {
      case 'FEAT': // stack.md #11
        return conn.reply(211, 'Extensions supported', ...(opts.tls ? [...FEATURES, ...TLS_FEATURES] : FEATURES).map((f) => ({ message: ` ${f}`, raw: true })), 'End');
      case 'USER': {
        // ftp-srv's USER handler, without its pipeline. ftp-srv kept the first USER forever: after a failed PASS
        // every new USER got `530 Username already set`; here a new USER replaces it until the login succeeds.
        if (conn.authenticated) return conn.reply(230);
        const name = argOf(item);
        if (!name) {
          delete conn.username;
          return conn.reply(501, 'Must provide username');
        }
        conn.username = name;
        return conn.reply(331);
      }
      case 'TYPE':
        // ftp-srv's TYPE handler: A → ascii, I or L → binary (the bytes sent are the same: RETR never converts).
        if (!conn.authenticated) return replyAuthFirst(s);
        if (/^A[0-9]?$/i.test(cmd.arg ?? '')) conn.transferType = 'ascii';
        else if (/^(L[0-9]?|I)$/i.test(cmd.arg ?? '')) conn.transferType = 'binary';
        else return conn.reply(501);
        return conn.reply(200, `Switch to "${conn.transferType}" transfer mode.`);
      case 'AUTH': {
        // ftp-srv answers 234, then swaps conn.commandSocket for a TLSSocket and re-emits its decrypted 'data' on
        // the plain socket, where onData() listens. Hold the plain socket so a ClientHello arriving before the swap
        // is handed to TLS instead of being read as a command line.
        pauseSocket.call(s.socket);
        const r = await conn.commands.handle(cmd);
        if (conn.commandSocket !== s.socket) {
          // RFC 4217 §4: what the client sent in the clear after AUTH is dropped. Replies, 421 and throttling now
          // go through the TLS socket; it keeps reading during RETR, as in attach(), so ABOR works.
          Object.assign(s, { partial: [], partialBytes: 0, discarding: false, queue: [], queuedBytes: 0, socket: conn.commandSocket });
          s.socket.pause = () => s.socket;
          s.socket.once('end', () => onPeerEnd(s));
        } else if (!s.throttled) resumeSocket.call(s.socket);
        return r;
      }
      case 'QUIT':
        s.endReason = 'quit';
        return conn.close(221, 'Client called QUIT');
      case 'PASS': {
        // ftp-srv's PASS handler, without its pipeline; the password is the rest of the line as sent (ftp-srv's
        // parser dropped every `"` in it).
        if (!conn.username) return conn.reply(503);
        if (conn.authenticated) return conn.reply(202);
        const password = argOf(item);
        if (!password) return conn.reply(501, 'Must provide password');
        if (await logIn(s, conn.username, password)) return conn.reply(230);
        const r = await conn.reply(530, 'Login incorrect');
        if (s.failedLogins >= MAX_LOGIN_FAILURES) {
          s.endReason = 'too many failed logins';
          closeSession(s, '421 Too many failed logins');
        }
        return r;
      }
      case 'PASV':
        if (s.epsvAll) return conn.reply(503, 'EPSV ALL in effect: use EPSV');
        return openPassive(s, false);
      case 'EPSV': {
        // RFC 2428 §3: `EPSV` or `EPSV <net-prt>` (1 = IPv4, 2 = IPv6; the data connection uses the control
        // connection's family, so only that one is offered: 522 names it) or `EPSV ALL` (§4).
        if (!conn.authenticated) return replyAuthFirst(s);
        const arg = (cmd.arg ?? '').trim().toUpperCase();
        if (arg === 'ALL') {
          s.epsvAll = true;
          return conn.reply(200, 'EPSV ALL ok');
        }
        if (arg !== '') {
          if (!/^\d{1,3}$/.test(arg)) return conn.reply(501, 'Syntax error in EPSV argument');
          const family = net.isIPv6(plainIp(s.socket.localAddress)) ? '2' : '1';
          if (arg !== family) return conn.reply(522, `Network protocol not supported, use (${family})`);
        }
        return openPassive(s, true);
      }
      case 'ABOR':
        // stack.md #8: ftp-srv ignored ABOR during RETR. onData() stopped the transfer when ABOR arrived; here
        // the RETR has already answered 426.
        if (conn.connector?.type) conn.connector.end();
        if (s.aborting) {
          s.aborting = false;
          return conn.reply(226, 'Abort successful');
        }
        return conn.reply(225, 'No transfer to abort');
      case 'SIZE': {
        if (!conn.authenticated) return replyAuthFirst(s);
        const st = await regularFile(s, cmd.arg);
        return st ? conn.reply(213, String(st.size)) : conn.reply(550, MSG_NOT_FOUND);
      }
      case 'MDTM': {
        // stack.md #11: ftp-srv adds fractional seconds; RFC 3659 clients expect YYYYMMDDHHMMSS.
        if (!conn.authenticated) return replyAuthFirst(s);
        const st = await regularFile(s, cmd.arg);
        if (!st) return conn.reply(550, MSG_NOT_FOUND);
        return conn.reply(213, st.mtime.toISOString().replace(/[-:T]/g, '').slice(0, 14));
      }
      case 'RETR': {
        if (!conn.authenticated) return replyAuthFirst(s);
        // Answer a missing file with 550 before any data connection is used (ftp-srv answers 551 after it).
        // The file opened here is the one ftp-srv's handler then reads.
        const fsys = conn.fs!;
        if (!(await fsys.prepareRead(cmd.arg ?? ''))) {
          conn.restByteCount = 0;
          if (conn.connector?.type) conn.connector.end();
          return conn.reply(550, MSG_NOT_FOUND);
        }
        try {
          if (!conn.connector?.type) return await conn.reply(425, 'Use PASV, EPSV, PORT or EPRT first');
          return await retr(s, cmd.arg ?? '');
        } finally {
          await fsys.discardPrepared();
        }
      }
      case 'LIST':
      case 'NLST':
        if (!conn.authenticated) return replyAuthFirst(s);
        if (!conn.connector?.type) return conn.reply(425, 'Use PASV, EPSV, PORT or EPRT first');
        return list(s, cmd);
      case 'PORT':
      case 'EPRT': {
        if (!conn.authenticated) return replyAuthFirst(s);
        // Active mode over TLS would need the data connection's TLS handshake; firmdrop offers passive mode only
        // there (ftp-srv's active connector never completed that handshake: RETR hung until the idle timeout).
        if (conn.secure) return conn.reply(502, 'Active mode is not available over TLS; use PASV or EPSV');
        if (s.epsvAll) return conn.reply(503, 'EPSV ALL in effect: use EPSV');
        let target: ActiveTarget;
        try {
          target = directive === 'PORT' ? parsePortArg(cmd.arg) : parseEprtArg(cmd.arg);
        } catch (err) {
          if (err instanceof ActiveTargetError) return conn.reply(err.code, err.message);
          throw err;
        }
        if (conn.connector?.type) conn.connector.end(); // one pending data connection per session
        // RFC 2577 §3 (FTP bounce): a data connection goes to the client's own host or nowhere.
        if (!isClientHost(target, s.socket.remoteAddress)) {
          s.log.log.warn({ target: target.host }, 'PORT/EPRT to another host refused');
          return conn.reply(500, 'Illegal PORT command: the address is not yours');
        }
        const connector = new FirmdropActive(conn, {
          target, waitMs: passiveWaitMs, onDataSocket: (d) => trackDataSocket(s, d), log: s.log.log,
        });
        conn.connector = connector;
        connector.connect();
        return conn.reply(200, `${directive} command successful`);
      }
      case 'REST': {
        // ftp-srv's REST took parseInt's reading (`REST 1.5` → 1, `REST 12abc` → 12); only digits are an offset.
        if (!conn.authenticated) return replyAuthFirst(s);
        const text = (cmd.arg ?? '').trim();
        const offset = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
        if (!Number.isSafeInteger(offset)) {
          conn.restByteCount = 0;
          return conn.reply(501, 'Byte count must be a whole number from 0 to 9007199254740991');
        }
        conn.restByteCount = offset;
        return conn.reply(350, `Restarting next transfer at ${offset}`);
      }
      case 'OPTS':
        // ftp-srv's OPTS gave no reply at all without an argument (it threw on null.split).
        if (!conn.authenticated) return replyAuthFirst(s);
        if (!cmd.arg) return conn.reply(501, 'Syntax error: OPTS needs an option');
        return conn.commands.handle(cmd);
      case 'PBSZ':
      case 'PROT':
        // RFC 4217 §8, §9: only after a security exchange (ftp-srv answered `202 Not supported`).
        if (!conn.secure) return opts.tls ? conn.reply(503, 'Use AUTH TLS first') : conn.reply(502, 'TLS is not configured');
        return conn.commands.handle(cmd);
      case 'HELP': {
        // ftp-srv listed every command it knows, the write commands firmdrop refuses included.
        const topic = (cmd.arg ?? '').trim().toUpperCase();
        if (!topic) return conn.reply(214, 'Commands recognized:', ...HELP_LINES, 'Help OK');
        if (!HELP_COMMANDS.includes(topic)) return conn.reply(502, 'Command not implemented');
        return conn.commands.handle(cmd);
      }
      default: {
        // A handler of ftp-srv's that throws before replying (a bad argument it did not expect) still gets an answer.
        const before = s.replies;
        try {
          return await conn.commands.handle(cmd);
        } catch (err) {
          if (s.replies !== before) throw err;
          s.log.log.debug({ directive, err: (err as Error)?.message }, 'command handler failed');
          return conn.reply(501, 'Syntax error in parameters or arguments');
        }
      }
    }
  }

  // ftp-srv's listen() uses Node's default backlog (511): a burst of devices connecting at once overflows it and
  // each overflowing SYN is retried after 1 s, 3 s... (measured: C=1000 sessions at p50 8 s). Listen on the same
  // server ourselves with a deeper queue (the kernel caps it at net.core.somaxconn).
  await new Promise<void>((resolve, reject) => {
    netServer.once('error', reject);
    netServer.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => {
      netServer.off('error', reject);
      resolve();
    });
  });
  const address = netServer.address() as AddressInfo;
  log.info({ host: opts.host, port: address.port, root: opts.root }, 'FTP server listening');

  let closed: Promise<void> | undefined;
  async function shutdown(deadlineMs: number): Promise<void> {
    closing = true;
    const listenerClosed = new Promise<void>((resolve) => netServer.close(() => resolve()));
    for (const s of sessions) {
      s.closing = true;
      if (!s.busy) pump(s); // idle sessions get 421 now; busy ones when their command ends
    }
    if (sessions.size) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        onSessionGone = () => {
          if (sessions.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
    }
    onSessionGone = undefined;
    for (const s of [...sessions]) {
      s.endReason ??= 'shutdown deadline';
      s.stream?.destroy();
      s.socket.destroy();
    }
    for (const s of sessions) for (const d of s.dataSockets) d.destroy();
    await listenerClosed;
    srv.removeAllListeners();
    log.info('FTP server closed');
  }

  return {
    host: opts.host,
    port: address.port,
    close(deadlineMs = 10_000) {
      closed ??= shutdown(deadlineMs);
      return closed;
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
    throw new Error(`pasvUrl must be a bare IPv4 address (stack.md #5), got ${JSON.stringify(opts.pasvUrl)}`);
  }
  for (const [name, v] of [['idleTimeoutMs', opts.idleTimeoutMs], ['maxConnections', opts.maxConnections], ['maxPerAddress', opts.maxPerAddress], ['maxCommandBytes', opts.maxCommandBytes], ['passiveWaitMs', opts.passiveWaitMs], ['loginTimeoutMs', opts.loginTimeoutMs]] as const) {
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new Error(`${name} must be a positive number, got ${v}`);
  }
}
