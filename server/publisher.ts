/**
 * The one place that writes UPGRADE.TXT. Verifies a binary (regular file, program name, not empty, not changing),
 * checksums it (CRC-32 and MD5 in one read), writes the manifest atomically and records the release.
 *
 * Crash safety. Every write is temp file in `<root>/.firmdrop/tmp` + fsync + rename + directory fsync, so each
 * file is old or new, never torn; the steps of one publish run in this order:
 *   1. hash the binary and re-check its size/mtime/inode (refuse if it changed: still being written);
 *   2. decide the VERSION against the catalogue AND the current UPGRADE.TXT (its VERSION counts as published for
 *      its FILE, so a release the catalogue missed is never reused for other bytes);
 *   2b. write the release's snapshot `.firmdrop/offered/NAME.vVERSION` (server/offered.ts: a copy verified against
 *      the size/CRC-32/MD5 of step 1, renamed into place). Devices are served this snapshot, not the live file, so
 *      a manifest never names a VERSION whose bytes are not there, even while a new build is renamed or written over
 *      `<root>/NAME` (issue 5 item 5);
 *   3. rename the new UPGRADE.TXT into place (devices now see it); the snapshot it replaced is retired (kept for
 *      SNAPSHOT_GRACE_MS for devices still fetching it) and old snapshots are pruned;
 *   4. record the release in releases.json.
 * What a crash leaves, and how reconcile() repairs it:
 *   - during 1–3: a stale temp file in .firmdrop/tmp (removed by reconcile: its name carries a dead pid) and the old
 *     manifest, still consistent with its binary; after 2b, also a snapshot no manifest names (harmless: devices
 *     are only served snapshots a manifest named; pruned later);
 *   - a manifest whose snapshot is missing (a root from before snapshots, an adopted Meshlium root): reconcile()
 *     creates the snapshot from the root file when that still matches, else the manifest becomes NO_FILE;
 *   - between 3 and 4: a manifest naming a release the catalogue lacks; reconcile() finds the binary matches the
 *     manifest and records it (no new version, devices' offer unchanged);
 *   - importBinary between its rename into the root and step 3: a new binary in the root; if it replaced the
 *     current binary, reconcile() sees the content differ from the manifest and publishes it as a new version;
 *     otherwise the watcher's start-up catch-up publishes it (its mtime is newer than the last catalogue write).
 * All operations go through one promise queue: no two writers at once in this process. Across processes (the CLI
 * while `serve` runs) each operation also holds `<root>/.firmdrop/lock` (created exclusively, holding the pid; a
 * lock whose pid is no longer running is taken over) and re-reads the catalogue first. Identical content is never
 * given a second VERSION, so the CLI's import and the watcher's view of it converge on the same release.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import CRC32 from 'crc-32';
import { pino, type Logger } from 'pino';
import {
  MANIFEST_NAME, MAX_SIZE, NO_FILE, ManifestError, explainProgramName, formatManifest, isProgramName, noFileManifest, parseManifest,
  type Manifest, type ManifestIssue,
} from './manifest.ts';
import { CATALOG_DIR, Catalog, CatalogError, fsyncDir, tempPath, writeFileAtomic, type Release } from './catalog.ts';
import { createSnapshot, pruneSnapshots, retireSnapshot, type SnapshotKey } from './offered.ts';

export type { Release } from './catalog.ts';

/** Why a binary was not published. */
export type PublishErrorCode = 'bad-name' | 'not-found' | 'not-regular' | 'empty' | 'too-large' | 'unstable' | 'busy';

/** Lock file inside `.firmdrop` held by the process that is writing UPGRADE.TXT or the catalogue. */
export const LOCK_FILE = 'lock';
/** How long an operation waits for another process's lock before giving up (ms). */
export const LOCK_WAIT_MS = 30_000;
/** Age after which a lock file without a pid in it is taken over, ms (writing a pid takes microseconds). */
export const EMPTY_LOCK_STALE_MS = 2_000;

/** A binary refused by the publisher; `message` is one line naming the file and the rule. Nothing was changed. */
export class PublishError extends Error {
  readonly code: PublishErrorCode;
  /** @param code the rule broken; @param message one line for the operator. */
  constructor(code: PublishErrorCode, message: string) {
    super(message);
    this.name = 'PublishError';
    this.code = code;
  }
}

/** What the publisher knows about a binary: `size` in bytes, lowercase hex checksums, and the stat it was read at. */
export interface BinaryInfo { size: number; crc32: string; md5: string; mtimeMs: number; ino: number }

/**
 * Reads `file` once and returns its size, CRC-32 (crc-32, unsigned, 8 hex) and MD5. Refuses a symlink, anything
 * but a regular file, an empty file, one over 999999999 bytes (SIZE has at most 9 digits, research §3), and a file
 * whose size, mtime or inode changed while it was read (still being written).
 * @param label how to name the file in messages (default: its base name)
 * @throws PublishError 'not-found' | 'not-regular' | 'empty' | 'too-large' | 'unstable'
 */
export async function hashBinary(file: string, label = path.basename(file)): Promise<BinaryInfo> {
  const before = await statBinary(file, label);
  const crcState = { crc: 0 };
  const md5 = createHash('md5');
  let bytes = 0;
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
      crcState.crc = CRC32.buf(chunk, crcState.crc);
      md5.update(chunk);
      bytes += chunk.length;
    }
  } finally {
    await fh.close();
  }
  const info: BinaryInfo = {
    size: before.size, crc32: (crcState.crc >>> 0).toString(16).padStart(8, '0'), md5: md5.digest('hex'),
    mtimeMs: before.mtimeMs, ino: before.ino,
  };
  if (bytes !== before.size) throw unstable(label, `read ${bytes} bytes of ${before.size}`);
  await assertUnchanged(file, info, label);
  return info;
}

/** lstat + the binary checks of hashBinary (regular file, not empty, not too large). */
async function statBinary(file: string, label: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await fsp.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PublishError('not-found', `${label}: no such file in the root`);
    throw e;
  }
  if (st.isSymbolicLink()) throw new PublishError('not-regular', `${label}: is a symbolic link; copy the binary in as a regular file`);
  if (!st.isFile()) throw new PublishError('not-regular', `${label}: is not a regular file`);
  if (st.size === 0) throw new PublishError('empty', `${label}: is empty (0 bytes); a 4G device fails with code 12`);
  if (st.size > MAX_SIZE) throw new PublishError('too-large', `${label}: is ${st.size} bytes; SIZE has at most 9 digits (${MAX_SIZE})`);
  return st;
}

function unstable(label: string, detail: string): PublishError {
  return new PublishError('unstable', `${label}: changed while it was being checked (${detail}); still being written? not published`);
}

/** Throws PublishError 'unstable' when `file` no longer has the size, mtime and inode recorded in `info`. */
async function assertUnchanged(file: string, info: BinaryInfo, label: string): Promise<void> {
  let st: Stats;
  try {
    st = await fsp.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw unstable(label, 'it disappeared');
    throw e;
  }
  if (st.size !== info.size) throw unstable(label, `size ${info.size} → ${st.size} bytes`);
  if (st.mtimeMs !== info.mtimeMs || st.ino !== info.ino) throw unstable(label, 'modified or replaced');
}

/** True when a release and a binary have the same bytes (size, CRC-32 and MD5). */
function sameContent(r: { size: number; crc32: string; md5: string }, b: { size: number; crc32: string; md5: string }): boolean {
  return r.size === b.size && r.crc32 === b.crc32 && r.md5 === b.md5;
}

/** UPGRADE.TXT as found on disk. */
type ManifestState =
  | { state: 'missing' }
  | { state: 'broken'; issues: ManifestIssue[]; text: string }
  | { state: 'ok'; manifest: Manifest; text: string };

/** Options of publish(). `ifChanged` (added for the watcher): when the bytes equal the latest release of that name,
 * change nothing (do not re-offer an older binary that was merely touched or re-copied). */
export interface PublishOptions { version?: number; force?: boolean; ifChanged?: boolean; offer?: boolean }

/**
 * Fleet hooks of the Publisher (server/fleet). `holdOffer(name)`: a reason not to offer a binary published through
 * publish() (the watcher's drops) while a rollout is in progress, or undefined; such a binary is recorded (with its
 * snapshot) but UPGRADE.TXT is unchanged. `onChange`: told after every publish, select and NO_FILE (the audit).
 * `offer: false` in PublishOptions / importBinary records a release without offering it (`publish --no-select`).
 */
export interface PublisherFleetHooks {
  holdOffer?: (name: string) => string | undefined;
  onChange?: (change: { action: 'publish' | 'select' | 'no-file' | 'record'; name?: string; version?: number }) => void;
}

/**
 * The one writer of `<root>/UPGRADE.TXT` and of the release catalogue. See the module comment for the crash-safety
 * order. Logs one info line per publish. All public methods are serialized through one queue.
 */
export class Publisher {
  /** Absolute FTP root. */
  readonly root: string;
  private readonly checksums: boolean;
  private readonly log: Logger;
  private readonly catalog: Catalog;
  private readonly manifestPath: string;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly fleet: PublisherFleetHooks;

  /**
   * @param opts.root FTP root holding the binaries and UPGRADE.TXT
   * @param opts.checksums write CRC32:/MD5: lines (default true; false = plain Meshlium format)
   * @param opts.logger pino logger (silent by default)
   */
  constructor(opts: { root: string; checksums?: boolean; logger?: Logger; fleet?: PublisherFleetHooks }) {
    this.fleet = opts.fleet ?? {};
    this.root = path.resolve(opts.root);
    this.checksums = opts.checksums !== false;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.catalog = new Catalog(this.root, this.log);
    this.manifestPath = path.join(this.root, MANIFEST_NAME);
  }

  /**
   * Publishes the binary `<root>/<name>`: devices are offered it with the next VERSION (or `opts.version`, see
   * resolveVersion in catalog.ts). A byte-identical binary (same size, CRC-32, MD5 as the latest release of that
   * name) keeps its VERSION (idempotent). With `ifChanged`, such a binary changes nothing at all.
   * @throws PublishError (binary refused), CatalogError (VERSION rules); nothing is changed then
   */
  publish(name: string, opts: PublishOptions = {}): Promise<Release> {
    const held = opts.offer === undefined ? this.fleet.holdOffer?.(name) : undefined;
    if (held) this.log.info({ name, reason: held }, `${name} published without being offered: ${held}`);
    return this.enqueue(() => this.publishNow(name, held ? { ...opts, offer: false } : opts));
  }

  /**
   * Copies `src` into the root as `opts.name` (default: its base name) atomically (temp in .firmdrop/tmp, fsync,
   * rename) and publishes it. The VERSION is decided before the copy replaces anything, so a refused VERSION leaves
   * the root untouched. The watcher sees the rename and finds nothing new (idempotent).
   * @throws PublishError 'bad-name' (with the reason and a suggested 7-character name), 'not-found', 'not-regular',
   *   'empty', 'too-large', 'unstable'; CatalogError
   */
  importBinary(src: string, opts: { name?: string; version?: number; force?: boolean; offer?: boolean } = {}): Promise<Release> {
    return this.enqueue(async () => {
      const name = opts.name ?? path.basename(src);
      this.assertName(name);
      const target = path.join(this.root, name);
      const source = path.resolve(src);
      if (source === target) return this.publishNow(name, opts);
      let srcStat: Stats;
      try {
        srcStat = await fsp.stat(source);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PublishError('not-found', `${src}: no such file`);
        throw e;
      }
      if (!srcStat.isFile()) throw new PublishError('not-regular', `${src}: is not a regular file`);
      await fsp.mkdir(this.catalog.tmpDir, { recursive: true });
      const tmp = tempPath(this.catalog.tmpDir, name);
      let moved = false;
      try {
        await fsp.copyFile(source, tmp);
        const fh = await fsp.open(tmp, 'r+');
        try { await fh.sync(); } finally { await fh.close(); }
        const after = await fsp.stat(source);
        if (after.size !== srcStat.size || after.mtimeMs !== srcStat.mtimeMs) {
          throw unstable(src, `size ${srcStat.size} → ${after.size} bytes during the copy`);
        }
        const info = await hashBinary(tmp, name);
        const plan = await this.plan(name, info, opts);
        await fsp.rename(tmp, target);
        moved = true;
        await fsyncDir(this.root);
        await assertUnchanged(target, info, name);
        return await this.apply(plan, opts.offer !== false);
      } finally {
        if (!moved) await fsp.rm(tmp, { force: true });
      }
    });
  }

  /**
   * Meshlium's "existing binary": offers a binary already in the root. VERSION: `opts.version` when given (a
   * recorded release of that name and version with the same bytes is simply re-offered; otherwise the VERSION rules
   * apply); without it, the latest recorded VERSION when the bytes match that record, else the next one.
   * @throws PublishError, CatalogError
   */
  select(name: string, opts: { version?: number } = {}): Promise<Release> {
    return this.enqueue(() => this.publishNow(name, { version: opts.version }));
  }

  /** Offers nothing: writes the NO_FILE manifest (FILE:NO_FILE, PATH:/, SIZE:0, VERSION:0, research §6). */
  selectNoFile(): Promise<void> {
    return this.enqueue(async () => {
      await this.open();
      await this.writeNoFile();
      this.log.info('selected NO_FILE: devices are offered no update');
    });
  }

  /**
   * Makes UPGRADE.TXT true to the files (on start, and when the current binary is deleted or changed):
   * - removes stale temp files from .firmdrop/tmp;
   * - UPGRADE.TXT missing or broken → NO_FILE (warn, with every rule it broke);
   * - names a binary that is missing, not a regular file, or still changing → NO_FILE (warn). It never falls back to
   *   an older, differently named binary: that would roll the whole fleet back;
   * - names a binary whose size/checksums differ from the manifest or its recorded release (replaced) → publishes
   *   it as a new VERSION;
   * - otherwise, records the offered release if the catalogue lacks it (adopting an existing Meshlium/vsftpd root,
   *   or repairing a crash between manifest and catalogue writes) without changing what devices are offered.
   * @throws file-system errors only
   */
  reconcile(): Promise<void> {
    return this.enqueue(() => this.reconcileNow());
  }

  /**
   * The manifest devices are offered now; undefined when there is no UPGRADE.TXT.
   * @throws ManifestError when UPGRADE.TXT breaks a rule (see lintManifest)
   */
  async current(): Promise<Manifest | undefined> {
    const m = await this.readManifest();
    if (m.state === 'missing') return undefined;
    if (m.state === 'broken') throw new ManifestError(m.issues);
    return m.manifest;
  }

  /** All recorded releases, oldest first (added to the contract for status and the watcher). */
  releases(): Promise<Release[]> {
    return this.enqueue(async () => {
      await this.open();
      return [...this.catalog.releases];
    });
  }

  /**
   * Publishes binaries that landed while nothing was watching (added for the watcher's start-up): every binary in
   * the root (program name, regular file) whose bytes differ from the latest release of its name, except the
   * baseline of an adopted root while unchanged (see open()). Oldest mtime first, so the newest ends offered; one
   * older than the binary offered now is recorded as a release but not offered (that would roll the fleet back;
   * `select` offers it). A binary still being written is skipped (the watcher publishes it when it settles).
   * @returns the releases recorded
   */
  catchUp(): Promise<Release[]> {
    return this.enqueue(async () => {
      await this.open();
      const baseline = new Map(this.catalog.baseline.map((b) => [b.name, b]));
      const pending: { name: string; info: BinaryInfo }[] = [];
      for (const f of await this.rootBinaries()) {
        const b = baseline.get(f.name);
        if (b && b.size === f.size && b.mtimeMs === f.mtimeMs) continue;
        let info: BinaryInfo;
        try {
          info = await hashBinary(path.join(this.root, f.name), f.name);
        } catch (e) {
          if (!(e instanceof PublishError)) throw e;
          this.log.info({ name: f.name, reason: e.message }, `not caught up: ${e.message}`);
          continue;
        }
        const latest = this.catalog.latest(f.name);
        if (!latest || !sameContent(latest, info)) pending.push({ name: f.name, info });
      }
      pending.sort((a, b) => a.info.mtimeMs - b.info.mtimeMs);
      let offeredMtime = await this.offeredMtime();
      const done: Release[] = [];
      for (const { name, info } of pending) {
        const offer = info.mtimeMs >= offeredMtime;
        try {
          const plan = await this.plan(name, info, {});
          await assertUnchanged(path.join(this.root, name), info, name);
          done.push(await this.apply(plan, offer));
          if (offer) offeredMtime = info.mtimeMs;
        } catch (e) {
          if (!(e instanceof PublishError) && !(e instanceof CatalogError)) throw e;
          this.log.warn({ name, reason: e.message }, `${name} not caught up: ${e.message}`);
        }
      }
      return done;
    });
  }

  /** Resolves when every operation queued so far has finished (whatever its outcome). */
  async idle(): Promise<void> {
    await this.queue.then(() => undefined, () => undefined);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const locked = () => this.withLock(fn);
    const run = this.queue.then(locked, locked);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * Runs `fn` holding `<root>/.firmdrop/lock` (see the module comment). The lock appears with its pid already in it:
   * the pid is written to a temp file in .firmdrop/tmp which is then hard-linked as the lock (link fails if the lock
   * exists), so a process killed while taking the lock never leaves an empty lock behind. An empty or unreadable
   * lock (left by an older firmdrop killed between creating and writing it) is taken over once it is
   * EMPTY_LOCK_STALE_MS old. Known limit: two processes that find the same stale lock at the same instant can both
   * take it over.
   * @throws PublishError 'busy' when another live process holds the lock for LOCK_WAIT_MS
   */
  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = path.join(this.catalog.dir, LOCK_FILE);
    await fsp.mkdir(this.catalog.tmpDir, { recursive: true });
    const mine = tempPath(this.catalog.tmpDir, LOCK_FILE);
    await fsp.writeFile(mine, `${process.pid}\n`);
    const deadline = Date.now() + LOCK_WAIT_MS;
    try {
      for (;;) {
        try {
          await fsp.link(mine, lock);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            // our pid file was removed as a stale temp (another Publisher of this process reconciling): rewrite it
            await fsp.writeFile(mine, `${process.pid}\n`);
          } else if (code !== 'EEXIST') throw e;
        }
        const holder = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
        const valid = Number.isInteger(holder) && holder > 0;
        if (valid && !isRunning(holder)) {
          this.log.warn({ pid: holder }, `taking over a stale lock left by process ${holder}`);
          await fsp.rm(lock, { force: true });
          continue;
        }
        if (!valid) {
          const st = await fsp.stat(lock).catch(() => undefined);
          if (st && Date.now() - st.mtimeMs > EMPTY_LOCK_STALE_MS) {
            this.log.warn(`taking over an empty lock left by an interrupted firmdrop process`);
            await fsp.rm(lock, { force: true });
            continue;
          }
        }
        if (Date.now() > deadline) {
          throw new PublishError('busy', `another firmdrop process (pid ${holder || '?'}) is writing ${path.join(CATALOG_DIR, LOCK_FILE)}; try again`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await fsp.rm(mine, { force: true });
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }

  /**
   * Reloads the catalogue (another process may have written it). When there is no catalogue but there is an
   * UPGRADE.TXT (firmdrop taking over a Meshlium/vsftpd root, or a catalogue lost), records the binaries already
   * in the root as the baseline first: they are left as they are and not published unless they change, so taking
   * over a root never changes what devices are offered. A root with neither is fresh: everything in it is new.
   */
  private async open(): Promise<void> {
    await this.catalog.load();
    if (this.catalog.exists || (await this.readManifest()).state === 'missing') return;
    const files = await this.rootBinaries();
    await this.catalog.setBaseline(files);
    this.log.info({ files: files.map((f) => f.name) }, `taking over a root with an existing ${MANIFEST_NAME}: ` +
      `${files.length} binar${files.length === 1 ? 'y' : 'ies'} already there left as they are (published only if they change)`);
  }

  /** The binaries in the root: program names that are regular files, with their size and mtime. */
  private async rootBinaries(): Promise<{ name: string; size: number; mtimeMs: number }[]> {
    const out: { name: string; size: number; mtimeMs: number }[] = [];
    for (const d of await fsp.readdir(this.root, { withFileTypes: true })) {
      if (!d.isFile() || !isProgramName(d.name)) continue;
      const st = await fsp.lstat(path.join(this.root, d.name)).catch(() => undefined);
      if (st?.isFile()) out.push({ name: d.name, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  /** mtime of the binary UPGRADE.TXT offers now, or −Infinity (NO_FILE, none, broken, or the file is gone). */
  private async offeredMtime(): Promise<number> {
    const m = await this.readManifest();
    if (m.state !== 'ok' || m.manifest.file === NO_FILE) return -Infinity;
    const st = await fsp.lstat(path.join(this.root, m.manifest.file)).catch(() => undefined);
    return st ? st.mtimeMs : -Infinity;
  }

  private assertName(name: string): void {
    const why = explainProgramName(name);
    if (why) throw new PublishError('bad-name', why);
  }

  private async publishNow(name: string, opts: PublishOptions): Promise<Release> {
    this.assertName(name);
    const file = path.join(this.root, name);
    const info = await hashBinary(file, name);
    const plan = await this.plan(name, info, opts);
    await assertUnchanged(file, info, name);
    return this.apply(plan, opts.offer !== false);
  }

  /** Decides the release for `name` with content `info` (no writes). */
  private async plan(name: string, info: BinaryInfo, opts: PublishOptions): Promise<Plan> {
    await this.open();
    const m = await this.readManifest();
    const offered = m.state === 'ok' && m.manifest.file === name ? m.manifest : undefined;
    const known = this.knownRelease(name, info, offered);
    const content = { name, size: info.size, crc32: info.crc32, md5: info.md5 };
    if (known && (opts.version === undefined || opts.version === known.release.version)) {
      const isOffered = offered !== undefined && offered.version === known.release.version;
      if (opts.ifChanged && !isOffered) return { kind: 'unchanged', release: known.release, record: known.unrecorded };
      return { kind: 'offer', release: known.release, record: known.unrecorded, fresh: false };
    }
    if (opts.version !== undefined) {
      const recorded = this.catalog.releasesOf(name).filter((r) => r.version === opts.version && sameContent(r, info)).pop();
      if (recorded && !opts.force) return { kind: 'offer', release: recorded, record: false, fresh: false };
    }
    const version = this.catalog.nextVersion(name, { version: opts.version, force: opts.force, floor: offered?.version });
    return { kind: 'offer', release: { ...content, version, publishedAt: new Date().toISOString() }, record: true, fresh: true };
  }

  /**
   * The release that already carries these bytes: the latest recorded release of `name` when its content matches;
   * else the release UPGRADE.TXT offers for `name` when it matches the bytes: its record, or, when the catalogue has
   * no record of that VERSION (crash between the manifest and catalogue writes, or an adopted root), a new record.
   */
  private knownRelease(name: string, info: BinaryInfo, offered: Manifest | undefined): { release: Release; unrecorded: boolean } | undefined {
    const latest = this.catalog.latest(name);
    if (latest && sameContent(latest, info)) return { release: latest, unrecorded: false };
    if (!offered || !manifestMatches(offered, info)) return undefined;
    const records = this.catalog.releasesOf(name).filter((r) => r.version === offered.version);
    const same = records.filter((r) => sameContent(r, info)).pop();
    if (same) return { release: same, unrecorded: false };
    if (records.length) return undefined;
    const release = { name, version: offered.version, size: info.size, crc32: info.crc32, md5: info.md5, publishedAt: new Date().toISOString() };
    return { release, unrecorded: true };
  }

  /** Writes the manifest for a plan (skipped when already identical), then records it. */
  private async apply(plan: Plan, offer = true): Promise<Release> {
    const r = plan.release;
    if (!offer) {
      if (plan.record) {
        await createSnapshot(this.root, r.name, r.version, path.join(this.root, r.name), r);
        await this.catalog.add(r, false);
        this.log.info({ name: r.name, version: r.version }, `recorded ${r.name} v${r.version} without offering it (select it, or start a rollout, to offer it)`);
        this.fleet.onChange?.({ action: 'record', name: r.name, version: r.version });
      }
      return { ...r };
    }
    if (plan.kind === 'unchanged') {
      if (plan.record) await this.catalog.add(r, false);
      this.log.info({ name: r.name, version: r.version }, `${r.name} unchanged (same bytes as v${r.version}): not re-offered; select it to offer it again`);
      return r;
    }
    const m: Manifest = { file: r.name, path: '/', size: r.size, version: r.version, crc32: r.crc32, md5: r.md5 };
    const text = formatManifest(m, { checksums: this.checksums });
    await createSnapshot(this.root, r.name, r.version, path.join(this.root, r.name), r);
    const wrote = await this.writeManifest(text, { name: r.name, version: r.version });
    if (plan.record) await this.catalog.add(r);
    else await this.catalog.setCurrent({ kind: 'release', name: r.name, version: r.version });
    if (wrote || plan.fresh) {
      this.fleet.onChange?.({ action: plan.fresh ? 'publish' : 'select', name: r.name, version: r.version });
      this.log.info({ name: r.name, version: r.version, size: r.size, crc32: r.crc32, md5: r.md5 },
        `published ${r.name} v${r.version} (${r.size} bytes, crc32 ${r.crc32})`);
      if (r.version > 127) {
        this.log.warn({ name: r.name, version: r.version }, `${r.name} v${r.version}: GPRS_Pro/SIM908/SIM928A devices read VERSION as a signed byte, so 128..255 is never newer for them (research §3); consider a new program name`);
      }
    }
    return { ...r };
  }

  /**
   * Writes UPGRADE.TXT atomically unless it already holds exactly `text`; true when it wrote. When the offer
   * changes, the snapshot the old manifest named is retired (devices that just read it keep SNAPSHOT_GRACE_MS to
   * fetch it) and snapshots no one can need are pruned, keeping `offered` (the release the new text names).
   */
  private async writeManifest(text: string, offered?: SnapshotKey): Promise<boolean> {
    const now = await this.readManifest();
    if (now.state !== 'missing' && now.text === text) return false;
    await writeFileAtomic(this.catalog.tmpDir, this.manifestPath, text);
    const before = now.state === 'ok' && now.manifest.file !== NO_FILE ? now.manifest : undefined;
    if (before && (before.file !== offered?.name || before.version !== offered.version)) {
      await retireSnapshot(this.root, { name: before.file, version: before.version });
    }
    await pruneSnapshots(this.root, offered ? [offered] : []);
    return true;
  }

  private async writeNoFile(): Promise<void> {
    const wrote = await this.writeManifest(formatManifest(noFileManifest()));
    await this.catalog.setCurrent({ kind: 'no-file' });
    if (wrote) this.fleet.onChange?.({ action: 'no-file' });
  }

  private async readManifest(): Promise<ManifestState> {
    let text: string;
    try {
      text = await fsp.readFile(this.manifestPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
      throw e;
    }
    try {
      return { state: 'ok', manifest: parseManifest(text), text };
    } catch (e) {
      if (e instanceof ManifestError) return { state: 'broken', issues: e.issues, text };
      throw e;
    }
  }

  private async reconcileNow(): Promise<void> {
    await this.open();
    await this.removeStaleTemps();
    const m = await this.readManifest();
    if (m.state === 'missing') {
      this.log.warn(`${MANIFEST_NAME} missing: wrote ${NO_FILE}`);
      return this.writeNoFile();
    }
    if (m.state === 'broken') {
      this.log.warn({ issues: m.issues }, `${MANIFEST_NAME} broken (${m.issues.map((i) => i.rule).join(', ')}): replaced by ${NO_FILE}`);
      return this.writeNoFile();
    }
    const offered = m.manifest;
    if (offered.file === NO_FILE) return this.catalog.setCurrent({ kind: 'no-file' });
    const name = offered.file;
    let info: BinaryInfo;
    try {
      info = await hashBinary(path.join(this.root, name), name);
    } catch (e) {
      if (!(e instanceof PublishError)) throw e;
      this.log.warn({ name, version: offered.version, reason: e.message },
        `${MANIFEST_NAME} offered ${name} v${offered.version} but ${e.message}: now ${NO_FILE} (no fallback to an older binary, that would roll the fleet back)`);
      return this.writeNoFile();
    }
    const records = this.catalog.releasesOf(name).filter((r) => r.version === offered.version);
    const record = records[records.length - 1];
    if (manifestMatches(offered, info) && (!record || sameContent(record, info))) {
      try {
        // A root from before snapshots, or an adopted Meshlium root: devices are served the snapshot (offered.ts).
        await createSnapshot(this.root, name, offered.version, path.join(this.root, name), info);
      } catch (e) {
        if (!(e instanceof PublishError)) throw e;
        this.log.warn({ name, version: offered.version, reason: e.message },
          `${MANIFEST_NAME} offered ${name} v${offered.version} but ${e.message}: now ${NO_FILE}`);
        return this.writeNoFile();
      }
      if (record) return this.catalog.setCurrent({ kind: 'release', name, version: offered.version });
      const adopted = this.catalog.releases.length === 0;
      await this.catalog.add({ name, version: offered.version, size: info.size, crc32: info.crc32, md5: info.md5, publishedAt: new Date().toISOString() });
      this.log.info({ name, version: offered.version }, adopted
        ? `adopted the existing ${MANIFEST_NAME}: ${name} v${offered.version} (${info.size} bytes) recorded, offer unchanged`
        : `recorded ${name} v${offered.version}, offered by ${MANIFEST_NAME} but missing from the catalogue`);
      return;
    }
    this.log.warn({ name, version: offered.version, size: info.size, advertised: offered.size },
      `${name} changed on disk (${offered.size} → ${info.size} bytes, crc32 ${info.crc32}): republishing it`);
    try {
      await this.publishNow(name, {});
    } catch (e) {
      this.log.error({ name, reason: (e as Error).message }, `${name} could not be republished (${(e as Error).message}): now ${NO_FILE}`);
      await this.writeNoFile();
    }
  }

  /** Removes temp files left by a crashed or killed writer (their name starts with a pid no longer running). */
  private async removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.catalog.tmpDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const n of names) {
      const pid = Number(n.split('.')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) continue;
      await fsp.rm(path.join(this.catalog.tmpDir, n), { force: true, recursive: true });
      this.log.info({ file: n }, `removed a stale temp file left by an interrupted write: ${n}`);
    }
  }
}

type Plan =
  | { kind: 'offer'; release: Release; record: boolean; fresh: boolean }
  | { kind: 'unchanged'; release: Release; record: boolean };

/** True when a manifest's SIZE and the checksums it carries describe `info`. */
function manifestMatches(m: Manifest, info: BinaryInfo): boolean {
  return m.size === info.size && (m.crc32 === undefined || m.crc32 === info.crc32) && (m.md5 === undefined || m.md5 === info.md5);
}

/** True when a process with this pid exists (EPERM: exists, owned by someone else). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
