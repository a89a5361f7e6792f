/**
 * The passive data channel (RFC 959 §4.1.2 PASV, RFC 2428 §3 EPSV and §4 EPSV ALL): the passive port pool releases a
 * port as soon as its data connection arrives, chooses ports at random (RFC 2577 §8), takes back ports from
 * listeners nobody connects to when the range runs out (docs/ftp-servers.md, fault 2); pasvUrl in the 227 reply
 * (fault 5); a data connection from another address gets no bytes and does not cost the device its session
 * (RFC 2577 §8); one PASV listener and one data connection per session however often PASV is sent; a data
 * connection reset on arrival fails RETR and LIST at once (425/426, RFC 959 §5.4); malformed PORT/EPRT/OPTS/REST/
 * EPSV arguments get one proper reply each. Active mode (PORT/EPRT) is tests/ftp/active-mode.spec.ts.
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import { enterPassiveModeIPv4 } from 'basic-ftp';
import net from 'node:net';
import {
  collector, connectClient, freeRangeOutsideEphemeral, MANIFEST, startServer, useServer, type TestRoot, type TestServer,
} from '../support/ftp-fixtures.ts';
import { canCountSockets, countHeld, waitForSockets } from '../support/open-sockets.ts';
import { collect, connectData, HOST, parsePasv, portArg, RawFtp } from '../support/raw-ftp.ts';
import { sleep, within } from '../support/wait.ts';

/** Well above every bound used below: a fault that waits for the passive timeout cannot pass by timing out. */
const LONG_PASSIVE_WAIT_MS = 120_000;

/** RETR PROGRAM over the connected data socket `data`: 150, 226, and the bytes must be PROGRAM's exactly. */
async function expectProgram(ftp: RawFtp, data: net.Socket, program: Buffer): Promise<void> {
  const got = collect(data);
  expect((await ftp.send('RETR PROGRAM')).code).to.equal(150);
  expect((await ftp.read()).code).to.equal(226);
  expect((await got).equals(program), 'PROGRAM byte-exact').to.equal(true);
}

describe('data channel: the passive port pool and pasvUrl', function () {
  let t: TestRoot;
  const { server, raw, track } = useServer({ each: true, server: false }, (f) => ({ t } = f));

  it('releases a passive port at accept: a 2-port range serves many transfers and many waiting PASVs fail cleanly (docs/ftp-servers.md, fault 2)', async () => {
    const base = await freeRangeOutsideEphemeral(2);
    const s = await server({ pasvMin: base, pasvMax: base + 1 });
    const c = await connectClient(s.port);
    track(c);
    c.prepareTransfer = enterPassiveModeIPv4;
    for (let i = 0; i < 12; i++) {
      const out = collector();
      await c.downloadTo(out, 'UPGRADE.TXT');
      expect(out.data().toString()).to.equal(MANIFEST);
    }
    // two sessions hold both ports with a PASV whose data connection has not arrived: the third gets 425
    const a = await raw(s.port);
    const b = await raw(s.port);
    const third = await raw(s.port);
    const pa = await a.cmd('PASV');
    const pb = await b.cmd('PASV');
    expect([pa.code, pb.code]).to.deep.equal([227, 227]);
    expect((await third.cmd('PASV')).code).to.equal(425);
    // a's data connection arrives: its port goes back to the pool at once
    const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pa.text)!;
    const data = net.connect(Number(m[5]) * 256 + Number(m[6]), '127.0.0.1');
    data.on('error', () => undefined);
    await new Promise((resolve) => data.once('connect', resolve));
    let got = 425;
    for (let i = 0; i < 50 && got !== 227; i++) {
      got = (await third.cmd('PASV')).code;
      if (got !== 227) await sleep(20);
    }
    expect(got).to.equal(227);
    data.destroy();
    // ABOR gives back the ports b and the third session hold; transfers work byte-exact again
    expect((await b.cmd('ABOR')).code).to.equal(225);
    expect((await third.cmd('ABOR')).code).to.equal(225);
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('puts pasvUrl (bare IP or function of the client IP) in the 227 reply (docs/ftp-servers.md, fault 5)', async () => {
    const seen: string[] = [];
    const s = await server({ pasvUrl: (ip) => (seen.push(ip), '127.0.0.1') });
    const r = await raw(s.port);
    expect((await r.cmd('PASV')).text).to.match(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)/);
    expect(seen).to.deep.equal(['127.0.0.1']);
    let err: Error | undefined;
    try {
      await startServer(t.root, { pasvUrl: 'ftp.example.com' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('pasvUrl');
  });
});

describe('data channel: PASV against hostile clients', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree, srv: ftpd } = f));

  const sockets: net.Socket[] = [];
  afterEach(() => { for (const s of sockets.splice(0)) s.destroy(); });

  describe('a data connection from another address (PASV hijack)', () => {
    it('gets no file bytes and is closed', async () => {
      const ftp = track(await RawFtp.login(ftpd.port)); // control from 127.0.0.1
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port } = parsePasv(await ftp.send('PASV'));
      // The hijacker connects first, from 127.0.0.2, then the device asks for the file.
      const thief = await connectData(host, port, '127.0.0.2').catch(() => undefined);
      if (thief) track(thief);
      const stolen = thief ? collect(thief) : Promise.resolve(Buffer.alloc(0));
      await ftp.write('RETR PROGRAM\r\n');
      const got = await within(15_000, 'hijacking data socket closed by the server', stolen);
      expect(got.length, 'bytes sent to a data connection from another address').to.equal(0);
    });

    it('does not cost the device its session: it still downloads byte-exact', async () => {
      const ftp = track(await RawFtp.login(ftpd.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port } = parsePasv(await ftp.send('PASV'));
      const thief = await connectData(host, port, '127.0.0.2').catch(() => undefined);
      if (thief) { track(thief); await within(15_000, 'thief closed', collect(thief)); }
      // Either the same PASV still takes the device's own connection, or the server failed that transfer and a
      // new PASV works: the control connection must survive (a stranger must not be able to end a device's session).
      let data: Buffer | undefined;
      const own = await connectData(host, port).catch(() => undefined);
      if (own) {
        track(own);
        const got = collect(own);
        const first = await ftp.send('RETR PROGRAM');
        if (first.code === 150 || first.code === 125) {
          const final = await ftp.read();
          const bytes = await got;
          if (final.code === 226) data = bytes;
        } else {
          own.destroy();
        }
      }
      if (!data) {
        expect(ftp.isClosed, 'the control connection was closed because a stranger touched the PASV port').to.equal(false);
        const r = await ftp.pasvTransfer('RETR PROGRAM');
        expect(r.first.code).to.equal(150);
        expect(r.final?.code).to.equal(226);
        data = r.data;
      }
      expect(data.equals(tree.files.PROGRAM), 'device download byte-exact').to.equal(true);
      expect((await ftp.send('NOOP')).code).to.equal(200);
    });
  });

  it('holds at most one PASV listener per connection however often PASV is sent', async function () {
    if (!canCountSockets()) this.skip();
    const listeners = (): number => countHeld((s) => s.state === 'LISTEN');
    const base = listeners();
    const ftp = track(await RawFtp.login(ftpd.port));
    for (let i = 0; i < 200; i++) {
      const r = await ftp.send(i % 2 ? 'PASV' : 'EPSV');
      expect(r.code, `PASV/EPSV #${i}: ${r.text}`).to.be.oneOf([227, 229]);
    }
    expect(await waitForSockets(listeners, base + 1, 5000), 'PASV listeners held').to.be.at.most(base + 1);
    await ftp.quit();
    expect(await waitForSockets(listeners, base), 'PASV listeners left after QUIT').to.equal(base);
  });

  it('holds at most one data connection per session when PASV is sent and connected 200 times without a transfer', async function () {
    if (!canCountSockets()) this.skip();
    const ftp = track(await RawFtp.login(ftpd.port));
    const base = countHeld();
    const dataPorts = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const r = await ftp.send('PASV');
      const { host, port } = parsePasv(r);
      dataPorts.add(port);
      const d = await connectData(host, port).catch(() => undefined);
      if (d) sockets.push(d);
    }
    // Server side: sockets whose local port is one of the PASV ports (listeners and accepted data connections).
    const serverData = (): number => countHeld((s) => dataPorts.has(s.localPort));
    expect(await waitForSockets(serverData, 1, 5000), 'server data sockets held by one idle session').to.be.at.most(1);
    expect((await ftp.send('NOOP')).code).to.equal(200);
    await ftp.quit();
    for (const d of sockets.splice(0)) d.destroy();
    // base counted this session's control connection twice (client and server side): both must be gone.
    expect(await waitForSockets(() => countHeld(), base - 2), 'sockets left after QUIT').to.be.at.most(base - 2);
  });
});

describe('data channel: passive faults and arguments', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile', extra: { passiveWaitMs: LONG_PASSIVE_WAIT_MS } }, (f) => ({ t: tree, srv: ftpd } = f));

  it('answers every malformed PORT/EPRT/OPTS/REST/EPSV argument with one proper reply, and the session carries on', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const cases: Array<[string, number]> = [
      ['PORT', 501], ['PORT -x', 501], ['PORT 127,0,0,1,256,0', 501], ['PORT 127,0,0,256,4,1', 501],
      ['PORT 127,0,0,1,4', 501], ['PORT 127,0,0,1,4,1,1', 501], ['PORT 1x7,0,0,1,4,1', 501], ['PORT 127,0,0,1,0,21', 501],
      ['PORT 127,0,0,1,0,0', 501], ['PORT  ,,,,,', 501],
      ['EPRT', 501], ['EPRT -x', 501], ['EPRT |1|127.0.0.1|65536|', 501], ['EPRT |1|127.0.0.1|', 501],
      ['EPRT |1|127.0.0.1|2000', 501], ['EPRT |1|::1|2000|', 501], ['EPRT |2|127.0.0.1|2000|', 501],
      ['EPRT |1|127.0.0.1|20x0|', 501], ['EPRT |3|127.0.0.1|2000|', 522], ['EPRT |9|::1|2000|', 522],
      ['OPTS', 501], ['OPTS -x', 501], ['OPTS FOO', 501],
      ['REST 1.5', 501], ['REST 12abc', 501], ['REST 0x10', 501],
      ['EPSV 3', 522], ['EPSV 2', 522], ['EPSV foo', 501],
    ];
    for (const [cmd, code] of cases) {
      const r = await ftp.send(cmd);
      expect(r.code, `${cmd}: ${r.code} ${r.text}`).to.equal(code);
      expect(r.text, `${cmd}: reply text`).to.not.equal('');
      expect((await ftp.send('NOOP')).code, `session alive after ${cmd}`).to.equal(200);
    }
    // A refused REST leaves no offset: the next RETR is the whole file.
    const data = await ftp.pasv();
    await expectProgram(ftp, data, tree.files.PROGRAM);
  });

  it('fails a RETR at once (425 or 426) when its data connection is reset on arrival, not after the passive timeout', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const { host, port } = parsePasv(await ftp.send('PASV'));
    await ftp.write('RETR PROGRAM\r\n'); // the server now waits for the data connection
    await sleep(200); // ordering: the RETR is read before the connection arrives
    const s = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    s.resetAndDestroy();
    const r = await within(20_000, 'RETR reply after the data connection was reset', ftp.readUntil([425, 426, 226]));
    expect(r?.code, r?.text).to.be.oneOf([425, 426]);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  it('LIST whose data connection was reset answers 426, not 226', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const data = await ftp.pasv();
    data.resetAndDestroy();
    await sleep(300); // ordering: the server sees the reset before LIST
    const first = await ftp.send('LIST');
    const final = first.code === 150 ? await ftp.read() : first;
    expect(final.code, `${first.code} ${final.code} ${final.text}`).to.be.oneOf([425, 426]);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  it('chooses passive ports at random from the range (RFC 2577 §8: no guessing a neighbour\'s next port)', async () => {
    const ranged = await startServer(tree.root, { pasvMin: 40000, pasvMax: 40999 });
    try {
      const ftp = track(await RawFtp.login(ranged.port));
      const ports: number[] = [];
      for (let i = 0; i < 20; i++) ports.push(parsePasv(await ftp.send('PASV')).port);
      for (const p of ports) expect(p).to.be.within(40000, 40999);
      const steps = ports.slice(1).map((p, i) => p - ports[i]!);
      // Sequential ports (a rotation through the range) step by 1 every time; 19 random steps of 1 have odds 1e-57.
      expect(steps.filter((d) => d === 1).length, `ports ${ports.join(',')}`).to.be.below(10);
      expect(new Set(ports).size, 'distinct ports').to.be.above(10);
    } finally {
      await ranged.close(1000);
    }
  });

  it('takes back ports from PASV listeners nobody connects to when the range runs out, so devices still get one', async function () {
    this.timeout(90_000);
    const PORTS = 6;
    // A range outside the kernel's ephemeral ports: inside it, a port held by some outgoing connection on the machine
    // gives EADDRINUSE on every try, and 425 for a hog for no fault of the server.
    const base = await freeRangeOutsideEphemeral(PORTS);
    const small = await startServer(tree.root, { pasvMin: base, pasvMax: base + PORTS - 1, passiveWaitMs: LONG_PASSIVE_WAIT_MS });
    try {
      // Sessions that open a passive port each and never connect to it hold the whole range.
      const hogs: RawFtp[] = [];
      for (let i = 0; i < PORTS; i++) {
        const h = track(await RawFtp.login(small.port));
        expect((await h.send('PASV')).code).to.equal(227);
        hogs.push(h);
      }
      await sleep(5_500); // past PASSIVE_RECLAIM_MS (5 s): ordering, not a timing assertion
      const device = track(await RawFtp.login(small.port));
      expect((await device.send('TYPE I')).code).to.equal(200);
      const r = await device.send('PASV');
      expect(r.code, `PASV with every port held by idle listeners: ${r.code} ${r.text}`).to.equal(227);
      const data = await connectData(HOST, parsePasv(r).port);
      await expectProgram(device, data, tree.files.PROGRAM);
      // One hog lost its listener: its RETR fails with 425 at once and its session carries on.
      const codes: number[] = [];
      for (const h of hogs) {
        await h.write('RETR PROGRAM\r\n');
        const reply = await within(20_000, 'RETR reply of a session whose port was taken back', h.readUntil([425], 1_000).catch(() => undefined));
        if (reply) codes.push(reply.code);
        h.destroy();
      }
      expect(codes, 'sessions whose idle listener was taken back').to.include(425);
    } finally {
      await small.close(1000);
    }
  });

  it('after EPSV ALL refuses PASV, PORT and EPRT (RFC 2428 §4) and still serves over EPSV', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    expect((await ftp.send('EPSV ALL')).code).to.equal(200);
    for (const cmd of ['PASV', `PORT ${portArg(40000)}`, 'EPRT |1|127.0.0.1|40000|']) {
      expect((await ftp.send(cmd)).code, cmd).to.equal(503);
    }
    const r = await ftp.send('EPSV 1');
    expect(r.code).to.equal(229);
    const port = Number(/\|\|\|(\d+)\|/.exec(r.text)![1]);
    const data = await connectData(HOST, port);
    await expectProgram(ftp, data, tree.files.PROGRAM);
  });
});
