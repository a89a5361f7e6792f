/**
 * The audit trail: who changed what the fleet is offered, and when. Every publish, select, NO_FILE, device change
 * and rollout action is appended to the store's `audit` table with the time, the actor (the CLI's OS user@host, or
 * `server` for what the server does by itself) and the offer before and after, in the same transaction as the
 * change it records where the change is in the store.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { MANIFEST_NAME, parseManifest } from '../manifest.ts';
import type { RolloutRow, Store } from '../store/store.ts';
import { reachPercent } from './select.ts';

/** The actor of changes made by the running server itself (watcher publishes, automatic pauses and waves). */
export const SERVER_ACTOR = 'server';

/** The actor of a CLI command: the OS user and host, `user@host`. */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? 'unknown';
  }
  return `${user}@${os.hostname()}`;
}

/** The root's UPGRADE.TXT as one line (`SENSOR1 v3`, `NO_FILE`, `none`, `unreadable`). */
export function describeRootOffer(root: string): string {
  let text: string;
  try {
    text = readFileSync(path.join(root, MANIFEST_NAME), 'utf8');
  } catch {
    return 'none';
  }
  try {
    const m = parseManifest(text);
    return m.file === 'NO_FILE' ? 'NO_FILE' : `${m.file} v${m.version}`;
  } catch {
    return 'unreadable';
  }
}

/** A rollout as one line: `SENSOR1 v4 to cohort test + 10% (active)`. */
export function describeRollout(r: RolloutRow | undefined): string {
  if (!r) return 'no rollout';
  const who = [...r.cohorts.map((c) => `cohort ${c}`), `${reachPercent(r)}%`].join(' + ');
  return `rollout ${r.name} v${r.version} to ${who} (${r.state}${r.reason ? `: ${r.reason}` : ''})`;
}

/** The whole offer as one line: the root's UPGRADE.TXT and the rollout in progress. */
export function describeOffer(root: string, store: Store): string {
  return `root ${describeRootOffer(root)}; ${describeRollout(store.currentRollout())}`;
}

/**
 * Appends one audit entry. `before`: the offer line taken before the change (describeOffer); the offer after is
 * read now. Call inside the change's transaction when the change is in the store.
 */
export function audit(store: Store, root: string, e: { actor: string; action: string; subject?: string; detail?: string; before: string }): void {
  store.appendAudit({
    at: new Date().toISOString(), actor: e.actor, action: e.action, subject: e.subject ?? null, detail: e.detail ?? null,
    offerBefore: e.before, offerAfter: describeOffer(root, store),
  });
}

/**
 * Publisher hooks that audit every publish, select, NO_FILE and release recorded without offering it
 * (server/publisher.ts PublisherFleetHooks.onChange). The offer before is the previous entry's offer after.
 */
export function publisherAudit(store: Store, root: string, actor: string): { onChange: (c: { action: string; name?: string; version?: number }) => void } {
  return {
    onChange: (c) => {
      try {
        const before = store.lastOfferAfter() ?? 'unknown (first audit entry)';
        audit(store, root, { actor, action: c.action, subject: c.name === undefined ? undefined : `${c.name} v${c.version}`, before });
      } catch (e) {
        // The change itself is done (UPGRADE.TXT is written); a store that cannot be written loses the entry, not the change.
        process.emitWarning(`audit entry for ${c.action} not written: ${(e as Error).message}`);
      }
    },
  };
}
