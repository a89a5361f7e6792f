/**
 * `client-sim ota`: one Waspmote OTA (or a fleet with `--devices N`) against any FTP server, reported the way the
 * device reports it: the code, its name, the library's condition, the guide's wording, bytes, FTP sessions and
 * duration. `--json` prints one object (module, code, description, bytes, ...). A progress bar (cli-progress)
 * shows on stderr only when it is a TTY and `--json` is off.
 *
 * Exit status: 0 when the module's success code came back (and checkNewProgram() was 1), 1 for any device error
 * code, 2 when the procedure hung, hit undefined behaviour (the library would overrun memory: `code` is null,
 * `undefinedBehaviour: { source, why }` in `--json`) or the arguments were wrong.
 *
 * Fleet identities (client-sim/identities.ts): `--login-pattern 'dev{n}'` (`{n:3}` zero-pads) with `--password P`
 * or `--password-pattern`, or `--credentials FILE.csv`, give each simulated device its own login; the summary then
 * adds one line per login (code, outcome, bytes), and `--json` a `perLogin` list.
 */
import type { Argv, CommandModule } from 'yargs';
import cliProgress from 'cli-progress';
import { runOta, MODEM_FAMILY, type OtaResult, type RunOtaOptions } from '../waspmote/run-ota.ts';
import { WASP_MODULES, type WaspModule } from '../waspmote/upgrade-txt.ts';
import { parseFaults } from '../scenarios/fault-spec.ts';
import { runFleet, formatFleet, MAX_FLEET_DEVICES } from '../fleet.ts';
import { expandPattern, fleetIdentities, readCredentialsFile } from '../identities.ts';
import { LIBRARY_VERSIONS, type LibraryVersion } from '../waspmote/ota-env.ts';
import { GPRS_PATH_MAPPINGS, type GprsPathMapping } from '../modem/simcom900.ts';

/** Arguments of `client-sim ota`. */
export interface OtaArgs {
  module: WaspModule; host: string; port: number; user: string; pass: string;
  program: string; version: number; sd: boolean; fault: string[]; profile?: string;
  trace: boolean; json: boolean; timing: 'fast' | 'realistic'; 'time-scale': number; devices: number; deadline: number;
  library: LibraryVersion; 'gprs-path-mapping': GprsPathMapping; 'gprs-prefix': boolean;
  'login-pattern'?: string; 'password-pattern'?: string; credentials?: string;
}

/** Text report of one result, one `key  value` per line. */
export function formatResult(r: OtaResult): string {
  const rows: [string, string][] = [
    ['module', `${r.module} (${MODEM_FAMILY[r.module]} emulator)`],
    ['code', `${r.code ?? '-'}  ${r.name}`],
    [r.undefinedBehaviour ? 'undefined' : 'library', r.description],
  ];
  if (r.guideText !== undefined) rows.push(['guide', `"${r.guideText}"${r.guideCode !== undefined ? ` (the guide numbers it ${r.guideCode})` : ''}`]);
  rows.push(['bytes', String(r.bytes)], ['sessions', String(r.sessions)], ['duration', `${r.durationMs} ms`]);
  if (r.checkNewProgram !== undefined) rows.push(['checkNewProgram', String(r.checkNewProgram)]);
  rows.push(['program', `${r.programId} v${r.version}`]);
  if (r.atFaultHits) rows.push(['at faults', `${r.atFaultHits} command(s) answered by the tap`]);
  if (r.netFaultEvents) rows.push(['net faults', `${r.netFaultEvents} event(s)`]);
  for (const n of r.notes) rows.push(['note', n]);
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join('\n');
}

/** Exit status for a result (see module docstring). */
export function exitStatus(r: OtaResult): number {
  if (r.hung || r.code === null) return 2;
  return r.ok && r.checkNewProgram === 1 ? 0 : 1;
}

/** Builds RunOtaOptions from the parsed arguments; throws Error on a bad --fault. */
export function otaOptionsFromArgs(a: OtaArgs, trace?: (l: string) => void): RunOtaOptions {
  const faults = parseFaults(a.fault);
  return {
    module: a.module,
    server: { host: a.host, port: a.port, user: a.user, pass: a.pass },
    device: { programId: a.program, version: a.version, sd: a.sd, sdFaults: faults.sd },
    atFaults: faults.at, netFaults: faults.net, profile: a.profile,
    modemTiming: a.timing, timeScale: a['time-scale'],
    library: a.library,
    ...(a.module === 'gprs' ? { modemOptions: { pathMapping: a['gprs-path-mapping'] }, gprsLiteralPrefix: a['gprs-prefix'] } : {}),
    trace,
  };
}

/** Shared option definitions for `ota`. */
export function otaBuilder(y: Argv): Argv<OtaArgs> {
  return y
    .option('module', { alias: 'm', choices: WASP_MODULES as WaspModule[], demandOption: true, describe: 'Waspmote module whose requestOTA runs' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'FTP server address' })
    .option('port', { type: 'number', default: 21, describe: 'FTP control port' })
    .option('user', { type: 'string', default: 'ota', describe: 'FTP user' })
    .option('pass', { alias: 'password', type: 'string', default: 'libelium', describe: 'FTP password (of every device, unless --password-pattern or --credentials)' })
    .option('login-pattern', { type: 'string', requiresArg: true, describe: "fleet mode: each device's own login, {n} = 1..N, {n:3} zero-padded (dev{n:3} → dev001)" })
    .option('password-pattern', { type: 'string', requiresArg: true, describe: "fleet mode: each device's own password, same placeholders as --login-pattern" })
    .option('credentials', { type: 'string', requiresArg: true, describe: 'fleet mode: CSV file of login,password lines, one per device (in order)' })
    .option('program', { type: 'string', default: 'OTA_APP', describe: 'program ID the device runs (EEPROM PID)' })
    .option('version', { type: 'number', default: 1, describe: 'program version the device runs (0..255)' })
    .option('sd', { type: 'boolean', default: true, describe: 'SD card present (--no-sd: missing)' })
    .option('fault', { type: 'string', array: true, default: [] as string[], describe: 'fault to inject (see client-sim/scenarios/fault-spec.ts), repeatable' })
    .option('profile', { type: 'string', describe: 'cellular link profile through the fault proxy: gprs, 3g, catm1, nbiot, cat1' })
    .option('timing', { choices: ['fast', 'realistic'] as const, default: 'fast' as const, describe: 'modem response timing preset' })
    .option('time-scale', { type: 'number', default: 1, describe: "multiplier for the library's own delays and timeouts" })
    .option('library', { choices: LIBRARY_VERSIONS as unknown as LibraryVersion[], default: 'v048' as LibraryVersion, describe: 'Waspmote API version whose requestOTA runs (v038/v039: the 4G SD.cat(sizeof pointer) bug)' })
    .option('gprs-path-mapping', { choices: GPRS_PATH_MAPPINGS as unknown as GprsPathMapping[], default: 'cwd-then-retr' as GprsPathMapping, describe: 'how the emulated SIM900 turns AT+FTPGETPATH/FTPGETNAME into FTP commands (inferred; see client-sim/modem/simcom900.ts)' })
    .option('gprs-prefix', { type: 'boolean', default: true, describe: "GPRS: ask for the library's literal .gprs paths (--no-gprs-prefix: without it, for servers with no .gprs folder or alias)" })
    .option('trace', { type: 'boolean', default: false, describe: 'print every AT command, reply, URC and FTP line (stderr)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
    .option('devices', { type: 'number', default: 1, describe: `fleet mode: this many devices at once (1..${MAX_FLEET_DEVICES})` })
    .option('deadline', { type: 'number', default: 120_000, describe: 'fleet mode: stop waiting after this many ms' })
    .check((a) => {
      if (!Number.isInteger(a.version) || a.version < 0 || a.version > 255) throw new Error('--version must be 0..255');
      if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) throw new Error('--port must be 1..65535');
      if (!(a['time-scale'] > 0)) throw new Error('--time-scale must be > 0');
      parseFaults(a.fault as string[]);
      if (a['login-pattern'] !== undefined && a.credentials !== undefined) throw new Error('give --login-pattern or --credentials, not both');
      if (a['login-pattern'] !== undefined) expandPattern(a['login-pattern'] as string, 1);
      if (a['password-pattern'] !== undefined) expandPattern(a['password-pattern'] as string, 1);
      return true;
    }) as unknown as Argv<OtaArgs>;
}

/** Runs one OTA with a TTY progress bar and prints the report; returns the exit status. */
export async function runAndReport(opts: RunOtaOptions, json: boolean): Promise<number> {
  const showBar = !json && process.stderr.isTTY === true;
  const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format: '{file} [{bar}] {value}/{total} bytes' }, cliProgress.Presets.shades_classic) : undefined;
  let barFile = '';
  const { result } = await runOta({
    ...opts,
    onProgress: bar ? (p) => {
      if (p.file !== barFile) { if (barFile) bar.stop(); barFile = p.file; bar.start(p.total, 0, { file: p.file }); }
      bar.update(p.bytes, { file: p.file });
    } : undefined,
  });
  bar?.stop();
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
  return exitStatus(result);
}

/** The `ota` command. */
export const otaCommand: CommandModule<object, OtaArgs> = {
  command: 'ota',
  describe: 'run one Waspmote requestOTA (or a fleet) against an FTP server and report its code',
  builder: (y) => otaBuilder(y),
  handler: async (a) => {
    const trace = a.trace ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
    const ids = fleetIdentities({
      devices: a.devices, loginPattern: a['login-pattern'], password: a.pass, passwordPattern: a['password-pattern'],
      csv: a.credentials === undefined ? undefined : readCredentialsFile(a.credentials),
    });
    if (a.devices > 1 || ids) {
      const make = (i: number): RunOtaOptions => {
        const o = otaOptionsFromArgs(a);
        return ids ? { ...o, server: { ...o.server, user: ids[i]!.login, pass: ids[i]!.password } } : o;
      };
      const s = await runFleet({ devices: a.devices, deadlineMs: a.deadline, make, logins: ids?.map((d) => d.login) });
      process.stdout.write(a.json ? `${JSON.stringify({ ...s, results: undefined })}\n` : `${formatFleet(s)}\n`);
      process.exitCode = s.timedOut > 0 ? 2 : s.rows.every((r) => r.name === 'OK') ? 0 : 1;
      return;
    }
    process.exitCode = await runAndReport(otaOptionsFromArgs(a, trace), a.json);
  },
};
