/**
 * SIGKILL in the middle of rollout changes (tests/support/crash-rollout.ts in a child process, killed at a random
 * point KILLS times). After each kill: the store passes SQLite's integrity check, at most one rollout is in progress,
 * the rollout part of the last audit entry's "offer after" is the rollout the store holds (change and audit entry
 * were one transaction), the root's UPGRADE.TXT parses strictly and names a binary that is there, and a fleet opened
 * on the root offers devices either the root's UPGRADE.TXT or a rollout release whose snapshot is there with its
 * exact size.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_NAME, parseManifest } from '../server/manifest.ts';
import { snapshotPath } from '../server/snapshots/reader.ts';
import { Store } from '../server/store/store.ts';
import { Fleet } from '../server/fleet/fleet.ts';
import { addDevices } from '../server/fleet/devices.ts';
import { describeRollout } from '../server/fleet/audit.ts';
import { fleetRoot } from './support/fleet-root.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CHILD = path.join(REPO, 'tests', 'support', 'crash-rollout.ts');
/** SIGKILLs (each costs a child start, ~1 s here). */
const KILLS = 8;
/** Longest random delay between the child's `ready` and the SIGKILL, ms. */
const MAX_KILL_DELAY_MS = 1500;

describe('fleet: SIGKILL during rollout changes', function () {
  this.timeout(180_000);

  it(`leaves store and offers consistent across ${KILLS} SIGKILLs`, async () => {
    const { root } = await fleetRoot('firmdrop-fleet-crash-');
    try {
      const seed = new Store(root);
      addDevices(seed, root, [{ login: 'd1', password: 'p', cohort: 'test' }, { login: 'd2', password: 'p', cohort: 'field' }], 'seed@test');
      seed.close();
      let steps = 0;
      for (let k = 0; k < KILLS; k++) {
        const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, root], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
        proc.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_c, s) => resolve(s)));
        const deadline = Date.now() + 30_000;
        while (!out.includes('ready\n')) {
          if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`child not ready: ${err.slice(-400)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * MAX_KILL_DELAY_MS)));
        proc.kill('SIGKILL');
        expect(await exited, `child ended by itself: ${err.slice(-400)}`).to.equal('SIGKILL');
        steps += out.split('\n').filter((l) => l.startsWith('step')).length;
        checkConsistent(root, `kill #${k + 1}`);
      }
      expect(steps, 'the child never finished a step: kills too early to test anything').to.be.greaterThan(0);
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});

function checkConsistent(root: string, ctx: string): void {
  const store = new Store(root);
  try {
    expect(store.integrityCheck(), ctx).to.equal('ok');
    expect(store.rolloutsInProgress(), ctx).to.be.at.most(1);
    const last = store.lastOfferAfter() ?? '';
    const rolloutPart = last.slice(last.indexOf('; ') + 2);
    expect(rolloutPart, `${ctx}: last audit entry vs the store`).to.equal(describeRollout(store.currentRollout()));
  } finally {
    store.close();
  }
  const m = parseManifest(readFileSync(path.join(root, MANIFEST_NAME), 'utf8'));
  expect(statSync(snapshotPath(root, m.file, m.version)).size, ctx).to.equal(m.size);
  const fleet = new Fleet({ root, policy: { users: [] }, timer: false });
  try {
    for (const login of ['d1', 'd2']) {
      const o = fleet.offerFor({ login, kind: 'device' });
      if (!o) continue;
      const om = parseManifest(o.bytes.toString('latin1'));
      expect(statSync(snapshotPath(root, om.file, om.version)).size, ctx).to.equal(om.size);
    }
  } finally {
    fleet.close();
  }
}
