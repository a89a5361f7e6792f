/**
 * The `client-sim` command line (yargs): a thin composer of the commands in client-sim/commands/ (modem, proxy,
 * ota, scenarios, scenario), one `.command()` line each. Results go to stdout, errors are one line on stderr
 * (`client-sim: <message>`), usage errors exit 2.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { modemCommand } from './commands/modem.ts';
import { proxyCommand } from './commands/proxy.ts';
import { otaCommand } from './commands/ota.ts';
import { scenariosCommand } from './commands/scenarios.ts';
import { scenarioCommand } from './commands/scenario.ts';
import { codesCommand } from './commands/codes.ts';

/** Parses `argv` (without node and script) and runs the command. */
export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('client-sim')
    .version(false) // `ota --version N` is the device's program version, not the package's
    .command(modemCommand)
    .command(proxyCommand)
    .command(otaCommand)
    .command(scenariosCommand)
    .command(scenarioCommand)
    .command(codesCommand)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .fail((msg, err) => {
      process.stderr.write(`client-sim: ${msg ?? err?.message ?? 'error'}\n`);
      process.exit(msg ? 2 : 1);
    })
    .help()
    .parseAsync();
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  main(hideBin(process.argv)).catch((err: Error) => {
    process.stderr.write(`client-sim: ${err.message}\n`);
    process.exit(1);
  });
}
