/**
 * Opening a root's store for the catalogue and the fleet: a database file SQLite cannot read (SQLITE_NOTADB,
 * SQLITE_CORRUPT: SQLite documentation, "Result and Error Codes") is moved aside, with its `-wal` and `-shm`
 * files, as `firmdrop.db.corrupt-<time>`, logged as one error line, and a new empty store is created: nothing is
 * overwritten, so the operator can still recover what it held.
 */
import { renameSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { Store } from './store.ts';

/** SQLite result codes that mean the file is not a sound database. */
const CORRUPT_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);

/**
 * Opens (creating when missing) the store of `root`; a corrupt database file is moved aside first (see the module
 * comment) and `logger` told in one error line.
 * @throws StoreError when the store was written by a newer firmdrop; file-system errors; other SQLite errors
 */
export function openStore(root: string, logger?: Logger): Store {
  try {
    return new Store(root);
  } catch (e) {
    const code = String((e as { code?: unknown }).code ?? '');
    if (!CORRUPT_CODES.has(code)) throw e;
    const file = path.join(path.resolve(root), '.firmdrop', 'firmdrop.db');
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(file, aside);
    for (const suffix of ['-wal', '-shm']) {
      try {
        renameSync(file + suffix, aside + suffix);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    logger?.error({ file, movedTo: aside, reason: (e as Error).message },
      `store unreadable (${(e as Error).message}): moved aside to ${path.basename(aside)}, starting empty`);
    return new Store(root);
  }
}
