/**
 * `client-sim scenario <id>`: runs one catalogue scenario against a firmdrop FTP server it starts on a temporary
 * root (client-sim/scenarios/runner.ts), prints the device's report and whether the code is the expected one.
 * With `--devices N`, N devices run the scenario at once against one server (fleet mode) and a table of codes is
 * printed. Exit status: 0 when the code matched (every device, in fleet mode), 1 otherwise, 2 on bad arguments.
 */
import type { CommandModule } from 'yargs';
import { findScenario } from '../scenarios/catalog.ts';
import { runScenario, buildScenarioRoot, startScenarioServer, SCENARIO_USER } from '../scenarios/runner.ts';
import { DEFAULT_DEVICE } from '../scenarios/types.ts';
import { formatResult } from './ota.ts';
import { runFleet, formatFleet, MAX_FLEET_DEVICES } from '../fleet.ts';

interface ScenarioArgs { id: string; trace: boolean; json: boolean; devices: number; deadline: number; 'time-scale': number }

/** The `scenario` command. */
export const scenarioCommand: CommandModule<object, ScenarioArgs> = {
  command: 'scenario <id>',
  describe: 'run one error-code scenario against a temporary firmdrop server',
  builder: (y) => y
    .positional('id', { type: 'string', demandOption: true, describe: 'scenario id (see: client-sim scenarios)' })
    .option('trace', { type: 'boolean', default: false, describe: 'print every AT command, reply, URC and FTP line (stderr)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
    .option('devices', { type: 'number', default: 1, describe: `fleet mode: this many devices at once (1..${MAX_FLEET_DEVICES})` })
    .option('deadline', { type: 'number', default: 120_000, describe: 'fleet mode: stop waiting after this many ms' })
    .option('time-scale', { type: 'number', default: 0.02, describe: "multiplier for the library's own delays and timeouts" }) as never,
  handler: async (a) => {
    const s = findScenario(a.id);
    if (a.devices > 1) {
      const root = await buildScenarioRoot(s);
      const ftp = await startScenarioServer(root.dir);
      try {
        const summary = await runFleet({
          devices: a.devices, deadlineMs: a.deadline,
          make: () => ({
            module: s.module,
            server: { host: '127.0.0.1', port: ftp.port, user: s.login?.user ?? SCENARIO_USER.user, pass: s.login?.pass ?? SCENARIO_USER.pass },
            device: { ...DEFAULT_DEVICE, ...s.device }, atFaults: s.atFaults, netFaults: s.netFaults, modemOptions: s.modemOptions,
            timeScale: a['time-scale'], minTimeoutMs: 1500, maxIdlePolls: 50,
          }),
        });
        process.stdout.write(a.json ? `${JSON.stringify({ scenario: s.id, expect: s.expect, ...summary, results: undefined })}\n` : `${s.id}: expect ${s.expect.code} ${s.expect.name}\n${formatFleet(summary)}\n`);
        process.exitCode = summary.rows.every((r) => r.code === s.expect.code) ? 0 : 1;
      } finally {
        await ftp.close(2000);
        await root.remove();
      }
      return;
    }
    const out = await runScenario(s, { timeScale: a['time-scale'], trace: a.trace ? (l) => process.stderr.write(`${l}\n`) : undefined });
    if (a.json) {
      process.stdout.write(`${JSON.stringify({ scenario: s.id, expect: s.expect, passed: out.passed, ...out.result })}\n`);
    } else {
      process.stdout.write(`scenario        ${s.id}: ${s.title}\nwhy             ${s.why}\nexpected        ${s.expect.code}  ${s.expect.name}\n${formatResult(out.result)}\n${out.passed ? 'PASS' : 'FAIL'}\n`);
    }
    process.exitCode = out.passed ? 0 : 1;
  },
};
