/**
 * The fleet end to end: `startFirmdrop` on a temp root with the fleet and metrics on, real FTP clients (basic-ftp,
 * and a raw socket client that cuts a download short), operator changes made through a second store connection as
 * the CLI makes them. Twenty devices with their own logins in two cohorts:
 *  - a test-cohort rollout reaches exactly that cohort; a device outside it never reads the new FILE;
 *  - a device that downloads and then only reads UPGRADE.TXT becomes `updated`; one cut short is `downloading`;
 *  - `expand --percent 50` reaches the cohort plus the stable half given by the login hash;
 *  - `--max-failures` pauses the rollout whose downloads are cut; paused, only the device that completed keeps it;
 *  - `abort` restores the previous offer everywhere; `complete` rewrites the root's UPGRADE.TXT;
 *  - `/metrics` and the audit reflect it; the shared login `ota` keeps working.
 * Needs the FTP layer that calls FtpOptions.hooks (server/ftp/hooks.ts).
 */
import { expect } from 'chai';
import { Client } from 'basic-ftp';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { type Firmdrop, startFirmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { parseManifest } from '../server/manifest.ts';
import { Publisher } from '../server/publisher.ts';
import { Store } from '../server/store/store.ts';
import { cliPublisherHooks } from '../server/cli/fleet-common.ts';
import { addDevices, deviceReports } from '../server/fleet/devices.ts';
import {
  abortRollout, completeRollout, expandRollout, resumeRollout, startRollout,
} from '../server/fleet/rollouts.ts';
import { bucketOf } from '../server/fleet/select.ts';

const ACTOR = 'operator@e2e';
const BIG = 12 * 1024 * 1024; // more than loopback's socket buffers hold (tcp_wmem + tcp_rmem), so a cut is a cut
const LOGINS = Array.from({ length: 20 }, (_, i) => `dev${String(i).padStart(2, '0')}`);
const COHORT_TEST = LOGINS.slice(0, 5);
const PASSWORD = (login: string) => `pw-${login}`;

/** Polls `fn` every 100 ms until it returns true (bounded: `ms`); false otherwise. A throw counts as false. */
async function eventually(fn: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await Promise.resolve().then(fn).catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function session<T>(port: number, user: string, pass: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client(10_000);
  try {
    await c.access({ host: '127.0.0.1', port, user, password: pass });
    return await fn(c);
  } finally {
    c.close();
  }
}

async function fetchFile(c: Client, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await c.downloadTo(new Writable({ write(d: Buffer, _e, cb) { chunks.push(d); cb(); } }), name);
  return Buffer.concat(chunks);
}

/** The FILE a login reads in UPGRADE.TXT (one session). */
const fileOf = async (port: number, login: string, pass = PASSWORD(login)) =>
  parseManifest((await session(port, login, pass, (c) => fetchFile(c, 'UPGRADE.TXT'))).toString('latin1')).file;

/** Starts a RETR of `name` over a raw connection that never reads, then drops both connections. */
async function cutShort(port: number, login: string, name: string): Promise<void> {
  const ctl = net.connect(port, '127.0.0.1');
  let buf = '';
  const waiters: Array<() => void> = [];
  ctl.setEncoding('latin1').on('data', (d: string) => { buf += d; waiters.splice(0).forEach((w) => w()); });
  ctl.on('error', () => undefined);
  const reply = async (code: RegExp): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = /^(\d{3}) .*\r\n/m.exec(buf);
      if (m) {
        buf = buf.slice(m.index + m[0].length);
        if (!code.test(m[1]!)) throw new Error(`unexpected reply ${m[0].trim()}`);
        return m[0];
      }
      if (Date.now() > deadline) throw new Error(`no reply (wanted ${code})`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
    }
  };
  await reply(/^220$/);
  ctl.write(`USER ${login}\r\n`);
  await reply(/^331$/);
  ctl.write(`PASS ${PASSWORD(login)}\r\n`);
  await reply(/^230$/);
  ctl.write('TYPE I\r\n');
  await reply(/^200$/);
  ctl.write('PASV\r\n');
  const p = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(await reply(/^227$/))!;
  const data = net.connect(Number(p[5]) * 256 + Number(p[6]), '127.0.0.1');
  data.on('error', () => undefined);
  data.pause(); // never read: the transfer stalls once the socket buffers are full, well before BIG bytes
  ctl.write(`RETR ${name}\r\n`);
  await reply(/^150$/);
  await new Promise((r) => setTimeout(r, 50));
  data.destroy();
  ctl.destroy();
}

describe('fleet end to end (real FTP clients, needs the FTP layer with hooks)', function () {
  this.timeout(120_000);
  let base: string;
  let root: string;
  let app: Firmdrop | undefined;
  let store: Store | undefined;

  before(async () => {
    base = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-fleet-e2e-'));
    root = path.join(base, 'root');
    await fsp.mkdir(root);
    const pub = new Publisher({ root, fleet: cliPublisherHooks(root) });
    await fsp.writeFile(path.join(base, 'OLDPROG'), randomBytes(BIG));
    await pub.importBinary(path.join(base, 'OLDPROG'));
    await fsp.writeFile(path.join(base, 'NEWPROG'), randomBytes(BIG));
    await pub.importBinary(path.join(base, 'NEWPROG'), { offer: false });
  });
  after(async () => {
    store?.close();
    await app?.close();
    await fsp.rm(base, { recursive: true, force: true });
  });

  it('rolls NEWPROG out to a cohort, a stable half, pauses on failures, aborts, completes', async () => {
    const config = loadConfig({ root, host: '127.0.0.1', port: '0', 'metrics-port': '0', 'stability-ms': '100' }, {});
    app = await startFirmdrop(config, createLogger({ level: 'silent' }));
    const port = app.ftp.port;
    store = new Store(root);
    addDevices(store, root, LOGINS.map((login, i) => ({ login, password: PASSWORD(login), cohort: i < 5 ? 'test' : 'field' })), ACTOR);
    await startRollout(store, root, { name: 'NEWPROG', cohorts: ['test'], maxFailures: 3 }, ACTOR);
    expect(await eventually(async () => (await fileOf(port, 'dev00')) === 'NEWPROG'), 'the CLI change reaches the served offer').to.equal(true);

    for (const login of LOGINS) expect(await fileOf(port, login), login).to.equal(COHORT_TEST.includes(login) ? 'NEWPROG' : 'OLDPROG');
    expect(await fileOf(port, 'ota', 'libelium'), 'shared login').to.equal('OLDPROG');
    expect(await session(port, 'dev00', 'wrong', async () => 'in').catch(() => 'refused')).to.equal('refused');

    const bytes = await session(port, 'dev00', PASSWORD('dev00'), (c) => fetchFile(c, 'NEWPROG'));
    expect(bytes.equals(await fsp.readFile(path.join(base, 'NEWPROG')))).to.equal(true);
    expect(await fileOf(port, 'dev00')).to.equal('NEWPROG');
    await cutShort(port, 'dev01', 'NEWPROG');
    const stateOf = (login: string) => deviceReports(store!).find((d) => d.login === login)?.state;
    expect(await eventually(() => stateOf('dev00') === 'updated'), `dev00 is ${stateOf('dev00')}`).to.equal(true);
    expect(await eventually(() => stateOf('dev01') === 'downloading'), `dev01 is ${stateOf('dev01')}`).to.equal(true);

    expandRollout(store, root, { percent: 50 }, ACTOR);
    const half = LOGINS.filter((l) => COHORT_TEST.includes(l) || bucketOf(l) < 5000);
    expect(await eventually(async () => (await fileOf(port, half[half.length - 1]!)) === 'NEWPROG')).to.equal(true);
    for (const login of LOGINS) expect(await fileOf(port, login), login).to.equal(half.includes(login) ? 'NEWPROG' : 'OLDPROG');

    await cutShort(port, 'dev02', 'NEWPROG');
    await cutShort(port, 'dev03', 'NEWPROG');
    expect(await eventually(() => store!.currentRollout()?.state === 'paused'), 'auto-pause').to.equal(true);
    expect(store.currentRollout()!.reason).to.match(/error budget spent: 3 downloads/);
    expect(await eventually(async () => (await fileOf(port, 'dev04')) === 'OLDPROG')).to.equal(true);
    expect(await fileOf(port, 'dev00'), 'completed before the pause: keeps it').to.equal('NEWPROG');

    const metrics = await (await fetch(`http://127.0.0.1:${app.fleet.metricsServer!.port}/metrics`)).text();
    expect(metrics).to.include('firmdrop_downloads_total{program="NEWPROG",version="1",outcome="completed"} 1');
    expect(metrics).to.include('firmdrop_downloads_total{program="NEWPROG",version="1",outcome="cut-short"} 3');
    expect(metrics).to.include('firmdrop_rollout_state{program="NEWPROG",version="1",state="paused"} 1');
    expect(metrics).to.include('firmdrop_devices{state="updated"} 1');
    expect(metrics).to.match(/firmdrop_logins_refused_total [1-9]/);

    resumeRollout(store, root, ACTOR);
    abortRollout(store, root, ACTOR);
    expect(await eventually(async () => (await fileOf(port, 'dev00')) === 'OLDPROG')).to.equal(true);
    for (const login of LOGINS) expect(await fileOf(port, login), login).to.equal('OLDPROG');

    await startRollout(store, root, { name: 'NEWPROG', percent: 10 }, ACTOR);
    await completeRollout(store, root, new Publisher({ root, fleet: cliPublisherHooks(root) }), ACTOR);
    expect(parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).file).to.equal('NEWPROG');
    expect(await fileOf(port, 'ota', 'libelium')).to.equal('NEWPROG');
    expect(await fileOf(port, 'dev19')).to.equal('NEWPROG');

    const actions = store.audit().map((a) => `${a.actor} ${a.action}`);
    for (const want of [`${ACTOR} rollout-start`, `${ACTOR} rollout-expand`, 'server rollout-failures', `${ACTOR} rollout-resume`,
      `${ACTOR} rollout-abort`, `${ACTOR} rollout-complete`]) expect(actions).to.include(want);
    const paused = store.audit().find((a) => a.action === 'rollout-failures' && /paused: error budget/.test(a.offerAfter ?? ''));
    expect(paused, 'the automatic pause is in the audit').to.not.equal(undefined);
    const select = store.audit().filter((a) => a.action === 'select').pop();
    expect(select?.offerAfter).to.match(/^root NEWPROG v1; /);
  });
});
