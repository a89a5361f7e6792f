/**
 * The cross-process lock of one root: `<root>/.firmdrop/lock`, held by the process writing UPGRADE.TXT or the
 * catalogue (the CLI while `serve` runs), and the clean-up of temp files such a process left when it died.
 *
 * The lock appears with its pid already in it: the pid is written to a temp file in `.firmdrop/tmp`, which is then
 * hard-linked as the lock; link(2) fails with EEXIST when the lock exists (POSIX.1-2017 `link`), so taking it is
 * atomic and a process killed while taking it never leaves an empty lock behind. A lock whose pid no longer runs is
 * taken over; an empty or unreadable one (left by an older firmdrop killed between creating and writing it) once it
 * is EMPTY_LOCK_STALE_MS old. Known limit: two processes that find the same stale lock at the same instant can both
 * take it over.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { tempOwner, tempPath } from './atomic-file.ts';
import { PublishError } from './binary.ts';

/** Lock file inside `.firmdrop` held by the process that is writing UPGRADE.TXT or the catalogue. */
export const LOCK_FILE = 'lock';
/** How long an operation waits for another process's lock before giving up (ms). */
export const LOCK_WAIT_MS = 30_000;
/** Age after which a lock file without a pid in it is taken over, ms (writing a pid takes microseconds). */
export const EMPTY_LOCK_STALE_MS = 2_000;
/** Pause between two tries to take a held lock, ms. */
const RETRY_MS = 20;

/** True when a process with this pid exists (kill(2) with signal 0; EPERM: exists, owned by someone else). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding `<catalogDir>/lock` (see the module comment); `tmpDir` is where the pid file is prepared.
 * @throws PublishError 'busy' when another live process holds the lock for LOCK_WAIT_MS; what `fn` throws
 */
export async function withRootLock<T>(catalogDir: string, tmpDir: string, log: Logger, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(catalogDir, LOCK_FILE);
  await fsp.mkdir(tmpDir, { recursive: true });
  const mine = tempPath(tmpDir, LOCK_FILE);
  await fsp.writeFile(mine, `${process.pid}\n`);
  const deadline = Date.now() + LOCK_WAIT_MS;
  try {
    while (!(await tryLink(mine, lock))) {
      const holder = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
      const valid = Number.isInteger(holder) && holder > 0;
      if (valid && !isRunning(holder)) {
        log.warn({ pid: holder }, `taking over a stale lock left by process ${holder}`);
        await fsp.rm(lock, { force: true });
        continue;
      }
      if (!valid) {
        const st = await fsp.stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > EMPTY_LOCK_STALE_MS) {
          log.warn('taking over an empty lock left by an interrupted firmdrop process');
          await fsp.rm(lock, { force: true });
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new PublishError('busy', `another firmdrop process (pid ${holder || '?'}) is writing ${path.join(path.basename(catalogDir), LOCK_FILE)}; try again`);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
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

/** link(mine, lock): true when taken, false when the lock exists. Rewrites `mine` when a reconcile removed it. */
async function tryLink(mine: string, lock: string): Promise<boolean> {
  try {
    await fsp.link(mine, lock);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // our pid file was removed as a stale temp (another Publisher of this process reconciling): rewrite it
      await fsp.writeFile(mine, `${process.pid}\n`);
      return false;
    }
    if (code !== 'EEXIST') throw e;
    return false;
  }
}

/**
 * Removes temp files left in `tmpDir` by a crashed or killed writer (their name starts with a pid no longer running,
 * see tempPath), logging each one.
 * @returns the names removed
 */
export async function removeStaleTemps(tmpDir: string, log: Logger): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(tmpDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const n of names) {
    const pid = tempOwner(n);
    if (pid !== undefined && pid !== process.pid && isRunning(pid)) continue;
    await fsp.rm(path.join(tmpDir, n), { force: true, recursive: true });
    log.info({ file: n }, `removed a stale temp file left by an interrupted write: ${n}`);
    removed.push(n);
  }
  return removed;
}
