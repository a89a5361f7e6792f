/**
 * What one FTP session sees of the root: the jail (../jail.ts) plus which release a name means (../pins.ts) plus
 * where the bytes come from. One function, #resolve(), decides which file a name means, and SIZE, MDTM, MLST,
 * LIST, STAT and RETR all use it:
 * - `/UPGRADE.TXT`: the bytes `offerFor` gives this login (FtpHooks), else the root's UPGRADE.TXT read whole into
 *   memory (it is under 255 bytes). A RETR of it pins the FILE and VERSION it names for this session and for the
 *   client's IP address (SessionPins);
 * - `/NAME` (a program name): the published snapshot of the first of these versions that exists: the session's
 *   pin, the address's pin (SessionPins.pinnedVersions()), the release the UPGRADE.TXT it would read now names; otherwise the file in the root, as for any other name (a binary that is not offered);
 * - everything else: the file in the root.
 * Offered snapshots are served from the shared SnapshotCache (immutable bytes read once), never from the live file
 * the operator may be rewriting.
 * The Libelium GPRS library (WaspGPRS_Pro_core.cpp, `AT+FTPGETPATH=".gprs"`) asks for `.gprs/UPGRADE.TXT` and
 * `.gprs/<PATH>/<FILE>`: the virtual folder `/.gprs` is an alias of the root (never listed in it).
 */
import { close, constants as fsConstants, fstat, open, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { Jail, JailError, MSG_NOT_DIR, MSG_NOT_FOUND } from '../jail.ts';
import { isProgramName, MANIFEST_NAME } from '../manifest.ts';
import { findSnapshot, type SnapshotCache, type SnapshotKey } from '../snapshots/reader.ts';
import { type ManifestPins, SessionPins } from '../pins.ts';
import { type ManifestBytes, type ManifestRead } from './manifest-bytes.ts';
import type { OfferedManifest } from './hooks.ts';

/** The virtual folder the Libelium GPRS library prefixes to every path (WaspGPRS_Pro_core.cpp). */
export const GPRS_ALIAS = '/.gprs';
/** UPGRADE.TXT's virtual path in the root. */
export const MANIFEST_PATH = `/${MANIFEST_NAME}`;

/** What listings and SIZE/MDTM need of an entry (node's Stats has it). `size` in bytes. */
export interface FileStat {
  size: number;
  mtime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
}

/** An entry as a client names it: the virtual path (alias removed), its last segment, its stat. */
export interface FileInfo {
  virtual: string;
  name: string;
  stat: FileStat;
}

/**
 * An open regular file, ready for RETR: either its bytes in memory (UPGRADE.TXT, an offered snapshot) or an open
 * file descriptor (closed by the transfer, or by SessionFiles.close()).
 */
export type Opened =
  | { virtual: string; size: number; fd: number; release?: SnapshotKey }
  | { virtual: string; size: number; buffer: Buffer; manifest: boolean; names: SnapshotKey | undefined; release?: SnapshotKey };

/** What a RETR sends: virtual path, size and first byte (bytes), and `buffer` (shared, never modified) or `fd`. */
export interface RetrSource {
  file: string;
  /** The published release whose snapshot this is (program name and VERSION); undefined for any other file. */
  release?: SnapshotKey;
  size: number;
  offset: number;
  buffer?: Buffer;
  fd?: number;
}

/** What every session of one server shares. */
export interface FilesShared {
  jail: Jail;
  pins: ManifestPins;
  cache: SnapshotCache;
  /** The root's UPGRADE.TXT bytes, held while the file stays the same. */
  manifest: ManifestBytes;
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);

function notFound(): JailError {
  return new JailError(MSG_NOT_FOUND);
}

/** A virtual path with the `/.gprs` alias taken off (`/.gprs` → `/`, `/.gprs/X` → `/X`). */
export function withoutAlias(virtual: string): string {
  if (virtual === GPRS_ALIAS) return '/';
  return virtual.startsWith(`${GPRS_ALIAS}/`) ? virtual.slice(GPRS_ALIAS.length) : virtual;
}

/** One session's view of the root. Methods reject with JailError (generic message) for anything not served. */
export class SessionFiles {
  /** The virtual current folder, e.g. `/`, `/ota`, `/.gprs`. */
  cwd = '/';
  readonly #pins: SessionPins;

  /**
   * @param shared the server's jail, pins and cache
   * @param clientIp the client's IP (plain IPv4), the key of the per-address pins
   * @param offer the UPGRADE.TXT this login reads (FtpHooks.offerFor), or undefined for the root's
   */
  constructor(private readonly shared: FilesShared, clientIp: string, private readonly offer?: () => OfferedManifest | undefined) {
    this.#pins = new SessionPins(shared.pins, clientIp);
  }

  /** The virtual absolute path of a client path, alias taken off (`..` stops at `/`). Pure. */
  virtualPath(clientPath: string): string {
    return withoutAlias(Jail.virtualPath(this.cwd, clientPath));
  }

  /** Stat of a visible file or folder, as served (an offered name's snapshot, this login's UPGRADE.TXT). */
  async stat(clientPath: string): Promise<FileInfo> {
    const virtual = this.virtualPath(clientPath);
    const name = virtual === '/' ? '/' : path.posix.basename(virtual);
    if (virtual === MANIFEST_PATH) {
      const offered = this.offer?.();
      if (offered) return { virtual, name, stat: await this.#offerStat(offered) };
    }
    return { virtual, name, stat: (await this.#resolve(virtual)).stat };
  }

  /** The visible entries of a folder (or the one entry of a file), as served, sorted by name. */
  async list(clientPath: string): Promise<FileInfo[]> {
    const one = await this.stat(clientPath);
    if (!one.stat.isDirectory()) return [one];
    const entries = await this.shared.jail.list(one.virtual);
    const base = one.virtual === '/' ? '' : one.virtual;
    const current = base === '' ? { key: this.#currentKey() } : undefined;
    return Promise.all(entries.map(async (e): Promise<FileInfo> => {
      const virtual = `${base}/${e.name}`;
      if (!current || !e.stat.isFile()) return { virtual, name: e.name, stat: e.stat };
      if (virtual === MANIFEST_PATH) return { virtual, name: e.name, stat: (await this.stat(virtual).catch(() => e)).stat };
      return { virtual, name: e.name, stat: (await this.#resolve(virtual, current).catch(() => e)).stat };
    }));
  }

  /** Changes the current folder to a visible folder; returns the new virtual folder (alias kept: `/.gprs`). */
  async chdir(clientPath: string): Promise<string> {
    const asked = Jail.virtualPath(this.cwd, clientPath);
    const { stat } = await this.#resolve(withoutAlias(asked));
    if (!stat.isDirectory()) throw new JailError(MSG_NOT_DIR);
    this.cwd = asked;
    return asked;
  }

  /** Opens a visible regular file for RETR (see the module comment); rejects with JailError. */
  async open(clientPath: string): Promise<Opened> {
    const virtual = this.virtualPath(clientPath);
    if (virtual === MANIFEST_PATH) {
      const offered = this.offer?.();
      if (offered) {
        return { virtual, size: offered.bytes.length, buffer: offered.bytes, manifest: true, names: offerKey(offered) };
      }
    }
    const located = await this.#resolve(virtual);
    const { real, stat } = located;
    if (!stat.isFile()) throw notFound();
    if (virtual === MANIFEST_PATH) {
      const m = this.shared.manifest.read(real, stat);
      if (m) return manifestOpened(virtual, m);
    }
    if (located.release) {
      // An offered snapshot is immutable: its bytes come from memory (checked against the stat just taken).
      const buffer = await this.shared.cache.bytes(real, stat);
      if (buffer) return { virtual, size: buffer.length, buffer, manifest: false, names: undefined, release: located.release };
      return { ...(await openByFd(virtual, real)), release: located.release };
    }
    return openByFd(virtual, real);
  }

  /**
   * The RETR source of an opened file from byte `rest` (an offset past the end gives an empty source). Serving
   * UPGRADE.TXT pins the release it names for this session and this client address.
   */
  source(o: Opened, rest: number): RetrSource {
    const offset = Math.min(Math.max(0, Math.floor(rest)), o.size);
    if ('fd' in o) return { file: o.virtual, release: o.release, size: o.size, offset, fd: o.fd };
    if (o.manifest) this.#pins.manifestRead(o.names);
    return { file: o.virtual, release: o.release, size: o.size, offset, buffer: o.buffer };
  }

  /** Releases an opened file no RETR used (its descriptor, if it has one). */
  close(o: Opened): void {
    if ('fd' in o) close(o.fd, () => undefined);
  }

  /** The file `virtual` means: an offered name's snapshot (first version found), else the jail's entry. */
  async #resolve(virtual: string, current?: { key: SnapshotKey | undefined }): Promise<{ real: string; stat: Stats; release?: SnapshotKey }> {
    const name = virtual.slice(1);
    if (isProgramName(name)) {
      const root = this.shared.jail.realRoot;
      for (const v of this.#pins.pinnedVersions(name)) {
        const snap = await findSnapshot(root, name, v);
        if (snap) return { real: snap.file, stat: snap.stat, release: { name, version: v } };
      }
      // No pin (or its snapshot is gone): the release the UPGRADE.TXT this session would read now names.
      const key = current ? current.key : this.#currentKey();
      if (key?.name === name) {
        const snap = await findSnapshot(root, name, key.version);
        if (snap) return { real: snap.file, stat: snap.stat, release: key };
      }
    }
    return this.shared.jail.locate(virtual);
  }

  /** The release the UPGRADE.TXT this session would read now names, or undefined (none, NO_FILE, unreadable). */
  #currentKey(): SnapshotKey | undefined {
    const offered = this.offer?.();
    if (offered) return offerKey(offered);
    try {
      return this.shared.manifest.read(path.join(this.shared.jail.realRoot, MANIFEST_NAME))?.names;
    } catch {
      return undefined;
    }
  }

  /** Stat of an offered UPGRADE.TXT: its size; the root's UPGRADE.TXT's date when there is one, else now. */
  async #offerStat(o: OfferedManifest): Promise<FileStat> {
    const root = await this.shared.jail.locate(MANIFEST_PATH).catch(() => undefined);
    const mtime = root?.stat.mtime ?? new Date();
    return { size: o.bytes.length, mtime, isFile: () => true, isDirectory: () => false };
  }
}

/** The release an offered UPGRADE.TXT names (undefined for NO_FILE). */
function offerKey(o: OfferedManifest): SnapshotKey | undefined {
  return isProgramName(o.file) && Number.isInteger(o.version) ? { name: o.file, version: o.version } : undefined;
}

/** An UPGRADE.TXT held in memory, opened for RETR. */
function manifestOpened(virtual: string, m: ManifestRead): Opened {
  return { virtual, size: m.buffer.length, buffer: m.buffer, manifest: true, names: m.names };
}

/** Opens a regular file by its real path with O_NOFOLLOW (a symlink swapped in after the check is refused). */
async function openByFd(virtual: string, real: string): Promise<Opened> {
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
    close(fd, () => undefined);
    throw notFound();
  }
}
