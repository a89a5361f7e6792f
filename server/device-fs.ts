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
 *
 * Offered binaries are served from their published snapshot (server/offered.ts), not the live file the operator may
 * be rewriting, so the bytes a device fetches are the bytes the UPGRADE.TXT it read names (issue 5 item 5). One
 * function, #resolveFile(), decides which file a name means, and SIZE, MDTM, LIST, STAT and RETR all use it:
 * - `/UPGRADE.TXT`: a RETR reads it whole into memory (it is under 255 bytes) and serves that buffer, and remembers
 *   the FILE and VERSION it named for this connection (session pin) and for the client's IP address (ManifestPins);
 * - `/NAME` (a program name), the first that applies: this connection's pin for NAME, if its snapshot exists; the
 *   client IP's recent pin for NAME (a device that reads the manifest and the binary in two sessions); the release
 *   the current UPGRADE.TXT names for NAME; otherwise the file in the root, as for any other name (a binary that is
 *   not offered);
 * - everything else: the file in the root.
 * A directory LIST shows the root's real entries, with an offered name's size and date taken from its snapshot.
 */
import * as ftpSrvModule from 'ftp-srv';
import { close, closeSync, constants as fsConstants, createReadStream, fstat, fstatSync, lstatSync, open, openSync, readSync, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MANIFEST_NAME, isProgramName } from './manifest.ts';
import { SNAPSHOT_GRACE_MS, findSnapshot, type SnapshotCache, type SnapshotKey } from './offered.ts';

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

/**
 * What a RETR sends (DeviceFileSystem.openRetr): the file's virtual path, its size and the first byte to send
 * (bytes), and its bytes either as a shared `buffer` (never modified: an immutable snapshot or the manifest read)
 * or as an open file descriptor `fd` the caller must close.
 */
export interface RetrSource {
  file: string;
  size: number;
  offset: number;
  buffer?: Buffer;
  fd?: number;
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
  /** Manifest reads remembered per client IP, shared by every connection of one server (see ManifestPins). */
  pins?: ManifestPins;
  /** The client's IP address (plain IPv4 for IPv4 clients), the key into `pins`. */
  clientIp?: string;
  /** Snapshot bytes shared by every connection of one server: RETR of an offered binary is served from memory. */
  snapshotCache?: SnapshotCache;
}

/** Largest UPGRADE.TXT served from memory, bytes; a bigger one (broken anyway) is streamed like any file. */
const MAX_BUFFERED_MANIFEST = 4096;

/**
 * The FILE and VERSION an UPGRADE.TXT names, read tolerantly (first `FILE:` and `VERSION:` lines, CR and spaces
 * trimmed): undefined when FILE is not a program name (NO_FILE, broken) or VERSION not an integer 1..255. Strict
 * checking is manifest.ts's job; this only decides which snapshot a device that read this text should be served.
 */
export function manifestKey(text: string | Buffer): SnapshotKey | undefined {
  let file: string | undefined;
  let version: string | undefined;
  for (const raw of text.toString('latin1').split('\n')) {
    const line = raw.trim();
    if (file === undefined && line.startsWith('FILE:')) file = line.slice(5).trim();
    else if (version === undefined && line.startsWith('VERSION:')) version = line.slice(8).trim();
  }
  if (file === undefined || version === undefined || !isProgramName(file) || !/^\d{1,3}$/.test(version)) return undefined;
  const v = Number(version);
  return v >= 1 && v <= 255 ? { name: file, version: v } : undefined;
}

/**
 * The release each client IP address last read in an UPGRADE.TXT, for devices that fetch the manifest and the
 * binary in different FTP sessions: the Waspmote 4G (one session for UPGRADE.TXT, a new one for the binary,
 * research/waspmote-ota.md §2) and SIM900 modules (a session per operation). A pin expires after `graceMs`
 * (SNAPSHOT_GRACE_MS, the time a retired snapshot is kept anyway); at most `max` addresses are held, the least
 * recently used dropped first, so memory stays bounded (about 100 bytes an entry).
 * Carrier NAT puts many devices behind one address: they share one pin, the last manifest any of them read. A
 * device whose neighbour read a newer manifest between its two sessions then gets the newer binary, the same as
 * without pins; a device whose CRC32/MD5 check fails retries.
 */
export class ManifestPins {
  readonly #byIp = new Map<string, SnapshotKey & { at: number }>();
  readonly #graceMs: number;
  readonly #max: number;

  /** @param opts.graceMs lifetime of a pin, ms (default SNAPSHOT_GRACE_MS); opts.max addresses held (default 10000) */
  constructor(opts: { graceMs?: number; max?: number } = {}) {
    this.#graceMs = opts.graceMs ?? SNAPSHOT_GRACE_MS;
    this.#max = opts.max ?? 10_000;
  }

  /** Remembers that `ip` read a manifest naming `key` at `now` (ms since the epoch). */
  remember(ip: string, key: SnapshotKey, now = Date.now()): void {
    this.#byIp.delete(ip);
    this.#byIp.set(ip, { name: key.name, version: key.version, at: now });
    if (this.#byIp.size > this.#max) this.#byIp.delete(this.#byIp.keys().next().value!);
  }

  /** The VERSION of `name` that `ip` read within the grace period, or undefined. */
  versionFor(ip: string, name: string, now = Date.now()): number | undefined {
    const pin = this.#byIp.get(ip);
    if (!pin) return undefined;
    if (now - pin.at >= this.#graceMs) {
      this.#byIp.delete(ip);
      return undefined;
    }
    return pin.name === name ? pin.version : undefined;
  }

  /** Addresses held (for tests and status). */
  get size(): number {
    return this.#byIp.size;
  }
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

/**
 * An open regular file: virtual path, size in bytes, and either a file descriptor (size from its fstat) or its bytes
 * in memory: UPGRADE.TXT read whole (`manifest` true, with the release it names), or an offered snapshot's shared
 * bytes from the SnapshotCache.
 */
type Opened =
  | { virtual: string; size: number; fd: number }
  | { virtual: string; size: number; buffer: Buffer; manifest: boolean; names: SnapshotKey | undefined };

/** Bytes per chunk a buffer stream hands to the data connection (each chunk is a view, never a copy). */
const BUFFER_CHUNK_BYTES = 64 * 1024;

/**
 * A Readable over `bytes` from `offset` to the end, in views of BUFFER_CHUNK_BYTES: many transfers of one snapshot
 * share its Buffer, and a slow transfer still moves (and refreshes the idle timer) chunk by chunk.
 */
export function bufferStream(bytes: Buffer, offset = 0): Readable {
  let pos = Math.min(Math.max(0, offset), bytes.length);
  return new Readable({
    highWaterMark: BUFFER_CHUNK_BYTES,
    read() {
      if (pos >= bytes.length) {
        this.push(null);
        return;
      }
      const end = Math.min(pos + BUFFER_CHUNK_BYTES, bytes.length);
      const chunk = bytes.subarray(pos, end);
      pos = end;
      this.push(chunk);
      if (pos >= bytes.length) this.push(null);
    },
  });
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);
/** Closes a descriptor, ignoring errors. */
function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => close(fd, () => resolve()));
}

/** Releases an Opened file that no read() used (its descriptor, if it has one). */
async function closeOpened(o: Opened): Promise<void> {
  if ('fd' in o) await closeFd(o.fd);
}

/** A located entry: its virtual path, real path on disk, and stat (symlinks followed); `snapshot` for an offered snapshot. */
interface Located {
  virtual: string;
  real: string;
  stat: Stats;
  snapshot?: boolean;
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
  #pins: ManifestPins | undefined;
  #clientIp: string;
  /** The release the last UPGRADE.TXT this connection read named (session pin). */
  #pin: SnapshotKey | undefined;
  #cache: SnapshotCache | undefined;

  /** @param connection the ftp-srv connection (typed loosely: ftp-srv's typings are partly wrong) */
  constructor(connection: unknown, opts: DeviceFsOptions) {
    super(connection as ConstructorParameters<typeof FileSystem>[0], { root: opts.root, cwd: '/' });
    this.#realRoot = opts.realRoot !== undefined ? Promise.resolve(opts.realRoot) : fsp.realpath(opts.root);
    this.#realRoot.catch(() => undefined); // reported on first use
    this.#onRead = opts.onRead;
    this.#pins = opts.pins;
    this.#clientIp = opts.clientIp ?? '';
    this.#cache = opts.snapshotCache;
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
      // Synchronous on purpose (see #readManifest): a local lstat takes microseconds, a thread-pool round trip
      // costs more CPU and adds latency to every SIZE and RETR.
      if (segments.length <= 1) {
        const lst = lstatSync(joined);
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

  /**
   * The file devices are served for `clientPath` (see the module comment): an offered program name's snapshot when
   * a pin or the current UPGRADE.TXT applies, else what #locate finds. `current` is the release the current
   * UPGRADE.TXT names, when the caller already read it (LIST reads it once for all entries).
   */
  async #resolveFile(clientPath: string | null | undefined, current?: { key: SnapshotKey | undefined }): Promise<Located> {
    const virtual = this.virtualPath(clientPath);
    const name = virtual.slice(1);
    if (isProgramName(name)) {
      const root = await this.#realRoot.catch(() => undefined);
      if (root !== undefined) {
        const versions: number[] = [];
        if (this.#pin?.name === name) versions.push(this.#pin.version);
        const ipVersion = this.#pins?.versionFor(this.#clientIp, name);
        if (ipVersion !== undefined) versions.push(ipVersion);
        for (const v of versions) {
          const snap = await findSnapshot(root, name, v);
          if (snap) return { virtual, real: snap.file, stat: snap.stat, snapshot: true };
        }
        const cur = current ?? { key: await this.#currentKey() };
        if (cur.key?.name === name) {
          const snap = await findSnapshot(root, name, cur.key.version);
          if (snap) return { virtual, real: snap.file, stat: snap.stat, snapshot: true };
        }
      }
    }
    return this.#locate(clientPath);
  }

  /** The release the current UPGRADE.TXT names (tolerant parse), or undefined (none, NO_FILE, unreadable). */
  async #currentKey(): Promise<SnapshotKey | undefined> {
    try {
      const m = this.#readManifest(await this.#locate(`/${MANIFEST_NAME}`));
      return m && 'names' in m ? m.names : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Reads a located UPGRADE.TXT whole into memory (O_NOFOLLOW) with the release it names; undefined when it is
   * over MAX_BUFFERED_MANIFEST bytes (then it is served as a plain file).
   * Synchronous on purpose: the file is under 255 bytes on the local disk, and open/fstat/read/close through the
   * thread pool cost several round trips per request (issue 5 profile: file access was the largest item of the
   * server's CPU). O_NONBLOCK: a FIFO swapped in after the lstat cannot block the open (fstat then refuses it).
   * @throws "No such file or directory" when it is not a regular file or cannot be read
   */
  #readManifest(loc: Located): Opened | undefined {
    let fd: number | undefined;
    try {
      fd = openSync(loc.real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      const st = fstatSync(fd);
      if (!st.isFile()) throw notFound();
      if (st.size > MAX_BUFFERED_MANIFEST) return undefined;
      // One read past the size tells a file that grew since the fstat; read to the end in that case.
      const chunks: Buffer[] = [];
      for (let total = 0; ; ) {
        const buf = Buffer.allocUnsafe(Math.max(st.size, 0) + 1);
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
        total += n;
        if (total > MAX_BUFFERED_MANIFEST) return undefined;
      }
      const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      return { virtual: loc.virtual, size: buffer.length, buffer, manifest: true, names: manifestKey(buffer) };
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

  /** Stat of a file or folder, with `name` = its last path segment (`/` for the root). */
  override async get(fileName: string): Promise<NamedStats> {
    const { virtual, stat } = await this.#resolveFile(fileName);
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
    // Read the current UPGRADE.TXT once for all entries (offered names show their snapshot's size and date).
    const current = base === '' ? { key: await this.#currentKey() } : undefined;
    const entries = await Promise.all(
      names.map(async (name) => {
        try {
          const { stat: real } = await this.#locate(`${base}/${name}`);
          const stat = current && real.isFile() ? (await this.#resolveFile(`/${name}`, current)).stat : real;
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
   * empty source, a negative or non-numeric one starts at 0): an offered snapshot or UPGRADE.TXT comes back as a
   * shared in-memory `buffer`, any other file as an `fd` opened by its real path with O_NOFOLLOW (so a symlink
   * swapped in after the check is refused; the caller closes it). Reading UPGRADE.TXT pins the release it names
   * for this connection and this client address (ManifestPins). Uses the file prepareRead() opened, if it has
   * the same name. Rejects with "No such file or directory" (550).
   */
  async openRetr(fileName: string, { start }: { start?: unknown } = {}): Promise<RetrSource> {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    let opened: Opened;
    if (prepared && prepared.name === fileName) opened = prepared.opened;
    else {
      if (prepared) await closeOpened(prepared.opened);
      opened = await this.#open(fileName);
    }
    const { virtual, size } = opened;
    // REST past 2^53 arrives as an imprecise or infinite number: still past the end, so still an empty source.
    const wanted = typeof start === 'number' && start > 0 ? start : 0;
    const offset = Math.min(Math.floor(wanted), size);
    if ('buffer' in opened) {
      // UPGRADE.TXT: serve the bytes read, and pin the release they name for this connection and this address.
      if (opened.manifest) {
        if (opened.names) {
          this.#pin = opened.names;
          this.#pins?.remember(this.#clientIp, opened.names);
        } else {
          this.#pin = undefined;
        }
      }
      return { file: virtual, size, offset, buffer: opened.buffer };
    }
    return { file: virtual, size, offset, fd: opened.fd };
  }

  /**
   * ftp-srv's FileSystem read(): openRetr() as a stream (a buffer stream of views, or an fd stream closed at its
   * end), passed through the `onRead` hook. Returns `{ stream, clientPath }` as ftp-srv expects; rejects like
   * openRetr(). (firmdrop's own RETR in ftp.ts uses openRetr() directly.)
   */
  override async read(fileName: string, opts: { start?: unknown } = {}): Promise<{ stream: Readable; clientPath: string }> {
    const { file, size, offset, buffer, fd } = await this.openRetr(fileName, opts);
    const source = buffer ? bufferStream(buffer, offset) : createReadStream('', { fd: fd!, start: offset, autoClose: true });
    const stream = this.#onRead?.({ file, offset, size, stream: source }) ?? source;
    return { stream, clientPath: file };
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
    if (p) await closeOpened(p.opened);
  }

  /**
   * Opens the regular file #resolveFile() names by its real path with O_NOFOLLOW (UPGRADE.TXT: read into memory);
   * rejects with "No such file or directory".
   */
  async #open(fileName: string): Promise<Opened> {
    const located = await this.#resolveFile(fileName);
    const { virtual, real, stat } = located;
    if (!stat.isFile()) throw notFound();
    if (virtual === `/${MANIFEST_NAME}`) {
      const m = this.#readManifest(located);
      if (m) return m;
    }
    if (located.snapshot && this.#cache) {
      // An offered snapshot is immutable: its bytes come from memory (checked against the lstat just taken).
      const buffer = await this.#cache.bytes(real, stat);
      if (buffer) return { virtual, size: buffer.length, buffer, manifest: false, names: undefined };
    }
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
