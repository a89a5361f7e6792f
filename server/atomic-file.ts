/**
 * Atomic file replacement, written once: a temp file on the same file system, written, fsync'ed, renamed over the
 * target, then the target's directory fsync'ed. A reader sees the old or the new file, never a mix (rename(2) is
 * atomic within one file system, POSIX.1-2017 `rename`); the directory fsync makes the rename survive a power cut
 * (fsync(2): "Calling fsync() does not necessarily ensure that the entry in the directory containing the file has
 * also reached disk. For that an explicit fsync() on a file descriptor for the directory is also needed.").
 *
 * Temp files are named `<pid>.<random hex>.<base>` so that a later run can tell a stale one (its pid no longer
 * runs) from one a live process is writing; the publisher's reconcile removes stale ones.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A fresh temp file path in `tmpDir` for `base`: `<pid>.<random hex>.<base>`. */
export function tempPath(tmpDir: string, base: string): string {
  return path.join(tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}.${base}`);
}

/** The pid a temp file name starts with (see tempPath), or undefined for a name that carries none. */
export function tempOwner(name: string): number | undefined {
  const pid = Number(name.split('.')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** fsync a directory so a rename in it survives a power cut (ignored where the platform refuses it). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL') throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * Replaces `target` atomically with a file `write` produces: `write(tmp)` must create and fill `tmp` (a fresh path in
 * `tmpDir`, which must be on the target's file system) and may check it; the temp file is then fsync'ed, renamed
 * over `target`, and the target's directory fsync'ed. When `write` throws, `target` is untouched and the temp file
 * is removed.
 * @returns what `write` returned
 * @throws what `write` throws; file-system errors (the temp file is removed)
 */
export async function replaceAtomic<T>(tmpDir: string, target: string, write: (tmp: string) => Promise<T>): Promise<T> {
  await fsp.mkdir(tmpDir, { recursive: true });
  const tmp = tempPath(tmpDir, path.basename(target));
  let renamed = false;
  try {
    const result = await write(tmp);
    const fh = await fsp.open(tmp, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    await fsp.rename(tmp, target);
    renamed = true;
    await fsyncDir(path.dirname(target));
    return result;
  } finally {
    if (!renamed) await fsp.rm(tmp, { force: true });
  }
}

/**
 * Writes `data` to `target` atomically (see replaceAtomic). A crash leaves at most a temp file in `tmpDir`.
 * @param mode permission bits of the new file (default 0o644)
 * @throws the file-system error; the temp file is removed.
 */
export async function writeFileAtomic(tmpDir: string, target: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await replaceAtomic(tmpDir, target, (tmp) => fsp.writeFile(tmp, data, { flag: 'wx', mode }));
}
