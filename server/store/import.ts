/**
 * The release catalogue's keys in the store, and the one-time import of the catalogue file format 1,
 * `<root>/.firmdrop/releases.json` (`{ format: 1, current, releases: [...], baseline?: [...] }`), that firmdrop
 * kept before the store. Releases go to the `releases` table; the selection and the baseline of an adopted root to
 * settings. After the import commits, the file is renamed `releases.json.imported` (never deleted; an existing name
 * is never overwritten: a time suffix is added). A file that is not a valid catalogue is moved aside as
 * `releases.json.corrupt-<time>` with one error line, and the store starts without it, as the file-based catalogue
 * did with an unreadable file.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { MAX_VERSION, isProgramName } from '../manifest.ts';
import type { ReleaseRow, Store } from './store.ts';

/**
 * Setting marking the import done (value: the ISO time it ran). Not the `releases-imported` of stores that imported
 * the releases alone while releases.json was still written: such a store imports the file again, whole (a release
 * already recorded is not recorded twice).
 */
export const IMPORTED_KEY = 'catalog-imported';
/** Setting holding the catalogue's selection (JSON: `{kind:'release',name,version}`, `{kind:'no-file'}` or null). */
export const CURRENT_KEY = 'catalog-current';
/** Setting holding the baseline of an adopted root (JSON list of `{name, size, mtimeMs}`). */
export const BASELINE_KEY = 'catalog-baseline';
/** Setting present once a catalogue was written (or imported): "the root has a catalogue". */
export const SAVED_KEY = 'catalog-saved';
/** The catalogue file name of format 1, inside `<root>/.firmdrop`. */
export const LEGACY_FILE = 'releases.json';

interface Legacy { current: unknown; releases: ReleaseRow[]; baseline?: unknown[] }

/**
 * Imports `<root>/.firmdrop/releases.json` into `store` unless done before (one transaction), then renames it.
 * A file left by a crash between the commit and the rename is only renamed.
 * @returns the number of releases imported, or a one-line reason it was not (`already imported`, `no releases.json`,
 *   `unreadable: ...` when it was moved aside)
 * @throws file-system errors other than a missing file
 */
export function importCatalogOnce(store: Store, root: string, logger?: Logger): number | string {
  const file = path.join(path.resolve(root), '.firmdrop', LEGACY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (store.getSetting(IMPORTED_KEY) === undefined) store.setSetting(IMPORTED_KEY, new Date().toISOString());
    return 'no releases.json';
  }
  if (store.getSetting(IMPORTED_KEY) !== undefined) {
    renameAside(file, 'imported');
    return 'already imported';
  }
  const parsed = parseLegacy(text);
  if (typeof parsed === 'string') {
    const aside = renameAside(file, 'corrupt');
    store.setSetting(IMPORTED_KEY, new Date().toISOString());
    logger?.error({ file, movedTo: aside, reason: parsed }, `release catalogue unreadable (${parsed}): moved aside to ${path.basename(aside)}, starting empty`);
    return `unreadable: ${parsed}`;
  }
  store.tx(() => {
    for (const r of parsed.releases) store.addRelease(r);
    store.setSetting(CURRENT_KEY, JSON.stringify(parsed.current ?? null));
    if (parsed.baseline) store.setSetting(BASELINE_KEY, JSON.stringify(parsed.baseline));
    store.setSetting(SAVED_KEY, '1');
    store.setSetting(IMPORTED_KEY, new Date().toISOString());
  });
  const aside = renameAside(file, 'imported');
  logger?.info({ releases: parsed.releases.length, movedTo: aside }, `imported ${parsed.releases.length} releases from ${LEGACY_FILE} into the store (kept as ${path.basename(aside)})`);
  return parsed.releases.length;
}

/** Renames `file` to `file.<what>`, or `file.<what>-<time>` when that name is taken. @returns the new path */
function renameAside(file: string, what: 'imported' | 'corrupt'): string {
  let to = what === 'imported' ? `${file}.imported` : '';
  if (!to || existsSync(to)) to = `${file}.${what}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(file, to);
  return to;
}

/** The catalogue in `text`, or a one-line reason it is not one. */
function parseLegacy(text: string): Legacy | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof data !== 'object' || data === null) return 'not an object';
  const d = data as Record<string, unknown>;
  if (d.format !== 1) return `unknown format ${JSON.stringify(d.format)}`;
  if (!Array.isArray(d.releases)) return 'releases is not a list';
  for (const [i, r] of d.releases.entries()) {
    const bad = releaseProblem(r);
    if (bad) return `release ${i}: ${bad}`;
  }
  const c = d.current as Record<string, unknown> | null | undefined;
  let current: unknown = null;
  if (c !== null && c !== undefined) {
    if (c.kind === 'no-file') current = { kind: 'no-file' };
    else if (c.kind === 'release' && typeof c.name === 'string' && Number.isInteger(c.version)) {
      current = { kind: 'release', name: c.name, version: c.version as number };
    } else return 'current is not a selection';
  }
  const releases = (d.releases as Record<string, unknown>[]).map((r) => ({
    name: String(r.name), version: Number(r.version), size: Number(r.size), crc32: String(r.crc32), md5: String(r.md5), publishedAt: String(r.publishedAt),
  }));
  const out: Legacy = { current, releases };
  if (d.baseline !== undefined) {
    if (!Array.isArray(d.baseline)) return 'baseline is not a list';
    for (const b of d.baseline as Record<string, unknown>[]) {
      if (typeof b !== 'object' || b === null || typeof b.name !== 'string' || !Number.isInteger(b.size) || typeof b.mtimeMs !== 'number') {
        return 'baseline entry is not {name, size, mtimeMs}';
      }
    }
    out.baseline = (d.baseline as Record<string, unknown>[]).map((b) => ({ name: b.name, size: b.size, mtimeMs: b.mtimeMs }));
  }
  return out;
}

/** Why `r` is not a release record, or undefined. */
function releaseProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not an object';
  const x = r as Record<string, unknown>;
  if (typeof x.name !== 'string' || !isProgramName(x.name)) return 'bad name';
  if (!Number.isInteger(x.version) || (x.version as number) < 1 || (x.version as number) > MAX_VERSION) return 'bad version';
  if (!Number.isInteger(x.size) || (x.size as number) < 1) return 'bad size';
  if (typeof x.crc32 !== 'string' || !/^[0-9a-f]{8}$/.test(x.crc32)) return 'bad crc32';
  if (typeof x.md5 !== 'string' || !/^[0-9a-f]{32}$/.test(x.md5)) return 'bad md5';
  if (typeof x.publishedAt !== 'string' || Number.isNaN(Date.parse(x.publishedAt))) return 'bad publishedAt';
  return undefined;
}
