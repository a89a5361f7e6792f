/**
 * Compatibility entry point: the snapshot store lives in ./snapshots/reader.ts (paths, find, in-memory cache) and
 * ./snapshots/writer.ts (create, retire, prune). New code imports those directly.
 */
export {
  OFFERED_DIR, SNAPSHOT_CACHE_BYTES, SNAPSHOT_CACHE_MAX_FILE, SNAPSHOT_GRACE_MS, SnapshotCache, findSnapshot, offeredDir,
  parseSnapshotName, snapshotPath, type SnapshotKey,
} from './snapshots/reader.ts';
export { SNAPSHOTS_PER_NAME, createSnapshot, pruneSnapshots, retireSnapshot } from './snapshots/writer.ts';
export type { BinaryContent as SnapshotContent } from './binary.ts';
