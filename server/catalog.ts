/**
 * The release catalogue: what was published (program name, VERSION, size, CRC32, MD5, time) and what is selected
 * now, kept in `<root>/.firmdrop/releases.json` (a folder the device file system hides), and the VERSION rules.
 * Written atomically (temp file + fsync + rename + directory fsync). A file that cannot be read is moved aside,
 * never silently overwritten.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import { MAX_VERSION, isProgramName } from './manifest.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { CodedError } from './errors.ts';

/** Folder inside the root holding firmdrop's state; hidden from devices by server/jail.ts. */
export const CATALOG_DIR = '.firmdrop';
/** Catalogue file name inside CATALOG_DIR. */
export const CATALOG_FILE = 'releases.json';
/** Folder inside CATALOG_DIR for temp files (same file system as the root, so rename is atomic). */
export const TMP_DIR = 'tmp';

/** One published release. `size` in bytes, `crc32`/`md5` lowercase hex, `publishedAt` ISO 8601 UTC. */
export interface Release { name: string; version: number; size: number; crc32: string; md5: string; publishedAt: string }

/** What UPGRADE.TXT offers now, as last recorded: a release, NO_FILE, or nothing recorded yet (null). */
export type Selection = { kind: 'release'; name: string; version: number } | { kind: 'no-file' } | null;

/** Reasons a catalogue operation is refused. */
export type CatalogErrorCode = 'version-range' | 'version-overflow' | 'version-not-higher' | 'bad-name';

/** A refused catalogue operation; `code` says which rule, `message` is one line for the operator. */
export class CatalogError extends CodedError<CatalogErrorCode> {}

/**
 * The VERSION a new release of `name` gets, given the versions already published for that name
 * (Libelium's Waspmote API `Wasp4G.cpp` requestOTA and the Meshlium OTA manager's UPGRADE.TXT):
 * - no version given: highest published + 1, or 1 for a new name;
 * - a given version must be an integer ≥ 1 (0 is NO_FILE's, and the Meshlium OTA manager cannot set it) and, unless `force`,
 *   higher than every version published for that name (a device with that version would ignore it: 4G code 10);
 * - 256 or more is refused: 4G/WiFi PRO keep VERSION in one byte; the program must be renamed (devices compare
 *   versions only for the same name, so a new name starts again at 1).
 * @throws CatalogError 'version-range' | 'version-not-higher' | 'version-overflow'
 */
export function resolveVersion(name: string, published: readonly number[], opts: { version?: number; force?: boolean } = {}): number {
  const highest = published.length ? Math.max(...published) : undefined;
  const rename = `rename the program (a new 7-character name starts again at VERSION 1; devices only compare versions for the same name)`;
  if (opts.version !== undefined) {
    const v = opts.version;
    if (!Number.isInteger(v) || v < 1) {
      throw new CatalogError('version-range', `${name}: VERSION must be an integer 1..255, got ${v} (0 means NO_FILE; Meshlium cannot set it either)`);
    }
    if (v > MAX_VERSION) {
      throw new CatalogError('version-overflow', `${name}: VERSION ${v} is over 255, which devices read as ${v % 256} (one byte); ${rename}`);
    }
    if (highest !== undefined && v <= highest && !opts.force) {
      throw new CatalogError('version-not-higher', `${name}: VERSION ${v} is not higher than v${highest} already published; devices running v${highest} would ignore it (4G code 10). Give a higher version, or --force`);
    }
    return v;
  }
  const next = highest === undefined ? 1 : highest + 1;
  if (next > MAX_VERSION) {
    throw new CatalogError('version-overflow', `${name}: v${highest} was the last VERSION devices accept (the next, 256, reads as 0); ${rename}`);
  }
  return next;
}

/**
 * A binary that was already in the root when firmdrop first took over a root that had an UPGRADE.TXT (an adopted
 * Meshlium/vsftpd root): left as it is, not published, unless it changes (`size` in bytes, `mtimeMs` its mtime).
 */
export interface BaselineFile { name: string; size: number; mtimeMs: number }

interface CatalogFile { format: 1; current: Selection; releases: Release[]; baseline?: BaselineFile[] }

/** The release catalogue of one root. Not safe for concurrent writers: the Publisher serializes all calls. */
export class Catalog {
  /** Absolute root folder (the FTP root). */
  readonly root: string;
  /** `<root>/.firmdrop` */
  readonly dir: string;
  /** `<root>/.firmdrop/releases.json` */
  readonly file: string;
  /** `<root>/.firmdrop/tmp` */
  readonly tmpDir: string;
  private readonly log: Logger;
  private state: CatalogFile = { format: 1, current: null, releases: [] };
  private onDisk = false;
  /** inode:size:mtime of the releases.json the state was read from or last written as (skip re-reading it). */
  private loadedKey?: string;

  /** @param root the FTP root; @param logger pino logger (silent by default). Call load() before use. */
  constructor(root: string, logger?: Logger) {
    this.root = path.resolve(root);
    this.dir = path.join(this.root, CATALOG_DIR);
    this.file = path.join(this.dir, CATALOG_FILE);
    this.tmpDir = path.join(this.dir, TMP_DIR);
    this.log = logger ?? pino({ level: 'silent' });
  }

  /** Opens the catalogue of `root` (empty when it has none yet). See load(). */
  static async open(root: string, logger?: Logger): Promise<Catalog> {
    const c = new Catalog(root, logger);
    await c.load();
    return c;
  }

  /**
   * (Re)reads releases.json. Missing → empty catalogue. Unreadable JSON or a wrong shape → the file is moved aside
   * as `releases.json.corrupt-<time>` (logged as an error) and the catalogue starts empty; nothing is lost.
   * @throws file-system errors other than ENOENT
   */
  async load(): Promise<void> {
    let text: string;
    let key: string;
    try {
      key = statKey(await fsp.stat(this.file));
      if (this.onDisk && key === this.loadedKey) return; // unchanged since read or written (a rename changes the inode)
      text = await fsp.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.state = { format: 1, current: null, releases: [] };
        this.onDisk = false;
        this.loadedKey = undefined;
        return;
      }
      throw e;
    }
    const parsed = parseCatalog(text);
    if (typeof parsed === 'string') {
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await fsp.rename(this.file, aside);
      this.log.error({ file: this.file, movedTo: aside, reason: parsed }, `release catalogue unreadable (${parsed}): moved aside to ${path.basename(aside)}, starting empty`);
      this.state = { format: 1, current: null, releases: [] };
      this.onDisk = false;
      this.loadedKey = undefined;
      return;
    }
    this.state = parsed;
    this.onDisk = true;
    this.loadedKey = key;
  }

  /** False when the last load() found no releases.json (none yet, or a corrupt one moved aside), until saved. */
  get exists(): boolean {
    return this.onDisk;
  }

  /** All releases, oldest first (as published). */
  get releases(): readonly Release[] {
    return this.state.releases;
  }

  /** Binaries found in an adopted root when the catalogue was created (see BaselineFile); empty otherwise. */
  get baseline(): readonly BaselineFile[] {
    return this.state.baseline ?? [];
  }

  /** Records the baseline of an adopted root and saves. */
  async setBaseline(files: BaselineFile[]): Promise<void> {
    this.state.baseline = files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs }));
    await this.save();
  }

  /** What UPGRADE.TXT offers, as last recorded (null before anything was recorded). */
  get current(): Selection {
    return this.state.current;
  }

  /** Releases of one program name, oldest first. */
  releasesOf(name: string): Release[] {
    return this.state.releases.filter((r) => r.name === name);
  }

  /** The most recently published release of `name` (normally also its highest VERSION, unless one was forced). */
  latest(name: string): Release | undefined {
    const all = this.releasesOf(name);
    return all[all.length - 1];
  }

  /**
   * VERSION for a new release of `name` (see resolveVersion). `floor`: versions published outside the catalogue
   * (e.g. the current UPGRADE.TXT's VERSION for that name after a crash) that count as published too.
   * @throws CatalogError
   */
  nextVersion(name: string, opts: { version?: number; force?: boolean; floor?: number } = {}): number {
    const published = this.releasesOf(name).map((r) => r.version);
    if (opts.floor !== undefined) published.push(opts.floor);
    return resolveVersion(name, published, opts);
  }

  /**
   * Records a release (and, unless `makeCurrent === false`, makes it the current selection) and saves.
   * @throws CatalogError 'bad-name' for a name that is not a program name; file-system errors
   */
  async add(release: Release, makeCurrent = true): Promise<void> {
    if (!isProgramName(release.name)) throw new CatalogError('bad-name', `'${release.name}' is not a program name (7 letters, digits or _)`);
    this.state.releases.push({ ...release });
    if (makeCurrent) this.state.current = { kind: 'release', name: release.name, version: release.version };
    await this.save();
  }

  /** Records what UPGRADE.TXT offers now and saves (no write when unchanged). */
  async setCurrent(selection: Selection): Promise<void> {
    if (JSON.stringify(selection) === JSON.stringify(this.state.current)) return;
    this.state.current = selection;
    await this.save();
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.tmpDir, this.file, JSON.stringify(this.state, null, 2) + '\n');
    this.onDisk = true;
    this.loadedKey = statKey(await fsp.stat(this.file));
  }
}

/** Identity of one version of a file: inode, size and mtime. */
function statKey(st: { ino: number; size: number; mtimeMs: number }): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** The catalogue in `text`, or a one-line reason it is not one. */
function parseCatalog(text: string): CatalogFile | string {
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
  let current: Selection = null;
  if (c !== null && c !== undefined) {
    if (c.kind === 'no-file') current = { kind: 'no-file' };
    else if (c.kind === 'release' && typeof c.name === 'string' && Number.isInteger(c.version)) {
      current = { kind: 'release', name: c.name, version: c.version as number };
    } else return 'current is not a selection';
  }
  const out: CatalogFile = { format: 1, current, releases: d.releases as Release[] };
  if (d.baseline !== undefined) {
    if (!Array.isArray(d.baseline)) return 'baseline is not a list';
    for (const b of d.baseline as Record<string, unknown>[]) {
      if (typeof b !== 'object' || b === null || typeof b.name !== 'string' || !Number.isInteger(b.size) || typeof b.mtimeMs !== 'number') {
        return 'baseline entry is not {name, size, mtimeMs}';
      }
    }
    out.baseline = d.baseline as BaselineFile[];
  }
  return out;
}

/** Why `r` is not a Release, or undefined. */
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
