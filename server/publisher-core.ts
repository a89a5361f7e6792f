/**
 * The publisher's shared machinery (server/publisher.ts is the public API): the operation queue and cross-process
 * lock, loading the catalogue, planning a release and applying it (snapshot, UPGRADE.TXT, catalogue, in the order
 * publisher.ts's module comment gives), and keeping a copy of an operator-written UPGRADE.TXT before replacing it.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import {
  MANIFEST_NAME, NO_FILE, describeOffer, explainProgramName, formatManifest, isProgramName, noFileManifest, readManifest,
  type Manifest,
} from './manifest.ts';
import { CATALOG_DIR, Catalog, TMP_DIR, type Release } from './catalog.ts';
import { PublishError, assertUnchanged, hashBinary, type BinaryInfo } from './binary.ts';
import { ManifestFile, type ManifestState } from './manifest-file.ts';
import { manifestMatches, planRelease, type Plan, type PublishOptions } from './release-plan.ts';
import { withRootLock } from './root-lock.ts';
import type { SnapshotKey } from './snapshots/reader.ts';
import { createSnapshot } from './snapshots/writer.ts';

/** What a manifest state offers, for log lines: `NAME vN`, `NO_FILE`, `nothing`, or a broken file's reading. */
export function offerOf(m: ManifestState): string {
  if (m.state === 'missing') return 'nothing';
  if (m.state === 'ok') return describeOffer(m.manifest);
  return `${describeOffer(m.read)} (broken)`;
}

/** The state and steps Publisher is built from. All writes happen inside enqueue(). */
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

export class PublisherCore {
  /** Absolute FTP root. */
  readonly root: string;
  protected readonly checksums: boolean;
  protected readonly log: Logger;
  protected readonly catalog: Catalog;
  protected readonly manifest: ManifestFile;
  /** `<root>/.firmdrop`: firmdrop's state (lock, catalogue, snapshots, kept manifests). */
  protected readonly stateDir: string;
  /** `<root>/.firmdrop/tmp`: temp files, on the root's file system so renames are atomic. */
  protected readonly tmpDir: string;
  protected queue: Promise<unknown> = Promise.resolve();
  /** What UPGRADE.TXT offered when this process last wrote or read it (see offerOf), for noticeOfferChange. */
  protected lastOffer?: string;
  /** The fleet's hooks (none without a fleet). */
  protected readonly fleet: PublisherFleetHooks;

  /**
   * @param opts.root FTP root holding the binaries and UPGRADE.TXT
   * @param opts.checksums write CRC32:/MD5: lines (default true; false = plain Meshlium format)
   * @param opts.logger pino logger (silent by default)
   * @param opts.fleet the fleet's hooks (rollouts hold drops back; the audit hears every change)
   */
  constructor(opts: { root: string; checksums?: boolean; logger?: Logger; fleet?: PublisherFleetHooks }) {
    this.fleet = opts.fleet ?? {};
    this.root = path.resolve(opts.root);
    this.checksums = opts.checksums !== false;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.catalog = new Catalog(this.root, this.log);
    this.manifest = new ManifestFile(this.root);
    this.stateDir = path.join(this.root, CATALOG_DIR);
    this.tmpDir = path.join(this.stateDir, TMP_DIR);
  }

  /** Waits for the queued operations, then closes the catalogue's store connection (a later operation reopens it). */
  async close(): Promise<void> {
    await this.queue;
    this.catalog.close();
  }

  /** Runs `fn` after every operation queued before it, holding the root's lock (server/root-lock.ts). */
  protected enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const locked = () => withRootLock(this.stateDir, this.tmpDir, this.log, fn);
    const run = this.queue.then(locked, locked);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * Reloads the catalogue (another process may have written it). When there is no catalogue but there is an
   * UPGRADE.TXT (firmdrop taking over a Meshlium/vsftpd root, or a catalogue lost), records the binaries already
   * in the root as the baseline first: they are left as they are and not published unless they change, so taking
   * over a root never changes what devices are offered. A root with neither is fresh: everything in it is new.
   */
  protected async open(): Promise<void> {
    await this.catalog.load();
    if (this.catalog.exists || (await this.manifest.read()).state === 'missing') return;
    const files = await this.rootBinaries();
    await this.catalog.setBaseline(files);
    this.log.info({ files: files.map((f) => f.name) }, `taking over a root with an existing ${MANIFEST_NAME}: ` +
      `${files.length} binar${files.length === 1 ? 'y' : 'ies'} already there left as they are (published only if they change)`);
  }

  /** The binaries in the root: program names that are regular files, with their size and mtime. */
  protected async rootBinaries(): Promise<{ name: string; size: number; mtimeMs: number }[]> {
    const out: { name: string; size: number; mtimeMs: number }[] = [];
    for (const d of await fsp.readdir(this.root, { withFileTypes: true })) {
      if (!d.isFile() || !isProgramName(d.name)) continue;
      const st = await fsp.lstat(path.join(this.root, d.name)).catch(() => undefined);
      if (st?.isFile()) out.push({ name: d.name, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  protected assertName(name: string): void {
    const why = explainProgramName(name);
    if (why) throw new PublishError('bad-name', why);
  }

  protected async publishNow(name: string, opts: PublishOptions): Promise<Release> {
    this.assertName(name);
    const file = path.join(this.root, name);
    const info = await hashBinary(file, name);
    const plan = await this.plan(name, info, opts);
    await assertUnchanged(file, info, name);
    return this.apply(plan, opts.offer !== false);
  }

  /** Decides the release for `name` with content `info` (no writes): see planRelease. */
  protected async plan(name: string, info: BinaryInfo, opts: PublishOptions, m?: ManifestState): Promise<Plan> {
    await this.open();
    const now = m ?? await this.manifest.read();
    const offered = now.state === 'ok' && now.manifest.file === name ? now.manifest : undefined;
    return planRelease(this.catalog, name, info, offered, opts);
  }

  /** Writes the manifest for a plan (skipped when already identical), then records it. `offer: false` only records. */
  protected async apply(plan: Plan, offer = true, why?: string): Promise<Release> {
    const r = plan.release;
    if (!offer || plan.kind === 'unchanged') {
      if (!offer && plan.record) {
        // a release recorded without being offered keeps its snapshot: a rollout may offer it to some devices
        await createSnapshot(this.root, r.name, r.version, path.join(this.root, r.name), r);
      }
      if (plan.record) await this.catalog.add(r, false);
      if (!offer && plan.record) {
        this.log.info({ name: r.name, version: r.version }, `recorded ${r.name} v${r.version} without offering it (select it, or start a rollout, to offer it)`);
        this.fleet.onChange?.({ action: 'record', name: r.name, version: r.version });
      } else if (offer) {
        this.log.info({ name: r.name, version: r.version }, `${r.name} unchanged (same bytes as v${r.version}): not re-offered; select it to offer it again`);
      }
      return { ...r };
    }
    const m: Manifest = { file: r.name, path: '/', size: r.size, version: r.version, crc32: r.crc32, md5: r.md5 };
    const text = formatManifest(m, { checksums: this.checksums });
    await createSnapshot(this.root, r.name, r.version, path.join(this.root, r.name), r);
    const wrote = await this.replaceManifest(await this.manifest.read(), text, { name: r.name, version: r.version }, why);
    if (plan.record) await this.catalog.add(r);
    else await this.catalog.setCurrent({ kind: 'release', name: r.name, version: r.version });
    if (wrote || plan.fresh) this.fleet.onChange?.({ action: plan.fresh ? 'publish' : 'select', name: r.name, version: r.version });
    if ((wrote || plan.fresh) && why === undefined) { // with `why`, replaceManifest's one line said it all
      this.log.info({ name: r.name, version: r.version, size: r.size, crc32: r.crc32, md5: r.md5 },
        `published ${r.name} v${r.version} (${r.size} bytes, crc32 ${r.crc32})`);
      if (r.version > 127) {
        this.log.warn({ name: r.name, version: r.version }, `${r.name} v${r.version}: GPRS_Pro/SIM908/SIM928A devices read VERSION as a signed byte ` +
          `(WaspGPRS_Pro_core.cpp requestOTA), so 128..255 is never newer for them; consider a new program name`);
      }
    }
    return { ...r };
  }

  /**
   * Replaces UPGRADE.TXT with `text` (see ManifestFile.write). An UPGRADE.TXT firmdrop could not write again byte for
   * byte from its catalogue (hand-edited, CRLF, foreign) is first copied to `.firmdrop/kept/`, and one warning line
   * names the copy and the change of offer (`why` says why it is replaced).
   */
  protected async replaceManifest(now: ManifestState, text: string, offered?: SnapshotKey, why?: string): Promise<boolean> {
    if (now.state !== 'missing' && now.text === text) return false;
    const kept = now.state !== 'missing' && !this.reproducible(now) ? await this.manifest.keep(now.text) : undefined;
    const wrote = await this.manifest.write(now, text, offered);
    const to = describeOffer(readManifest(text));
    if (kept) {
      this.log.warn({ kept, from: offerOf(now), to }, `${MANIFEST_NAME} ${why ?? 'was not written by firmdrop'}: ` +
        `kept the original as ${kept}; offer ${offerOf(now)} → ${to}`);
    }
    this.lastOffer = to;
    return wrote;
  }

  /** True when firmdrop would write `m` exactly as it is: canonical text, NO_FILE or a release the catalogue records. */
  protected reproducible(m: ManifestState): boolean {
    if (m.state !== 'ok') return false;
    if (formatManifest(m.manifest) !== m.text) return false;
    if (m.manifest.file === NO_FILE) return true;
    return this.catalog.releasesOf(m.manifest.file).some((r) => r.version === m.manifest.version && manifestMatches(m.manifest, r));
  }

  protected async writeNoFile(now: ManifestState, why?: string): Promise<void> {
    const wrote = await this.replaceManifest(now, formatManifest(noFileManifest()), undefined, why);
    await this.catalog.setCurrent({ kind: 'no-file' });
    if (wrote) this.fleet.onChange?.({ action: 'no-file' });
  }
}
