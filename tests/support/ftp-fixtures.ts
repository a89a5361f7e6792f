/**
 * The one server fixture of the FTP specs: a temp OTA root (two layouts, below), firmdrop's FTP server on it on
 * 127.0.0.1 with an ephemeral port and its JSON log captured, basic-ftp clients, and free port ranges for a passive
 * range. The raw control-connection client is tests/support/raw-ftp.ts; bounded waits are tests/support/wait.ts.
 */
import { Client, FTPError } from 'basic-ftp';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { startFtp, type FtpHandle, type FtpOptions } from '../../server/ftp/server.ts';
import { createLogger } from '../../server/log.ts';
import { PASS, USER } from './ftp-account.ts';
import { RawFtp } from './raw-ftp.ts';

export { PASS, USER } from './ftp-account.ts';
/** UPGRADE.TXT of the `ota` layout (the Waspmote manifest format: FILE, PATH, SIZE, VERSION). */
export const MANIFEST = 'FILE:ABCDEFG\nPATH:/\nSIZE:204800\nVERSION:3\n';

/** Marker text in the secret files outside the root (and in the hidden catalogue): must never reach a client. */
export const SECRET = 'TOP SECRET outside the OTA root';

/** Prefix of every temp folder these fixtures make: no reply may contain it (it is part of absolute paths). */
export const TMP_PREFIX = 'firmdrop-ftp-';

/** A temp tree: `root` (served) and `outside` (a sibling the server must never reveal), both under `base`. */
export interface TestRoot {
  base: string;
  root: string;
  outside: string;
  /** Contents of the regular files in the root, by path relative to it. */
  files: Record<string, Buffer>;
  /** The program binary UPGRADE.TXT names (ABCDEFG in the `ota` layout, PROGRAM in the `hostile` one). */
  binary: Buffer;
  /** The contents of outside/secret.txt. */
  secret: Buffer;
  /** Removes `base` and everything in it. */
  cleanup(): Promise<void>;
}

/**
 * Builds a temp OTA root. Both layouts: `base/root` (served), `base/outside` with `secret.txt` (holds SECRET),
 * `root/.firmdrop/releases.json` (the hidden catalogue).
 *
 * `ota` (the default), an ordinary OTA folder with a few escapes:
 * ```
 * UPGRADE.TXT (MANIFEST), ABCDEFG (200 KiB random), ota/NESTED1, .UPGRADE.TXT.tmp (a publisher's temp file)
 * LINKIN -> ABCDEFG (inside)   LINKOUT -> outside/secret.txt   DIROUT -> outside/   LINKHID -> .firmdrop/releases.json
 * ```
 * `hostile`, laid out for attacks:
 * ```
 * UPGRADE.TXT (names PROGRAM), PROGRAM (256 KiB random), sub/INNER01
 * LINKFIL -> outside/secret.txt   LINKDIR -> outside/dir (holds secret.txt)
 * LOOPAAA -> LOOPBBB -> LOOPAAA   LOOPSLF -> LOOPSLF
 * FIFOPIP (a named pipe)   LINKFIF -> FIFOPIP   LINKZER -> /dev/zero   LINKPRC -> /proc/self/environ
 * ```
 * `bigBytes` (either layout) adds BIGFILE of that many random bytes: for stalls, ABOR, vanishing clients.
 */
export async function makeRoot(opts: { layout?: 'ota' | 'hostile'; bigBytes?: number } = {}): Promise<TestRoot> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), TMP_PREFIX));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await fs.mkdir(path.join(root, '.firmdrop'), { recursive: true });
  await fs.mkdir(outside);
  const secret = Buffer.from(`${SECRET}\n`);
  await fs.writeFile(path.join(outside, 'secret.txt'), secret);
  const files = opts.layout === 'hostile' ? await hostileLayout(root, outside) : await otaLayout(root, outside);
  if (opts.bigBytes) files.BIGFILE = crypto.randomBytes(opts.bigBytes);
  for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(root, name), data);
  const binary = files[opts.layout === 'hostile' ? 'PROGRAM' : 'ABCDEFG']!;
  return { base, root, outside, files, binary, secret, cleanup: () => fs.rm(base, { recursive: true, force: true }) };
}

/** The `ota` layout's folders and links; returns its files (written by makeRoot). */
async function otaLayout(root: string, outside: string): Promise<Record<string, Buffer>> {
  await fs.mkdir(path.join(root, 'ota'));
  await fs.writeFile(path.join(root, '.firmdrop', 'releases.json'), '{"releases":[]}');
  await fs.writeFile(path.join(root, '.UPGRADE.TXT.tmp'), 'partial');
  await fs.symlink(path.join(root, 'ABCDEFG'), path.join(root, 'LINKIN'));
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(root, 'LINKOUT'));
  await fs.symlink(outside, path.join(root, 'DIROUT'));
  await fs.symlink(path.join(root, '.firmdrop', 'releases.json'), path.join(root, 'LINKHID'));
  return { 'UPGRADE.TXT': Buffer.from(MANIFEST), ABCDEFG: crypto.randomBytes(200 * 1024), 'ota/NESTED1': Buffer.from('nested') };
}

/** The `hostile` layout's folders, links and FIFO; returns its files (written by makeRoot). */
async function hostileLayout(root: string, outside: string): Promise<Record<string, Buffer>> {
  await fs.mkdir(path.join(root, 'sub'));
  await fs.mkdir(path.join(outside, 'dir'));
  await fs.writeFile(path.join(root, '.firmdrop', 'releases.json'), `{"secret":"${SECRET}"}\n`);
  await fs.writeFile(path.join(outside, 'dir', 'secret.txt'), `${SECRET}\n`);
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(root, 'LINKFIL'));
  await fs.symlink(path.join(outside, 'dir'), path.join(root, 'LINKDIR'));
  await fs.symlink('LOOPBBB', path.join(root, 'LOOPAAA'));
  await fs.symlink('LOOPAAA', path.join(root, 'LOOPBBB'));
  await fs.symlink('LOOPSLF', path.join(root, 'LOOPSLF'));
  execFileSync('mkfifo', [path.join(root, 'FIFOPIP')]);
  await fs.symlink('FIFOPIP', path.join(root, 'LINKFIF'));
  await fs.symlink('/dev/zero', path.join(root, 'LINKZER'));
  await fs.symlink('/proc/self/environ', path.join(root, 'LINKPRC'));
  const program = crypto.randomBytes(256 * 1024);
  return {
    PROGRAM: program,
    'UPGRADE.TXT': Buffer.from(`FILE:PROGRAM\nPATH:/\nSIZE:${program.length}\nVERSION:1\n`),
    'sub/INNER01': Buffer.from('inner file\n'),
  };
}

/** A listing of every entry under `dir` (lstat type, size, the start of the content) to prove nothing changed. */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string) {
    for (const name of (await fs.readdir(d)).sort()) {
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      const r = `${rel}/${name}`;
      if (st.isSymbolicLink()) out.push(`${r} -> ${await fs.readlink(p)}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        await walk(p, r);
      } else out.push(`${r} ${st.size} ${(await fs.readFile(p)).toString('base64').slice(0, 64)}`);
    }
  }
  await walk(dir, '');
  return out;
}

/** A running server plus its captured JSON log lines. */
export interface TestServer {
  ftp: FtpHandle;
  port: number;
  logs: Record<string, unknown>[];
  /** FtpHandle.close with a deadline in ms (default 2000). */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * Starts firmdrop's FTP server (startFtp) on `root`, 127.0.0.1, port 0, user ota/libelium; `extra` overrides any
 * option (users, hooks, tls, limits, timeouts …). Log lines (level debug) are parsed into `logs`.
 * @throws what startFtp throws (a bad option, a root that is not a folder)
 */
export async function startServer(root: string, extra: Partial<FtpOptions> = {}): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  let pending = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim()) logs.push(JSON.parse(line));
      }
      done();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, destination });
  const ftp = await startFtp({ root, host: '127.0.0.1', port: 0, users: [{ user: USER, pass: PASS }], ...extra }, logger);
  return { ftp, port: ftp.port, logs, close: (d?: number) => ftp.close(d ?? 2000) };
}

/** A logger that writes nothing (for code under test whose log lines a spec does not read). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A logged-in basic-ftp client. */
export async function connectClient(port: number, user = USER, password = PASS): Promise<Client> {
  const client = new Client(10_000);
  await client.access({ host: '127.0.0.1', port, user, password });
  return client;
}

/** The reply code of the FTPError `p` rejects with. @throws if `p` resolves or rejects with another error */
export async function ftpErrorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FTPError) return err.code;
    throw err;
  }
  throw new Error('expected an FTP error');
}

/** A Writable that collects everything written to it. */
export function collector(): Writable & { data(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  }) as Writable & { data(): Buffer };
  w.data = () => Buffer.concat(chunks);
  return w;
}

/** RETR `file` into memory with a logged-in basic-ftp client. */
export async function fetchBuffer(client: Client, file: string): Promise<Buffer> {
  const out = collector();
  await client.downloadTo(out, file);
  return out.data();
}

/** The kernel's ephemeral port range (Linux ip_local_port_range; 32768–60999 elsewhere). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports for a small passive range that are free now and lie OUTSIDE the kernel's ephemeral
 * range. Inside it any outgoing connection on the machine, or its TIME_WAIT, can hold one of them, and a test that
 * needs every port of the range then gets `425` for no fault of the server. A random base (10000 up to the
 * ephemeral range) keeps concurrent runs apart.
 * @throws after 50 tries without such a range
 */
export async function freeRangeOutsideEphemeral(count: number): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const top = lo > 10_000 + count ? lo - count : 65_535 - count;
  const bottom = lo > 10_000 + count ? 10_000 : hi + 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = bottom + crypto.randomInt(top - bottom);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await canListen(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports outside the ephemeral range`);
}

/** What a spec closes after each test: basic-ftp clients and raw connections (close) or sockets (destroy). */
export type Closable = { close(): void } | { destroy(): void };

/** A temp root and firmdrop's FTP server on it for one mocha `describe`, with what its tests open closed after each. */
export interface ServerFixture {
  /** The root of the current test (or of the whole describe); set by the fixture's before hook. */
  t: TestRoot;
  /** The server on `t.root` (unset with `server: false`). */
  srv: TestServer;
  /** Registers `c` to be closed after the current test; returns it. */
  track<T extends Closable>(c: T): T;
  /** A logged-in basic-ftp client of `srv`, tracked. */
  client(user?: string, pass?: string): Promise<Client>;
  /**
   * A raw connection, tracked: to `srv` when the first argument is omitted or a boolean (`raw()`, `raw(false)`), else
   * to that port (`raw(port)`, `raw(port, false)`); logged in unless `login` is false (then only the greeting is read).
   */
  raw(port?: number | boolean, login?: boolean): Promise<RawFtp>;
  /** Another server on `t.root` with `extra` options, closed after the current test. */
  server(extra?: Partial<FtpOptions>): Promise<TestServer>;
}

/**
 * Registers mocha hooks in the calling `describe`: a temp root ({@link makeRoot} with `layout`, `bigBytes`) and a server
 * on it ({@link startServer} with `extra`, unless `server` is false), fresh for each test with `each`, else one for the
 * describe; `bind` is called with the fixture once they are up (to copy `t` and `srv` into the describe's variables).
 * After each test every tracked client, connection and extra server is closed; after the root's life the server is
 * closed (deadline 1000 ms) and the root removed.
 */
export function useServer(opts: {
  each?: boolean; layout?: 'ota' | 'hostile'; bigBytes?: number; extra?: Partial<FtpOptions>; server?: boolean;
} = {}, bind?: (fx: ServerFixture) => void): ServerFixture {
  const opened: Closable[] = [];
  const servers: TestServer[] = [];
  const fx: ServerFixture = {
    t: undefined as unknown as TestRoot,
    srv: undefined as unknown as TestServer,
    track(c) {
      opened.push(c);
      return c;
    },
    async client(user = USER, pass = PASS) {
      return fx.track(await connectClient(fx.srv.port, user, pass));
    },
    async raw(port = fx.srv.port, login = true) {
      if (typeof port === 'boolean') return fx.raw(fx.srv.port, port);
      return fx.track(login ? await RawFtp.login(port) : await RawFtp.connect(port));
    },
    async server(extra = {}) {
      const s = await startServer(fx.t.root, extra);
      servers.push(s);
      return s;
    },
  };
  const setUp = async (): Promise<void> => {
    fx.t = await makeRoot({ layout: opts.layout, bigBytes: opts.bigBytes });
    if (opts.server !== false) fx.srv = await startServer(fx.t.root, opts.extra);
    bind?.(fx);
  };
  const tearDown = async (): Promise<void> => {
    await fx.srv?.close(1000);
    await fx.t?.cleanup();
  };
  (opts.each ? beforeEach : before)(setUp);
  afterEach(async () => {
    for (const c of opened.splice(0)) 'close' in c ? c.close() : c.destroy();
    for (const s of servers.splice(0)) await s.close(500);
  });
  (opts.each ? afterEach : after)(tearDown);
  return fx;
}
