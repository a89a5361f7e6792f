/**
 * The `firmdrop` command line (yargs): serve, publish, select, status, check.
 *
 * Conventions: results go to stdout; an error is one line on stderr (`firmdrop: <what went wrong>`), exit code 1
 * (2 for a usage error), and nothing on disk is changed (the publisher only renames a fully written file into place).
 * `--help` works on every command.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CONFIG_OPTIONS, type Config, assertRootDir, loadConfig } from './config.ts';
import { type Logger, createLogger } from './log.ts';
import { Catalog, type Release } from './catalog.ts';
import {
  MANIFEST_NAME, type Manifest, type ManifestIssue, NO_FILE, isProgramName, lintManifest, parseManifest, readManifest,
} from './manifest.ts';
import { PublishError, hashBinary } from './binary.ts';
import { Publisher } from './publisher.ts';
// fleet commands (device logins, rollouts, audit): server/cli/*.ts
import { auditCommand } from './cli/audit.ts';
import { devicesCommand } from './cli/devices.ts';
import { cliPublisherHooks } from './cli/fleet-common.ts';
import { rolloutCommand } from './cli/rollout.ts';

/** An error the user can fix; printed as `firmdrop: <message>` (one line), exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Thrown by yargs validation (unknown flag, missing argument); exit code 2. */
class UsageError extends CliError {}

type Flags = Record<string, unknown>;

/** Size (bytes) and checksums (lowercase hex) of the binary UPGRADE.TXT names, or `present: false`. */
export interface BinaryFacts { name: string; present: boolean; size?: number; crc32?: string; md5?: string }

/** What `status` and `check` report about a root. */
export interface RootReport {
  /** Absolute root folder. */
  root: string;
  /** UPGRADE.TXT as read (null when missing). */
  text: string | null;
  /** The manifest, strictly parsed; null when missing or breaking a rule (see `issues`). */
  manifest: Manifest | null;
  /** The binary named by FILE (null for NO_FILE or a FILE value that is not a program name). */
  binary: BinaryFacts | null;
  /** Every rule broken: lintManifest's rules plus `manifest-missing`, `binary-missing` and `binary-unusable`. */
  issues: ManifestIssue[];
  /** No issue: the manifest is valid and matches the files. */
  ok: boolean;
  /** The catalogue's releases, oldest first (status only; empty for a root without catalogue). */
  releases?: Release[];
}

/**
 * Reads `<root>/UPGRADE.TXT` and the binary it names and reports whether they agree (lintManifest with the
 * binary's size and checksums). Writes nothing, needs no catalogue: works on a Meshlium or vsftpd root.
 * With `releases`, also lists the catalogue's releases.
 */
export async function inspectRoot(root: string, opts: { releases: boolean }): Promise<RootReport> {
  const report: RootReport = { root, text: null, manifest: null, binary: null, issues: [], ok: false };
  if (opts.releases) {
    const catalog = await Catalog.open(root);
    report.releases = [...catalog.releases];
    catalog.close();
  }
  try {
    report.text = await readFile(path.join(root, MANIFEST_NAME), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    report.issues.push({ rule: 'manifest-missing', severity: 'error', message: `${MANIFEST_NAME}: no such file in ${root}; devices stop without updating` });
    return report;
  }
  // The FILE value read tolerantly, so a broken line (CRLF, spaces) still names its binary.
  const name = readManifest(report.text).file;
  let facts: { size: number; crc32: string; md5: string } | undefined;
  if (name !== undefined && name !== NO_FILE && isProgramName(name)) {
    try {
      const { size, crc32, md5 } = await hashBinary(path.join(root, name), name);
      facts = { size, crc32, md5 };
      report.binary = { name, present: true, ...facts };
    } catch (err) {
      if (!(err instanceof PublishError)) throw err;
      // Missing, a symlink, not a regular file, empty, or changing while read: devices cannot get these bytes.
      report.binary = { name, present: false };
      report.issues.push({
        rule: err.code === 'not-found' ? 'binary-missing' : 'binary-unusable', severity: 'error',
        message: `${MANIFEST_NAME}: FILE:${err.message}`,
      });
    }
  }
  report.issues.unshift(...lintManifest(report.text, facts));
  try {
    report.manifest = parseManifest(report.text);
  } catch {
    report.manifest = null;
  }
  report.ok = report.issues.length === 0;
  return report;
}

/** Adds the config options named in `keys` (all when omitted) to a command, from {@link CONFIG_OPTIONS}. */
function withConfigOptions<T>(y: Argv<T>, keys?: string[]): Argv<T> {
  for (const o of CONFIG_OPTIONS) {
    if (keys && !keys.includes(o.key)) continue;
    y = y.option(o.flag, {
      type: o.kind === 'boolean' ? 'boolean' : 'string',
      array: o.kind === 'list' ? true : undefined,
      describe: `${o.describe} [env ${o.env}]`,
      defaultDescription: o.defaultText,
      requiresArg: o.kind !== 'boolean',
    });
  }
  return y;
}

/** `--version N` for publish/select: a whole number; its range (1..255) is the catalogue's rule. */
function parseVersionFlag(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  if (!/^\d+$/.test(s)) throw new CliError(`--version "${s}": expected a whole number from 1 to 255`);
  return Number(s);
}

/** A logger for the one-shot commands: warnings and errors only, on stderr, so stdout stays the command's result. */
function quietLogger(config: Config): Logger {
  const level = config.logLevel === 'info' ? 'warn' : config.logLevel;
  return createLogger({ level, pretty: Boolean(process.stderr.isTTY), destination: process.stderr });
}

/** Settings the one-shot commands (publish, select, status, check) use; other FIRMDROP_* variables are not read. */
const ONE_SHOT_KEYS = ['root', 'checksums', 'logLevel'];

/** The config of a one-shot command: its flags and only the FIRMDROP_* variables of {@link ONE_SHOT_KEYS}. */
function oneShotConfig(flags: Flags): Config {
  const names = new Set(CONFIG_OPTIONS.filter((o) => ONE_SHOT_KEYS.includes(o.key)).map((o) => o.env));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => names.has(k)));
  return loadConfig(flags, env);
}

async function openPublisher(flags: Flags): Promise<{ publisher: Publisher; root: string }> {
  const config = oneShotConfig(flags);
  await assertRootDir(config.root);
  const publisher = new Publisher({ root: config.root, checksums: config.checksums, logger: quietLogger(config), fleet: cliPublisherHooks(config.root) });
  return { publisher, root: config.root };
}

async function printManifest(root: string): Promise<void> {
  process.stdout.write(await readFile(path.join(root, MANIFEST_NAME), 'utf8'));
}

/** `firmdrop serve`: runs until SIGINT/SIGTERM, then closes cleanly and resolves 0. */
async function serve(flags: Flags): Promise<number> {
  const config = loadConfig(flags);
  // Loaded here, not at the top: the one-shot commands need neither the FTP layer nor chokidar (faster start).
  const { loggerFor, startFirmdrop } = await import('./app.ts');
  const logger = loggerFor(config);
  const app = await startFirmdrop(config, logger);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    // Listeners stay on while closing: one Ctrl-C can arrive several times (npm and tsx relay it to the process
    // group), and with no listener left tsx would exit at once. A signal more than 1 s after the first forces exit.
    let first: number | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (first === undefined) {
        first = Date.now();
        resolve(sig);
      } else if (Date.now() - first > 1000) {
        logger.warn({ signal: sig }, 'second signal: exiting without waiting for transfers');
        process.exit(1);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  logger.info({ signal }, 'stopping');
  await app.close();
  return 0;
}

async function publish(flags: Flags): Promise<number> {
  const { publisher, root } = await openPublisher(flags);
  await publisher.importBinary(String(flags.file), {
    name: flags.name === undefined ? undefined : String(flags.name),
    version: parseVersionFlag(flags.version),
    force: flags.force === true,
    offer: flags.select === false ? false : undefined, // fleet: --no-select
  });
  await printManifest(root);
  return 0;
}

async function select(flags: Flags): Promise<number> {
  const noFile = flags.file === false;
  const name = flags.name === undefined ? undefined : String(flags.name);
  if (noFile && (name !== undefined || flags.version !== undefined)) {
    throw new UsageError('select --no-file takes no NAME and no --version');
  }
  if (!noFile && name === undefined) throw new UsageError('select needs a program NAME, or --no-file');
  const { publisher, root } = await openPublisher(flags);
  if (noFile) await publisher.selectNoFile();
  else await publisher.select(name!, { version: parseVersionFlag(flags.version) });
  await printManifest(root);
  return 0;
}

/** One line per issue: `<severity> <rule>: <message>` (the message names the file and line). */
function formatIssues(report: RootReport): string {
  return report.issues.map((i) => `${i.severity ?? 'error'} ${i.rule}: ${i.message}\n`).join('');
}

async function status(flags: Flags): Promise<number> {
  const config = oneShotConfig(flags);
  await assertRootDir(config.root);
  const report = await inspectRoot(config.root, { releases: true });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  }
  const out: string[] = [`root: ${report.root}`];
  out.push(report.text === null ? `${MANIFEST_NAME}: missing` : `${MANIFEST_NAME}:\n${report.text.replace(/^/gm, '  ').trimEnd()}`);
  if (report.binary) {
    const b = report.binary;
    out.push(b.present ? `binary ${b.name}: ${b.size} bytes, crc32 ${b.crc32}, md5 ${b.md5}` : `binary ${b.name}: missing or unusable (see below)`);
  }
  out.push(report.ok ? 'manifest matches the files' : `manifest does NOT match the files:\n${formatIssues(report).trimEnd()}`);
  out.push(`releases (${report.releases?.length ?? 0}):`);
  for (const r of report.releases ?? []) {
    out.push(`  ${r.name} v${r.version}  ${r.size} bytes  crc32 ${r.crc32}  ${r.publishedAt}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return report.ok ? 0 : 1;
}

async function check(flags: Flags): Promise<number> {
  const root = flags.root === undefined ? oneShotConfig({}).root : path.resolve(String(flags.root));
  await assertRootDir(root);
  const report = await inspectRoot(root, { releases: false });
  if (!report.ok) {
    process.stdout.write(formatIssues(report));
    return 1;
  }
  const m = report.manifest;
  process.stdout.write(m && m.file !== 'NO_FILE'
    ? `OK: ${MANIFEST_NAME} offers ${m.file} version ${m.version}, ${m.size} bytes, matching the binary\n`
    : `OK: ${MANIFEST_NAME} offers no update (NO_FILE)\n`);
  return 0;
}

/** The yargs parser for `argv` (without node and script). Exposed for tests of the help texts. */
export function buildCli(argv: string[], run: (job: Promise<number>) => void): Argv {
  return yargs(argv)
    .scriptName('firmdrop')
    .usage('$0 <command> [options]\n\nFTP OTA firmware server for Waspmote devices (UPGRADE.TXT).')
    .version(false) // `--version` is the release version of publish/select; `firmdrop --version` alone: see main()
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .command('serve', 'serve the root to devices over FTP and publish binaries dropped into it',
      (y) => withConfigOptions(y)
        .example('$0 serve', 'serve ./ota-root on port 2121, user ota / libelium')
        .example('$0 serve --root /srv/ota --port 21 --pasv-address 203.0.113.9 --pasv-range 30000-30099', ''),
      (a) => run(serve(a)))
    .command('publish <file>', 'copy a binary into the root atomically and advertise it in UPGRADE.TXT',
      (y) => withConfigOptions(y.positional('file', { type: 'string', describe: 'the binary to publish' }), ['root', 'checksums'])
        .option('name', { type: 'string', requiresArg: true, describe: '7-character program name (default: the file name)' })
        .option('version', { type: 'string', requiresArg: true, describe: 'VERSION 1..255 (default: next for this name)' })
        .option('force', { type: 'boolean', describe: 'accept a version not higher than one already published' })
        .option('select', { type: 'boolean', describe: '--no-select: record the release without offering it (offer it with firmdrop rollout start)' })
        .example('$0 publish build/SENSOR1', 'next version of SENSOR1'),
      (a) => run(publish(a)))
    .command('select [name]', 'advertise an already published binary, or NO_FILE (no update)',
      (y) => withConfigOptions(y.positional('name', { type: 'string', describe: 'program name of a published binary' }), ['root', 'checksums'])
        .option('version', { type: 'string', requiresArg: true, describe: 'advertise it as this VERSION, higher than any published for NAME (default: its latest release)' })
        .option('file', { type: 'boolean', hidden: true })
        .option('no-file', { type: 'boolean', describe: 'advertise FILE:NO_FILE: devices keep their program' })
        .example('$0 select OLDPROG', 'offer another program again (rollback: a different name is always accepted)')
        .example('$0 select --no-file', 'stop offering updates'),
      (a) => run(select(a)))
    .command('status', 'show the manifest, the releases and whether the manifest matches the files (exit 1 when it does not)',
      (y) => withConfigOptions(y, ['root']).option('json', { type: 'boolean', describe: 'print JSON' }),
      (a) => run(status(a)))
    .command('check [root]', 'lint UPGRADE.TXT against the binary it names (works on any Meshlium or vsftpd root)',
      (y) => y.positional('root', { type: 'string', describe: 'folder holding UPGRADE.TXT', defaultDescription: `$FIRMDROP_ROOT or ./ota-root` })
        .example('$0 check /mnt/user/ota', 'exit 1 and list every rule broken'),
      (a) => run(check(a)))
    .command(devicesCommand(run))
    .command(rolloutCommand(run))
    .command(auditCommand(run))
    .demandCommand(1, 'give a command: serve, publish, select, status or check')
    .help()
    .alias('help', 'h')
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(`${msg} (see firmdrop --help)`);
    });
}

/**
 * firmdrop's version: `version` of the package.json nearest above this module (server/ when run from the sources,
 * dist/server/ when run from the build).
 * @throws Error when no firmdrop package.json is found
 */
export async function packageVersion(): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const text = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined);
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: string; version?: string };
      if (pkg.name === 'firmdrop' && pkg.version) return pkg.version;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json of firmdrop not found');
    dir = up;
  }
}

/** First line of an error message: errors are one line on stderr. */
function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split(/\r?\n/).find((l) => l.trim() !== '') ?? 'unknown error';
}

/**
 * Runs the CLI on `argv` (arguments after the script) and resolves the exit code: 0 success, 1 error or (check) rules
 * broken, 2 usage error. Prints errors as one line on stderr.
 */
export async function main(argv: string[]): Promise<number> {
  // `--version` of publish/select is a release VERSION; alone, it asks for firmdrop's own version.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${await packageVersion()}\n`);
    return 0;
  }
  let job: Promise<number> | undefined;
  try {
    await buildCli(argv, (j) => { job = j; }).parseAsync();
    return job ? await job : 0;
  } catch (err) {
    process.stderr.write(`firmdrop: ${oneLine(err)}\n`);
    if (process.env.FIRMDROP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** Sets the exit code; forces the exit shortly after if a library left a timer or socket running (~1 s). */
export async function runAndExit(argv: string[]): Promise<void> {
  const code = await main(argv);
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runAndExit(hideBin(process.argv));
}
