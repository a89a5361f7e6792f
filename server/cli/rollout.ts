/**
 * `firmdrop rollout start | expand | complete | pause | resume | abort | status`: staged rollouts of a published
 * release to device logins (server/fleet/rollouts.ts; docs/fleet.md). Every change is one store transaction with
 * its audit entry; a running server applies it within 1 s.
 */
import type { Argv, CommandModule } from 'yargs';
import { Publisher } from '../publisher.ts';
import type { DeviceState, RolloutRow, Store } from '../store/store.ts';
import { cliActor, describeRootOffer } from '../fleet/audit.ts';
import {
  RolloutError, abortRollout, completeRollout, expandRollout, pauseRollout, resumeRollout, startRollout,
} from '../fleet/rollouts.ts';
import { failureBudget, inRollout, parsePercent, parseWaves, reachPercent, waveCount } from '../fleet/select.ts';
import { blankStatus } from '../fleet/status.ts';
import { type RunJob, cliPublisherHooks, withRoot, withStore } from './fleet-common.ts';

type Flags = Record<string, unknown>;

/** One wave of a rollout as `rollout status` shows it: who it reaches and how many devices are in each state. */
export interface WaveReport { wave: number; reaches: string; devices: number; states: Partial<Record<DeviceState, number>> }

/** What `rollout status --json` prints. */
export interface RolloutReport {
  rollout: (RolloutRow & { reachPercent: number; budget: number | null; reached: number }) | null;
  rootOffer: string;
  waves: WaveReport[];
}

/** Counts of device states among the devices a rollout (as at wave `wave`) reaches. */
function waveReport(store: Store, r: RolloutRow, wave: number, reaches: string): WaveReport {
  const status = new Map(store.statuses().map((s) => [s.login, s]));
  const states: Partial<Record<DeviceState, number>> = {};
  let devices = 0;
  for (const d of store.devices()) {
    if (!inRollout({ ...r, wave }, d.cohort, d.bucket)) continue;
    devices++;
    const s = status.get(d.login) ?? blankStatus(d.login);
    const onRelease = s.completedFile === r.name && s.completedVersion === r.version;
    const state: DeviceState = s.state === 'updated' && !onRelease ? 'offered' : s.state;
    states[state] = (states[state] ?? 0) + 1;
  }
  return { wave, reaches, devices, states };
}

/** The report of the rollout in progress (or the last one). */
export function rolloutReport(store: Store, root: string): RolloutReport {
  const r = store.currentRollout() ?? store.lastRollout();
  if (!r) return { rollout: null, rootOffer: describeRootOffer(root), waves: [] };
  const reached = store.statuses().filter((s) => (s.offeredFile === r.name && s.offeredVersion === r.version) || (s.dlFile === r.name && s.dlVersion === r.version)).length;
  const waves: WaveReport[] = [];
  const n = waveCount(r);
  for (let w = 0; w < Math.max(n, 1); w++) {
    const reaches = n === 0 ? [...r.cohorts.map((c) => `cohort ${c}`), `${reachPercent(r)}%`].join(' + ')
      : r.cohorts.length && w === 0 ? `cohort ${r.cohorts.join(', ')}` : `${reachPercent({ ...r, wave: w })}%`;
    if (n === 0 || w <= r.wave) waves.push(waveReport(store, r, n === 0 ? r.wave : w, reaches));
  }
  return { rollout: { ...r, reachPercent: reachPercent(r), budget: failureBudget(r, reached) ?? null, reached }, rootOffer: describeRootOffer(root), waves };
}

function printReport(rep: RolloutReport): void {
  const r = rep.rollout;
  const out = [`root UPGRADE.TXT: ${rep.rootOffer}`];
  if (!r) out.push('no rollout');
  else {
    out.push(`rollout ${r.name} v${r.version}: ${r.state}${r.reason ? ` (${r.reason})` : ''}`);
    out.push(`  reaches ${[...r.cohorts.map((c) => `cohort ${c}`), `${r.reachPercent}%`].join(' + ')}${r.window ? `, window ${r.window} UTC` : ''}`);
    out.push(`  failures ${r.failures}${r.budget === null ? '' : ` of a budget of ${r.budget}`} (${r.reached} devices reached)`);
    for (const w of rep.waves) {
      const states = Object.entries(w.states).map(([k, v]) => `${k} ${v}`).join(', ');
      out.push(`  wave ${w.wave} (${w.reaches}): ${w.devices} devices${states ? `: ${states}` : ''}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** `--advance-at 90%` → 0.9. */
function share(raw: unknown, flag: string): number {
  return parsePercent(String(raw), flag) / 100;
}

async function start(a: Flags): Promise<number> {
  const version = a.version === undefined ? undefined : Number(a.version);
  if (version !== undefined && !(Number.isInteger(version) && version >= 1 && version <= 255)) throw new RolloutError(`--version "${String(a.version)}": expected a whole number from 1 to 255`);
  const maxFailures = a.maxFailures === undefined ? undefined : Number(a.maxFailures);
  if (maxFailures !== undefined && !(Number.isInteger(maxFailures) && maxFailures >= 1)) throw new RolloutError(`--max-failures "${String(a.maxFailures)}": expected a whole number of at least 1`);
  const opts = {
    name: String(a.name), version, cohorts: (a.cohort as string[] | undefined)?.map(String), maxFailures,
    percent: a.percent === undefined ? undefined : parsePercent(String(a.percent), '--percent'),
    maxFailureRate: a.maxFailureRate === undefined ? undefined : share(a.maxFailureRate, '--max-failure-rate'),
    window: a.window === undefined ? undefined : String(a.window),
    waves: a.waves === undefined ? undefined : parseWaves(String(a.waves)),
    advanceAt: a.advanceAt === undefined ? undefined : share(a.advanceAt, '--advance-at'),
  };
  await withStore(a, async (store, root) => {
    await startRollout(store, root, opts, cliActor());
    printReport(rolloutReport(store, root));
  });
  return 0;
}

/** Runs a synchronous rollout change and prints the status after it. */
function change(a: Flags, fn: (store: Store, root: string, checksums: boolean) => Promise<unknown> | unknown): Promise<number> {
  return withStore(a, async (store, root, checksums) => {
    await fn(store, root, checksums);
    printReport(rolloutReport(store, root));
    return 0;
  });
}

/** The `rollout` command module (one line in server/cli.ts registers it). */
export function rolloutCommand(run: RunJob): CommandModule {
  const simple = (name: string, describe: string, fn: (store: Store, root: string, checksums: boolean) => unknown) =>
    [name, describe, (y: Argv) => withRoot(y), (a: Flags) => run(change(a, fn))] as const;
  return {
    command: 'rollout',
    describe: 'staged rollouts of a published release to device logins',
    builder: (y: Argv) => withRoot(y)
      .command('start <name>', 'offer a published release to some devices', (s: Argv) => withRoot(s)
        .positional('name', { type: 'string', describe: 'program name' })
        .option('version', { type: 'string', requiresArg: true, describe: 'VERSION (default: its latest release)' })
        .option('cohort', { type: 'string', array: true, requiresArg: true, describe: 'include this cohort (repeat for more)' })
        .option('percent', { type: 'string', requiresArg: true, describe: 'include P% of the devices (by login hash)' })
        .option('max-failures', { type: 'string', requiresArg: true, describe: 'pause after N downloads cut short or failed' })
        .option('max-failure-rate', { type: 'string', requiresArg: true, describe: 'pause when failures reach R% of the devices reached' })
        .option('window', { type: 'string', requiresArg: true, describe: 'offer only between HH:MM-HH:MM UTC' })
        .option('waves', { type: 'string', requiresArg: true, describe: 'waves, e.g. 5%,25%,100% (after the cohorts, if any)' })
        .option('advance-at', { type: 'string', requiresArg: true, describe: 'start the next wave when this share of the current one is updated (default 100%)' }),
      (a) => run(start(a)))
      .command('expand', 'reach more devices', (s: Argv) => withRoot(s)
        .option('percent', { type: 'string', requiresArg: true })
        .option('cohort', { type: 'string', array: true, requiresArg: true }),
      (a) => run(change(a, (store, root) => expandRollout(store, root, {
        percent: a.percent === undefined ? undefined : parsePercent(String(a.percent), '--percent'),
        cohorts: (a.cohort as string[] | undefined)?.map(String),
      }, cliActor()))))
      .command(...simple('complete', 'make the release the fleet-wide offer (root UPGRADE.TXT) and end the rollout',
        (store, root, checksums) => completeRollout(store, root, new Publisher({ root, checksums, fleet: cliPublisherHooks(root) }), cliActor())))
      .command(...simple('pause', 'devices that have not downloaded it read the previous offer', (store, root) => pauseRollout(store, root, cliActor())))
      .command(...simple('resume', 'resume a paused rollout (the failure count starts again at 0)', (store, root) => resumeRollout(store, root, cliActor())))
      .command(...simple('abort', 'every device back to the previous offer', (store, root) => abortRollout(store, root, cliActor())))
      .command('status', 'the rollout, its waves and device counts', (s: Argv) => withRoot(s).option('json', { type: 'boolean', describe: 'print JSON' }),
        (a) => run(withStore(a, (store, root) => {
          const rep = rolloutReport(store, root);
          if (a.json) process.stdout.write(`${JSON.stringify(rep, null, 2)}\n`);
          else printReport(rep);
          return 0;
        })))
      .demandCommand(1, 'give a rollout command: start, expand, complete, pause, resume, abort or status'),
    handler: () => undefined,
  };
}
