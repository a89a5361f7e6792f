/**
 * The FTP layer's extension points (server/ftp/hooks.ts) through real clients on loopback: a login decided by
 * `authenticate` (RFC 959 §4.1.1 USER/PASS), a per-login UPGRADE.TXT from `offerFor` (and the binary it pins) seen
 * through SIZE, RETR, LIST, MDTM and MLST (RFC 959 §4.1.3, RFC 3659), the order of session events for a full, a
 * REST-resumed and a cut-short RETR (RFC 3659 §5), stats(), and a server that keeps serving when onEvent throws.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FtpHooks, OfferedManifest, SessionEvent, SessionIdentity } from '../../server/ftp/hooks.ts';
import { snapshotPath } from '../../server/snapshots/reader.ts';
import { collector, connectClient, makeRoot, MANIFEST, startServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { RawFtp } from '../support/raw-ftp.ts';
import { sleep } from '../support/wait.ts';

const PROGRAM = 'PROG001';

/** Waits (bounded) until `events` holds an event of `type` for `sessionId`. */
async function eventually(events: SessionEvent[], type: SessionEvent['type'], count = 1): Promise<void> {
  const until = Date.now() + 10_000;
  while (events.filter((e) => e.type === type).length < count && Date.now() < until) await sleep(10);
}

describe('ftp hooks: authenticate and offerFor', function () {
  let t: TestRoot;
  let srv: TestServer;
  const v1 = randomBytes(3000);
  const v2 = randomBytes(5000);
  const offered = Buffer.from(`FILE:${PROGRAM}\nPATH:/\nSIZE:${v2.length}\nVERSION:2\n`);
  const logins: string[] = [];
  const hooks: FtpHooks = {
    authenticate(user, pass) {
      logins.push(user);
      if (user === 'dev1' && pass === 'pw1') return { login: 'dev1', kind: 'device' };
      if (user === 'dev2' && pass === 'pw2') return { login: 'dev2', kind: 'device' };
      return null;
    },
    offerFor(identity: SessionIdentity): OfferedManifest | undefined {
      return identity.login === 'dev1' ? { bytes: offered, file: PROGRAM, version: 2 } : undefined;
    },
  };

  before(async () => {
    t = await makeRoot();
    // The live file is v1; published snapshots of v1 and v2 exist; the root's UPGRADE.TXT names v1.
    await fs.writeFile(path.join(t.root, PROGRAM), v1);
    for (const [v, bytes] of [[1, v1], [2, v2]] as const) {
      const file = snapshotPath(t.root, PROGRAM, v);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, bytes);
    }
    await fs.writeFile(path.join(t.root, 'UPGRADE.TXT'), `FILE:${PROGRAM}\nPATH:/\nSIZE:${v1.length}\nVERSION:1\n`);
    srv = await startServer(t.root, { hooks });
  });
  after(async () => {
    await srv?.close(500);
    await t?.cleanup();
  });

  it('replaces the configured accounts: the hook decides, `ota` is refused when the hook says no', async () => {
    const c = await connectClient(srv.port, 'dev1', 'pw1');
    c.close();
    let code: number | undefined;
    try {
      await connectClient(srv.port); // ota / libelium: configured, but the hook refuses it
    } catch (err) {
      code = (err as { code?: number }).code;
    }
    expect(code).to.equal(530);
    expect(logins).to.include.members(['dev1', 'ota']);
  });

  it('serves each login its own UPGRADE.TXT (SIZE, RETR, LIST, MDTM, MLST) and the binary it names', async () => {
    const c = await connectClient(srv.port, 'dev1', 'pw1');
    try {
      expect(await c.size('UPGRADE.TXT')).to.equal(offered.length);
      const m = collector();
      await c.downloadTo(m, 'UPGRADE.TXT');
      expect(m.data().equals(offered)).to.equal(true);
      const listed = (await c.list('/')).find((f) => f.name === 'UPGRADE.TXT');
      expect(listed?.size).to.equal(offered.length);
      expect((await c.send('MDTM UPGRADE.TXT')).code).to.equal(213);
      expect((await c.send('MLST UPGRADE.TXT')).message).to.contain(`size=${offered.length};`);
      // the binary its manifest named: snapshot v2, not the live file (v1)
      expect(await c.size(PROGRAM)).to.equal(v2.length);
      const b = collector();
      await c.downloadTo(b, PROGRAM);
      expect(b.data().equals(v2)).to.equal(true);
    } finally {
      c.close();
    }
    // Another login without an offer, from the same address within the grace period, is served what that address
    // last read (v2), as a device that reads UPGRADE.TXT and the binary in two sessions must be...
    const d = await connectClient(srv.port, 'dev2', 'pw2');
    try {
      expect(await d.size(PROGRAM)).to.equal(v2.length);
      // ...until it reads its own UPGRADE.TXT (the root's, naming v1): that pins v1 for this session and address.
      const m = collector();
      await d.downloadTo(m, 'UPGRADE.TXT');
      expect(m.data().toString()).to.contain('VERSION:1');
      expect(await d.size(PROGRAM)).to.equal(v1.length);
    } finally {
      d.close();
    }
  });
});

describe('ftp hooks: session events and stats', function () {
  let t: TestRoot;
  let srv: TestServer;
  let events: SessionEvent[];
  const big = randomBytes(24 * 1024 * 1024);

  beforeEach(async () => {
    t = await makeRoot();
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    events = [];
    srv = await startServer(t.root, { hooks: { onEvent: (e) => events.push(e) } });
  });
  afterEach(async () => {
    await srv?.close(500);
    await t?.cleanup();
  });

  it('orders connect, login, manifest-read, disconnect for a full RETR of UPGRADE.TXT (fetch events are for binaries only)', async () => {
    const r = await RawFtp.login(srv.port);
    const { data, final: last } = await r.pasvTransfer('RETR UPGRADE.TXT');
    expect(data.toString()).to.equal(MANIFEST);
    expect(last?.code).to.equal(226);
    await r.cmd('QUIT');
    await eventually(events, 'disconnect');
    expect(events.map((e) => e.type)).to.deep.equal(['connect', 'login', 'manifest-read', 'disconnect']);
    expect(events.find((e) => e.type === 'manifest-read')).to.include({ file: 'ABCDEFG', version: 3 });
    expect(new Set(events.map((e) => e.sessionId)).size).to.equal(1);
  });

  it('tells a REST-resumed RETR by its offset, and counts only the bytes sent', async () => {
    const r = await RawFtp.login(srv.port);
    expect((await r.cmd('REST 1000')).code).to.equal(350);
    const { data } = await r.pasvTransfer('RETR ABCDEFG');
    expect(data.equals(t.binary.subarray(1000))).to.equal(true);
    r.close();
    await eventually(events, 'disconnect');
    expect(events.map((e) => e.type)).to.deep.equal(['connect', 'login', 'fetch-start', 'fetch-end', 'disconnect']);
    expect(events[2]).to.include({ name: 'ABCDEFG', offset: 1000, size: t.binary.length });
    expect(events[3]).to.include({ offset: 1000, bytes: t.binary.length - 1000, outcome: 'completed' });
  });

  it('ends a RETR cut short by the client leaving (fetch-end before disconnect); stats() counts it while it runs', async () => {
    const r = await RawFtp.login(srv.port);
    const data = await r.pasv();
    data.pause(); // never read: the transfer stalls once the socket buffers are full
    expect((await r.cmd('RETR BIGFILE')).code).to.equal(150);
    await eventually(events, 'fetch-start');
    const during = srv.ftp.stats();
    expect(during).to.deep.equal({ activeSessions: 1, passivePortsInUse: 0, activeTransfers: 1 });
    r.close();
    data.destroy();
    await eventually(events, 'disconnect');
    expect(events.map((e) => e.type)).to.deep.equal(['connect', 'login', 'fetch-start', 'fetch-end', 'disconnect']);
    const end = events[3] as Extract<SessionEvent, { type: 'fetch-end' }>;
    expect(end.outcome).to.equal('cut-short');
    expect(end.bytes).to.be.below(big.length);
    const until = Date.now() + 5000;
    while (srv.ftp.stats().activeSessions > 0 && Date.now() < until) await sleep(10);
    expect(srv.ftp.stats()).to.deep.equal({ activeSessions: 0, passivePortsInUse: 0, activeTransfers: 0 });
  });

  it('logs the session from the same events (one fetch and one fetch-end line per RETR)', async () => {
    const r = await RawFtp.login(srv.port);
    await r.pasvTransfer('RETR ABCDEFG');
    await r.cmd('QUIT');
    await eventually(events, 'disconnect');
    const lines = srv.logs.filter((l) => ['login', 'fetch', 'fetch-end', 'logout'].includes(String(l.event)));
    expect(lines.map((l) => l.event)).to.deep.equal(['login', 'fetch', 'fetch-end', 'logout']);
    expect(lines[2]).to.include({ file: '/ABCDEFG', outcome: 'completed', bytes: t.binary.length });
  });

  it('keeps serving when onEvent throws', async () => {
    await srv.close(500);
    srv = await startServer(t.root, { hooks: { onEvent: () => { throw new Error('observer bug'); } } });
    const r = await RawFtp.login(srv.port);
    const { data } = await r.pasvTransfer('RETR UPGRADE.TXT');
    expect(data.toString()).to.equal(MANIFEST);
    r.close();
  });
});
