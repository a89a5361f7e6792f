/**
 * The one place that changes what is offered: writes UPGRADE.TXT and records releases in the catalogue. Verifies a
 * binary (server/binary.ts), decides its VERSION (server/release-plan.ts, catalog.ts), snapshots it
 * (server/snapshots/writer.ts) and replaces the manifest (server/manifest-file.ts).
 *
 * Crash safety. Every write is temp file + fsync + rename + directory fsync (server/atomic-file.ts), so each file is
 * old or new, never torn; the steps of one publish run in this order:
 *   1. hash the binary and re-check its size/mtime/inode (refuse if it changed: still being written);
 *   2. decide the VERSION against the catalogue AND the current UPGRADE.TXT (its VERSION counts as published for
 *      its FILE, so a release the catalogue missed is never reused for other bytes);
 *   3. write the release's snapshot `.firmdrop/offered/NAME.vVERSION`, verified against step 1. Devices are served
 *      this snapshot, not the live file, so a manifest never names a VERSION whose bytes are not there, even while a
 *      new build is renamed or written over `<root>/NAME`;
 *   4. rename the new UPGRADE.TXT into place (devices now see it); the snapshot it replaced is retired (kept for
 *      SNAPSHOT_GRACE_MS for devices still fetching it) and old snapshots are pruned. An UPGRADE.TXT firmdrop could
 *      not rewrite byte for byte from its catalogue (hand-edited, CRLF, Meshlium's) is first copied to
 *      `.firmdrop/kept/`;
 *   5. record the release in the catalogue (one store transaction: server/catalog.ts).
 * What a crash leaves, and how reconcile() repairs it:
 *   - during 1–4: a stale temp file in .firmdrop/tmp (removed by reconcile: its name carries a dead pid) and the old
 *     manifest, still consistent with its binary; after 3, also a snapshot no manifest names (pruned later);
 *   - a manifest whose snapshot is missing (an adopted Meshlium root): reconcile() creates the snapshot from the root
 *     file when that still matches, else the manifest becomes NO_FILE;
 *   - between 4 and 5: a manifest naming a release the catalogue lacks; reconcile() finds the binary matches the
 *     manifest and records it (no new version, devices' offer unchanged);
 *   - importBinary between its rename into the root and step 4: a new binary in the root; reconcile() or the
 *     watcher's start-up catch-up publishes it.
 * All operations go through one promise queue: no two writers at once in this process. Across processes (the CLI
 * while `serve` runs) each operation also holds `<root>/.firmdrop/lock` (server/root-lock.ts) and re-reads the
 * catalogue first. Identical content is never given a second VERSION, so the CLI's import and the watcher's view of
 * it converge on the same release.
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_NAME, NO_FILE, ManifestError, strictForm, type Manifest } from './manifest.ts';
import { CatalogError, type Release } from './catalog.ts';
import { fsyncDir, replaceAtomic } from './atomic-file.ts';
import { PublishError, assertUnchanged, hashBinary, sameContent, unstable, type BinaryInfo } from './binary.ts';
import type { ManifestState } from './manifest-file.ts';
import { PublisherCore, offerOf } from './publisher-core.ts';
import { manifestMatches, planRelease, type PublishOptions } from './release-plan.ts';
import { removeStaleTemps } from './root-lock.ts';
import { createSnapshot } from './snapshots/writer.ts';

export type { Release } from './catalog.ts';
export type { PublishOptions } from './release-plan.ts';
export { PublishError, hashBinary, type BinaryInfo, type PublishErrorCode } from './binary.ts';
export { LOCK_FILE, LOCK_WAIT_MS, EMPTY_LOCK_STALE_MS } from './root-lock.ts';
export type { PublisherFleetHooks } from './publisher-core.ts';

/**
 * The one writer of `<root>/UPGRADE.TXT` and of the release catalogue. See the module comment for the crash-safety
 * order. Logs one info line per publish. All public methods are serialized through one queue.
 */
export class Publisher extends PublisherCore {
  /**
   * Publishes the binary `<root>/<name>`: devices are offered it with the next VERSION (or `opts.version`, see
   * resolveVersion in catalog.ts). A byte-identical binary (same size, CRC-32, MD5 as the latest release of that
   * name) keeps its VERSION (idempotent). With `ifChanged`, such a binary changes nothing at all; with
   * `offer: false` the release is recorded but UPGRADE.TXT is left as it is.
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
      const { info, plan } = await replaceAtomic(this.tmpDir, target, async (tmp) => {
        await fsp.copyFile(source, tmp);
        const after = await fsp.stat(source);
        if (after.size !== srcStat.size || after.mtimeMs !== srcStat.mtimeMs) {
          throw unstable(src, `size ${srcStat.size} → ${after.size} bytes during the copy`);
        }
        const hashed = await hashBinary(tmp, name);
        return { info: hashed, plan: await this.plan(name, hashed, opts) };
      });
      await fsyncDir(this.root);
      await assertUnchanged(target, info, name);
      return this.apply(plan, opts.offer !== false);
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

  /** Offers nothing: writes the NO_FILE manifest (FILE:NO_FILE, PATH:/, SIZE:0, VERSION:0, as Meshlium writes it). */
  selectNoFile(): Promise<void> {
    return this.enqueue(async () => {
      await this.open();
      await this.writeNoFile(await this.manifest.read());
      this.log.info('selected NO_FILE: devices are offered no update');
    });
  }

  /**
   * Makes UPGRADE.TXT true to the files (on start, and when the current binary is deleted or changed):
   * - removes stale temp files from .firmdrop/tmp;
   * - UPGRADE.TXT missing → NO_FILE (warn);
   * - broken (CRLF, spaces, any rule of lintManifest): the original is kept in `.firmdrop/kept/`; when its tolerant
   *   reading names a binary that is present and matches its SIZE (and checksums), that release goes on being
   *   offered in strict form with its VERSION; otherwise NO_FILE. One warning line says what changed;
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
    const m = await this.manifest.read();
    if (m.state === 'missing') return undefined;
    if (m.state === 'broken') throw new ManifestError(m.issues);
    return m.manifest;
  }

  /** All recorded releases, oldest first. */
  releases(): Promise<Release[]> {
    return this.enqueue(async () => {
      await this.open();
      return [...this.catalog.releases];
    });
  }

  /**
   * Logs one info line when UPGRADE.TXT offers something other than what this process last wrote or read there,
   * i.e. another process (`firmdrop publish`/`select`) changed the offer: "offer changed: X v1 → Y v2 (by another
   * process)". The first call only records what is offered. Never throws (a read error is logged).
   */
  noticeOfferChange(): Promise<void> {
    const run = this.queue.then(async () => {
      const now = offerOf(await this.manifest.read());
      if (this.lastOffer !== undefined && now !== this.lastOffer) {
        this.log.info({ from: this.lastOffer, to: now }, `offer changed: ${this.lastOffer} → ${now} (by another process)`);
      }
      this.lastOffer = now;
    }).catch((e: unknown) => this.log.warn({ reason: (e as Error).message }, `${MANIFEST_NAME} unreadable: ${(e as Error).message}`));
    this.queue = run;
    return run;
  }

  /**
   * Publishes binaries that landed while nothing was watching (the watcher's start-up): every binary in the root
   * (program name, regular file) whose bytes differ from the latest release of its name, except the baseline of an
   * adopted root while unchanged (see open()). Oldest mtime first, so the newest ends offered; one older than the
   * binary offered now is recorded as a release but not offered (that would roll the fleet back; `select` offers
   * it). A binary still being written is skipped (the watcher publishes it when it settles).
   * @returns the releases recorded
   */
  catchUp(): Promise<Release[]> {
    return this.enqueue(async () => {
      await this.open();
      const pending = await this.changedBinaries();
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

  /** Binaries in the root whose bytes differ from the latest release of their name (baseline excepted), oldest first. */
  private async changedBinaries(): Promise<{ name: string; info: BinaryInfo }[]> {
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
    return pending.sort((a, b) => a.info.mtimeMs - b.info.mtimeMs);
  }

  /** mtime of the binary UPGRADE.TXT offers now, or −Infinity (NO_FILE, none, broken, or the file is gone). */
  private async offeredMtime(): Promise<number> {
    const m = await this.manifest.read();
    if (m.state !== 'ok' || m.manifest.file === NO_FILE) return -Infinity;
    const st = await fsp.lstat(path.join(this.root, m.manifest.file)).catch(() => undefined);
    return st ? st.mtimeMs : -Infinity;
  }

  private async reconcileNow(): Promise<void> {
    await this.open();
    await removeStaleTemps(this.tmpDir, this.log);
    const m = await this.manifest.read();
    this.lastOffer = offerOf(m);
    if (m.state === 'missing') {
      if (this.catalog.exists) this.log.warn(`${MANIFEST_NAME} missing: wrote ${NO_FILE}`);
      else this.log.info(`no ${MANIFEST_NAME} yet (a new root): wrote ${NO_FILE}, devices are offered no update`);
      return this.writeNoFile(m);
    }
    if (m.state === 'broken') return this.reconcileBroken(m);
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
      return this.writeNoFile(m);
    }
    const records = this.catalog.releasesOf(name).filter((r) => r.version === offered.version);
    const record = records[records.length - 1];
    if (manifestMatches(offered, info) && (!record || sameContent(record, info))) return this.adopt(m, offered, info, record);
    this.log.warn({ name, version: offered.version, size: info.size, advertised: offered.size },
      `${name} changed on disk (${offered.size} → ${info.size} bytes, crc32 ${info.crc32}): republishing it`);
    try {
      await this.publishNow(name, {});
    } catch (e) {
      this.log.error({ name, reason: (e as Error).message }, `${name} could not be republished (${(e as Error).message}): now ${NO_FILE}`);
      await this.writeNoFile(await this.manifest.read());
    }
  }

  /** Keeps offering a valid manifest whose binary matches: makes sure its snapshot exists and the catalogue records it. */
  private async adopt(m: ManifestState, offered: Manifest, info: BinaryInfo, record: Release | undefined): Promise<void> {
    const name = offered.file;
    try {
      // A root from before snapshots, or an adopted Meshlium root: devices are served the snapshot.
      await createSnapshot(this.root, name, offered.version, path.join(this.root, name), info);
    } catch (e) {
      if (!(e instanceof PublishError)) throw e;
      this.log.warn({ name, version: offered.version, reason: e.message },
        `${MANIFEST_NAME} offered ${name} v${offered.version} but ${e.message}: now ${NO_FILE}`);
      return this.writeNoFile(m);
    }
    if (record) return this.catalog.setCurrent({ kind: 'release', name, version: offered.version });
    const adopted = this.catalog.releases.length === 0;
    await this.catalog.add({ name, version: offered.version, size: info.size, crc32: info.crc32, md5: info.md5, publishedAt: new Date().toISOString() });
    this.log.info({ name, version: offered.version }, adopted
      ? `adopted the existing ${MANIFEST_NAME}: ${name} v${offered.version} (${info.size} bytes) recorded, offer unchanged`
      : `recorded ${name} v${offered.version}, offered by ${MANIFEST_NAME} but missing from the catalogue`);
  }

  /**
   * A broken UPGRADE.TXT (CRLF line ends, spaces, a missing label...). When its tolerant reading names a present,
   * valid binary with the SIZE (and checksums) it states, that release is offered in strict form with its VERSION
   * (recorded in the catalogue); otherwise NO_FILE. Either way the original is kept (replaceManifest).
   */
  private async reconcileBroken(m: ManifestState & { state: 'broken' }): Promise<void> {
    const why = `broke ${[...new Set(m.issues.map((i) => i.rule))].join(', ')}`;
    const meant = strictForm(m.read);
    if (meant && meant.file !== NO_FILE) {
      try {
        const info = await hashBinary(path.join(this.root, meant.file), meant.file);
        if (manifestMatches(meant, info)) {
          const plan = planRelease(this.catalog, meant.file, info, undefined, { version: meant.version, force: true });
          await this.apply(plan, true, `${why}; rewritten in strict form`);
          return;
        }
      } catch (e) {
        if (!(e instanceof PublishError) && !(e instanceof CatalogError)) throw e;
      }
    }
    await this.writeNoFile(m, `${why}; replaced by ${NO_FILE}`);
  }
}

