/**
 * `client-sim scenarios`: lists the error-code scenario catalogue (client-sim/scenarios/catalog.ts): id, module,
 * expected code and name, what causes it, and the guide's number where the guide differs. `--json` prints the
 * scenarios as data.
 */
import type { CommandModule } from 'yargs';
import { SCENARIOS } from '../scenarios/catalog.ts';
import { WASP_MODULES, type WaspModule } from '../waspmote/upgrade-txt.ts';
import type { Scenario } from '../scenarios/types.ts';

/** The listing as text, one scenario per line, aligned. */
export function formatScenarioList(list: readonly Scenario[]): string {
  const w = Math.max(...list.map((s) => s.id.length), 2);
  const lines = [`${'id'.padEnd(w)}  module    code  name                         cause    title`];
  for (const s of list) {
    const guide = s.guide?.code !== undefined ? ` (guide: ${s.guide.code})` : '';
    lines.push(`${s.id.padEnd(w)}  ${s.module.padEnd(8)}  ${String(s.expect.code ?? 'UB').padStart(4)}  ${s.expect.name.padEnd(27)}  ${s.cause.padEnd(7)}  ${s.title}${guide}`);
  }
  lines.push(`${list.length} scenarios`);
  return lines.join('\n');
}

/** The `scenarios` command. */
export const scenariosCommand: CommandModule<object, { module?: WaspModule; json: boolean }> = {
  command: 'scenarios',
  describe: 'list the error-code scenarios (run one with: client-sim scenario <id>)',
  builder: (y) => y
    .option('module', { alias: 'm', choices: WASP_MODULES as WaspModule[], describe: 'only this module' })
    .option('json', { type: 'boolean', default: false, describe: 'print the scenarios as JSON' }) as never,
  handler: (a) => {
    const list = SCENARIOS.filter((s) => a.module === undefined || s.module === a.module);
    process.stdout.write(a.json ? `${JSON.stringify(list, null, 2)}\n` : `${formatScenarioList(list)}\n`);
  },
};
