/**
 * The file system devices see over FTP: the OTA root, read-only, jailed, with the catalogue hidden.
 *
 * Rules (issue 2 item 5; research/stack.md item 10 for why ftp-srv's own FileSystem is not enough):
 * - Virtual paths are POSIX paths under `/`. `..` never climbs above `/` (`../x` at the root is `/x`), so
 *   `UPGRADE.TXT`, `/UPGRADE.TXT` and `../UPGRADE.TXT` name the same file (research/waspmote-ota.md §2).
 * - Every path is resolved with realpath: a symlink (file or folder) whose target lies outside the real root, or
 *   inside a hidden folder, is treated as absent.
 * - Dot-entries (`.firmdrop`, the publisher's temp files) are invisible to LIST/NLST/STAT/RETR/SIZE/MDTM/CWD.
 * - Only regular files and folders exist (no FIFOs, sockets or devices: a FIFO would hang a RETR).
 * - Every write operation fails with 550 "Permission denied".
 * - Error messages are generic ("No such file or directory", "Not a directory", "Permission denied"): never an
 *   absolute server path, never an errno text.
 */
import * as ftpSrvModule from 'ftp-srv';
import { close, constants as fsConstants, createReadStream, fstat, open, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

// ftp-srv's .d.ts does not declare `ftpErrors`, which exists at run time (research/stack.md item 13): cast narrowly.
const { FileSystem } = ftpSrvModule;
const { ftpErrors } = ftpSrvModule as unknown as {
  ftpErrors: { FileSystemError: new (message: string, code?: number) => Error };
};

/** Reply text for anything a device may not see: missing, hidden, outside the root, not a regular file. */
export const MSG_NOT_FOUND = 'No such file or directory';
/** Reply text for every write operation. */
export const MSG_DENIED = 'Permission denied';
/** Reply text for CWD to a file. */
export const MSG_NOT_DIR = 'Not a directory';

/**
 * True for a path segment devices must never see: every dot-entry. This covers the catalogue folder `.firmdrop`
 * (CATALOG_DIR of server/catalog.ts) and the publisher's temp files, without depending on either module.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

/** A Stats record with the entry name ftp-srv prints in LIST/STAT. */
export type NamedStats = Stats & { name: string };

/** What DeviceFileSystem tells its owner when a RETR opens a file (used for the session log). */
export interface ReadInfo {
  /** Virtual path of the file, e.g. `/UPGRADE.TXT`. */
  file: string;
  /** First byte sent (the REST offset, clamped to the size), bytes. */
  offset: number;
  /** File size, bytes. */
  size: number;
  /** The stream over the file's bytes from `offset` to the end. */
  stream: Readable;
}

/** Options of DeviceFileSystem. */
export interface DeviceFsOptions {
  /** The OTA root on disk (any form; it is resolved with realpath once). */
  root: string;
  /** The root's realpath when the caller already has it (saves one realpath per login). */
  realRoot?: string;
  /**
   * Called when a RETR opens a file; may return a replacement stream (e.g. one that counts bytes) that must
   * carry the same bytes. Runs after the data connection is ready.
   */
  onRead?: (info: ReadInfo) => Readable | void;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

/**
 * One Unix `ls -l` line for LIST/STAT, single spaces between fields, no padding:
 * `-r--r--r-- 1 ftp ftp <size> Mon DD HH:MM <name>` (or `Mon DD YYYY` for dates over 6 months from `now`).
 * The 5th whitespace-separated field is the size in bytes: the Waspmote 3G (`AT+CFTPLIST`, Wasp3G getFTPsize)
 * and u-blox `AT+UFTPC=13` take it as the file size (research/waspmote-ota.md §2, research/modem-at-ftp.md).
 * Single spaces keep it right for both a strtok-style and a naive one-space split. Owner, group and mode are
 * fixed: devices get read-only access whatever the disk says.
 */
export function formatListLine(stat: { name: string; size: number; mtime: Date; isDirectory(): boolean }, now = new Date()): string {
  const dir = stat.isDirectory();
  const m = stat.mtime;
  const recent = Math.abs(now.getTime() - m.getTime()) < SIX_MONTHS_MS;
  const dd = String(m.getUTCDate()).padStart(2, '0');
  const when = recent
    ? `${String(m.getUTCHours()).padStart(2, '0')}:${String(m.getUTCMinutes()).padStart(2, '0')}`
    : String(m.getUTCFullYear());
  return [dir ? 'dr-xr-xr-x' : '-r--r--r--', '1', 'ftp', 'ftp', String(stat.size), MONTHS[m.getUTCMonth()], dd, when, stat.name].join(' ');
}

/** The ftp-srv error every lookup failure becomes (code 550, generic text). */
function notFound(): Error {
  return new ftpErrors.FileSystemError(MSG_NOT_FOUND, 550);
}

function denied(): Error {
  return new ftpErrors.FileSystemError(MSG_DENIED, 550);
}

/** An open regular file: virtual path, file descriptor, size in bytes (from fstat of the descriptor). */
interface Opened {
  virtual: string;
  fd: number;
  size: number;
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);
/** Closes a descriptor, ignoring errors. */
function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => close(fd, () => resolve()));
}

/** A located entry: its virtual path, real path on disk, and stat (symlinks followed). */
interface Located {
  virtual: string;
  real: string;
  stat: Stats;
}

/**
 * Read-only ftp-srv FileSystem over the OTA root. One instance per logged-in connection (it holds the CWD).
 * All methods reject with an ftp-srv FileSystemError carrying code 550 and a generic message.
 */
export class DeviceFileSystem extends FileSystem {
  #cwd = '/';
  #realRoot: Promise<string>;
  #onRead: DeviceFsOptions['onRead'];
  #prepared: { name: string; opened: Opened } | undefined;

  /** @param connection the ftp-srv connection (typed loosely: ftp-srv's typings are partly wrong) */
  constructor(connection: unknown, opts: DeviceFsOptions) {
    super(connection as ConstructorParameters<typeof FileSystem>[0], { root: opts.root, cwd: '/' });
    this.#realRoot = opts.realRoot !== undefined ? Promise.resolve(opts.realRoot) : fsp.realpath(opts.root);
    this.#realRoot.catch(() => undefined); // reported on first use
    this.#onRead = opts.onRead;
  }

  /** The virtual current directory, e.g. `/` or `/ota`. */
  override currentDirectory(): string {
    return this.#cwd;
  }

  /**
   * The virtual absolute path a client path names: backslashes become `/`, relative paths join the CWD, and
   * `..` stops at `/`. Pure; does not touch the disk.
   */
  virtualPath(clientPath: string | null | undefined): string {
    const p = (clientPath ?? '').replace(/\\/g, '/');
    if (p === '') return this.#cwd;
    return path.posix.resolve(this.#cwd, p); // resolve() clamps `..` at `/`
  }

  /** Finds an entry devices may see, or rejects with "No such file or directory". */
  async #locate(clientPath: string | null | undefined): Promise<Located> {
    try {
      const virtual = this.virtualPath(clientPath);
      const segments = virtual.split('/').filter(Boolean);
      if (segments.some(isHiddenName)) throw notFound();
      const root = await this.#realRoot;
      const joined = path.join(root, ...segments);
      // Fast path (every name directly in the root, as devices ask): the root is real and the entry is not a
      // link, so lstat alone proves the entry is inside. Anything else goes through realpath.
      if (segments.length <= 1) {
        const lst = await fsp.lstat(joined);
        if (!lst.isSymbolicLink()) {
          if (!lst.isFile() && !lst.isDirectory()) throw notFound();
          return { virtual, real: joined, stat: lst };
        }
      }
      const real = await fsp.realpath(joined);
      const rel = path.relative(root, real);
      if (rel !== '') {
        const parts = rel.split(path.sep);
        if (path.isAbsolute(rel) || parts[0] === '..' || parts.some(isHiddenName)) throw notFound();
      }
      const stat = await fsp.stat(real);
      if (!stat.isFile() && !stat.isDirectory()) throw notFound();
      return { virtual, real, stat };
    } catch {
      throw notFound(); // one message for every cause: ENOENT, EACCES, ELOOP, NUL bytes, outside the root
    }
  }

  /** Stat of a file or folder, with `name` = its last path segment (`/` for the root). */
  override async get(fileName: string): Promise<NamedStats> {
    const { virtual, stat } = await this.#locate(fileName);
    return Object.assign(stat, { name: virtual === '/' ? '/' : path.posix.basename(virtual) });
  }

  /** Visible entries of a folder (dot-entries, escaping symlinks and special files left out), sorted by name. */
  override async list(dirPath = '.'): Promise<NamedStats[]> {
    const dir = await this.#locate(dirPath);
    if (!dir.stat.isDirectory()) throw notFound();
    let names: string[];
    try {
      names = (await fsp.readdir(dir.real)).filter((n) => !isHiddenName(n)).sort();
    } catch {
      throw notFound();
    }
    const base = dir.virtual === '/' ? '' : dir.virtual;
    const entries = await Promise.all(
      names.map(async (name) => {
        try {
          const { stat } = await this.#locate(`${base}/${name}`);
          return Object.assign(stat, { name });
        } catch {
          return undefined;
        }
      }),
    );
    return entries.filter((e): e is NamedStats => e !== undefined);
  }

  /** Changes the CWD to a visible folder; returns the new virtual CWD. */
  override async chdir(dirPath = '.'): Promise<string> {
    const { virtual, stat } = await this.#locate(dirPath);
    if (!stat.isDirectory()) throw new ftpErrors.FileSystemError(MSG_NOT_DIR, 550);
    this.#cwd = virtual;
    return virtual;
  }

  /**
   * Opens a visible regular file for RETR from byte `start` (the REST offset; an offset past the end gives an
   * empty stream, a negative or non-numeric one starts at 0). The file is opened by its real path with O_NOFOLLOW, so a symlink
   * swapped in after the check is refused. Returns `{ stream, clientPath }` as ftp-srv expects.
   */
  override async read(fileName: string, { start }: { start?: unknown } = {}): Promise<{ stream: Readable; clientPath: string }> {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    let opened: Opened;
    if (prepared && prepared.name === fileName) opened = prepared.opened;
    else {
      if (prepared) await closeFd(prepared.opened.fd);
      opened = await this.#open(fileName);
    }
    const { virtual, fd, size } = opened;
    // REST past 2^53 arrives as an imprecise or infinite number: still past the end, so still an empty stream.
    const wanted = typeof start === 'number' && start > 0 ? start : 0;
    const offset = Math.min(Math.floor(wanted), size);
    // A plain fd stream (callback reads), like ftp-srv's own FileSystem; the fd is closed when the stream ends.
    const source: Readable = createReadStream('', { fd, start: offset, autoClose: true });
    const stream = this.#onRead?.({ file: virtual, offset, size, stream: source }) ?? source;
    return { stream, clientPath: virtual };
  }

  /**
   * Opens a visible regular file ahead of a RETR so that a missing file is answered before any data connection
   * is used, and the RETR's read() then uses this very file (no second lookup, no window for a swap). Resolves
   * false when there is no such file. An unused prepared file is closed by the next read() or discardPrepared().
   */
  async prepareRead(fileName: string): Promise<boolean> {
    await this.discardPrepared();
    try {
      this.#prepared = { name: fileName, opened: await this.#open(fileName) };
      return true;
    } catch {
      return false;
    }
  }

  /** Closes a file opened by prepareRead() that no read() used. */
  async discardPrepared(): Promise<void> {
    const p = this.#prepared;
    this.#prepared = undefined;
    if (p) await closeFd(p.opened.fd);
  }

  /** Opens a visible regular file by its real path with O_NOFOLLOW; rejects with "No such file or directory". */
  async #open(fileName: string): Promise<Opened> {
    const { virtual, real, stat } = await this.#locate(fileName);
    if (!stat.isFile()) throw notFound();
    let fd: number;
    try {
      fd = await openFd(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch {
      throw notFound();
    }
    try {
      const st = await fstatFd(fd);
      if (!st.isFile()) throw notFound();
      return { virtual, fd, size: st.size };
    } catch {
      await closeFd(fd);
      throw notFound();
    }
  }

  /** Refused: devices never write (STOR/APPE/STOU). */
  override write(): never {
    throw denied();
  }

  /** Refused (DELE/RMD). */
  override async delete(): Promise<never> {
    throw denied();
  }

  /** Refused (MKD). */
  override async mkdir(): Promise<never> {
    throw denied();
  }

  /** Refused (RNFR/RNTO). */
  override async rename(): Promise<never> {
    throw denied();
  }

  /** Refused (SITE CHMOD). */
  override async chmod(): Promise<never> {
    throw denied();
  }
}
