// The fleet routes of the operator API against a running firmdrop (FTP + HTTP, fleet on): session and CSRF on every
// route, device logins as `devices --json` reports them, rollouts with the CLI's rules and messages (start, expand,
// pause, resume, abort, complete), the offers a device login then reads (over FTP, or the HTTP mirror when the FTP
// layer refuses device logins), the audit trail, the live event stream, and --no-fleet.
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { deviceReports } from '../server/fleet/devices.ts';
import { MAX_STREAMS } from '../server/http/events.ts';
import { Store } from '../server/store/store.ts';
import { type Session, call, expectStatus, login } from './support/api-client.ts';
import { type HttpRig, basic, deviceManifest, startHttpRig } from './support/http-rig.ts';

interface Report { rollout: null | { name: string; version: number; state: string; cohorts: string[]; waves: number[] | null; advanceAt: number | null; reason: string | null }; rootOffer: string; waves: { wave: number; devices: number; states: Record<string, number> }[] }

async function publish(rig: HttpRig, name: string, bytes: Buffer, offer: boolean): Promise<void> {
  const src = path.join(rig.root, `.src-${name}`);
  await fsp.writeFile(src, bytes);
  await rig.app.publisher.importBinary(src, { name, offer });
  await fsp.rm(src, { force: true });
}

describe('HTTP operator API: fleet routes (rollouts, devices, audit, events)', function () {
  this.timeout(60_000);
  let rig: HttpRig;
  let s: Session;
  const vias = new Set<string>();
  const offerOf = async (login: string) => {
    const r = await deviceManifest(rig, login, `pw-${login}`);
    vias.add(r.via);
    return r.text.split('\n')[0];
  };

  before(async () => {
    rig = await startHttpRig();
    await publish(rig, 'OLDPROG', Buffer.alloc(3000, 1), true);
    await publish(rig, 'NEWPROG', Buffer.alloc(5000, 2), false);
    s = (await login(rig.base)).session!;
  });
  after(async () => {
    if (vias.size) console.log(`    device offers were read over: ${[...vias].join(', ')}`);
    await rig?.close();
  });

  const changes: [string, string, unknown?][] = [
    ['POST', '/api/rollout/start', { name: 'NEWPROG', cohorts: ['test'] }], ['POST', '/api/rollout/expand', { percent: 50 }],
    ['POST', '/api/rollout/pause'], ['POST', '/api/rollout/resume'], ['POST', '/api/rollout/abort'], ['POST', '/api/rollout/complete'],
    ['POST', '/api/devices', { login: 'x1', password: 'pw', cohort: 'test' }], ['DELETE', '/api/devices/x1'],
  ];

  it('needs the session on every fleet route (401) and the CSRF token on every change (403), changing nothing', async () => {
    for (const url of ['/api/rollout', '/api/devices', '/api/audit', '/api/events']) {
      expect((await call(rig.base, undefined, 'GET', url)).status, url).to.equal(401);
    }
    for (const [method, url, body] of changes) {
      expect((await call(rig.base, undefined, method, url, body)).status, url).to.equal(401);
      const res = await call(rig.base, s, method, url, body, null);
      expect(res.status, url).to.equal(403);
      expect((await res.json() as { error: string }).error).to.match(/CSRF/);
      expect((await call(rig.base, s, method, url, body, 'x'.repeat(43))).status, url).to.equal(403);
    }
    expect((await expectStatus<Report>(call(rig.base, s, 'GET', '/api/rollout'), 200)).rollout).to.equal(null);
    expect((await expectStatus<{ devices: unknown[] }>(call(rig.base, s, 'GET', '/api/devices'), 200)).devices).to.deep.equal([]);
  });

  it('adds device logins and lists them exactly as `devices --json` does; bad input is 400, an unknown login 404', async () => {
    for (const [l, cohort] of [['t1', 'test'], ['t2', 'test'], ['s1', 'stable'], ['s2', null]] as const) {
      const r = await expectStatus<{ device: { login: string; state: string } }>(call(rig.base, s, 'POST', '/api/devices', { login: l, password: `pw-${l}`, cohort }), 201);
      expect(r.device).to.deep.include({ login: l, state: 'never-seen' });
    }
    const list = await expectStatus<{ devices: unknown[] }>(call(rig.base, s, 'GET', '/api/devices'), 200);
    const store = new Store(rig.root);
    try {
      expect(list.devices).to.deep.equal(deviceReports(store));
    } finally {
      store.close();
    }
    expect(list.devices).to.have.length(4);
    let e = await expectStatus<{ error: string }>(call(rig.base, s, 'POST', '/api/devices', { login: 'has space', password: 'p' }), 400);
    expect(e.error).to.match(/login "has space": expected 1 to 64 printable characters/);
    e = await expectStatus(call(rig.base, s, 'POST', '/api/devices', { login: 'ok1', password: 'p', cohort: 'bad cohort!' }), 400);
    expect(e.error).to.match(/cohort "bad cohort!"/);
    e = await expectStatus(call(rig.base, s, 'DELETE', '/api/devices/nobody'), 404);
    expect(e.error).to.equal('no device login nobody');
    await expectStatus(call(rig.base, s, 'POST', '/api/devices', { login: 'gone1', password: 'p' }), 201);
    await expectStatus(call(rig.base, s, 'DELETE', '/api/devices/gone1'), 204);
    expect((await expectStatus<{ devices: { login: string }[] }>(call(rig.base, s, 'GET', '/api/devices'), 200)).devices.map((d) => d.login)).not.to.include('gone1');
  });

  it('refuses rollout starts the CLI refuses, with its messages (409 rules, 400 values), starting nothing', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ name: 'NEWPROG' }, 409, /needs --cohort, --percent or --waves/],
      [{ name: 'NOSUCH1', cohorts: ['test'] }, 409, /NOSUCH1: not published/],
      [{ name: 'NEWPROG', version: 9, cohorts: ['test'] }, 409, /NEWPROG v9: not published/],
      [{ name: 'NEWPROG', percent: 10, advanceAt: 90 }, 409, /--advance-at needs --waves/],
      [{ name: 'NEWPROG', cohorts: ['test'], window: '25:00-01:00' }, 400, /expected HH:MM-HH:MM/],
      [{ name: 'NEWPROG', waves: '50%,20%' }, 400, /each wave must reach more devices/],
      [{ name: 'NEWPROG', waves: '5%,25%' }, 400, /the last wave must be 100%/],
      [{ name: 'NEWPROG', percent: 0 }, 400, /percent "0": expected a percent above 0/],
      [{ name: 'TOOLONGNAME', cohorts: ['test'] }, 400, /name/],
      [{ name: 'NEWPROG', cohorts: ['test'], maxFailures: 0 }, 400, /maxFailures/],
    ];
    for (const [body, status, message] of cases) {
      const e = await expectStatus<{ error: string }>(call(rig.base, s, 'POST', '/api/rollout/start', body), status);
      expect(e.error, JSON.stringify(body)).to.match(message);
      expect(e.error).not.to.include('\n');
    }
    expect((await expectStatus<Report>(call(rig.base, s, 'GET', '/api/rollout'), 200)).rollout).to.equal(null);
  });

  it('starts a rollout on a cohort: its devices read the release, the others the previous offer; pause/resume/expand follow the rules; abort restores the offer', async () => {
    expect(await offerOf('t1')).to.equal('FILE:OLDPROG');
    let r = await expectStatus<Report>(call(rig.base, s, 'POST', '/api/rollout/start', { name: 'NEWPROG', cohorts: ['test'], maxFailures: 3 }), 200);
    expect(r.rollout).to.deep.include({ name: 'NEWPROG', version: 1, state: 'active', cohorts: ['test'] });
    expect(r.rootOffer).to.equal('OLDPROG v1');
    expect(r.waves).to.have.length(1);
    expect(r.waves[0]!.devices).to.equal(2);
    expect(await offerOf('t1')).to.equal('FILE:NEWPROG');
    expect(await offerOf('t2')).to.equal('FILE:NEWPROG');
    expect(await offerOf('s1')).to.equal('FILE:OLDPROG');
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:OLDPROG\n/); // shared login: the root's

    let e = await expectStatus<{ error: string }>(call(rig.base, s, 'POST', '/api/rollout/start', { name: 'OLDPROG', percent: 10 }), 409);
    expect(e.error).to.match(/rollout of NEWPROG v1 is active: complete or abort it first/);
    e = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/expand', {}), 409);
    expect(e.error).to.match(/rollout expand needs --percent P or --cohort C/);
    r = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/pause'), 200);
    expect(r.rollout).to.deep.include({ state: 'paused', reason: 'paused by the operator' });
    expect(await offerOf('t1')).to.equal('FILE:OLDPROG'); // not downloaded: back to the previous offer while paused
    e = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/pause'), 409);
    expect(e.error).to.match(/already paused/);
    r = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/resume'), 200);
    expect(r.rollout!.state).to.equal('active');
    e = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/resume'), 409);
    expect(e.error).to.match(/is active, not paused/);
    r = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/expand', { cohorts: ['stable'] }), 200);
    expect(r.rollout!.cohorts).to.deep.equal(['test', 'stable']);
    expect(await offerOf('s1')).to.equal('FILE:NEWPROG');

    r = await expectStatus(call(rig.base, s, 'POST', '/api/rollout/abort'), 200);
    expect(r.rollout).to.deep.include({ state: 'aborted', reason: 'aborted by the operator' });
    for (const l of ['t1', 't2', 's1', 's2']) expect(await offerOf(l), l).to.equal('FILE:OLDPROG');
    for (const u of ['/api/rollout/pause', '/api/rollout/resume', '/api/rollout/abort', '/api/rollout/complete']) {
      e = await expectStatus(call(rig.base, s, 'POST', u), 409);
      expect(e.error, u).to.match(/no rollout in progress/);
    }
    const audit = await expectStatus<{ entries: { actor: string; action: string; offerAfter: string }[] }>(call(rig.base, s, 'GET', '/api/audit'), 200);
    const mine = audit.entries.filter((x) => x.action.startsWith('rollout-'));
    expect(mine.map((x) => x.action)).to.deep.equal(['rollout-start', 'rollout-pause', 'rollout-resume', 'rollout-expand', 'rollout-abort']);
    expect(new Set(mine.map((x) => x.actor))).to.deep.equal(new Set(['web-operator@127.0.0.1']));
    expect(mine[0]!.offerAfter).to.match(/rollout NEWPROG v1 to cohort test \+ 0% \(active\)/);
  });

  it('starts a rollout in waves and completes it: the root UPGRADE.TXT then names the release', async () => {
    const r = await expectStatus<Report>(call(rig.base, s, 'POST', '/api/rollout/start', { name: 'NEWPROG', waves: '50%,100%', advanceAt: '90%', window: '00:00-23:59', maxFailureRate: 20 }), 200);
    expect(r.rollout).to.deep.include({ state: 'active', waves: [50, 100], advanceAt: 0.9 });
    const done = await expectStatus<Report>(call(rig.base, s, 'POST', '/api/rollout/complete'), 200);
    expect(done.rollout!.state).to.equal('completed');
    expect(done.rootOffer).to.equal('NEWPROG v1');
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:NEWPROG\n/);
    expect(await offerOf('s2')).to.equal('FILE:NEWPROG');
  });

  it('lists the audit trail since a time and limited to the newest entries; a bad time is 400', async () => {
    const all = await expectStatus<{ entries: { id: number; at: string }[] }>(call(rig.base, s, 'GET', '/api/audit'), 200);
    expect(all.entries.length).to.be.greaterThan(8);
    const last2 = await expectStatus<{ entries: { id: number }[] }>(call(rig.base, s, 'GET', '/api/audit?limit=2'), 200);
    expect(last2.entries).to.deep.equal(all.entries.slice(-2));
    const since = all.entries[all.entries.length - 3]!.at;
    const recent = await expectStatus<{ entries: { at: string }[] }>(call(rig.base, s, 'GET', `/api/audit?since=${encodeURIComponent(since)}`), 200);
    expect(recent.entries.every((x) => x.at >= since)).to.equal(true);
    expect(recent.entries.length).to.be.within(3, all.entries.length);
    expect((await expectStatus<{ entries: unknown[] }>(call(rig.base, s, 'GET', '/api/audit?since=2999-01-01T00:00:00Z'), 200)).entries).to.deep.equal([]);
    const e = await expectStatus<{ error: string }>(call(rig.base, s, 'GET', '/api/audit?since=yesterday'), 400);
    expect(e.error).to.match(/since "yesterday": expected an ISO 8601 time/);
  });

  it('streams device changes as server-sent events while a device reads the mirror, and ends the stream at logout', async () => {
    const t = (await login(rig.base)).session!;
    const ctl = new AbortController();
    const res = await fetch(`${rig.base}/api/events`, { headers: { cookie: t.cookie }, signal: ctl.signal });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!re.test(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      return re.test(text);
    };
    expect(await readUntil(/event: hello/)).to.equal(true);
    const got = await fetch(`${rig.base}/ota/NEWPROG`, { headers: { authorization: basic('t1', 'pw-t1') } });
    expect((await got.arrayBuffer()).byteLength).to.equal(5000);
    expect(await readUntil(/event: device\ndata: .*"login":"t1".*"state":"downloaded"/)).to.equal(true);
    const line = text.split('\n').find((l) => l.startsWith('data: ') && l.includes('"downloaded"'))!;
    const ev = JSON.parse(line.slice(6)) as { device: { download: { bytes: number; outcome: string } }; progress: { bytes: number; size: number } };
    expect(ev.device.download).to.deep.include({ bytes: 5000, outcome: 'completed' });
    expect(ev.progress).to.deep.equal({ bytes: 5000, size: 5000 });
    await expectStatus(call(rig.base, t, 'POST', '/api/logout'), 204);
    const deadline = Date.now() + 10_000;
    let ended = false;
    while (!ended && Date.now() < deadline) ended = (await reader.read()).done;
    expect(ended).to.equal(true);
    ctl.abort();
  });

  it('holds at most MAX_STREAMS event streams: one more is 503 with a message, and a closed one frees its place', async () => {
    const ctl = new AbortController();
    const open = async () => fetch(`${rig.base}/api/events`, { headers: { cookie: s.cookie }, signal: ctl.signal });
    try {
      const streams: Response[] = [];
      for (let i = 0; i < MAX_STREAMS; i++) streams.push(await open());
      expect(streams.every((r) => r.status === 200)).to.equal(true);
      const over = await open();
      expect(over.status).to.equal(503);
      expect((await over.json() as { error: string }).error).to.match(/too many live views open \(50\)/);
      await streams[0]!.body!.cancel();
      let again: Response | undefined;
      for (let i = 0; i < 50 && again?.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        again = await open();
        if (again.status !== 200) await again.text();
      }
      expect(again!.status).to.equal(200);
    } finally {
      ctl.abort();
    }
  });

  it('lists the fleet routes in the OpenAPI document', async () => {
    const doc = await (await fetch(`${rig.base}/api/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
    for (const p of ['/api/rollout', '/api/rollout/start', '/api/rollout/expand', '/api/rollout/pause', '/api/rollout/resume',
      '/api/rollout/abort', '/api/rollout/complete', '/api/devices', '/api/devices/{login}', '/api/audit', '/api/events']) {
      expect(doc.paths, p).to.have.property(p);
    }
    expect(doc.paths['/api/rollout/start']!.post).to.have.nested.property('requestBody.content');
  });

  describe('with --no-fleet', () => {
    let plain: HttpRig;
    let p: Session;
    before(async () => {
      plain = await startHttpRig({ fleet: false });
      p = (await login(plain.base)).session!;
    });
    after(async () => plain?.close());

    it('answers the fleet routes 404 (reads) and 409 (changes) saying the fleet is off; the session says fleet false', async () => {
      expect((await expectStatus<{ fleet: boolean }>(call(plain.base, p, 'GET', '/api/session'), 200)).fleet).to.equal(false);
      for (const url of ['/api/rollout', '/api/devices', '/api/audit', '/api/events']) {
        const e = await expectStatus<{ error: string }>(call(plain.base, p, 'GET', url), 404);
        expect(e.error, url).to.match(/the fleet is off .*--no-fleet/);
      }
      for (const [method, url, body] of changes) {
        const e = await expectStatus<{ error: string }>(call(plain.base, p, method, url, body), 409);
        expect(e.error, url).to.match(/the fleet is off .*--no-fleet/);
      }
    });
  });
});
