/**
 * The snapshot store, write side: create a release's snapshot, retire it when it stops being offered, prune the
 * ones nobody can need. Paths and the read side are ./reader.ts.
 *
 * A snapshot is written like every other file of the catalogue (server/atomic-file.ts): temp file in
 * `.firmdrop/tmp`, fsync, verify, rename into `offered/`, fsync the folder. A crash leaves at most a stale temp file
 * (removed by the publisher's reconcile) or a complete snapshot no manifest names yet (harmless, pruned).
 *
 * Retention (pruneSnapshots): the current snapshot, the newest SNAPSHOTS_PER_NAME versions of each name, and every
 * snapshot touched within SNAPSHOT_GRACE_MS are kept. "Touched" is the snapshot file's mtime: set when it is
 * created and again when it stops being offered (retireSnapshot), so the grace period runs from the moment devices
 * could last have read a manifest naming it.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { CATALOG_DIR, TMP_DIR } from '../catalog.ts';
import { replaceAtomic } from '../atomic-file.ts';
import { ContentHasher, PublishError, hashBinary, sameContent, type BinaryContent } from '../binary.ts';
import { SNAPSHOT_GRACE_MS, offeredDir, parseSnapshotName, snapshotPath, validKey, type SnapshotKey } from './reader.ts';

/** Snapshots of each program name kept whatever their age (the newest VERSIONs). */
export const SNAPSHOTS_PER_NAME = 3;

/**
 * Makes sure the snapshot of `name` v`version` exists and holds exactly `expected`. An existing snapshot with those
 * bytes is kept as it is (re-offering a release costs one read); otherwise `sourceFile` is copied into
 * `.firmdrop/tmp` (hashing the bytes as they are written), fsync'ed, and renamed into the store only when the copy
 * has the expected size, CRC-32 and MD5. A snapshot with other bytes under the same key (a VERSION reused with
 * `--force`) is replaced atomically; devices already reading it keep their open file.
 * @param expected what the publisher hashed from `sourceFile` (the bytes the manifest will name)
 * @returns the snapshot's path
 * @throws PublishError 'unstable' when the copy differs from `expected` (the file changed after it was hashed),
 *   'not-found' when `sourceFile` is gone; file-system errors otherwise. The store is unchanged then.
 */
export async function createSnapshot(root: string, name: string, version: number, sourceFile: string, expected: BinaryContent): Promise<string> {
  const target = snapshotPath(root, name, version);
  const existing = await hashBinary(target).catch(() => undefined);
  if (existing && sameContent(existing, expected)) return target;
  await fsp.mkdir(offeredDir(root), { recursive: true });
  await replaceAtomic(path.join(root, CATALOG_DIR, TMP_DIR), target, async (tmp) => {
    let src;
    try {
      src = await fsp.open(sourceFile, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') throw new PublishError('not-found', `${name}: disappeared before its v${version} snapshot was taken; not published`);
      throw e;
    }
    const hasher = new ContentHasher();
    const out = await fsp.open(tmp, 'wx', 0o444);
    try {
      for await (const chunk of src.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
        hasher.update(chunk);
        let off = 0;
        while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
      }
    } finally {
      await out.close();
      await src.close();
    }
    const copied = hasher.digest();
    if (!sameContent(copied, expected)) {
      throw new PublishError('unstable', `${name}: changed while its v${version} snapshot was taken ` +
        `(${expected.size} bytes crc32 ${expected.crc32} hashed, ${copied.size} bytes crc32 ${copied.crc32} copied); still being written? not published`);
    }
  });
  return target;
}

/**
 * Marks a snapshot as no longer offered now (sets its mtime to `now`), so pruneSnapshots keeps it for
 * SNAPSHOT_GRACE_MS more: devices that read the manifest naming it a moment ago can still fetch it. No-op when it
 * does not exist.
 */
export async function retireSnapshot(root: string, key: SnapshotKey, now = new Date()): Promise<void> {
  if (!validKey(key.name, key.version)) return;
  await fsp.utimes(snapshotPath(root, key.name, key.version), now, now).catch(() => undefined);
}

/**
 * Removes snapshots nobody can need any more. Kept: every key in `keep` (the current release, at least), the newest
 * SNAPSHOTS_PER_NAME VERSIONs of each name, and every snapshot whose mtime is less than `graceMs` before `now`.
 * Files in the store that are not snapshots are left alone.
 * @param opts.now clock in ms since the epoch (default Date.now()); opts.graceMs default SNAPSHOT_GRACE_MS;
 *   opts.perName default SNAPSHOTS_PER_NAME
 * @returns the keys removed
 */
export async function pruneSnapshots(root: string, keep: Iterable<SnapshotKey>,
  opts: { now?: number; graceMs?: number; perName?: number } = {}): Promise<SnapshotKey[]> {
  const now = opts.now ?? Date.now();
  const graceMs = opts.graceMs ?? SNAPSHOT_GRACE_MS;
  const perName = opts.perName ?? SNAPSHOTS_PER_NAME;
  const kept = new Set([...keep].map((k) => `${k.name}.v${k.version}`));
  let files: string[];
  try {
    files = await fsp.readdir(offeredDir(root));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const byName = new Map<string, number[]>();
  for (const f of files) {
    const k = parseSnapshotName(f);
    if (!k) continue;
    const list = byName.get(k.name) ?? [];
    list.push(k.version);
    byName.set(k.name, list);
  }
  const removed: SnapshotKey[] = [];
  for (const [name, versions] of byName) {
    versions.sort((a, b) => b - a);
    for (const version of versions.slice(perName)) {
      if (kept.has(`${name}.v${version}`)) continue;
      const file = snapshotPath(root, name, version);
      const st = await fsp.lstat(file).catch(() => undefined);
      if (!st || now - st.mtimeMs < graceMs) continue;
      await fsp.rm(file, { force: true });
      removed.push({ name, version });
    }
  }
  return removed;
}
