/**
 * The release catalogue: what was published (program name, VERSION, size, CRC32, MD5, time) and what is selected
 * now, kept in the root's store `<root>/.firmdrop/firmdrop.db` (server/store: the `releases` table and settings;
 * a folder the device file system hides), and the VERSION rules. The CLI and a running server share it. Each change
 * is one SQLite transaction (synchronous=FULL), so a SIGKILL leaves the old or the new catalogue; a database file
 * SQLite cannot read is moved aside (server/store/open.ts), never overwritten. A `releases.json` from before the
 * store is imported once (server/store/import.ts).
 */
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import { MAX_VERSION, isProgramName } from './manifest.ts';
import { CodedError } from './errors.ts';
import type { Store } from './store/store.ts';
import { openStore } from './store/open.ts';
import { BASELINE_KEY, CURRENT_KEY, LEGACY_FILE, SAVED_KEY, importCatalogOnce } from './store/import.ts';

/** Folder inside the root holding firmdrop's state; hidden from devices by server/jail.ts. */
export const CATALOG_DIR = '.firmdrop';
/** The catalogue file name of before the store, inside CATALOG_DIR: imported once, then renamed `.imported`. */
export const CATALOG_FILE = LEGACY_FILE;
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

interface CatalogState { current: Selection; releases: Release[]; baseline: BaselineFile[]; saved: boolean }

const empty = (): CatalogState => ({ current: null, releases: [], baseline: [], saved: false });

/**
 * The release catalogue of one root. Not safe for concurrent writers: the Publisher serializes all calls (and the
 * root lock, server/root-lock.ts, serializes processes). Holds one store connection, opened by the first load();
 * close() releases it.
 */
export class Catalog {
  /** Absolute root folder (the FTP root). */
  readonly root: string;
  /** `<root>/.firmdrop` */
  readonly dir: string;
  /** `<root>/.firmdrop/firmdrop.db`: the store holding the catalogue. */
  readonly file: string;
  /** `<root>/.firmdrop/tmp` */
  readonly tmpDir: string;
  private readonly log: Logger;
  private state: CatalogState = empty();
  private store?: Store;
  /** The store's change counter when the state was read or last written (skip re-reading it). */
  private loadedKey?: string;

  /** @param root the FTP root; @param logger pino logger (silent by default). Call load() before use. */
  constructor(root: string, logger?: Logger) {
    this.root = path.resolve(root);
    this.dir = path.join(this.root, CATALOG_DIR);
    this.file = path.join(this.dir, 'firmdrop.db');
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
   * (Re)reads the catalogue from the store; skipped when the store has not changed since (one PRAGMA). The first call
   * opens the store (a corrupt database file is moved aside: server/store/open.ts) and imports a `releases.json`
   * once (server/store/import.ts: an unreadable one is moved aside as `releases.json.corrupt-<time>`).
   * @throws StoreError for a store written by a newer firmdrop; file-system and SQLite errors
   */
  async load(): Promise<void> {
    const store = this.open();
    const key = store.changeCounter();
    if (key === this.loadedKey) return;
    this.state = store.tx(() => ({
      releases: store.releases(),
      current: parseSetting<Selection>(store.getSetting(CURRENT_KEY), null),
      baseline: parseSetting<BaselineFile[]>(store.getSetting(BASELINE_KEY), []),
      saved: store.getSetting(SAVED_KEY) !== undefined,
    }), true);
    this.loadedKey = key;
  }

  /** Closes the store connection (idempotent); a later load() opens it again. */
  close(): void {
    this.store?.close();
    this.store = undefined;
    this.loadedKey = undefined;
  }

  private open(): Store {
    if (this.store) return this.store;
    const store = openStore(this.root, this.log);
    importCatalogOnce(store, this.root, this.log);
    this.store = store;
    return store;
  }

  /** False while the root has no catalogue (none yet, or a corrupt one moved aside), until one is saved. */
  get exists(): boolean {
    return this.state.saved;
  }

  /** All releases, oldest first (as published). */
  get releases(): readonly Release[] {
    return this.state.releases;
  }

  /** Binaries found in an adopted root when the catalogue was created (see BaselineFile); empty otherwise. */
  get baseline(): readonly BaselineFile[] {
    return this.state.baseline;
  }

  /** Records the baseline of an adopted root and saves. */
  async setBaseline(files: BaselineFile[]): Promise<void> {
    const baseline = files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs }));
    this.save(() => this.open().setSetting(BASELINE_KEY, JSON.stringify(baseline)));
    this.state.baseline = baseline;
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
   * Records a release (and, unless `makeCurrent === false`, makes it the current selection) in one transaction.
   * A release with the same name, VERSION and bytes as a recorded one is not recorded twice.
   * @throws CatalogError 'bad-name' for a name that is not a program name; SQLite errors
   */
  async add(release: Release, makeCurrent = true): Promise<void> {
    if (!isProgramName(release.name)) throw new CatalogError('bad-name', `'${release.name}' is not a program name (7 letters, digits or _)`);
    const r = { ...release };
    const current: Selection = makeCurrent ? { kind: 'release', name: r.name, version: r.version } : this.state.current;
    this.save(() => {
      this.open().addRelease(r);
      if (makeCurrent) this.open().setSetting(CURRENT_KEY, JSON.stringify(current));
    });
    const same = (x: Release) => x.name === r.name && x.version === r.version && x.size === r.size && x.crc32 === r.crc32 && x.md5 === r.md5;
    if (!this.state.releases.some(same)) this.state.releases.push(r);
    this.state.current = current;
  }

  /** Records what UPGRADE.TXT offers now (no write when unchanged). */
  async setCurrent(selection: Selection): Promise<void> {
    if (JSON.stringify(selection) === JSON.stringify(this.state.current)) return;
    this.save(() => this.open().setSetting(CURRENT_KEY, JSON.stringify(selection)));
    this.state.current = selection;
  }

  /** Runs `write` and marks the catalogue saved, in one transaction, after reading any change made elsewhere. */
  private save(write: () => void): void {
    const store = this.open();
    const seen = store.changeCounter() === this.loadedKey;
    store.tx(() => {
      write();
      store.setSetting(SAVED_KEY, '1');
    });
    this.state.saved = true;
    if (seen) this.loadedKey = store.changeCounter();
  }
}

/** A JSON setting's value, or `fallback` when it is missing. */
function parseSetting<T>(value: string | undefined, fallback: T): T {
  return value === undefined ? fallback : JSON.parse(value) as T;
}
