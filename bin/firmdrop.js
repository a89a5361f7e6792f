#!/usr/bin/env node
// Launcher for `npm start` / `npx firmdrop` / the `firmdrop` bin: runs the CLI (server/cli.ts) with the arguments
// given, from the precompiled build in dist/ when it is up to date (bin/dist.js), otherwise from the TypeScript
// sources through tsx (a runtime dependency), registered in this process. Signals: see bin/parent-watch.js.
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { DIST, distIsFresh } from './dist.js';
import { passSignalsFromParent } from './parent-watch.js';

passSignalsFromParent();

let cli;
if (distIsFresh()) {
  cli = await import(pathToFileURL(path.join(DIST, 'server', 'cli.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../server/cli.ts');
}
await cli.runAndExit(process.argv.slice(2));
