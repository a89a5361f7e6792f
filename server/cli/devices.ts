/**
 * `firmdrop devices`: list device logins with their status; `devices add`, `devices import`, `devices remove`.
 * Output: a table, or with `--json` the array of DeviceReport (server/fleet/devices.ts; docs/fleet.md).
 */
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { cliActor } from '../fleet/audit.ts';
import { DeviceError, addDevices, deviceReports, parseDeviceCsv, removeDevice } from '../fleet/devices.ts';
import { type RunJob, withRoot, withStore } from './fleet-common.ts';

type Flags = Record<string, unknown>;

/** The password of `devices add`: `--password P`, or the first line of stdin with `--password-stdin`. */
async function passwordOf(flags: Flags): Promise<string> {
  if (flags.password !== undefined && flags.passwordStdin) throw new DeviceError('give --password or --password-stdin, not both');
  if (flags.password !== undefined) return String(flags.password);
  if (!flags.passwordStdin) throw new DeviceError('devices add needs --password P or --password-stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

async function list(flags: Flags): Promise<number> {
  const reports = await withStore(flags, (store) => deviceReports(store));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
    return 0;
  }
  const lines = reports.map((r) => [r.login, r.cohort ?? '-', r.state, r.lastSeen ?? '-', r.address ?? '-',
    r.offered ? `${r.offered.file} v${r.offered.version}` : '-',
    r.download ? `${r.download.file} v${r.download.version} ${r.download.outcome} ${r.download.bytes} bytes` : '-'].join('  '));
  const header = lines.length ? '\nlogin  cohort  state  last seen  address  offered  last download\n' : '';
  process.stdout.write(`${reports.length} devices${header}${lines.join('\n')}\n`);
  return 0;
}

/** The `devices` command module (one line in server/cli.ts registers it). */
export function devicesCommand(run: RunJob): CommandModule {
  return {
    command: 'devices',
    describe: 'device logins (each device its own FTP login, UPGRADE.TXT and status)',
    builder: (y: Argv) => withRoot(y)
      .option('json', { type: 'boolean', describe: 'print JSON' })
      .command('add <login>', 'add a device login (or change its password and cohort)', (a: Argv) => withRoot(a)
        .positional('login', { type: 'string' })
        .option('password', { type: 'string', requiresArg: true, describe: 'its FTP password' })
        .option('password-stdin', { type: 'boolean', describe: 'read the password from the first line of stdin' })
        .option('cohort', { type: 'string', requiresArg: true, describe: 'its cohort (e.g. test)' }),
      (a) => run((async () => {
        const password = await passwordOf(a);
        await withStore(a, (store, root) => addDevices(store, root, [{ login: String(a.login), password, cohort: a.cohort as string | undefined }], cliActor()));
        process.stdout.write(`added ${String(a.login)}\n`);
        return 0;
      })()))
      .command('import <file>', 'add the devices of a CSV file (header login,password,cohort); all or nothing', (a: Argv) => withRoot(a)
        .positional('file', { type: 'string' }),
      (a) => run((async () => {
        const file = String(a.file);
        const devices = parseDeviceCsv(await readFile(file, 'utf8'), file);
        await withStore(a, (store, root) => addDevices(store, root, devices, cliActor(), 'device-import'));
        process.stdout.write(`imported ${devices.length} devices\n`);
        return 0;
      })()))
      .command('remove <login>', 'remove a device login, its status and sessions', (a: Argv) => withRoot(a).positional('login', { type: 'string' }),
        (a) => run((async () => {
          await withStore(a, (store, root) => removeDevice(store, root, String(a.login), cliActor()));
          process.stdout.write(`removed ${String(a.login)}\n`);
          return 0;
        })())),
    handler: (a) => run(list(a)),
  };
}
