/**
 * The snapshot store, read side: where the snapshot of a release lives, finding it for a device's SIZE/RETR, and the
 * in-memory cache of snapshot bytes. The write side (create, retire, prune) is ./writer.ts.
 *
 * A snapshot is one immutable copy of a release the publisher has offered: `<root>/.firmdrop/offered/NAME.vVERSION`.
 * Devices are served this copy, not the live file in the root, so a device that read an UPGRADE.TXT gets exactly the
 * bytes it names (SIZE, CRC32, MD5) even while the operator rewrites or renames a new build over `<root>/NAME`.
 * The folder is inside the catalogue folder (a dot-folder), so devices never see it by name; server/jail.ts
 * maps a request for `NAME` to the right snapshot.
 *
 * SNAPSHOT_GRACE_MS: 15 minutes covers a full 3 MiB download at GPRS speed (~40 kbit/s: about 10 min) and the gap
 * between the Waspmote 4G's two FTP sessions (one for UPGRADE.TXT, a new one for the binary: `Wasp4G.cpp`
 * requestOTA); a device that takes longer falls back to the binary the current UPGRADE.TXT names.
 */
import { constants as fsc, lstatSync, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { isProgramName } from '../manifest.ts';
import { CATALOG_DIR } from '../catalog.ts';

/** Folder inside CATALOG_DIR holding the snapshots. */
export const OFFERED_DIR = 'offered';
/** A snapshot touched (created or retired) less than this long ago is kept, ms (15 min; see the module comment). */
export const SNAPSHOT_GRACE_MS = 15 * 60 * 1000;

/** A release's identity: program name and VERSION (1..255). */
export interface SnapshotKey { name: string; version: number }

/** True when `name`/`version` can name a snapshot (program name, integer VERSION 0..255): nothing else reaches the disk. */
export function validKey(name: string, version: number): boolean {
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

/**
 * The snapshot of `name` v`version` if it exists as a regular file: its path and lstat; else undefined.
 * For the device file system (one lstat, never throws). The lstat is synchronous on purpose: it runs for every
 * SIZE/RETR of an offered name, and a local lstat costs less than a thread-pool round trip (see the server profile in BENCHMARKS.md).
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
 * an open/fstat/read×n/close of the same immutable file (the server profile at C=50 in BENCHMARKS.md charged 17 % of the server's
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
