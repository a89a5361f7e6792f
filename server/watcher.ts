/**
 * The watcher: chokidar 5 events in the root → the publisher. Decides what counts as a binary.
 *
 * A binary is a regular file directly in the root whose name is a program name (7 letters, digits or `_`, no
 * extension; Wasp4G.cpp requestOTA; the Waspmote IDE's OTA export). chokidar's awaitWriteFinish holds each add/change until the size has
 * been stable for `stabilityMs`; the publisher then checksums the file and refuses it if it changed while being read
 * (the second guard), so a device never sees a manifest naming a half-copied binary. A writer that pauses longer
 * than `stabilityMs` can still get a partial file published; its next write fires `change` and republishes the
 * complete file as the next VERSION (copy with `firmdrop publish`, which renames a finished file into place, to
 * avoid that).
 *
 * Rewriting the offered binary in place (or renaming a new build over it) does not withdraw the offer: devices are
 * served the published snapshot of the offered release (server/snapshots/, server/ftp/files.ts), not the file being
 * written, so the manifest stays true while the new build lands; once it is stable it is published as the next
 * VERSION. Removing the
 * offered binary is the operator's "stop offering it": NO_FILE (via publisher.reconcile()).
 *
 * A burst of drops is coalesced (server/drop-queue.ts): the newest is offered first, the older ones are recorded
 * without being offered.
 *
 * Start-up (decided here): the watcher starts first (nothing lands unseen), then `publisher.reconcile()`, then
 * `publisher.catchUp()` for binaries that landed while nothing was watching, including drops a killed server had
 * seen but not yet published: every binary whose bytes differ from the latest release of its name is published,
 * oldest mtime first so the newest ends offered (one older than the binary offered now is only recorded). When
 * firmdrop takes over a root that already has an UPGRADE.TXT (Meshlium/vsftpd), the binaries there are recorded as
 * a baseline and left alone until they change: taking over never changes what devices are offered. A root with
 * neither UPGRADE.TXT nor catalogue is fresh: the binaries in it are published.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { watch } from 'chokidar';
import type { Logger } from 'pino';
import { MANIFEST_NAME, explainProgramName, isProgramName } from './manifest.ts';
import { CATALOG_DIR } from './catalog.ts';
import { DropQueue } from './drop-queue.ts';
import { PublishError, type Publisher } from './publisher.ts';

/** Extensions of files that look like an attempt to drop a firmware binary (Waspmote IDE exports, hex dumps). */
export const BINARY_LIKE_EXTENSIONS = ['.hex', '.bin', '.elf', '.ota', '.img', '.fw'];

/** How the watcher treats a file name in the root. */
export type EntryKind =
  | { kind: 'binary' }
  | { kind: 'bad-name'; reason: string }
  | { kind: 'ignored' };

/**
 * Classifies a file name found directly in the root:
 * - `binary`: a program name (published);
 * - `bad-name`: looks like an attempted binary but cannot be fetched by a device: a binary-like extension
 *   (BINARY_LIKE_EXTENSIONS, e.g. `MYPROGRAM.bin`, `ABCDEFG.hex`), or no extension with the wrong length or bad
 *   characters (`TOOLONGNAME`, `AB-DEFG`), or the reserved `NO_FILE`; `reason` says why and suggests a name;
 * - `ignored`: UPGRADE.TXT and its temp variants (Meshlium's `UPGRADE.TXT.new`), dotfiles (the catalogue folder),
 *   and files with other extensions (`.txt`, `.part`, `.tmp`, …).
 */
export function classifyEntry(name: string): EntryKind {
  if (name.startsWith('.') || name.toUpperCase().startsWith(MANIFEST_NAME)) return { kind: 'ignored' };
  if (isProgramName(name)) return { kind: 'binary' };
  const ext = path.extname(name).toLowerCase();
  if (ext === '' || BINARY_LIKE_EXTENSIONS.includes(ext)) {
    return { kind: 'bad-name', reason: explainProgramName(name) ?? `'${name}' is not a program name` };
  }
  return { kind: 'ignored' };
}

/** A running watcher. */
export interface WatcherHandle {
  /** Stops watching, then waits for any publish the watcher started (errors were already logged). */
  close(): Promise<void>;
}

/**
 * Watches `root` (depth 0) and publishes binaries as they land (see the module comment).
 * @param opts.stabilityMs how long a file's size must stay unchanged before it is considered (ms, default 1000)
 * @throws whatever chokidar or the start-up reconcile throw (file-system errors); the watcher is closed then
 */
export async function startWatcher(opts: { root: string; publisher: Publisher; logger: Logger; stabilityMs?: number }): Promise<WatcherHandle> {
  const root = path.resolve(opts.root);
  const { publisher, logger: log } = opts;
  const inflight = new Set<Promise<unknown>>();
  let closed = false;

  /** Runs a publisher call in the background; its errors are logged as one line (no stack), never thrown out. */
  const track = (what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    const p: Promise<boolean> = fn().then(() => true, (e: unknown) => {
      const reason = e instanceof Error ? e.message : String(e);
      if (e instanceof PublishError && e.code === 'unstable') log.info({ reason }, `${what}: ${reason}; waiting for the next change`);
      else log.warn({ reason }, `${what}: ${reason}; ${MANIFEST_NAME} unchanged`);
      return false;
    }).finally(() => inflight.delete(p));
    inflight.add(p);
    return p;
  };
  const drops = new DropQueue(publisher, log, track);

  const inRoot = (p: string) => path.dirname(path.resolve(root, p)) === root;
  const onWrite = (p: string) => {
    if (closed || !inRoot(p)) return;
    const name = path.basename(p);
    if (name === MANIFEST_NAME) {
      track(`${MANIFEST_NAME} change`, () => publisher.noticeOfferChange());
      return;
    }
    const entry = classifyEntry(name);
    if (entry.kind === 'binary') drops.add(name);
    else if (entry.kind === 'bad-name') log.warn({ file: name }, `${entry.reason}: not published, ${MANIFEST_NAME} unchanged`);
    else log.debug({ file: name }, `ignored ${name}`);
  };

  const onUnlink = (p: string) => {
    if (closed || !inRoot(p)) return;
    const name = path.basename(p);
    if (classifyEntry(name).kind !== 'binary') return;
    track(`removal of ${name}`, async () => {
      const offered = await publisher.current().catch(() => undefined);
      if (offered === undefined || offered.file === name) await publisher.reconcile();
    });
  };

  const watcher = watch(root, {
    ignoreInitial: true,
    depth: 0,
    ignored: (p: string) => {
      const abs = path.resolve(root, p);
      if (abs === root) return false;
      const base = path.basename(abs);
      // UPGRADE.TXT itself is watched: another process (`firmdrop publish`/`select`) changing the offer is logged.
      return base === CATALOG_DIR || base.startsWith('.') || (base !== MANIFEST_NAME && base.toUpperCase().startsWith(MANIFEST_NAME));
    },
    awaitWriteFinish: { stabilityThreshold: opts.stabilityMs ?? 1000, pollInterval: 100 },
  });
  watcher.on('error', (e: unknown) => log.error({ err: e }, `watcher error on ${root}: ${(e as Error).message}`));
  watcher.on('add', onWrite);
  watcher.on('change', onWrite);
  watcher.on('unlink', onUnlink);

  const close = async () => {
    closed = true;
    await watcher.close();
    await drops.close();
    while (inflight.size) await Promise.allSettled([...inflight]);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve);
      watcher.once('error', reject);
    });
    await publisher.reconcile();
    await publisher.catchUp();
    await warnBadNames(root, log);
  } catch (e) {
    await close();
    throw e;
  }
  log.debug({ root }, 'watching the root for binaries');
  return { close };
}

/** Logs a warning for each file in the root that looks like an attempted binary but cannot be one. */
async function warnBadNames(root: string, log: Logger): Promise<void> {
  for (const d of await fsp.readdir(root, { withFileTypes: true })) {
    if (!d.isFile()) continue;
    const kind = classifyEntry(d.name);
    if (kind.kind === 'bad-name') log.warn({ file: d.name }, `${kind.reason}: not published`);
  }
}
