/**
 * Child process for tests/fleet-crash.spec.ts: changes the rollout of a root back to back (start, expand, pause,
 * resume, then complete or abort, the program alternating between NEWPROG and OLDPROG) until it is killed with
 * SIGKILL at a random point. A rollout left in progress by the previous child is aborted first. Prints `ready` once the modules are loaded and the store is open, then `step N` after
 * each change.
 *
 * Usage: node --import tsx tests/support/crash-rollout.ts <root>
 */
import { Publisher } from '../../server/publisher.ts';
import { Store } from '../../server/store/store.ts';
import { cliPublisherHooks } from '../../server/cli/fleet-common.ts';
import {
  abortRollout, completeRollout, expandRollout, pauseRollout, resumeRollout, startRollout,
} from '../../server/fleet/rollouts.ts';

async function main(): Promise<void> {
  const root = process.argv[2];
  if (!root) throw new Error('usage: crash-rollout.ts <root>');
  const store = new Store(root);
  const publisher = new Publisher({ root, fleet: cliPublisherHooks(root) });
  process.stdout.write('ready\n');
  const actor = 'crash@test';
  // A rollout left mid-cycle by the previous kill is aborted first (itself a change the next kill may interrupt).
  if (store.currentRollout()) abortRollout(store, root, actor);
  for (let i = 0; i < 100_000; i++) {
    if (!store.currentRollout()) {
      const name = i % 2 ? 'OLDPROG' : 'NEWPROG';
      await startRollout(store, root, { name, cohorts: ['test'], maxFailures: 3 }, actor);
    }
    expandRollout(store, root, { percent: 10 + (i % 80) }, actor);
    pauseRollout(store, root, actor);
    resumeRollout(store, root, actor);
    if (i % 3 === 0) await completeRollout(store, root, publisher, actor);
    else abortRollout(store, root, actor);
    process.stdout.write(`step ${i}\n`);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
