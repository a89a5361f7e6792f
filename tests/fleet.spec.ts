/**
 * The fleet's logic, driven directly: the store (schema, WAL, migrations), device logins and authenticate,
 * per-device offers (offerFor) and device status from session event sequences as server/ftp/hooks.ts defines them.
 * The end-to-end run with real FTP clients is tests/fleet-e2e.spec.ts.
 */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SessionEvent } from '../server/ftp/hooks.ts';
import { parseManifest } from '../server/manifest.ts';
import { fleetRoot } from './support/fleet-root.ts';
import { Store, StoreError, storePath } from '../server/store/store.ts';
import { SCHEMA_VERSION } from '../server/store/migrations.ts';
import { Fleet } from '../server/fleet/fleet.ts';
import { DeviceError, addDevices, deviceReports, parseDeviceCsv, removeDevice } from '../server/fleet/devices.ts';
import { VerifyCache, hashPassword } from '../server/fleet/passwords.ts';
import { startRollout } from '../server/fleet/rollouts.ts';
import { bucketOf, inRollout } from '../server/fleet/select.ts';

const ACTOR = 'tester@host';

/** A session event sequence builder for one session. */
function session(login: string, id: string, kind: 'device' | 'shared' = 'device') {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const base = { sessionId: id, address: '10.0.0.7', login };
  return {
    login: (): SessionEvent => ({ type: 'login', ...base, kind, at: ++t }),
    read: (file: string, version: number): SessionEvent => ({ type: 'manifest-read', ...base, file, version, at: ++t }),
    start: (name: string, version: number, size: number, offset = 0): SessionEvent => ({ type: 'fetch-start', ...base, name, version, offset, size, at: ++t }),
    end: (name: string, version: number, size: number, bytes: number, outcome: 'completed' | 'cut-short' | 'failed', offset = 0): SessionEvent =>
      ({ type: 'fetch-end', ...base, name, version, offset, bytes, size, outcome, ms: 5, at: ++t }),
    bye: (): SessionEvent => ({ type: 'disconnect', ...base, at: ++t }),
  };
}

describe('fleet: store, devices, offers, status', () => {
  let root: string;
  let fleet: Fleet;
  const policy = { users: [{ user: 'ota', pass: 'libelium' }] };

  beforeEach(async () => {
    ({ root } = await fleetRoot('firmdrop-fleet-'));
    fleet = new Fleet({ root, policy, timer: false });
  });
  afterEach(async () => {
    fleet.close();
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('creates the store with WAL, the schema version and the releases imported from releases.json', () => {
    const s = new Store(root);
    try {
      expect(s.schemaVersion()).to.equal(SCHEMA_VERSION);
      expect(s.releases().map((r) => `${r.name} v${r.version}`)).to.deep.equal(['OLDPROG v1', 'NEWPROG v1']);
    } finally {
      s.close();
    }
    expect(storePath(root)).to.equal(path.join(root, '.firmdrop', 'firmdrop.db'));
  });

  it('refuses a store written by a newer firmdrop with one line', () => {
    fleet.store.tx(() => fleet.store.setSetting('x', 'y'));
    const s = new Store(root);
    s.tx(() => { (s as unknown as { db: { prepare(q: string): { run(...a: unknown[]): void } } }).db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION + 1); });
    s.close();
    expect(() => new Store(root)).to.throw(StoreError, new RegExp(`schema version ${SCHEMA_VERSION + 1} was written by a newer firmdrop`));
  });

  it('adds devices with salted hashes, imports a CSV all or nothing, removes, and audits each change', async () => {
    addDevices(fleet.store, root, [{ login: 'dev1', password: 'pw1', cohort: 'test' }], ACTOR);
    const d = fleet.store.device('dev1')!;
    expect(d.hash).to.not.include('pw1');
    expect(d.salt).to.match(/^[0-9a-f]{32}$/);
    expect(d.bucket).to.equal(bucketOf('dev1'));
    const csv = 'login,password,cohort\ndev2,pw2,field\n\ndev3,pw3,\n';
    addDevices(fleet.store, root, parseDeviceCsv(csv), ACTOR, 'device-import');
    expect(fleet.store.devices().map((x) => `${x.login}:${x.cohort}`)).to.deep.equal(['dev1:test', 'dev2:field', 'dev3:null']);
    expect(() => parseDeviceCsv('login,password,cohort\ndev4,pw4,a\ndev 5,pw,b\n', 'f.csv')).to.throw(DeviceError, /^f\.csv line 3: login "dev 5"/);
    expect(() => parseDeviceCsv('user,pass\n', 'f.csv')).to.throw(DeviceError, /line 1: expected the header/);
    expect(fleet.store.device('dev4')).to.equal(undefined);
    removeDevice(fleet.store, root, 'dev2', ACTOR);
    expect(() => removeDevice(fleet.store, root, 'dev2', ACTOR)).to.throw(DeviceError, /no device login dev2/);
    const actions = fleet.store.audit().filter((a) => a.action.startsWith('device')).map((a) => `${a.actor} ${a.action} ${a.subject}`);
    expect(actions).to.deep.equal([`${ACTOR} device-add dev1`, `${ACTOR} device-import 2 devices`, `${ACTOR} device-remove dev2`]);
  });

  it('authenticates device logins, then shared accounts; a wrong device password is refused', async () => {
    addDevices(fleet.store, root, [{ login: 'dev1', password: 'pw1' }], ACTOR);
    fleet.refresh();
    expect(await fleet.authenticate('dev1', 'pw1')).to.deep.equal({ login: 'dev1', kind: 'device' });
    expect(await fleet.authenticate('dev1', 'pw2')).to.equal(null);
    expect(await fleet.authenticate('ota', 'libelium')).to.deep.equal({ login: 'ota', kind: 'shared' });
    expect(await fleet.authenticate('ota', 'nope')).to.equal(null);
    expect(await fleet.authenticate('ghost', 'pw1')).to.equal(null);
  });

  it('verify cache: one scrypt per login and password, a changed hash misses', async () => {
    let now = 0;
    const cache = new VerifyCache(1000, () => now);
    const h = hashPassword('secret');
    expect(await cache.verify('a', 'secret', h)).to.equal(true);
    expect(await cache.verify('a', 'secret', h)).to.equal(true);
    expect(await cache.verify('a', 'wrong', h)).to.equal(false);
    expect(cache.stats()).to.include({ hits: 1, misses: 2 });
    now = 1001;
    expect(await cache.verify('a', 'secret', h)).to.equal(true);
    expect(await cache.verify('a', 'secret', hashPassword('other'))).to.equal(false);
    expect(cache.stats().misses).to.equal(4);
  });

  it('offerFor: the rollout reaches its cohort only; shared logins read the root', async () => {
    addDevices(fleet.store, root, [{ login: 'in1', password: 'p', cohort: 'test' }, { login: 'out1', password: 'p', cohort: 'field' }], ACTOR);
    fleet.refresh();
    expect(fleet.offerFor({ login: 'in1', kind: 'device' })).to.equal(undefined);
    await startRollout(fleet.store, root, { name: 'NEWPROG', cohorts: ['test'] }, ACTOR);
    fleet.refresh();
    const offer = fleet.offerFor({ login: 'in1', kind: 'device' })!;
    const m = parseManifest(offer.bytes.toString('latin1'));
    expect(m).to.include({ file: 'NEWPROG', version: 1, size: 5000 });
    expect(offer).to.include({ file: 'NEWPROG', version: 1 });
    expect(fleet.offerFor({ login: 'out1', kind: 'device' })).to.equal(undefined);
    expect(fleet.offerFor({ login: 'ota', kind: 'shared' })).to.equal(undefined);
  });

  it('percent selection is stable as it grows', () => {
    const logins = Array.from({ length: 2000 }, (_, i) => `dev${i}`);
    const at = (p: number) => new Set(logins.filter((l) => inRollout({ percent: p, waves: null, wave: 0, cohorts: [] }, null, bucketOf(l))));
    const ten = at(10);
    const fifty = at(50);
    for (const l of ten) expect(fifty.has(l)).to.equal(true);
    expect(ten.size).to.be.within(140, 260);
    expect(fifty.size).to.be.within(900, 1100);
  });

  it('status: offered, downloading (cut short), downloaded, updated across two sessions (4G), no-update', () => {
    addDevices(fleet.store, root, [{ login: 'd', password: 'p' }, { login: 'e', password: 'p' }], ACTOR);
    fleet.refresh();
    const on = (evs: SessionEvent[]) => evs.forEach((e) => fleet.hooks().onEvent(e));
    const s1 = session('d', 's1');
    on([s1.login(), s1.read('NEWPROG', 1), s1.bye()]);
    expect(fleet.status.get('d').state).to.equal('offered');
    const s2 = session('d', 's2');
    on([s2.login(), s2.start('NEWPROG', 1, 5000), s2.end('NEWPROG', 1, 5000, 1200, 'cut-short'), s2.bye()]);
    expect(fleet.status.get('d').state).to.equal('downloading');
    const s3 = session('d', 's3');
    on([s3.login(), s3.read('NEWPROG', 1), s3.start('NEWPROG', 1, 5000, 1200), s3.end('NEWPROG', 1, 5000, 3800, 'completed', 1200), s3.bye()]);
    expect(fleet.status.get('d').state).to.equal('downloaded');
    const s4 = session('d', 's4');
    on([s4.login(), s4.read('NEWPROG', 1), s4.bye()]);
    expect(fleet.status.get('d').state).to.equal('updated');
    const e1 = session('e', 'e1');
    on([e1.login(), e1.read('NO_FILE', 0), e1.bye()]);
    expect(fleet.status.get('e').state).to.equal('no-update');
    const sh = session('ota', 'x', 'shared');
    on([sh.login(), sh.read('OLDPROG', 1), sh.bye()]);
    fleet.flush();
    const reports = deviceReports(fleet.store);
    expect(reports.map((r) => `${r.login}:${r.state}`)).to.deep.equal(['d:updated', 'e:no-update']);
    expect(reports[0]).to.deep.include({ offered: { file: 'NEWPROG', version: 1 }, address: '10.0.0.7' });
    expect(reports[0]!.download).to.deep.equal({ file: 'NEWPROG', version: 1, outcome: 'completed', bytes: 5000 });
    expect(fleet.store.sessions('d').map((s) => s.sessionId)).to.deep.equal(['s4', 's3', 's2', 's1']);
    expect(fleet.store.sessions('ota')).to.deep.equal([]);
  });

  it('status: a failed read is failed; a download completed in the same session as the read is not yet updated', () => {
    addDevices(fleet.store, root, [{ login: 'f', password: 'p' }], ACTOR);
    fleet.refresh();
    const on = (evs: SessionEvent[]) => evs.forEach((e) => fleet.hooks().onEvent(e));
    const a = session('f', 'a');
    on([a.login(), a.read('NEWPROG', 1), a.start('NEWPROG', 1, 5000), a.end('NEWPROG', 1, 5000, 0, 'failed'), a.bye()]);
    expect(fleet.status.get('f').state).to.equal('failed');
    const b = session('f', 'b');
    on([b.login(), b.read('NEWPROG', 1), b.start('NEWPROG', 1, 5000), b.end('NEWPROG', 1, 5000, 5000, 'completed'), b.bye()]);
    expect(fleet.status.get('f').state).to.equal('downloaded');
  });

  it('keeps the last 100 sessions per device and writes a batch in one flush', () => {
    addDevices(fleet.store, root, [{ login: 'g', password: 'p' }], ACTOR);
    fleet.refresh();
    for (let i = 0; i < 130; i++) {
      const s = session('g', `s${i}`);
      for (const e of [s.login(), s.read('OLDPROG', 1), s.bye()]) fleet.hooks().onEvent(e);
    }
    const wrote = fleet.status.flush();
    expect(wrote).to.deep.equal({ rows: 1, sessions: 130 });
    const kept = fleet.store.sessions('g');
    expect(kept.length).to.equal(100);
    expect(kept[0]!.sessionId).to.equal('s129');
    expect(kept[99]!.sessionId).to.equal('s30');
  });
});
