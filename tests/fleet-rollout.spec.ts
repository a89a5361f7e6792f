/**
 * Rollouts, driven directly through the fleet's hooks with session event sequences: cohort and percent reach,
 * pause/resume/abort/complete, window, the error budget (auto-pause), waves that advance by themselves, watcher
 * drops held during a rollout; and the metrics endpoint scraped over HTTP.
 */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { SessionEvent, SessionIdentity } from '../server/ftp/hooks.ts';
import { parseManifest } from '../server/manifest.ts';
import { Publisher } from '../server/publisher.ts';
import { Fleet } from '../server/fleet/fleet.ts';
import { addDevices } from '../server/fleet/devices.ts';
import { FleetMetrics, startMetricsServer } from '../server/fleet/metrics.ts';
import {
  RolloutError, abortRollout, completeRollout, expandRollout, pauseRollout, resumeRollout, startRollout,
} from '../server/fleet/rollouts.ts';
import { fleetRoot } from './support/fleet-root.ts';
import { snapshotPath } from '../server/snapshots/reader.ts';

const ACTOR = 'tester@host';
const dev = (login: string): SessionIdentity => ({ login, kind: 'device' });

describe('fleet: rollouts', () => {
  let root: string;
  let publisher: Publisher;
  let fleet: Fleet;
  let clock: number;
  let seq = 0;
  const offered = (login: string) => fleet.offerFor(dev(login))?.file;
  const on = (evs: SessionEvent[]) => evs.forEach((e) => fleet.hooks().onEvent(e));
  /** One session of `login`: reads UPGRADE.TXT as offered, optionally fetches it with an outcome. */
  const visit = (login: string, fetch?: 'completed' | 'cut-short' | 'failed') => {
    const id = `s${++seq}`;
    const base = { sessionId: id, address: '10.1.1.1', login };
    const o = fleet.offerFor(dev(login));
    const file = o?.file ?? 'OLDPROG';
    const version = o?.version ?? 1;
    const evs: SessionEvent[] = [{ type: 'login', ...base, kind: 'device', at: ++clock }, { type: 'manifest-read', ...base, file, version, at: ++clock }];
    if (fetch) {
      const size = 5000;
      evs.push({ type: 'fetch-start', ...base, name: file, version, offset: 0, size, at: ++clock });
      evs.push({ type: 'fetch-end', ...base, name: file, version, offset: 0, size, bytes: fetch === 'completed' ? size : 100, outcome: fetch, ms: 1, at: ++clock });
    }
    evs.push({ type: 'disconnect', ...base, at: ++clock });
    on(evs);
  };

  beforeEach(async () => {
    ({ root, publisher } = await fleetRoot('firmdrop-rollout-'));
    clock = Date.parse('2026-03-01T12:00:00Z');
    fleet = new Fleet({ root, policy: { users: [{ user: 'ota', pass: 'libelium' }] }, timer: false, now: () => clock });
    const devices = Array.from({ length: 20 }, (_, i) => ({ login: `dev${i}`, password: 'pw', cohort: i < 5 ? 'test' : 'field' }));
    addDevices(fleet.store, root, devices, ACTOR);
    fleet.refresh();
  });
  afterEach(async () => {
    fleet.close();
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('reaches the test cohort only, expands to a stable half, pauses, resumes, aborts', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'] }, ACTOR);
    fleet.tick();
    const reached = () => Array.from({ length: 20 }, (_, i) => `dev${i}`).filter((l) => offered(l) === 'NEWPROG');
    expect(reached()).to.deep.equal(['dev0', 'dev1', 'dev2', 'dev3', 'dev4']);
    await expectRefused(startRollout(fleet.store, root, { name: 'NEWPROG', percent: 5 }, ACTOR), /one rollout at a time/);
    expandRollout(fleet.store, root, { percent: 50 }, ACTOR);
    fleet.tick();
    const half = reached();
    expect(half.length).to.be.within(7, 17);
    for (const l of ['dev0', 'dev1', 'dev2', 'dev3', 'dev4']) expect(half).to.include(l);
    expandRollout(fleet.store, root, { percent: 60 }, ACTOR);
    fleet.tick();
    for (const l of half) expect(reached()).to.include(l);
    visit('dev0', 'completed');
    pauseRollout(fleet.store, root, ACTOR);
    fleet.tick();
    expect(reached()).to.deep.equal(['dev0']);
    resumeRollout(fleet.store, root, ACTOR);
    fleet.tick();
    expect(reached().length).to.be.greaterThan(1);
    abortRollout(fleet.store, root, ACTOR);
    fleet.tick();
    expect(reached()).to.deep.equal([]);
    const actions = fleet.store.audit().map((a) => a.action).filter((a) => a.startsWith('rollout'));
    expect(actions).to.deep.equal(['rollout-start', 'rollout-expand', 'rollout-expand', 'rollout-pause', 'rollout-resume', 'rollout-abort']);
  });

  it('complete makes the release the root UPGRADE.TXT', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', percent: 10 }, ACTOR);
    await completeRollout(fleet.store, root, publisher, ACTOR);
    const m = parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8'));
    expect(m).to.include({ file: 'NEWPROG', version: 1 });
    expect(fleet.store.currentRollout()).to.equal(undefined);
    expect(fleet.store.lastRollout()!.state).to.equal('completed');
  });

  it('outside its window a rollout offers the previous UPGRADE.TXT, except to devices that downloaded it', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'], window: '01:00-05:00' }, ACTOR);
    clock = Date.parse('2026-03-02T02:00:00Z');
    fleet.tick();
    expect(offered('dev1')).to.equal('NEWPROG');
    visit('dev1', 'completed');
    clock = Date.parse('2026-03-02T06:00:00Z');
    fleet.tick();
    expect(offered('dev2')).to.equal(undefined);
    expect(offered('dev1')).to.equal('NEWPROG');
  });

  it('pauses itself when --max-failures downloads are cut short or fail, and says so in status and audit', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'], maxFailures: 2 }, ACTOR);
    fleet.tick();
    visit('dev0', 'cut-short');
    fleet.tick();
    expect(fleet.store.currentRollout()!.state).to.equal('active');
    visit('dev1', 'failed');
    fleet.tick();
    const r = fleet.store.currentRollout()!;
    expect(r.state).to.equal('paused');
    expect(r.failures).to.equal(2);
    expect(r.reason).to.match(/error budget spent: 2 downloads/);
    expect(offered('dev2')).to.equal(undefined);
    expect(fleet.store.audit().some((a) => a.actor === 'server' && /paused: error budget/.test(a.offerAfter ?? ''))).to.equal(true);
  });

  it('--max-failure-rate: the budget grows with the devices reached', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', percent: 100, maxFailureRate: 0.25 }, ACTOR);
    fleet.tick();
    for (let i = 0; i < 12; i++) visit(`dev${i}`);
    visit('dev12', 'cut-short');
    visit('dev13', 'cut-short');
    fleet.tick();
    expect(fleet.store.currentRollout()!.state).to.equal('active');
    for (let i = 14; i < 18; i++) visit(`dev${i}`, 'cut-short');
    fleet.tick();
    expect(fleet.store.currentRollout()!).to.include({ state: 'paused', failures: 6 });
  });

  it('waves advance by themselves once --advance-at of the current wave is updated', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'], waves: [50, 100], advanceAt: 0.8 }, ACTOR);
    fleet.tick();
    for (let i = 0; i < 4; i++) {
      visit(`dev${i}`, 'completed');
      visit(`dev${i}`);
    }
    fleet.flush();
    fleet.tick();
    expect(fleet.store.currentRollout()!.wave).to.equal(1);
    expect(fleet.status.get('dev0').state).to.equal('updated');
    const reachedNow = Array.from({ length: 20 }, (_, i) => `dev${i}`).filter((l) => offered(l) === 'NEWPROG').length;
    expect(reachedNow).to.be.greaterThan(5);
    expect(fleet.store.audit().some((a) => a.action === 'rollout-wave' && a.actor === 'server')).to.equal(true);
  });

  it('a binary dropped while a rollout is in progress is published without being offered', async () => {
    const held = new Publisher({ root, fleet: { holdOffer: (n) => fleet.holdOffer(n) } });
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'] }, ACTOR);
    fleet.tick();
    await fsp.writeFile(path.join(root, 'THIRDPG'), Buffer.alloc(700, 7));
    const r = await held.publish('THIRDPG', { ifChanged: true });
    expect(r).to.include({ name: 'THIRDPG', version: 1 });
    expect(parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).file).to.equal('OLDPROG');
  });

  it('a rollout whose snapshot is gone offers the root UPGRADE.TXT; the snapshot is touched to survive pruning', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'] }, ACTOR);
    const snap = snapshotPath(root, 'NEWPROG', 1);
    await fsp.utimes(snap, new Date(0), new Date(0));
    fleet.tick();
    expect(offered('dev0')).to.equal('NEWPROG');
    await new Promise((r) => setTimeout(r, 50));
    expect((await fsp.stat(snap)).mtimeMs).to.be.greaterThan(Date.now() - 60_000);
    await fsp.rm(snap);
    clock += 61_000;
    fleet.tick();
    expect(offered('dev0')).to.equal(undefined);
  });

  it('serves Prometheus metrics over HTTP', async () => {
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'] }, ACTOR);
    fleet.tick();
    const metrics = new FleetMetrics(fleet, () => ({ activeSessions: 3, passivePortsInUse: 2, activeTransfers: 1 }));
    fleet.observe(metrics);
    visit('dev0', 'completed');
    visit('dev1', 'cut-short');
    on([{ type: 'connect', sessionId: 'x', address: '10.9.9.9', at: ++clock }, { type: 'login-failed', sessionId: 'x', address: '10.9.9.9', user: 'dev1', at: ++clock },
      { type: 'disconnect', sessionId: 'x', address: '10.9.9.9', login: undefined, at: ++clock }]);
    const server = await startMetricsServer(metrics, '127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).to.equal(200);
      const text = await res.text();
      expect(text).to.include('firmdrop_sessions_active 3');
      expect(text).to.include('firmdrop_passive_ports_in_use 2');
      expect(text).to.include('firmdrop_logins_refused_total 1');
      expect(text).to.include('firmdrop_downloads_total{program="NEWPROG",version="1",outcome="completed"} 1');
      expect(text).to.include('firmdrop_downloads_total{program="NEWPROG",version="1",outcome="cut-short"} 1');
      expect(text).to.include('firmdrop_bytes_sent_total 5100');
      expect(text).to.include('firmdrop_sessions_total{outcome="downloaded"} 1');
      expect(text).to.include('firmdrop_publishes_total 1');
      expect(text).to.include('firmdrop_rollout_state{program="NEWPROG",version="1",state="active"} 1');
      expect(text).to.include('firmdrop_devices{state="downloaded"} 1');
      expect(text).to.include('firmdrop_devices{state="never-seen"} 18');
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).to.equal(404);
    } finally {
      await server.close();
    }
  });
});

async function expectRefused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(RolloutError);
    expect((e as Error).message).to.match(pattern);
    return;
  }
  expect.fail('not refused');
}
