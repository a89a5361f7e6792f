// The precompiled server in dist/ (built by `npm run build` = tsc -p tsconfig.build.json; `npm start` builds first).
// Running the compiled JavaScript instead of the TypeScript sources through tsx saves tsx's module hooks and their
// worker thread at run time: less memory per server process and no on-the-fly compile at start-up (BENCHMARKS.md).
// The build is used only while it is up to date; otherwise the launchers fall back to tsx, so an edited source is
// never shadowed by a stale build.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in bin/). */
export const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Where `tsc -p tsconfig.build.json` writes the compiled server. */
export const DIST = path.join(REPO, 'dist');

/**
 * Whether `<repo>/dist` holds an up-to-date build of every `.ts` file under `<repo>/<srcDir>` (e.g. 'server'):
 * each `X.ts` must have a `dist/<srcDir>/X.js` whose mtime is not older than the source's.
 * Returns false when anything is missing or older; never throws.
 */
export function distIsFresh(srcDir = 'server', repo = REPO) {
  const dist = path.join(repo, 'dist');
  try {
    const sources = readdirSync(path.join(repo, srcDir), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    if (sources.length === 0) return false;
    return sources.every((f) => {
      const built = path.join(dist, srcDir, f.replace(/\.ts$/, '.js'));
      return statSync(built).mtimeMs >= statSync(path.join(repo, srcDir, f)).mtimeMs;
    });
  } catch {
    return false;
  }
}
