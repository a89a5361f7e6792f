/**
 * `npm run bench -- [options]`: firmdrop's load generator (see BENCHMARKS.md).
 *   npm run bench -- --server pyftpdlib -n 2000 -c 50 --repeat 3
 *   npm run bench -- --url ftp://user:pass@127.0.0.1:2121 -n 500 -c 20 --json
 *   npm run bench -- table --servers pyftpdlib,vsftpd,ftp-srv,firmdrop     (the comparison table, Markdown)
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { measureRepeated, type MeasureOptions, type RepeatedFigures } from './measure.ts';
import { SERVER_KINDS, isFirmdrop, missingAnchor, startBenchServer, type ServerKind } from './servers.ts';
import { parseLinkProfile } from './link.ts';
import { openFileLimit } from './proc-stats.ts';
import { formatFigures, formatTable, machineLine, type TableRow } from './report.ts';
import { DEFAULT_BINARY_BYTES } from './fixture.ts';
import { formatProfileSummary, summarizeCpuProfile } from './cpu-profile.ts';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Parses a size: bytes, or a number with KiB/MiB/KB/MB (e.g. 200KiB, 3MiB). Throws a one-line Error otherwise. */
function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+(?:\.\d+)?)\s*(|b|kib|mib|kb|mb|k|m)$/i.exec(text.trim());
  if (!m) throw new Error(`--size: cannot read "${text}" (bytes, or e.g. 200KiB, 3MiB)`);
  const unit = { '': 1, b: 1, kib: 1024, k: 1024, mib: 1024 ** 2, m: 1024 ** 2, kb: 1000, mb: 1e6 }[m[2].toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}

/** Warns (stderr) when this process may run out of file descriptors: each session holds a control and a data socket. */
function checkFileLimit(c: number): void {
  const need = 2 * c + 100;
  const have = openFileLimit();
  if (have < need) {
    console.error(`warning: -c ${c} needs about ${need} open files (2 sockets per session + spare); this process may ` +
      `open ${have}. Raise it in the shell first: ulimit -n ${Math.max(4096, need)}`);
  }
}

const MAX_N = 1_000_000;
const MAX_C = 20_000;

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('bench')
    .usage('$0 [table] [options]: OTA sessions against an FTP server (loopback only)')
    .option('url', { type: 'string', describe: 'target a running server: ftp://user:pass@127.0.0.1:PORT' })
    .option('pid', { type: 'number', describe: 'with --url: the server\'s pid, to read its CPU and memory from /proc' })
    .option('server', { choices: SERVER_KINDS as unknown as string[], describe: 'start this server on a temp root, measure, stop it' })
    .option('n', { alias: 'N', type: 'number', default: 200, describe: 'sessions (simulated devices)' })
    .option('c', { alias: 'C', type: 'number', default: 10, describe: 'sessions in progress at once' })
    .option('size', { type: 'string', default: String(DEFAULT_BINARY_BYTES), describe: 'binary size (bytes, or 200KiB, 3MiB)' })
    .option('repeat', { type: 'number', default: 1, describe: 'runs per configuration; figures are medians' })
    .option('profile', { type: 'string', describe: 'cellular link per device: gprs, 3g, catm1, nbiot, cat1 (client-sim/net/profiles.ts) or custom:<down kbit/s>,<rtt ms>' })
    .option('link', { choices: ['client', 'proxy'], default: 'client', describe: 'apply --profile at each device (cheap) or through client-sim\'s fault proxy' })
    .option('epsv', { type: 'boolean', default: false, describe: 'EPSV instead of PASV for data connections' })
    .option('duration-limit', { type: 'number', default: 120, describe: 'hard cap per run, seconds' })
    .option('session-timeout', { type: 'number', default: 30, describe: 'client socket idle timeout, seconds' })
    .option('cpu-prof', { type: 'string', describe: 'with --server firmdrop|ftp-srv: profile the server (node --cpu-prof) into this folder and summarise' })
    .option('warmup', { type: 'number', default: 0, describe: 'sessions run first and not counted (warm server)' })
    .option('server-arg', { type: 'string', array: true, describe: 'extra argument for firmdrop serve, repeatable: --server-arg=--max-connections --server-arg=5000' })
    .option('logins', { type: 'number', describe: 'firmdrop: seed device logins dev1..devN and log each session in as one (own offer, status tracking)' })
    .option('login-scrypt-n', { type: 'number', describe: 'with --logins: scrypt cost N of the seeded logins (default firmdrop\'s 16384)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' })
    .command('$0', 'run N sessions at concurrency C', () => {}, (argv) => runSessions(argv))
    .command('serve', 'start --server on a temp root with the bench files, print {"url","pid"} as one JSON line, and '
      + 'keep it running until SIGINT/SIGTERM (for another load generator, e.g. bench/crosscheck/)', () => {}, (argv) => serveForOthers(argv))
    .command('table', 'the comparison table: C=1 (N=200, --c1-n), C=50 (N=2000), C=1000 (N=2000), 3 MiB RETR (C=1, N=20), per server',
      (y) => y
        .option('servers', { type: 'string', default: 'pyftpdlib,vsftpd,ftp-srv,ftp-srv-nodelay,firmdrop' })
        .option('repeat', { type: 'number', default: 3 })
        .option('warmup', { type: 'number', default: 100, describe: 'sessions run first on each fresh server and not counted' })
        .option('c1-n', { type: 'number', default: 200, describe: 'sessions of the C=1 column (Node servers need ~1000 to be warm)' })
        .option('big-c', { type: 'number', default: 1000, describe: 'concurrency of the big column' })
        .option('big-n', { type: 'number', default: 2000 }),
      (argv) => runTable(argv))
    .check((argv) => {
      if (!(argv.n >= 1 && argv.n <= MAX_N)) throw new Error(`-n must be 1..${MAX_N}`);
      if (!(argv.c >= 1 && argv.c <= MAX_C)) throw new Error(`-c must be 1..${MAX_C}`);
      if (!(argv['duration-limit'] > 0 && argv['duration-limit'] <= 3600)) throw new Error('--duration-limit must be 1..3600 s');
      return true;
    })
    .strict()
    .help()
    .fail((msg, err) => { throw err ?? new Error(msg); })
    .parseAsync();
}

/** Options shared by both commands, from parsed arguments. */
/** The options `common` reads, shared by every command. */
type CommonArgv = Parameters<typeof common>[0];

/** `npm run bench -- --server KIND | --url URL`: one configuration, `--repeat` times, printed (or JSON). */
async function runSessions(argv: CommonArgv & { server?: string; url?: string; pid?: number; 'cpu-prof'?: string;
                                               repeat: number; json: boolean }): Promise<void> {
  if (!argv.server && !argv.url) throw new Error('give --server <kind> or --url ftp://user:pass@127.0.0.1:PORT');
  if (argv.url && !/^ftp:\/\/([^@/]*@)?(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\/?$/.test(argv.url)) {
    throw new Error(`--url must point at loopback (127.x.x.x): got ${argv.url}`);
  }
  const opts = common(argv);
  checkFileLimit(opts.c);
  const cpuProfDir = argv['cpu-prof'] ? path.resolve(argv['cpu-prof']) : undefined;
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const before = cpuProfDir ? new Set(await readdir(cpuProfDir)) : new Set<string>();
  const r = await measureRepeated({ ...opts, server: argv.server as ServerKind | undefined, url: argv.url, pid: argv.pid, cpuProfDir }, argv.repeat);
  console.log(argv.json ? JSON.stringify(r, null, 2) : formatFigures(r));
  if (cpuProfDir) {
    const written = (await readdir(cpuProfDir)).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
    if (!written.length) console.error(`no CPU profile was written into ${cpuProfDir} (only Node servers started with --server are profiled)`);
    for (const f of written) console.log(`\n${path.join(cpuProfDir, f)}\n${formatProfileSummary(await summarizeCpuProfile(path.join(cpuProfDir, f)))}`);
  }
  if (r.median.ok === 0) process.exitCode = 1;
}

/** `npm run bench -- serve --server KIND`: a server for another load generator, until SIGINT/SIGTERM. */
async function serveForOthers(argv: { server?: string; size: string; 'server-arg'?: string[] }): Promise<void> {
  if (!argv.server) throw new Error('serve needs --server <kind>');
  const server = await startBenchServer(argv.server as ServerKind, { size: parseSize(argv.size), serverArgs: argv['server-arg'] });
  console.log(JSON.stringify({ url: server.url, pid: server.pid, root: server.root }));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
}

/** `npm run bench -- table`: the comparison table, one row per server, saved under bench/results/ as JSON. */
async function runTable(argv: CommonArgv & { servers: string; repeat: number; 'c1-n': number; 'big-c': number;
                                             'big-n': number; json: boolean }): Promise<void> {
  const base = common({ ...argv, n: 1, c: 1 });
  checkFileLimit(argv['big-c']);
  const machine = machineLine();
  const rows: TableRow[] = [];
  for (const name of argv.servers.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SERVER_KINDS as readonly string[]).includes(name)) throw new Error(`--servers: unknown server "${name}"`);
    const server = name as ServerKind;
    const missing = missingAnchor(server);
    if (missing) { console.error(`skipping ${server}: ${missing}`); rows.push({ server, error: `not run: ${missing}` }); continue; }
    const label = isFirmdrop(server) && base.serverArgs?.length ? `firmdrop ${base.serverArgs.join(' ')}` : server;
    const run = async (n: number, c: number, extra: Partial<MeasureOptions> = {}): Promise<RepeatedFigures> => {
      const r = await measureRepeated({ ...base, server, n, c, ...extra,
        serverArgs: isFirmdrop(server) ? base.serverArgs : undefined }, argv.repeat);
      if (!argv.json) console.error(formatFigures(r));
      return r;
    };
    try {
      rows.push({
        server: label,
        c1: await run(argv['c1-n'], 1),
        c50: await run(2000, 50),
        c1000: await run(argv['big-n'], argv['big-c']),
        retr3MiB: await run(20, 1, { size: 3 * 1024 * 1024 }),
      });
    } catch (err) {
      console.error(`${server}: ${(err as Error).message}`);
      rows.push({ server: label, error: `failed: ${(err as Error).message.slice(0, 100)}` });
    }
  }
  const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  await mkdir(resultsDir, { recursive: true });
  const saved = path.join(resultsDir, `table-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(saved, JSON.stringify({ machine, rows }, null, 2));
  console.error(`all runs saved in ${saved}`);
  console.log(argv.json ? JSON.stringify({ machine, rows }, null, 2) : `${machine}\n\n${formatTable(rows)}`);
}

function common(argv: { n: number; c: number; size: string; profile?: string; epsv: boolean; link: string;
                        'duration-limit': number; 'session-timeout': number; warmup: number; 'server-arg'?: string[];
                        logins?: number; 'login-scrypt-n'?: number }): MeasureOptions {
  return {
    n: Math.floor(argv.n), c: Math.floor(argv.c), size: parseSize(argv.size),
    profile: argv.profile ? parseLinkProfile(argv.profile) : undefined,
    epsv: argv.epsv,
    link: argv.link === 'proxy' ? 'proxy' : 'client',
    warmup: Math.max(0, Math.floor(argv.warmup)),
    serverArgs: argv['server-arg']?.map(String),
    logins: argv.logins === undefined ? undefined : Math.floor(argv.logins),
    loginScryptN: argv['login-scrypt-n'],
    durationLimitMs: argv['duration-limit'] * 1000,
    sessionTimeoutMs: argv['session-timeout'] * 1000,
  };
}

main().catch((err) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(2);
});
