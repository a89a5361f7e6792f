#!/usr/bin/env node
// Launcher for `npx firmdrop` / the `firmdrop` bin: registers tsx (a runtime dependency) in this process so
// Node can load the TypeScript sources, then runs the CLI in server/cli.ts with the arguments given.
import { register } from 'tsx/esm/api';

register();
const { runAndExit } = await import('../server/cli.ts');
await runAndExit(process.argv.slice(2));
