/**
 * Starts and stops the servers the bench measures, each as its own process on 127.0.0.1 over a temp root holding
 * the bench binary and UPGRADE.TXT (fixture.ts), so that its CPU and memory can be read from /proc apart from the
 * load generator's. The bench installs nothing: a missing anchor gives an error saying how to install it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_PROGRAM, BENCH_VERSION, writeBenchRoot } from './fixture.ts';
import { holdsListeningPort, processTree } from './proc-stats.ts';

/**
 * Servers `--server` can start. `firmdrop` runs as `npm start` does (the precompiled build in dist/, built first);
 * `firmdrop-tsx` runs the same server from its TypeScript sources through tsx (what the tests run), to show what
 * the build saves. `ftp-srv-nodelay` is plain ftp-srv with TCP_NODELAY on control sockets; `pyftpdlib-tuned` is
 * pyftpdlib without its 512-connection cap and with a listen backlog of 2048.
 */
export const SERVER_KINDS = ['firmdrop', 'firmdrop-tsx', 'ftp-srv', 'ftp-srv-nodelay', 'vsftpd', 'pyftpdlib', 'pyftpdlib-tuned'] as const;
/** One of SERVER_KINDS: which server `--server` starts. */
export type ServerKind = (typeof SERVER_KINDS)[number];

/** A running server: its FTP URL (with credentials), process id, and root; `stop()` ends it and removes the root. */
export interface BenchServer { kind: ServerKind; url: string; pid: number; root: string; stop(): Promise<void> }

/**
 * Options: binary size in bytes; passive port range (inclusive, default 20000–29999: outside Linux's ephemeral
 * range 32768–60999, so that the load generator's own outgoing ports never collide with it); `cpuProfDir`: for the
 * Node servers (firmdrop, ftp-srv), run with `node --cpu-prof` writing the profile there when the server exits.
 */
export interface StartOptions {
  size: number; pasvMin?: number; pasvMax?: number; readyTimeoutMs?: number; cpuProfDir?: string;
  /** Extra arguments for `firmdrop serve` (e.g. ['--max-connections', '5000']); refused for other servers. */
  serverArgs?: string[];
  /** firmdrop only: device logins dev1..devN seeded in the store before it starts (bench/logins.ts). */
  logins?: number;
  /** scrypt cost N of those logins (default firmdrop's). */
  loginScryptN?: number;
}

/** Thrown when an anchor server is not installed; the message says how to install it. */
export class AnchorMissingError extends Error {}

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const DEBIAN_PYTHON = '/usr/bin/python3';

/** Why `kind` cannot be started here (not installed), or undefined if it can. */
export function missingAnchor(kind: ServerKind): string | undefined {
  if (kind === 'vsftpd') {
    const found = spawnSync('sh', ['-c', 'command -v vsftpd || test -x /usr/sbin/vsftpd'], { stdio: 'ignore' }).status === 0;
    if (!found) return 'vsftpd is not installed: run `apt-get update && apt-get install -y vsftpd` (as root)';
    if (process.getuid?.() !== 0) return 'vsftpd anchor needs root (anonymous sessions switch to user ftp)';
  }
  if (kind === 'pyftpdlib' || kind === 'pyftpdlib-tuned') {
    const ok = existsSync(DEBIAN_PYTHON) &&
      spawnSync(DEBIAN_PYTHON, ['-c', 'import pyftpdlib'], { stdio: 'ignore' }).status === 0;
    if (!ok) return `pyftpdlib is not importable by ${DEBIAN_PYTHON}: run \`apt-get update && apt-get install -y python3-pyftpdlib\``;
  }
  if (isFirmdrop(kind) && !existsSync(path.join(repo, 'server', 'cli.ts'))) {
    return 'firmdrop is not there yet (server/cli.ts missing)';
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when a connection to host:port receives a "220" greeting; retries until `timeoutMs`. */
export async function waitForGreeting(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    const got = await new Promise<string>((resolve) => {
      const sock = net.connect(port, host);
      let text = '';
      const done = (r: string) => { sock.destroy(); clearTimeout(t); resolve(r); };
      const t = setTimeout(() => done('timeout'), 2000);
      sock.on('data', (d) => { text += d.toString('latin1'); if (/\r?\n/.test(text)) done(text); });
      sock.on('error', (e) => done(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    if (got.startsWith('220')) return;
    lastError = got.trim().slice(0, 80);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server on ${host}:${port} gave no 220 greeting within ${timeoutMs} ms (last: ${lastError})`);
}

/** Node flags for a server process: `--cpu-prof` into `cpuProfDir` when asked. */
function nodeFlags(opts: StartOptions): string[] {
  return opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
}

/** Keeps the last few KiB of a child's output, for error messages. */
function tail(child: ChildProcess): () => string {
  let buf = '';
  const add = (d: Buffer) => { buf = (buf + d.toString('utf8')).slice(-4096); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buf.trim();
}

/** Removes a bench root and the server log written beside it (`ROOT.log`). */
async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await rm(`${root}.log`, { force: true });
}

/** The path of the config file vsftpd.sh prints (`config PATH`), or undefined when it exits first. */
function vsftpdConfig(c: ChildProcess): Promise<string | undefined> {
  return new Promise((resolve) => {
    let seen = '';
    c.stdout?.on('data', (d: Buffer) => { seen += d; const m = /config (\S+)/.exec(seen); if (m) resolve(m[1]); });
    c.once('exit', () => resolve(undefined));
  });
}

/**
 * Spawns a server in the repository folder. With `logFile` its output is appended there, as a deployment's log is
 * (draining it through a pipe would charge the load generator, on the same cores, for every session line);
 * otherwise it is piped, and the last 4 KiB kept for error messages.
 */
function spawnServer(cmd: string, args: string[], logFile?: string): { child: ChildProcess; readTail: () => string } {
  if (!logFile) {
    const child = spawn(cmd, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, readTail: tail(child) };
  }
  const fd = openSync(logFile, 'a');
  try {
    return { child: spawn(cmd, args, { cwd: repo, stdio: ['ignore', fd, fd] }), readTail: () => fileTail(logFile) };
  } finally {
    closeSync(fd);
  }
}

/** The last 4 KiB of a log file, for error messages ('' when it cannot be read). */
function fileTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-4096).trim();
  } catch {
    return '';
  }
}

/** Resolves with the first "listening <port>" line a child prints (or rejects when it exits first). */
function listeningPort(child: ChildProcess, output: () => string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`no "listening" line within ${timeoutMs} ms: ${output()}`)), timeoutMs);
    const onData = (d: Buffer) => {
      seen += d.toString('utf8');
      const m = /listening (\d+)/.exec(seen);
      if (m) { clearTimeout(t); child.stdout?.off('data', onData); resolve(Number(m[1])); }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, sig) => { clearTimeout(t); reject(new Error(`exited (${code ?? sig}) before listening: ${output()}`)); });
  });
}

/** Sends SIGTERM to a child and its descendants, waits up to `graceMs` for it to exit, then SIGKILLs what is left. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const tree = processTree(child.pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (const pid of tree) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref());
  if ((await Promise.race([exited, timer])) === 'late') {
    for (const pid of tree) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await exited;
  }
}

/**
 * Starts `kind` on 127.0.0.1 over a fresh temp root with the bench binary (`size` bytes) and UPGRADE.TXT.
 * Throws AnchorMissingError if it is not installed, or an Error with the server's output if it fails to start.
 */
export async function startBenchServer(kind: ServerKind, opts: StartOptions): Promise<BenchServer> {
  const missing = missingAnchor(kind);
  if (missing) throw new AnchorMissingError(missing);
  if (opts.serverArgs?.length && !isFirmdrop(kind)) throw new Error(`--server-arg applies to firmdrop only, not ${kind}`);
  if (opts.logins && !isFirmdrop(kind)) throw new Error(`--logins applies to firmdrop only, not ${kind}`);
  const pasvMin = opts.pasvMin ?? 20000, pasvMax = opts.pasvMax ?? 29999;
  const readyMs = opts.readyTimeoutMs ?? 20_000;
  const root = await mkdtemp(path.join(os.tmpdir(), `firmdrop-bench-${kind}-`));
  let child: ChildProcess | undefined;
  let cleanup: () => Promise<void> = async () => {};
  try {
    let port: number;
    let url: (port: number) => string;
    let readTail: () => string = () => '';
    const output = () => readTail();
    const launch = (cmd: string, args: string[], logFile?: string) => {
      ({ child, readTail } = spawnServer(cmd, args, logFile));
      return child;
    };
    switch (kind) {
      case 'ftp-srv':
      case 'ftp-srv-nodelay': {
        await writeBenchRoot(root, opts.size);
        const args = [...nodeFlags(opts), '--import', 'tsx', path.join(here, 'ftp-srv-server.ts'), '--root', root, '--port', '0',
          '--pasv-min', String(pasvMin), '--pasv-max', String(pasvMax)];
        if (kind === 'ftp-srv-nodelay') args.push('--nodelay');
        port = await listeningPort(launch(process.execPath, args), output, readyMs);
        url = (p) => `ftp://anonymous:bench%40@127.0.0.1:${p}`;
        break;
      }
      case 'pyftpdlib':
      case 'pyftpdlib-tuned': {
        await writeBenchRoot(root, opts.size);
        const args = [path.join(here, 'anchors', 'pyftpdlib_server.py'),
          '--root', root, '--port', '0', '--pasv-min', String(pasvMin), '--pasv-max', String(pasvMax)];
        if (kind === 'pyftpdlib-tuned') args.push('--tuned');
        port = await listeningPort(launch(DEBIAN_PYTHON, args), output, readyMs);
        url = (p) => `ftp://bench:bench@127.0.0.1:${p}`;
        break;
      }
      case 'vsftpd': {
        await writeBenchRoot(root, opts.size);
        port = await freePort();
        const conf = await vsftpdConfig(launch('sh', [path.join(here, 'anchors', 'vsftpd.sh'), root, String(port), String(pasvMin), String(pasvMax)]));
        if (conf) cleanup = () => rm(conf, { force: true });
        url = (p) => `ftp://anonymous:bench@127.0.0.1:${p}`;
        break;
      }
      case 'firmdrop':
      case 'firmdrop-tsx': {
        ({ port, url } = await launchFirmdrop(root, opts, [pasvMin, pasvMax], launch, kind === 'firmdrop-tsx'));
        break;
      }
    }
    const c = child as ChildProcess | undefined;
    if (!c?.pid) throw new Error(`${kind}: could not start`);
    const exitedEarly = new Promise<never>((_, reject) =>
      c.once('exit', (code, sig) => reject(new Error(`${kind} exited (${code ?? sig}): ${readTail()}`))));
    exitedEarly.catch(() => {});     // it also rejects at the normal stop, when nobody waits for it any more
    await Promise.race([waitForGreeting('127.0.0.1', port, readyMs), exitedEarly]);
    // Another process (other test suites share this machine) may have taken the port between freePort() and the
    // server's bind: then the greeting came from it. Refuse to measure the wrong server.
    if (!holdsListeningPort(c.pid, port)) {
      throw new Error(`${kind}: port ${port} answered, but not from the server the bench started (pid ${c.pid}): ${readTail()}`);
    }
    const pid = c.pid;
    return {
      kind, url: url(port), pid, root,
      stop: async () => {
        await stopChild(c);
        await cleanup();
        await removeRoot(root);
      },
    };
  } catch (err) {
    const c = child as ChildProcess | undefined;
    if (c) await stopChild(c);
    await cleanup();
    await removeRoot(root);
    throw err;
  }
}

/** Whether `kind` is firmdrop (built or from sources). */
export function isFirmdrop(kind: ServerKind): boolean {
  return kind === 'firmdrop' || kind === 'firmdrop-tsx';
}

/**
 * firmdrop as a child process, started as `npm start` does: the bench binary is published first with firmdrop's own
 * Publisher (in this process: it writes UPGRADE.TXT and the catalogue), the server is built (`node
 * bin/build-dist.js`, a no-op when dist/ is up to date), then
 * `node bin/firmdrop.js serve --root ROOT --host 127.0.0.1 --port PORT --pasv-range MIN-MAX --user bench:bench`
 * runs with its default log level (info, JSON lines appended to `ROOT.log`, outside the served root) and default
 * limits, as deployed,
 * plus `opts.serverArgs`. With `fromSources`, `node --import tsx server/cli.ts serve ...` instead (no build).
 * Throws when the build fails.
 */
async function launchFirmdrop(root: string, opts: StartOptions, pasv: [number, number],
                              launch: (cmd: string, args: string[], logFile?: string) => ChildProcess, fromSources: boolean):
    Promise<{ port: number; url: (p: number) => string }> {
  const src = await mkdtemp(path.join(os.tmpdir(), 'firmdrop-bench-src-'));
  try {
    await writeBenchRoot(src, opts.size, { manifest: false });
    const { Publisher } = await import('../server/publisher.ts');
    const publisher = new Publisher({ root });
    await publisher.importBinary(path.join(src, BENCH_PROGRAM), { name: BENCH_PROGRAM, version: BENCH_VERSION });
    await publisher.close();
    if (opts.logins) (await import('./logins.ts')).seedBenchLogins(root, opts.logins, opts.loginScryptN);
  } finally {
    await rm(src, { recursive: true, force: true });
  }
  await chmod(root, 0o755);
  const port = await freePort();
  if (!fromSources) {
    const built = spawnSync(process.execPath, [path.join(repo, 'bin', 'build-dist.js')], { cwd: repo, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`firmdrop build failed: ${built.stderr || built.stdout}`);
  }
  const entry = fromSources ? ['--import', 'tsx', path.join(repo, 'server', 'cli.ts')] : [path.join(repo, 'bin', 'firmdrop.js')];
  launch(process.execPath, [...nodeFlags(opts), ...entry, 'serve', '--root', root,
    '--host', '127.0.0.1', '--port', String(port), '--pasv-range', `${pasv[0]}-${pasv[1]}`,
    '--user', 'bench:bench', '--log-format', 'json', ...(opts.serverArgs ?? [])], `${root}.log`);
  return { port, url: (p) => `ftp://bench:bench@127.0.0.1:${p}` };
}
