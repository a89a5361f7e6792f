/**
 * The snapshot store of offered binaries: `<root>/.firmdrop/offered/NAME.vVERSION`, one immutable copy of each
 * release the publisher has offered. Devices are served this copy, not the live file in the root, so a device that
 * read an UPGRADE.TXT gets exactly the bytes it names (SIZE, CRC32, MD5) even while the operator rewrites or
 * renames a new build over `<root>/NAME` (issue 5 item 5: "every manifest a client reads is complete and names a
 * binary that is there with that exact size and checksum").
 *
 * The folder is inside the catalogue folder (a dot-folder), so devices never see it by name; server/device-fs.ts
 * maps a request for `NAME` to the right snapshot. A snapshot is written like every other file here: temp file in
 * `.firmdrop/tmp`, fsync, verify, rename into `offered/` (atomic), fsync the folder. A crash leaves at most a stale
 * temp file (removed by the publisher's reconcile) or a complete snapshot no manifest names yet (harmless, pruned).
 *
 * Retention (pruneSnapshots): the current snapshot, the newest SNAPSHOTS_PER_NAME versions of each name, and every
 * snapshot touched within SNAPSHOT_GRACE_MS are kept. "Touched" is the snapshot file's mtime: set when it is
 * created and again when it stops being offered (retireSnapshot), so the grace period runs from the moment devices
 * could last have read a manifest naming it. 15 minutes covers a full 3 MiB download at GPRS speed (~40 kbit/s:
 * about 10 min) and the gap between the Waspmote 4G's two FTP sessions (manifest, then binary; research/
 * waspmote-ota.md §2); a device that takes longer falls back to the binary the current UPGRADE.TXT names.
 */
import { constants as fsc, lstatSync, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import CRC32 from 'crc-32';
import { isProgramName } from './manifest.ts';
import { CATALOG_DIR, TMP_DIR, fsyncDir, tempPath } from './catalog.ts';
import { PublishError, hashBinary } from './publisher.ts';

/** Folder inside CATALOG_DIR holding the snapshots. */
export const OFFERED_DIR = 'offered';
/** Snapshots of each program name kept whatever their age (the newest VERSIONs). */
export const SNAPSHOTS_PER_NAME = 3;
/** A snapshot touched (created or retired) less than this long ago is kept, ms (15 min; see the module comment). */
export const SNAPSHOT_GRACE_MS = 15 * 60 * 1000;

/** A release's identity: program name and VERSION (1..255). */
export interface SnapshotKey { name: string; version: number }
/** The bytes a snapshot must hold: size in bytes, CRC-32 (8 lowercase hex, unsigned) and MD5 (32 lowercase hex). */
export interface SnapshotContent { size: number; crc32: string; md5: string }

/** True when `name`/`version` can name a snapshot (program name, integer VERSION 0..255): nothing else reaches the disk. */
function validKey(name: string, version: number): boolean {
  return isProgramName(name) && Number.isInteger(version) && version >= 0 && version <= 255;
}

/** The folder of the snapshots of `root`. */
export function offeredDir(root: string): string {
  return path.join(root, CATALOG_DIR, OFFERED_DIR);
}

/**
 * Path of the snapshot of `name` v`version`: `<root>/.firmdrop/offered/NAME.vVERSION`.
 * @throws Error when `name` is not a program name or `version` not an integer 0..255 (never a path outside the store)
 */
export function snapshotPath(root: string, name: string, version: number): string {
  if (!validKey(name, version)) throw new Error(`not a release: ${JSON.stringify(name)} v${version}`);
  return path.join(offeredDir(root), `${name}.v${version}`);
}

/** Parses a snapshot file name `NAME.vVERSION`; undefined for anything else (temp files, strays). */
export function parseSnapshotName(file: string): SnapshotKey | undefined {
  const m = /^([A-Za-z0-9_]{7})\.v(\d{1,3})$/.exec(file);
  if (!m) return undefined;
  const key = { name: m[1]!, version: Number(m[2]) };
  return validKey(key.name, key.version) ? key : undefined;
}

function sameBytes(a: SnapshotContent, b: SnapshotContent): boolean {
  return a.size === b.size && a.crc32 === b.crc32 && a.md5 === b.md5;
}

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
export async function createSnapshot(root: string, name: string, version: number, sourceFile: string, expected: SnapshotContent): Promise<string> {
  const target = snapshotPath(root, name, version);
  const existing = await hashBinary(target).catch(() => undefined);
  if (existing && sameBytes(existing, expected)) return target;
  const tmpDir = path.join(root, CATALOG_DIR, TMP_DIR);
  await fsp.mkdir(tmpDir, { recursive: true });
  await fsp.mkdir(offeredDir(root), { recursive: true });
  const tmp = tempPath(tmpDir, `${name}.v${version}`);
  let renamed = false;
  try {
    let src;
    try {
      src = await fsp.open(sourceFile, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') throw new PublishError('not-found', `${name}: disappeared before its v${version} snapshot was taken; not published`);
      throw e;
    }
    let crc = 0;
    let size = 0;
    const md5 = createHash('md5');
    const out = await fsp.open(tmp, 'wx', 0o444);
    try {
      for await (const chunk of src.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
        crc = CRC32.buf(chunk, crc);
        md5.update(chunk);
        size += chunk.length;
        let off = 0;
        while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
      }
      await out.sync();
    } finally {
      await out.close();
      await src.close();
    }
    const copied = { size, crc32: (crc >>> 0).toString(16).padStart(8, '0'), md5: md5.digest('hex') };
    if (!sameBytes(copied, expected)) {
      throw new PublishError('unstable', `${name}: changed while its v${version} snapshot was taken ` +
        `(${expected.size} bytes crc32 ${expected.crc32} hashed, ${copied.size} bytes crc32 ${copied.crc32} copied); still being written? not published`);
    }
    await fsp.rename(tmp, target);
    renamed = true;
    await fsyncDir(offeredDir(root));
    return target;
  } finally {
    if (!renamed) await fsp.rm(tmp, { force: true });
  }
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

/**
 * The snapshot of `name` v`version` if it exists as a regular file: its path and lstat; else undefined.
 * For the device file system (one lstat, never throws). The lstat is synchronous on purpose: it runs for every
 * SIZE/RETR of an offered name, and a local lstat costs less than a thread-pool round trip (issue 5 profile).
 */
export async function findSnapshot(root: string, name: string, version: number): Promise<{ file: string; stat: Stats } | undefined> {
  if (!validKey(name, version)) return undefined;
  const file = snapshotPath(root, name, version);
  let stat: Stats | undefined;
  try {
    stat = lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES...: no snapshot to serve
  }
  return stat?.isFile() ? { file, stat } : undefined;
}

/** Default bound of a SnapshotCache: bytes of snapshot content held in memory at most (64 MiB). */
export const SNAPSHOT_CACHE_BYTES = 64 * 1024 * 1024;
/** Largest snapshot a SnapshotCache holds, bytes (16 MiB); a bigger one is streamed from disk each time. */
export const SNAPSHOT_CACHE_MAX_FILE = 16 * 1024 * 1024;

/** Identity of a file's content: a snapshot is never written in place, so a new content means a new inode or mtime. */
interface FileIdentity { ino: number; dev: number; size: number; mtimeMs: number }

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * Snapshot bytes held in memory, so that every RETR of an offered binary is served from one shared Buffer instead of
 * an open/fstat/read×n/close of the same immutable file (issue 5: the profile at C=50 charged 17 % of the server's
 * CPU to per-request file access; Node has no sendfile). Entries are keyed by path and checked against the caller's
 * fresh lstat (inode, device, size, mtime): a snapshot replaced under the same name (`--force`), retired (new mtime)
 * or pruned is never served from a stale entry. Least recently used entries are dropped beyond `maxBytes`; files over
 * `maxFileBytes` are not held. One instance per server; safe for concurrent callers (one disk read per miss).
 */
export class SnapshotCache {
  readonly #entries = new Map<string, { id: FileIdentity; bytes: Buffer }>();
  readonly #loading = new Map<string, Promise<Buffer | undefined>>();
  readonly #maxBytes: number;
  readonly #maxFile: number;
  #bytes = 0;

  /** @param opts.maxBytes total bytes held (default SNAPSHOT_CACHE_BYTES); opts.maxFileBytes largest file held (default SNAPSHOT_CACHE_MAX_FILE) */
  constructor(opts: { maxBytes?: number; maxFileBytes?: number } = {}) {
    this.#maxBytes = opts.maxBytes ?? SNAPSHOT_CACHE_BYTES;
    this.#maxFile = Math.min(opts.maxFileBytes ?? SNAPSHOT_CACHE_MAX_FILE, this.#maxBytes);
  }

  /**
   * The bytes of the snapshot at `file`, whose lstat the caller just took (`stat`), or undefined when it is too big
   * to hold, is not a regular file, or changed between that lstat and the read (the caller then opens it itself).
   * The returned Buffer is shared: never write to it.
   */
  async bytes(file: string, stat: Stats): Promise<Buffer | undefined> {
    if (!stat.isFile() || stat.size > this.#maxFile) return undefined;
    const hit = this.#entries.get(file);
    if (hit && sameFile(hit.id, stat)) {
      this.#entries.delete(file); // most recently used last
      this.#entries.set(file, hit);
      return hit.bytes;
    }
    const key = `${file}\0${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    let pending = this.#loading.get(key);
    if (!pending) {
      pending = this.#load(file, stat).finally(() => this.#loading.delete(key));
      this.#loading.set(key, pending);
    }
    return pending;
  }

  /** Bytes held (for tests and status). */
  get size(): number {
    return this.#bytes;
  }

  async #load(file: string, stat: Stats): Promise<Buffer | undefined> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      const st = await fh.stat();
      if (!st.isFile() || !sameFile(st, stat)) return undefined;
      const bytes = Buffer.allocUnsafeSlow(st.size);
      let off = 0;
      while (off < bytes.length) {
        const { bytesRead } = await fh.read(bytes, off, bytes.length - off, off);
        if (bytesRead === 0) return undefined; // shrank under us: not a snapshot we may trust
        off += bytesRead;
      }
      this.#store(file, { id: { ino: st.ino, dev: st.dev, size: st.size, mtimeMs: st.mtimeMs }, bytes });
      return bytes;
    } catch {
      return undefined;
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  #store(file: string, entry: { id: FileIdentity; bytes: Buffer }): void {
    const old = this.#entries.get(file);
    if (old) {
      this.#entries.delete(file);
      this.#bytes -= old.bytes.length;
    }
    this.#entries.set(file, entry);
    this.#bytes += entry.bytes.length;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes.length;
    }
  }
}
