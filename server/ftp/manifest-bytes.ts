/**
 * The root's UPGRADE.TXT as the FTP server sends it: read whole into memory (it is under 255 bytes when valid) with
 * the release it names, and kept while the file stays the same file. Every device session reads UPGRADE.TXT, so a
 * read per RETR (open, fstat, read, close) was a visible share of the server's CPU at C=50 (BENCHMARKS.md); the
 * jail's lstat, taken anyway for every RETR, tells whether the bytes held are still the file's.
 *
 * "The same file" is the identity an in-place edit cannot keep: inode, device, size, mtime and ctime (a write
 * changes ctime, and no call can set it back; POSIX.1-2017 <sys/stat.h>, st_ctim). The publisher replaces the file
 * by rename (a new inode), an editor by rename or by a write in place (a new ctime).
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { JailError, MSG_NOT_FOUND } from '../jail.ts';
import { manifestKey } from '../pins.ts';
import type { SnapshotKey } from '../snapshots/reader.ts';

/** Largest UPGRADE.TXT held in memory, bytes; a bigger one (broken anyway) is streamed like any other file. */
export const MAX_BUFFERED_MANIFEST = 4096;

/** UPGRADE.TXT's bytes (shared: never modified) and the release they name (undefined for NO_FILE or a broken file). */
export interface ManifestRead {
  buffer: Buffer;
  names: SnapshotKey | undefined;
}

/** What identifies a file's content without reading it (see the module comment). */
type Identity = Pick<Stats, 'ino' | 'dev' | 'size' | 'mtimeMs' | 'ctimeMs'>;

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** The last UPGRADE.TXT read, per path. One instance per server; synchronous, so never a torn entry. */
export class ManifestBytes {
  readonly #held = new Map<string, { id: Identity; read: ManifestRead }>();

  /**
   * UPGRADE.TXT at the real path `real`: the bytes held when `stat` (an lstat the caller just took; taken here when
   * not given) shows the same file, else a fresh read. Opened with O_NOFOLLOW and O_NONBLOCK (a symlink or FIFO
   * swapped in after the lstat is refused, never waited on). Synchronous on purpose: a local file of a few hundred
   * bytes costs less than thread-pool round trips.
   * @returns undefined when the file is over MAX_BUFFERED_MANIFEST bytes (serve it as a plain file)
   * @throws JailError (MSG_NOT_FOUND) when it is missing, not a regular file, or cannot be read
   */
  read(real: string, stat?: Stats): ManifestRead | undefined {
    const now = stat ?? lstatOrNotFound(real);
    const held = this.#held.get(real);
    if (held && now.isFile() && sameIdentity(held.id, now)) return held.read;
    this.#held.delete(real);
    const fresh = readWhole(real);
    if (fresh?.id) this.#held.set(real, { id: fresh.id, read: fresh.read });
    return fresh?.read;
  }
}

function notFound(): JailError {
  return new JailError(MSG_NOT_FOUND);
}

function lstatOrNotFound(real: string): Stats {
  try {
    const st = lstatSync(real, { throwIfNoEntry: false });
    if (st) return st;
  } catch {
    // ENOTDIR, EACCES...
  }
  throw notFound();
}

/**
 * Reads a regular file of at most MAX_BUFFERED_MANIFEST bytes whole, with its identity from fstat (none when the
 * bytes read are not the size fstat gave: the file changed while it was read, so it is read again next time).
 */
function readWhole(real: string): { id?: Identity; read: ManifestRead } | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw notFound();
    if (st.size > MAX_BUFFERED_MANIFEST) return undefined;
    // One read past the size tells a file that grew since the fstat; read to the end in that case.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(st.size + 1);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > MAX_BUFFERED_MANIFEST) return undefined;
    }
    const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const id = total === st.size ? { ino: st.ino, dev: st.dev, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs } : undefined;
    return { id, read: { buffer, names: manifestKey(buffer) } };
  } catch {
    throw notFound();
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // nothing to release
      }
    }
  }
}
