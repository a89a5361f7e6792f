/**
 * Which release a program name means for one FTP session: the release of the UPGRADE.TXT the session (or, failing
 * that, its client address) last read, else the release the current UPGRADE.TXT names. Devices read UPGRADE.TXT
 * and fetch the binary it names; the publisher may change the manifest between the two, and the binary a device
 * fetches must be the one its manifest named (its size and checksum are checked against it: WaspOTA/Wasp4G
 * requestOTA compares the fetched size with the SIZE label).
 */
import { isProgramName } from './manifest.ts';
import { SNAPSHOT_GRACE_MS, type SnapshotKey } from './snapshots/reader.ts';

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
 * binary in different FTP sessions: the Waspmote 4G (one session for UPGRADE.TXT, a new one for the binary:
 * Wasp4G.cpp requestOTA) and SIM900 modules (a session per operation, WaspGPRS_Pro). A pin expires after
 * `graceMs` (SNAPSHOT_GRACE_MS, the time a retired snapshot is kept anyway); at most `max` addresses are held, the
 * least recently used dropped first, so memory stays bounded (about 100 bytes an entry).
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

/**
 * The pins of one session: the release of the last UPGRADE.TXT it read (session pin), backed by the shared
 * per-address table. One per control connection; holds one small record at most.
 */
export class SessionPins {
  #pin: SnapshotKey | undefined;

  /** @param shared the server's ManifestPins; @param clientIp the session's client IP (plain IPv4 for IPv4) */
  constructor(private readonly shared: ManifestPins, private readonly clientIp: string) {}

  /**
   * The session read an UPGRADE.TXT naming `key` (undefined: NO_FILE or unreadable, which drops the session pin):
   * pins it for this session and, when it names a release, for the client address.
   */
  manifestRead(key: SnapshotKey | undefined): void {
    this.#pin = key;
    if (key) this.shared.remember(this.clientIp, key);
  }

  /**
   * The pinned versions of `name` to try, in order: the session's pin, then the address's pin (the caller then
   * falls back to the release the current UPGRADE.TXT names). Duplicates are harmless.
   */
  pinnedVersions(name: string): number[] {
    const out: number[] = [];
    if (this.#pin?.name === name) out.push(this.#pin.version);
    const ip = this.shared.versionFor(this.clientIp, name);
    if (ip !== undefined) out.push(ip);
    return out;
  }
}
