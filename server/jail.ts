/**
 * The OTA root as devices see it, in the manner of pyftpdlib's AbstractedFS (pyftpdlib/filesystems.py): virtual
 * paths under `/` mapped to real paths inside the root, and nothing else (no FTP, no releases).
 *
 * Rules:
 * - Virtual paths are POSIX paths under `/`. `..` never climbs above `/` (`../x` at the root is `/x`), so
 *   `UPGRADE.TXT`, `/UPGRADE.TXT` and `../UPGRADE.TXT` name the same file; backslashes are slashes.
 * - Every path is resolved with realpath: a symlink (file or folder) whose target lies outside the real root, or
 *   inside a hidden folder, is treated as absent (RFC 2577 §4: no access outside the served tree).
 * - Dot-entries (`.firmdrop`, the publisher's temp files) are invisible.
 * - Only regular files and folders exist (no FIFOs, sockets or devices: a FIFO would hang a RETR).
 * - Read-only: the jail has no write operation at all.
 * - Errors are JailError with a generic message (MSG_NOT_FOUND, MSG_NOT_DIR): never an absolute server path,
 *   never an errno text.
 */
import { lstatSync, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';

/** Message for anything a device may not see: missing, hidden, outside the root, not a regular file or folder. */
export const MSG_NOT_FOUND = 'No such file or directory';
/** Message for every write operation. */
export const MSG_DENIED = 'Permission denied';
/** Message for a folder operation on a file. */
export const MSG_NOT_DIR = 'Not a directory';

/** A lookup the jail refuses; `message` is MSG_NOT_FOUND or MSG_NOT_DIR. */
export class JailError extends Error {
  /**
   * @param message the reply text (generic: never a real path)
   * @param refusal why the path was refused when it is worth a log line: `outside the root` (a symlink out of it),
   *   `hidden path` (a dot-entry); undefined for a plain missing file
   */
  constructor(message: string = MSG_NOT_FOUND, readonly refusal?: 'outside the root' | 'hidden path') {
    super(message);
    this.name = 'JailError';
  }
}

/**
 * True for a path segment devices must never see: every dot-entry. This covers the catalogue folder `.firmdrop`
 * (server/catalog.ts) and the publisher's temp files, without depending on either module.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

/** An entry devices may see: its virtual path, its real path on disk, and its stat (symlinks followed). */
export interface JailEntry {
  virtual: string;
  real: string;
  stat: Stats;
}

/** A visible entry of a folder, with its name. */
export type NamedEntry = JailEntry & { name: string };

/** The jail over one root. */
export class Jail {
  /** @param realRoot the root's realpath (see Jail.open) */
  constructor(readonly realRoot: string) {}

  /**
   * A jail over `root` (any form: it is resolved with realpath once).
   * @throws Error `FTP root is not a folder: <root>` when it is missing or not a folder
   */
  static async open(root: string): Promise<Jail> {
    const st = await fsp.stat(root).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`FTP root is not a folder: ${root}`);
    return new Jail(await fsp.realpath(root));
  }

  /**
   * The virtual absolute path `clientPath` names from the virtual folder `cwd`: backslashes become `/`, relative
   * paths join `cwd`, `..` stops at `/`, '' is `cwd`. Pure.
   */
  static virtualPath(cwd: string, clientPath: string): string {
    const p = clientPath.includes('\\') ? clientPath.replace(/\\/g, '/') : clientPath;
    if (p === '') return cwd;
    return path.posix.resolve(cwd, p); // resolve() clamps `..` at `/`
  }

  /** True when a segment of the virtual path is hidden (a dot-entry): such a path is never served. */
  static isHiddenPath(virtual: string): boolean {
    return virtual.includes('/.') && virtual.split('/').some(isHiddenName);
  }

  /** The visible entry at `virtual`, or JailError(MSG_NOT_FOUND) for any cause (ENOENT, EACCES, ELOOP, NUL, outside). */
  async locate(virtual: string): Promise<JailEntry> {
    try {
      const segments = virtual.split('/').filter(Boolean);
      if (segments.some(isHiddenName)) throw new JailError(MSG_NOT_FOUND, 'hidden path');
      const joined = segments.length ? path.join(this.realRoot, ...segments) : this.realRoot;
      // Fast path (every name directly in the root, as devices ask): the root is real and the entry is not a
      // link, so lstat alone proves the entry is inside. Synchronous on purpose: a local lstat takes microseconds,
      // a thread-pool round trip costs more CPU and adds latency to every SIZE and RETR.
      if (segments.length <= 1) {
        const lst = lstatSync(joined);
        if (!lst.isSymbolicLink()) {
          if (!lst.isFile() && !lst.isDirectory()) throw new JailError();
          return { virtual, real: joined, stat: lst };
        }
      }
      const real = await fsp.realpath(joined);
      if (!this.contains(real)) throw new JailError(MSG_NOT_FOUND, 'outside the root');
      const stat = await fsp.stat(real);
      if (!stat.isFile() && !stat.isDirectory()) throw new JailError();
      return { virtual, real, stat };
    } catch (e) {
      throw e instanceof JailError ? e : new JailError();
    }
  }

  /** True when the real path `real` is the root or inside it, and not inside a hidden folder. */
  contains(real: string): boolean {
    const rel = path.relative(this.realRoot, real);
    if (rel === '') return true;
    const parts = rel.split(path.sep);
    return !path.isAbsolute(rel) && parts[0] !== '..' && !parts.some(isHiddenName);
  }

  /** The folder at `virtual`, or JailError (MSG_NOT_DIR for a file). */
  async folder(virtual: string): Promise<JailEntry> {
    const e = await this.locate(virtual);
    if (!e.stat.isDirectory()) throw new JailError(MSG_NOT_DIR);
    return e;
  }

  /** Visible entries of the folder at `virtual` (dot-entries, escaping symlinks, special files left out), by name. */
  async list(virtual: string): Promise<NamedEntry[]> {
    const dir = await this.locate(virtual);
    if (!dir.stat.isDirectory()) throw new JailError();
    let names: string[];
    try {
      names = (await fsp.readdir(dir.real)).filter((n) => !isHiddenName(n)).sort();
    } catch {
      throw new JailError();
    }
    const base = dir.virtual === '/' ? '' : dir.virtual;
    const entries = await Promise.all(names.map((name) =>
      this.locate(`${base}/${name}`).then((e) => ({ ...e, name }), () => undefined)));
    return entries.filter((e): e is NamedEntry => e !== undefined);
  }
}
