/**
 * firmdrop's configuration: command-line flags + `FIRMDROP_*` environment variables + defaults → one typed,
 * validated {@link Config}. Precedence: flag > environment > default.
 *
 * Every setting is described once, in {@link CONFIG_OPTIONS}: the CLI builds its yargs options from that table and
 * the README's configuration reference mirrors it. Validation errors are {@link ConfigError}s whose message is one
 * line naming the flag or variable, the value and what was expected.
 */
import { stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { FtpUser } from './users.ts';

/** Log output format: `pretty` (human-readable), `json` (one pino JSON object a line), `auto` (pretty on a TTY). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** pino level names accepted by `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything `serve` (and the other commands) need, validated. Units are in the field names or docs. */
export interface Config {
  /** Absolute path of the folder served to devices (UPGRADE.TXT + binaries). Default `./ota-root` resolved against the cwd. */
  root: string;
  /** Address the FTP control socket binds to. Default `0.0.0.0` (every IPv4 interface). */
  host: string;
  /** FTP control port (TCP). Default 2121; 0 = ephemeral (the real port is logged in the `listening` line). */
  port: number;
  /**
   * Bare IPv4 address put in PASV (227) replies. Default undefined: the local address of the client's control
   * connection (server/ftp.ts), which is right for loopback and LAN clients whatever the bind address (0.0.0.0
   * included). Set it to the public address when devices reach the server through NAT (port forwarding, cloud VM);
   * loopback clients still get the local address.
   */
  pasvAddress?: string;
  /** Lowest passive data port (TCP). Default undefined: any free (ephemeral) port. Set together with {@link pasvMax}. */
  pasvMin?: number;
  /** Highest passive data port (TCP). Default undefined: any free (ephemeral) port. */
  pasvMax?: number;
  /** Accounts allowed to log in. Default `ota` / `libelium`, the Meshlium OTA default (Libelium's Meshlium OTA guide). */
  users: FtpUser[];
  /** Accept `anonymous` logins (any password). Default false. */
  anonymous: boolean;
  /** Write the `CRC32:` and `MD5:` lines after the four Meshlium lines of UPGRADE.TXT. Default true. */
  checksums: boolean;
  /** How long (ms) a dropped binary's size must stay unchanged before the watcher publishes it. Default 1000. */
  stabilityMs: number;
  /** Close a control connection idle (no command, no transfer byte) this long (ms), 1000..86400000. Default 300000 (5 min). */
  idleTimeoutMs: number;
  /** Close a control connection that has not logged in this long after connecting (ms), 1000..86400000. Default 60000. */
  loginTimeoutMs: number;
  /** Most simultaneous control connections; 0 = unlimited. Default 10000: a fleet of 5,000 devices at once fits, and each session costs ~100 KB (BENCHMARKS.md). */
  maxConnections: number;
  /** Most simultaneous control connections from one IP address; 0 = unlimited (carrier NAT shares addresses). Default 0. */
  maxPerAddress: number;
  /** On shutdown, how long (ms) running transfers may finish before connections are cut. Default 5000. */
  drainTimeoutMs: number;
  /** pino log level. Default `info`. */
  logLevel: LogLevel;
  /** Log format. Default `auto`. */
  logFormat: LogFormat;
  /**
   * FTPS (explicit `AUTH TLS`): absolute path of the PEM certificate (chain). Set together with {@link tlsKey};
   * both unset (default): plain FTP only. With both, plain FTP still works for devices that do not do TLS.
   * The files are read and checked at start (server/tls.ts loadTls()).
   */
  tlsCert?: string;
  /** FTPS: absolute path of the unencrypted PEM private key of {@link tlsCert}. */
  tlsKey?: string;
  // --- HTTP server (server/http/): operator page, JSON API, device mirror ---
  /** HTTP port (TCP) of the operator page, API and device mirror; undefined (default): no HTTP server. 0 = a free port. */
  httpPort?: number;
  /** Address the HTTP server listens on. Default `127.0.0.1`: expose it through a TLS reverse proxy (README). */
  httpHost: string;
  /** The operator page's admin password (prefer FIRMDROP_ADMIN_PASSWORD or a file: a flag shows in `ps`). */
  adminPassword?: string;
  /** Absolute path of a file whose first line is the admin password; read at start (server/http/admin-password.ts). */
  adminPasswordFile?: string;
  /** Fleet (server/fleet): device logins, per-device UPGRADE.TXT, rollouts, device status, audit. Default true. */
  fleet: boolean;
  /** TCP port of the Prometheus `/metrics` endpoint; undefined (default): no metrics server. */
  metricsPort?: number;
  /** Address the metrics endpoint listens on. Default `127.0.0.1` (metrics are not for devices). */
  metricsHost: string;
}

/** A configuration value that breaks a rule; the message is one line naming the flag/variable and the value. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Default FTP control port: 2121, so firmdrop runs without root (port 21 needs privileges). */
export const DEFAULT_PORT = 2121;
/** Default root folder, relative to the working directory: the repository's embedded `ota-root/`. */
export const DEFAULT_ROOT = './ota-root';
/** Default account: the Meshlium OTA user and password (Libelium's Meshlium OTA guide). */
export const DEFAULT_USERS: readonly FtpUser[] = Object.freeze([{ user: 'ota', pass: 'libelium' }]);

/** Where a raw value came from, for error messages: `--port "abc"` or `FIRMDROP_PORT="abc"`. */
interface Source { flag: string; env: string; fromEnv: boolean }

function where(src: Source, raw: unknown): string {
  const shown = JSON.stringify(Array.isArray(raw) ? raw.join(' ') : String(raw));
  return src.fromEnv ? `${src.env}=${shown}` : `--${src.flag} ${shown}`;
}

/**
 * One configuration setting: its flag (without `--`), environment variable, help text, default as shown to users,
 * and the kind of value (which also tells the CLI which yargs type to declare).
 */
export interface ConfigOption {
  key: keyof Config | 'pasvRange';
  flag: string;
  env: string;
  kind: 'string' | 'boolean' | 'list';
  /** One-line description, with the unit. */
  describe: string;
  /** The default as a user reads it (README and --help). */
  defaultText: string;
}

/** Every setting, in the order of `firmdrop serve --help` and the README table. */
export const CONFIG_OPTIONS: readonly ConfigOption[] = [
  { key: 'root', flag: 'root', env: 'FIRMDROP_ROOT', kind: 'string', defaultText: DEFAULT_ROOT,
    describe: 'folder served to devices (UPGRADE.TXT and the binaries)' },
  { key: 'host', flag: 'host', env: 'FIRMDROP_HOST', kind: 'string', defaultText: '0.0.0.0',
    describe: 'address the FTP server listens on' },
  { key: 'port', flag: 'port', env: 'FIRMDROP_PORT', kind: 'string', defaultText: String(DEFAULT_PORT),
    describe: 'FTP control port (TCP); 0 = pick a free port and log it' },
  { key: 'pasvAddress', flag: 'pasv-address', env: 'FIRMDROP_PASV_ADDRESS', kind: 'string',
    defaultText: 'the address the client connected to',
    describe: 'IPv4 address sent in PASV replies (your public IP behind NAT)' },
  { key: 'pasvRange', flag: 'pasv-range', env: 'FIRMDROP_PASV_RANGE', kind: 'string', defaultText: 'any free port',
    describe: 'passive data ports, MIN-MAX (open them in the firewall)' },
  { key: 'users', flag: 'user', env: 'FIRMDROP_USERS', kind: 'list', defaultText: 'ota:libelium',
    describe: 'account USER:PASS; repeat the flag for more (env: comma-separated)' },
  { key: 'anonymous', flag: 'anonymous', env: 'FIRMDROP_ANONYMOUS', kind: 'boolean', defaultText: 'false',
    describe: 'also accept anonymous logins' },
  { key: 'checksums', flag: 'checksums', env: 'FIRMDROP_CHECKSUMS', kind: 'boolean', defaultText: 'true',
    describe: 'add CRC32:/MD5: lines to UPGRADE.TXT (--no-checksums: plain Meshlium format)' },
  { key: 'stabilityMs', flag: 'stability-ms', env: 'FIRMDROP_STABILITY_MS', kind: 'string', defaultText: '1000',
    describe: 'ms a dropped binary must keep the same size before it is published' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout-ms', env: 'FIRMDROP_IDLE_TIMEOUT_MS', kind: 'string',
    defaultText: '300000', describe: 'ms without command or transfer before a session is closed (1000..86400000)' },
  { key: 'loginTimeoutMs', flag: 'login-timeout-ms', env: 'FIRMDROP_LOGIN_TIMEOUT_MS', kind: 'string',
    defaultText: '60000', describe: 'ms a new connection has to log in before it is closed (1000..86400000)' },
  { key: 'maxConnections', flag: 'max-connections', env: 'FIRMDROP_MAX_CONNECTIONS', kind: 'string',
    defaultText: '10000', describe: 'most simultaneous FTP sessions; 0 = unlimited' },
  { key: 'maxPerAddress', flag: 'max-per-address', env: 'FIRMDROP_MAX_PER_ADDRESS', kind: 'string',
    defaultText: '0', describe: 'most simultaneous sessions from one IP; 0 = unlimited (carrier NAT)' },
  { key: 'drainTimeoutMs', flag: 'drain-timeout-ms', env: 'FIRMDROP_DRAIN_TIMEOUT_MS', kind: 'string',
    defaultText: '5000', describe: 'ms running transfers may finish on shutdown' },
  { key: 'logLevel', flag: 'log-level', env: 'FIRMDROP_LOG_LEVEL', kind: 'string', defaultText: 'info',
    describe: `log level: ${LOG_LEVELS.join(', ')}` },
  { key: 'logFormat', flag: 'log-format', env: 'FIRMDROP_LOG_FORMAT', kind: 'string', defaultText: 'auto',
    describe: 'log format: auto (pretty on a terminal), json, pretty' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'FIRMDROP_TLS_CERT', kind: 'string', defaultText: 'none (plain FTP only)',
    describe: 'PEM certificate file: enables FTPS (explicit AUTH TLS); needs --tls-key' },
  { key: 'tlsKey', flag: 'tls-key', env: 'FIRMDROP_TLS_KEY', kind: 'string', defaultText: 'none',
    describe: 'PEM private key file (unencrypted) of --tls-cert' },
  // HTTP server (server/http/)
  { key: 'httpPort', flag: 'http-port', env: 'FIRMDROP_HTTP_PORT', kind: 'string', defaultText: 'off',
    describe: 'HTTP port of the operator page (/), its API (/api/) and the device mirror (/ota/); 0 = a free port' },
  { key: 'httpHost', flag: 'http-host', env: 'FIRMDROP_HTTP_HOST', kind: 'string', defaultText: '127.0.0.1',
    describe: 'address the HTTP server listens on (put a TLS reverse proxy in front)' },
  { key: 'adminPassword', flag: 'admin-password', env: 'FIRMDROP_ADMIN_PASSWORD', kind: 'string', defaultText: 'none (page login refused)',
    describe: 'operator page password; prefer the variable or --admin-password-file (a flag shows in ps)' },
  { key: 'adminPasswordFile', flag: 'admin-password-file', env: 'FIRMDROP_ADMIN_PASSWORD_FILE', kind: 'string', defaultText: 'none',
    describe: 'file whose first line is the operator page password' },
  // fleet (server/fleet, docs/fleet.md)
  { key: 'fleet', flag: 'fleet', env: 'FIRMDROP_FLEET', kind: 'boolean', defaultText: 'true',
    describe: 'device logins, per-device UPGRADE.TXT, rollouts and status (--no-fleet: shared accounts only; the store still holds the release catalogue)' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'FIRMDROP_METRICS_PORT', kind: 'string', defaultText: 'off',
    describe: 'serve Prometheus metrics at http://HOST:PORT/metrics; 0 = pick a free port and log it' },
  { key: 'metricsHost', flag: 'metrics-host', env: 'FIRMDROP_METRICS_HOST', kind: 'string', defaultText: '127.0.0.1',
    describe: 'address the metrics endpoint listens on' },
];

function optionFor(key: ConfigOption['key']): ConfigOption {
  const opt = CONFIG_OPTIONS.find((o) => o.key === key);
  if (!opt) throw new Error(`no config option ${key}`);
  return opt;
}

/** Raw flag values as yargs hands them over, keyed by flag name (`port`, `pasv-range`, `user`…). */
export type ConfigFlags = Record<string, unknown>;

/** The value for `opt`: the flag when given, else the environment variable when set (non-empty), else undefined. */
function pick(opt: ConfigOption, flags: ConfigFlags, env: NodeJS.ProcessEnv): { raw: unknown; src: Source } | undefined {
  const flag = flags[opt.flag];
  if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0)) {
    return { raw: flag, src: { flag: opt.flag, env: opt.env, fromEnv: false } };
  }
  const e = env[opt.env];
  if (e !== undefined && e !== '') return { raw: e, src: { flag: opt.flag, env: opt.env, fromEnv: true } };
  return undefined;
}

function parseInteger(raw: unknown, src: Source, min: number, max: number, what: string): number {
  const s = String(raw).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${where(src, raw)}: expected ${what}, a whole number from ${min} to ${max}`);
  }
  return n;
}

function parseBoolean(raw: unknown, src: Source): boolean {
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(`${where(src, raw)}: expected true or false (1/0, yes/no, on/off)`);
}

function parseUser(entry: string, src: Source): FtpUser {
  const i = entry.indexOf(':');
  const user = i < 0 ? entry : entry.slice(0, i);
  const pass = i < 0 ? '' : entry.slice(i + 1);
  if (!/^[^\s:,]+$/.test(user) || pass === '' || /[\r\n]/.test(pass)) {
    throw new ConfigError(`${where(src, entry)}: expected USER:PASS (user without spaces, non-empty password)`);
  }
  return { user, pass };
}

function parseUsers(raw: unknown, src: Source): FtpUser[] {
  // A flag may be repeated (array); the environment variable is one comma-separated list.
  const entries = Array.isArray(raw) ? raw.map(String) : src.fromEnv ? String(raw).split(',') : [String(raw)];
  const users = entries.map((e) => e.trim()).filter((e) => e !== '').map((e) => parseUser(e, src));
  if (users.length === 0) throw new ConfigError(`${where(src, raw)}: expected at least one USER:PASS`);
  const seen = new Set<string>();
  for (const u of users) {
    if (seen.has(u.user)) throw new ConfigError(`${where(src, raw)}: user "${u.user}" is given twice`);
    seen.add(u.user);
  }
  return users;
}

function parsePasvRange(raw: unknown, src: Source): { min: number; max: number } {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(String(raw));
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new ConfigError(`${where(src, raw)}: expected a port range MIN-MAX with 1 <= MIN <= MAX <= 65535`);
  }
  return { min, max };
}

function parseHost(raw: unknown, src: Source): string {
  const s = String(raw).trim();
  if (net.isIP(s) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(s)) {
    throw new ConfigError(`${where(src, raw)}: expected an IP address or host name to listen on`);
  }
  return s;
}

function parsePasvAddress(raw: unknown, src: Source): string {
  const s = String(raw).trim();
  // The 227 reply carries h1,h2,h3,h4 (RFC 959 §4.1.2, PASV): only a bare IPv4 address can be written there.
  if (!net.isIPv4(s) || s === '0.0.0.0') {
    throw new ConfigError(`${where(src, raw)}: expected a bare IPv4 address (no host name, no port)`);
  }
  return s;
}

function parseChoice<T extends string>(raw: unknown, src: Source, choices: readonly T[]): T {
  const s = String(raw).trim().toLowerCase();
  if (!(choices as readonly string[]).includes(s)) {
    throw new ConfigError(`${where(src, raw)}: expected one of ${choices.join(', ')}`);
  }
  return s as T;
}

/**
 * Builds the Config from flags (as parsed by yargs, keyed by flag name), the environment and defaults.
 * Precedence per setting: flag > environment variable > default. `root` is resolved against `cwd`.
 * Pure: reads no files (whether the root exists is checked by {@link assertRootDir}).
 * @throws ConfigError (one line) for any value that breaks its rule.
 */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const get = <T>(key: ConfigOption['key'], parse: (raw: unknown, src: Source) => T, dflt: T): T => {
    const got = pick(optionFor(key), flags, env);
    return got === undefined ? dflt : parse(got.raw, got.src);
  };
  const str = (raw: unknown, src: Source): string => {
    const s = String(raw).trim();
    if (s === '') throw new ConfigError(`${where(src, raw)}: must not be empty`);
    return s;
  };
  const ms = (max: number) => (raw: unknown, src: Source) => parseInteger(raw, src, 0, max, 'a duration in ms');
  const count = (raw: unknown, src: Source) => parseInteger(raw, src, 0, 1_000_000, 'a count');

  const range = get('pasvRange', parsePasvRange, undefined);
  const tlsCert = get('tlsCert', str, undefined);
  const tlsKey = get('tlsKey', str, undefined);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    const [given, missing] = tlsCert === undefined ? [optionFor('tlsKey'), optionFor('tlsCert')] : [optionFor('tlsCert'), optionFor('tlsKey')];
    throw new ConfigError(`--${given.flag} (${given.env}) needs --${missing.flag} (${missing.env}) too: FTPS takes a certificate and its key`);
  }
  return {
    root: path.resolve(cwd, get('root', str, DEFAULT_ROOT)),
    host: get('host', parseHost, '0.0.0.0'),
    port: get('port', (raw, src) => parseInteger(raw, src, 0, 65535, 'a TCP port'), DEFAULT_PORT),
    pasvAddress: get('pasvAddress', parsePasvAddress, undefined),
    pasvMin: range?.min,
    pasvMax: range?.max,
    users: get('users', parseUsers, DEFAULT_USERS.map((u) => ({ ...u }))),
    anonymous: get('anonymous', parseBoolean, false),
    checksums: get('checksums', parseBoolean, true),
    stabilityMs: get('stabilityMs', ms(600_000), 1000),
    idleTimeoutMs: get('idleTimeoutMs', (raw, src) => parseInteger(raw, src, 1000, 86_400_000, 'a duration in ms'), 300_000),
    loginTimeoutMs: get('loginTimeoutMs', (raw, src) => parseInteger(raw, src, 1000, 86_400_000, 'a duration in ms'), 60_000),
    maxConnections: get('maxConnections', count, 10000),
    maxPerAddress: get('maxPerAddress', count, 0),
    drainTimeoutMs: get('drainTimeoutMs', ms(600_000), 5000),
    logLevel: get('logLevel', (raw, src) => parseChoice(raw, src, LOG_LEVELS), 'info'),
    logFormat: get('logFormat', (raw, src) => parseChoice(raw, src, ['auto', 'json', 'pretty'] as const), 'auto'),
    tlsCert: tlsCert === undefined ? undefined : path.resolve(cwd, tlsCert),
    tlsKey: tlsKey === undefined ? undefined : path.resolve(cwd, tlsKey),
    fleet: get('fleet', parseBoolean, true),
    metricsPort: get('metricsPort', (raw, src) => parseInteger(raw, src, 0, 65535, 'a TCP port'), undefined),
    metricsHost: get('metricsHost', parseHost, '127.0.0.1'),
    ...httpSettings(get, str, cwd),
  };
}

/** The HTTP server's settings (a separate block of loadConfig: the HTTP server is optional). */
function httpSettings(
  get: <T>(key: ConfigOption['key'], parse: (raw: unknown, src: Source) => T, dflt: T) => T,
  str: (raw: unknown, src: Source) => string, cwd: string,
): Pick<Config, 'httpPort' | 'httpHost' | 'adminPassword' | 'adminPasswordFile'> {
  const file = get('adminPasswordFile', str, undefined);
  return {
    httpPort: get('httpPort', (raw, src) => parseInteger(raw, src, 0, 65535, 'a TCP port'), undefined),
    httpHost: get('httpHost', parseHost, '127.0.0.1'),
    adminPassword: get('adminPassword', (raw, src) => {
      if (String(raw) === '') throw new ConfigError(`${src.fromEnv ? src.env : `--${src.flag}`}: must not be empty`);
      return String(raw);
    }, undefined),
    adminPasswordFile: file === undefined ? undefined : path.resolve(cwd, file),
  };
}

/**
 * Checks that `root` is an existing directory, the one thing about the root every command needs.
 * @throws ConfigError `root /abs/path: no such directory` (or `...: not a directory`).
 */
export async function assertRootDir(root: string): Promise<void> {
  const st = await stat(root).catch(() => undefined);
  if (!st) throw new ConfigError(`root ${root}: no such directory`);
  if (!st.isDirectory()) throw new ConfigError(`root ${root}: not a directory`);
}
