/**
 * Which bytes a mirror request is served: the UPGRADE.TXT its identity reads (the fleet's `offerFor`, else the
 * root's file), the published snapshot a program name means for it, and the snapshot's checksums. The same rules as
 * the FTP device file system (server/ftp/files.ts): an offered name is served from its snapshot
 * (`.firmdrop/offered/NAME.vVERSION`, server/snapshots/), never the live file the operator may be rewriting, and a
 * device that read a manifest keeps getting the release it named for SNAPSHOT_GRACE_MS (the Waspmote 4G reads the
 * manifest and the binary in two FTP sessions, docs/waspmote-ota.md "The common flow"; over HTTP every request is a
 * session). Nothing else is ever served.
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_NAME, NO_FILE, ManifestError, parseManifest } from '../manifest.ts';
import { SNAPSHOT_GRACE_MS, findSnapshot } from '../snapshots/reader.ts';
import { type BinaryInfo, hashBinary } from '../publisher.ts';
import type { MirrorHooks, OfferedManifest, SessionIdentity } from './hooks.ts';

/** Most (login, address) pins remembered; the oldest is dropped first (memory bound, ~200 bytes each). */
export const MAX_PINS = 20_000;

/** A published snapshot to serve: its path, lstat, and content checksums (size in bytes, lowercase hex). */
export interface ServedSnapshot { name: string; version: number; file: string; stat: Stats; info: BinaryInfo }

/** Resolves offers and snapshots for the mirror; one per HTTP server. */
export class OfferResolver {
  readonly #root: string;
  readonly #hooks: MirrorHooks;
  readonly #pins = new Map<string, { file: string; version: number; at: number }>();
  readonly #digests = new Map<string, { stat: Stats; info: BinaryInfo }>();

  /** @param root the OTA root; @param hooks the fleet's offerFor, if any */
  constructor(root: string, hooks: MirrorHooks) {
    this.#root = path.resolve(root);
    this.#hooks = hooks;
  }

  /**
   * The UPGRADE.TXT `identity` reads now: the fleet's offer, else the root's file. `file` is NO_FILE (version 0)
   * when nothing is offered, and also when the root's file is missing or breaks a rule (the publisher repairs it).
   * @throws file-system errors other than ENOENT
   */
  async manifestFor(identity: SessionIdentity): Promise<OfferedManifest> {
    const fleet = this.#hooks.offerFor?.(identity);
    if (fleet) return fleet;
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(path.join(this.#root, MANIFEST_NAME));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: Buffer.alloc(0), file: NO_FILE, version: 0 };
      throw e;
    }
    try {
      const m = parseManifest(bytes);
      return { bytes, file: m.file, version: m.version };
    } catch (e) {
      if (e instanceof ManifestError) return { bytes, file: NO_FILE, version: 0 };
      throw e;
    }
  }

  /** Remembers that `identity` from `address` read a manifest naming `offer` (see the module comment). */
  pin(identity: SessionIdentity, address: string, offer: OfferedManifest, now = Date.now()): void {
    if (offer.file === NO_FILE) return;
    const key = `${identity.login}\0${address}`;
    this.#pins.delete(key);
    this.#pins.set(key, { file: offer.file, version: offer.version, at: now });
    while (this.#pins.size > MAX_PINS) this.#pins.delete(this.#pins.keys().next().value as string);
  }

  /**
   * The snapshot program name `name` means for `identity` at `address`: its recent pin for that name when the
   * snapshot still exists, else the release its current offer names; undefined when `name` is not offered to it.
   * @throws file-system errors while hashing (never for a missing snapshot)
   */
  async snapshotFor(identity: SessionIdentity, address: string, name: string, now = Date.now()): Promise<ServedSnapshot | undefined> {
    const pin = this.#pins.get(`${identity.login}\0${address}`);
    if (pin && pin.file === name && now - pin.at < SNAPSHOT_GRACE_MS) {
      const s = await this.#served(pin.file, pin.version);
      if (s) return s;
    }
    const offer = await this.manifestFor(identity);
    if (offer.file === NO_FILE || offer.file !== name) return undefined;
    return this.#served(offer.file, offer.version);
  }

  /** The snapshot of `name` v`version` with its checksums (computed once per file identity), or undefined. */
  async #served(name: string, version: number): Promise<ServedSnapshot | undefined> {
    const snap = await findSnapshot(this.#root, name, version);
    if (!snap) return undefined;
    const known = this.#digests.get(snap.file);
    const st = snap.stat;
    if (known && known.stat.ino === st.ino && known.stat.size === st.size && known.stat.mtimeMs === st.mtimeMs) {
      return { name, version, file: snap.file, stat: st, info: known.info };
    }
    let info: BinaryInfo;
    try {
      info = await hashBinary(snap.file, name);
    } catch {
      return undefined; // pruned or replaced while hashing: not a snapshot we may serve
    }
    this.#digests.set(snap.file, { stat: st, info });
    if (this.#digests.size > 64) this.#digests.delete(this.#digests.keys().next().value as string);
    return { name, version, file: snap.file, stat: st, info };
  }
}
