/**
 * `<root>/UPGRADE.TXT` on disk, for the publisher: reading it (strictly, with a tolerant reading of a broken one),
 * replacing it atomically (server/atomic-file.ts) while retiring and pruning the snapshots it stops naming, and
 * keeping a copy of an operator-written file before firmdrop replaces it, so no hand edit is ever lost.
 * The rules of the text itself are server/manifest.ts's.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { CATALOG_DIR, TMP_DIR } from './catalog.ts';
import {
  MANIFEST_NAME, NO_FILE, ManifestError, parseManifest, readManifest, type Manifest, type ManifestIssue,
} from './manifest.ts';
import type { SnapshotKey } from './snapshots/reader.ts';
import { pruneSnapshots, retireSnapshot } from './snapshots/writer.ts';

/** Folder inside CATALOG_DIR where operator-written manifests are kept before firmdrop replaces them. */
export const KEPT_DIR = 'kept';

/** UPGRADE.TXT as found on disk; `read` is the tolerant reading (server/manifest.ts readManifest) of a broken one. */
export type ManifestState =
  | { state: 'missing' }
  | { state: 'broken'; issues: ManifestIssue[]; text: string; read: Partial<Manifest> }
  | { state: 'ok'; manifest: Manifest; text: string };

/** The UPGRADE.TXT of one root. Not safe for concurrent writers: the Publisher serializes all calls. */
export class ManifestFile {
  /** `<root>/UPGRADE.TXT` */
  readonly file: string;
  private readonly root: string;
  private readonly tmpDir: string;

  /** @param root absolute FTP root */
  constructor(root: string) {
    this.root = root;
    this.file = path.join(root, MANIFEST_NAME);
    this.tmpDir = path.join(root, CATALOG_DIR, TMP_DIR);
  }

  /**
   * Reads and strictly parses UPGRADE.TXT.
   * @throws file-system errors other than ENOENT
   */
  async read(): Promise<ManifestState> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
      throw e;
    }
    try {
      return { state: 'ok', manifest: parseManifest(text), text };
    } catch (e) {
      if (e instanceof ManifestError) return { state: 'broken', issues: e.issues, text, read: readManifest(text) };
      throw e;
    }
  }

  /**
   * Replaces UPGRADE.TXT with `text` unless it already holds exactly that; true when it wrote. When the offer
   * changes, the snapshot the old manifest named is retired (devices that just read it keep SNAPSHOT_GRACE_MS to
   * fetch it) and snapshots no one can need are pruned, keeping `offered` (the release the new text names).
   * @param now the state read just before (the caller decided on it)
   */
  async write(now: ManifestState, text: string, offered?: SnapshotKey): Promise<boolean> {
    if (now.state !== 'missing' && now.text === text) return false;
    await writeFileAtomic(this.tmpDir, this.file, text);
    const before = now.state === 'ok' && now.manifest.file !== NO_FILE ? now.manifest : undefined;
    if (before && (before.file !== offered?.name || before.version !== offered.version)) {
      await retireSnapshot(this.root, { name: before.file, version: before.version });
    }
    await pruneSnapshots(this.root, offered ? [offered] : []);
    return true;
  }

  /**
   * Copies `text` (the UPGRADE.TXT about to be replaced) to `.firmdrop/kept/UPGRADE.TXT.<UTC time>`, byte for byte.
   * @returns the copy's path relative to the root (for the log line)
   * @throws file-system errors (then nothing is replaced)
   */
  async keep(text: string): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const rel = path.join(CATALOG_DIR, KEPT_DIR, `${MANIFEST_NAME}.${stamp}`);
    const bytes = await fsp.readFile(this.file).catch(() => Buffer.from(text, 'utf8'));
    await fsp.mkdir(path.join(this.root, CATALOG_DIR, KEPT_DIR), { recursive: true });
    await writeFileAtomic(this.tmpDir, path.join(this.root, rel), bytes);
    return rel;
  }
}
