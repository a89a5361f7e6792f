/**
 * Rollout actions: start, expand, pause, resume, abort, complete. Each change of the store is ONE transaction with
 * its audit entry, so a SIGKILL at any moment leaves the rollout as it was or as asked, never half-changed; the
 * served offers follow the store (server/fleet/fleet.ts polls it). One rollout at a time.
 *
 * `complete` first makes the release the fleet-wide offer (Publisher.select: the root's UPGRADE.TXT, written
 * atomically), then marks the rollout completed. Killed between the two, every device already reads the release
 * (inside the rollout by its per-device offer, outside it by the root's), and running `complete` again finishes it.
 */
import * as path from 'node:path';
import { createSnapshot } from '../snapshots/writer.ts';
import type { Publisher } from '../publisher.ts';
import type { RolloutRow, Store } from '../store/store.ts';
import { audit, describeOffer } from './audit.ts';
import { parseWindow, reachPercent, waveCount } from './select.ts';

/** A refused rollout action; `message` is one line for the operator. Nothing was changed. */
export class RolloutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutError';
  }
}

/** Options of `rollout start` (see docs/fleet.md). Percents 0..100; `maxFailureRate` and `advanceAt` 0..1. */
export interface StartOptions {
  name: string; version?: number; cohorts?: string[]; percent?: number; maxFailures?: number; maxFailureRate?: number;
  window?: string; waves?: number[]; advanceAt?: number;
}

/**
 * Starts a rollout of a published release: checks it is recorded in the catalogue, makes sure its snapshot exists
 * (server/snapshots/writer.ts; taken from the root's file when it still has those bytes), then records the rollout.
 * @throws RolloutError (another rollout in progress, no such release, nobody selected, bad window); PublishError
 *   when the snapshot cannot be taken
 */
export async function startRollout(store: Store, root: string, o: StartOptions, actor: string): Promise<RolloutRow> {
  const busy = store.currentRollout();
  if (busy) throw new RolloutError(`rollout of ${busy.name} v${busy.version} is ${busy.state}: complete or abort it first (one rollout at a time)`);
  const cohorts = o.cohorts ?? [];
  if (!cohorts.length && o.percent === undefined && !o.waves) throw new RolloutError('rollout start needs --cohort, --percent or --waves (who gets it)');
  if (o.window) parseWindow(o.window);
  if (o.advanceAt !== undefined && !o.waves) throw new RolloutError('--advance-at needs --waves');
  const releases = store.releases().filter((r) => r.name === o.name && (o.version === undefined || r.version === o.version));
  const release = releases[releases.length - 1];
  if (!release) {
    throw new RolloutError(`${o.name}${o.version === undefined ? '' : ` v${o.version}`}: not published; publish it first (firmdrop publish FILE --no-select)`);
  }
  await createSnapshot(root, release.name, release.version, path.join(root, release.name), release).catch((e: Error) => {
    throw new RolloutError(`${release.name} v${release.version}: its snapshot is gone and ${e.message}; publish it again`);
  });
  const now = new Date().toISOString();
  return store.tx(() => {
    const again = store.currentRollout();
    if (again) throw new RolloutError(`rollout of ${again.name} v${again.version} is ${again.state}: complete or abort it first`);
    const before = describeOffer(root, store);
    store.addRelease(release);
    const row = store.insertRollout({
      name: release.name, version: release.version, size: release.size, crc32: release.crc32, md5: release.md5, state: 'active',
      cohorts, percent: o.percent ?? 0, maxFailures: o.maxFailures ?? null, maxFailureRate: o.maxFailureRate ?? null,
      window: o.window ?? null, waves: o.waves ?? null, advanceAt: o.waves ? (o.advanceAt ?? 1) : null, wave: 0, failures: 0,
      reason: null, startedAt: now, updatedAt: now,
    });
    audit(store, root, { actor, action: 'rollout-start', subject: `${row.name} v${row.version}`, detail: JSON.stringify(o), before });
    return row;
  });
}

/**
 * Changes the rollout in progress in one transaction with its audit entry. `fn` edits the row (or throws a
 * RolloutError to refuse); `action` names the change in the audit.
 * @throws RolloutError when no rollout is in progress, or as `fn` decides
 */
export function changeRollout(store: Store, root: string, actor: string, action: string, fn: (r: RolloutRow) => string | void): RolloutRow {
  return store.tx(() => {
    const r = store.currentRollout();
    if (!r) throw new RolloutError('no rollout in progress (firmdrop rollout start NAME ...)');
    const before = describeOffer(root, store);
    const detail = fn(r) ?? undefined;
    r.updatedAt = new Date().toISOString();
    store.updateRollout(r);
    audit(store, root, { actor, action, subject: `${r.name} v${r.version}`, detail, before });
    return r;
  });
}

/** `rollout expand`: a higher percent and/or more cohorts. @throws RolloutError when it would shrink the rollout */
export function expandRollout(store: Store, root: string, o: { percent?: number; cohorts?: string[] }, actor: string): RolloutRow {
  if (o.percent === undefined && !o.cohorts?.length) throw new RolloutError('rollout expand needs --percent P or --cohort C');
  return changeRollout(store, root, actor, 'rollout-expand', (r) => {
    if (o.percent !== undefined) {
      if (o.percent < reachPercent(r)) throw new RolloutError(`--percent ${o.percent}: the rollout already reaches ${reachPercent(r)}% (expand never shrinks it; abort to stop)`);
      r.percent = o.percent;
    }
    for (const c of o.cohorts ?? []) if (!r.cohorts.includes(c)) r.cohorts.push(c);
    return JSON.stringify(o);
  });
}

/** `rollout pause` (by the operator) or the error budget (`reason` says which). @throws RolloutError when not active */
export function pauseRollout(store: Store, root: string, actor: string, reason = 'paused by the operator'): RolloutRow {
  return changeRollout(store, root, actor, 'rollout-pause', (r) => {
    if (r.state !== 'active') throw new RolloutError(`the rollout of ${r.name} v${r.version} is already ${r.state}`);
    r.state = 'paused';
    r.reason = reason;
    return reason;
  });
}

/** `rollout resume`: active again, with the failure count reset. @throws RolloutError when not paused */
export function resumeRollout(store: Store, root: string, actor: string): RolloutRow {
  return changeRollout(store, root, actor, 'rollout-resume', (r) => {
    if (r.state !== 'paused') throw new RolloutError(`the rollout of ${r.name} v${r.version} is ${r.state}, not paused`);
    r.state = 'active';
    r.reason = null;
    r.failures = 0;
  });
}

/** `rollout abort`: every device back to the root's UPGRADE.TXT. */
export function abortRollout(store: Store, root: string, actor: string): RolloutRow {
  return changeRollout(store, root, actor, 'rollout-abort', (r) => {
    r.state = 'aborted';
    r.reason = 'aborted by the operator';
  });
}

/** The next wave (by the server when enough of the current one is updated). @throws RolloutError at the last wave */
export function advanceWave(store: Store, root: string, actor: string, id: number, why: string): RolloutRow {
  return changeRollout(store, root, actor, 'rollout-wave', (r) => {
    if (r.id !== id || r.state !== 'active' || r.wave >= waveCount(r) - 1) throw new RolloutError('no wave to advance');
    r.wave += 1;
    return `wave ${r.wave} (${reachPercent(r)}%): ${why}`;
  });
}

/**
 * `rollout complete`: the release becomes the fleet-wide offer (Publisher.select), then the rollout is completed.
 * @throws RolloutError when no rollout is in progress; PublishError/CatalogError from select
 */
export async function completeRollout(store: Store, root: string, publisher: Publisher, actor: string): Promise<RolloutRow> {
  const r = store.currentRollout();
  if (!r) throw new RolloutError('no rollout in progress');
  await publisher.select(r.name, { version: r.version });
  return changeRollout(store, root, actor, 'rollout-complete', (row) => {
    if (row.id !== r.id) throw new RolloutError('the rollout changed meanwhile; run complete again');
    row.state = 'completed';
    row.reason = null;
  });
}
