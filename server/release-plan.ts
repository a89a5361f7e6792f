/**
 * Deciding which release a binary becomes, without writing anything: reuse a recorded release with the same bytes
 * (idempotent publishing), adopt the VERSION UPGRADE.TXT already offers for those bytes, or give the next VERSION
 * (catalog.ts resolveVersion). The publisher applies the plan.
 */
import { sameContent, type BinaryContent } from './binary.ts';
import type { Catalog, Release } from './catalog.ts';
import type { Manifest } from './manifest.ts';

/** Options of a publish: `version` (1..255) and `force` as in resolveVersion; `ifChanged`: see Publisher.publish. */
export interface PublishOptions {
  version?: number;
  force?: boolean;
  /** When the bytes equal the latest release of that name, change nothing (a touched or re-copied binary). */
  ifChanged?: boolean;
  /** False: record the release without offering it (default true). */
  offer?: boolean;
}

/**
 * What to do with a binary: `offer` it (a `fresh` release gets a new record; `record` says whether the catalogue
 * lacks it), or leave it `unchanged` (same bytes as a release that is not offered now, with `ifChanged`).
 */
export type Plan =
  | { kind: 'offer'; release: Release; record: boolean; fresh: boolean }
  | { kind: 'unchanged'; release: Release; record: boolean };

/** True when a manifest's SIZE and the checksums it carries describe `info`. */
export function manifestMatches(m: Pick<Manifest, 'size' | 'crc32' | 'md5'>, info: BinaryContent): boolean {
  return m.size === info.size && (m.crc32 === undefined || m.crc32 === info.crc32) && (m.md5 === undefined || m.md5 === info.md5);
}

/**
 * Decides the release for `name` with content `info`. `offered` is the manifest devices are offered now when it
 * names `name` (its VERSION counts as published, so a release the catalogue missed is never reused for other bytes).
 * @throws CatalogError (VERSION rules)
 */
export function planRelease(catalog: Catalog, name: string, info: BinaryContent, offered: Manifest | undefined, opts: PublishOptions): Plan {
  const known = knownRelease(catalog, name, info, offered);
  if (known && (opts.version === undefined || opts.version === known.release.version)) {
    const isOffered = offered !== undefined && offered.version === known.release.version;
    if (opts.ifChanged && !isOffered) return { kind: 'unchanged', release: known.release, record: known.unrecorded };
    return { kind: 'offer', release: known.release, record: known.unrecorded, fresh: false };
  }
  if (opts.version !== undefined) {
    const recorded = catalog.releasesOf(name).filter((r) => r.version === opts.version && sameContent(r, info)).pop();
    if (recorded && !opts.force) return { kind: 'offer', release: recorded, record: false, fresh: false };
  }
  const version = catalog.nextVersion(name, { version: opts.version, force: opts.force, floor: offered?.version });
  const release = { name, size: info.size, crc32: info.crc32, md5: info.md5, version, publishedAt: new Date().toISOString() };
  return { kind: 'offer', release, record: true, fresh: true };
}

/**
 * The release that already carries these bytes: the latest recorded release of `name` when its content matches;
 * else the release UPGRADE.TXT offers for `name` when it matches the bytes: its record, or, when the catalogue has
 * no record of that VERSION (crash between the manifest and catalogue writes, or an adopted root), a new record.
 */
function knownRelease(catalog: Catalog, name: string, info: BinaryContent, offered: Manifest | undefined): { release: Release; unrecorded: boolean } | undefined {
  const latest = catalog.latest(name);
  if (latest && sameContent(latest, info)) return { release: latest, unrecorded: false };
  if (!offered || !manifestMatches(offered, info)) return undefined;
  const records = catalog.releasesOf(name).filter((r) => r.version === offered.version);
  const same = records.filter((r) => sameContent(r, info)).pop();
  if (same) return { release: same, unrecorded: false };
  if (records.length) return undefined;
  const release = { name, version: offered.version, size: info.size, crc32: info.crc32, md5: info.md5, publishedAt: new Date().toISOString() };
  return { release, unrecorded: true };
}
