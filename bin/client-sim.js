#!/usr/bin/env node
// Launcher for `npx client-sim` / the `client-sim` bin: registers tsx (a runtime dependency) in this process so
// Node can load the TypeScript sources, then runs the CLI in client-sim/cli.ts with the arguments given. Signals: see bin/parent-watch.js.
import { register } from 'tsx/esm/api';
import { passSignalsFromParent } from './parent-watch.js';

passSignalsFromParent();

register();
const { main } = await import('../client-sim/cli.ts');
try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`client-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
