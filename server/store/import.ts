/**
 * One-time import of the release catalogue file `<root>/.firmdrop/releases.json` (server/catalog.ts's format 1)
 * into the store's `releases` table. Runs once per store (marked by the `releases-imported` setting); an unreadable
 * file is left where it is and the import is not marked done, so it is tried again next time.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ReleaseRow, Store } from './store.ts';

/** Setting marking the import done (value: the ISO time it ran). */
export const IMPORTED_KEY = 'releases-imported';

/**
 * Imports releases.json of `root` into `store` unless done before. All releases in one transaction.
 * @returns the number of releases imported, or a one-line reason it was not (`already imported`, `no releases.json`,
 *   `unreadable: ...`)
 */
export function importCatalogOnce(store: Store, root: string): number | string {
  if (store.getSetting(IMPORTED_KEY) !== undefined) return 'already imported';
  let text: string;
  try {
    text = readFileSync(path.join(path.resolve(root), '.firmdrop', 'releases.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `unreadable: ${(e as Error).message}`;
    store.setSetting(IMPORTED_KEY, new Date().toISOString());
    return 'no releases.json';
  }
  let releases: ReleaseRow[];
  try {
    const data = JSON.parse(text) as { format?: unknown; releases?: unknown };
    if (data.format !== 1 || !Array.isArray(data.releases)) return 'unreadable: not a format 1 catalogue';
    releases = (data.releases as Record<string, unknown>[]).map((r) => ({
      name: String(r.name), version: Number(r.version), size: Number(r.size), crc32: String(r.crc32), md5: String(r.md5),
      publishedAt: String(r.publishedAt),
    }));
  } catch (e) {
    return `unreadable: ${(e as Error).message}`;
  }
  store.tx(() => {
    for (const r of releases) store.addRelease(r);
    store.setSetting(IMPORTED_KEY, new Date().toISOString());
  });
  return releases.length;
}
