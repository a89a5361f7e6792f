#!/usr/bin/env node
// `npm run build` / `npm start`'s prestart: compiles server/ to dist/ with TypeScript (tsconfig.build.json) so that
// the server runs as plain JavaScript (bin/dist.js says why). Skips the compile when dist/ is already up to date.
// TypeScript is a dev dependency: where it is not installed (npm ci --omit=dev) this says so and exits 0, and
// bin/firmdrop.js runs the sources through tsx instead. A failed compile exits 1 with tsc's messages.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { REPO, distIsFresh } from './dist.js';

const force = process.argv.includes('--force');
if (!force && distIsFresh()) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('firmdrop: typescript is not installed; the server will run from its TypeScript sources (tsx)\n');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', path.join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`firmdrop: build failed (tsc exit ${r.status ?? r.signal})\n`);
  process.exit(1);
}
