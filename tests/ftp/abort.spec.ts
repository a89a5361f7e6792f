/**
 * Ending transfers early: ABOR during a RETR, plain and after Telnet IP/DM (RFC 959 §4.1.3 ABOR, §5.4: 426 then
 * 226; RFC 854 IP and DM), and while a RETR waits for its data connection; clients vanishing at every stage of a
 * session, mid-transfer included (the fetch is logged as cut short, no socket is left open; docs/ftp-servers.md,
 * faults 8 and 9); close(deadline) letting a transfer finish, destroying one that does not, ending a client that never
 * reads, and leaving nothing that keeps the process alive (fault 7).
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collector, connectClient, PASS, startServer, USER, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { canCountSockets, controlSockets, countHeld, waitForSockets } from '../support/open-sockets.ts';
import { connectData, HOST, parsePasv, RawFtp } from '../support/raw-ftp.ts';
import { sleep, within } from '../support/wait.ts';

/** Size of BIGFILE: large enough that a client that stops reading leaves the server blocked (loopback buffers hold a few MB). */
const BIG = 32 * 1024 * 1024;
/** Well above every bound used below: a fault that waits for the passive timeout cannot pass by timing out. */
const LONG_PASSIVE_WAIT_MS = 120_000;

/** Resolves once `n` bytes came on `sock`, then pauses it (the listener is removed); resolves with the count. */
function readAtLeast(sock: net.Socket, n: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got >= n) { sock.off('data', onData); sock.pause(); resolve(got); }
    };
    sock.on('data', onData);
  });
}

describe('abort: ABOR and clients vanishing mid-transfer', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile', bigBytes: BIG, extra: { passiveWaitMs: LONG_PASSIVE_WAIT_MS } }, (f) => ({ t: tree, srv: ftpd } = f));

  for (const [label, abor] of [['ABOR', 'ABOR\r\n'], ['ABOR after Telnet IP/DM (as Python ftplib sends it)', '\xff\xf4\xff\xf2ABOR\r\n']] as const) {
    it(`${label} during a RETR stops the transfer, replies, and the session carries on`, async () => {
      const ftp = track(await RawFtp.login(ftpd.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const data = await ftp.pasv();
      track(data);
      const firstChunk = readAtLeast(data, 64 * 1024);
      const dataClosed = new Promise<void>((resolve) => data.once('close', () => resolve()));
      expect((await ftp.send('RETR BIGFILE')).code).to.equal(150);
      let received = await within(15_000, 'first 64 KiB', firstChunk);
      // The device stops reading (server blocked on a full socket) and aborts.
      await ftp.write(abor);
      const r = await ftp.readUntil([225, 226, 426, 451], 10_000);
      data.on('data', (c: Buffer) => { received += c.length; });
      data.resume();
      expect(r, 'no reply to ABOR while the transfer was in progress').to.not.equal(undefined);
      await within(15_000, 'data connection closed after ABOR', dataClosed);
      expect(received, 'the whole file was sent despite ABOR').to.be.below(BIG);
      // Any remaining reply of the ABOR exchange (426 then 226), then the session answers.
      while (await ftp.readOrEnd(300)) { /* 226 after 426 */ }
      expect((await ftp.send('NOOP')).code).to.equal(200);
    });
  }

  it('ABOR while RETR waits for its data connection: 426 for the RETR, then 226, at once', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    parsePasv(await ftp.send('PASV'));
    await ftp.write('RETR PROGRAM\r\n');
    await sleep(200);
    await ftp.write('ABOR\r\n');
    const first = await within(20_000, 'reply to the waiting RETR', ftp.read());
    const second = await within(20_000, 'reply to ABOR', ftp.read());
    expect([first.code, second.code]).to.deep.equal([426, 226]);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  it('recovers from clients vanishing at every stage, mid-transfer included; no socket is left open', async () => {
    const allBase = canCountSockets() ? countHeld() : 0;
    const stages = ['greeting', 'user', 'pasv', 'data-open', 'mid-retr-both', 'mid-retr-data-only', 'mid-retr-control-only'] as const;
    const aliveAfterDataLoss: RawFtp[] = [];
    for (const stage of stages) {
      const { ftp } = await RawFtp.connect(HOST, ftpd.port);
      track(ftp);
      if (stage === 'greeting') { ftp.destroy(); continue; }
      await ftp.send(`USER ${USER}`);
      if (stage === 'user') { ftp.destroy(); continue; }
      await ftp.send(`PASS ${PASS}`);
      await ftp.send('TYPE I');
      const { host, port } = parsePasv(await ftp.send('PASV'));
      if (stage === 'pasv') { ftp.destroy(); continue; }
      const data = await connectData(host, port);
      track(data);
      if (stage === 'data-open') { data.destroy(); ftp.destroy(); continue; }
      expect((await ftp.send('RETR BIGFILE')).code).to.equal(150);
      const first = await within(15_000, 'first 64 KiB', readAtLeast(data, 64 * 1024));
      if (stage === 'mid-retr-both') { data.destroy(); ftp.destroy(); continue; }
      if (stage === 'mid-retr-data-only') {
        data.destroy();
        const r = await ftp.readUntil([226, 421, 425, 426, 450, 451, 550, 551], 15_000);
        expect(r, 'a reply after the data connection vanished mid-RETR').to.not.equal(undefined);
        aliveAfterDataLoss.push(ftp);
        continue;
      }
      // control only: the server must stop sending and close the data connection
      let rest = 0;
      const closed = new Promise<void>((resolve) => data.once('close', () => resolve()));
      ftp.destroy();
      await sleep(1000); // let the server see the control connection go (ordering, not a timing assertion)
      data.on('data', (c: Buffer) => { rest += c.length; });
      data.resume();
      await within(15_000, 'data connection closed after its control connection vanished', closed);
      expect(first + rest, 'the whole file was sent to a session that had gone').to.be.below(BIG);
    }
    for (const ftp of aliveAfterDataLoss) expect((await ftp.send('NOOP')).code, 'session alive after losing its data connection').to.equal(200);
    for (const ftp of aliveAfterDataLoss) ftp.destroy();
    expect((await RawFtp.download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    if (canCountSockets()) {
      expect(await waitForSockets(() => controlSockets(ftpd.port), 0), 'server control sockets left open').to.equal(0);
      expect(await waitForSockets(() => countHeld(), allBase), 'TCP sockets left open (data connections, PASV listeners)').to.equal(allBase);
    }
  });

  it('ends a client that never reads its data connection when closed with a deadline', async () => {
    // Own server: this test closes it.
    const own = await startServer(tree.root);
    try {
      const ftp = track(await RawFtp.login(own.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port: dataPort } = parsePasv(await ftp.send('PASV'));
      const data = await connectData(host, dataPort);
      track(data);
      data.pause(); // never read: the server fills the socket and blocks
      expect((await ftp.send('RETR BIGFILE')).code).to.equal(150);
      await sleep(300);
      // The stalled device blocks nobody else.
      expect((await RawFtp.download(own.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
      await within(20_000, 'close(1000) with a stalled client', own.close(1000));
      if (canCountSockets()) {
        const serverSide = (): number => countHeld((s) => s.localPort === own.port || s.localPort === dataPort);
        expect(await waitForSockets(serverSide, 0), 'server sockets still open after close()').to.equal(0);
      }
    } finally {
      await own.close(0).catch(() => undefined);
    }
  });
});

describe('abort: close(deadline) and a client vanishing', function () {
  let t: TestRoot;
  const { server, raw, track } = useServer({ each: true, server: false }, (f) => ({ t } = f));

  it('keeps serving when a client vanishes mid-transfer, and logs the fetch as cut short', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 1);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await server();
    const r = await raw(s.port);
    const data = await r.pasv();
    const firstBytes = new Promise((resolve) => data.once('data', resolve));
    expect((await r.cmd('RETR BIGFILE')).code).to.equal(150);
    await firstBytes;
    data.destroy();
    r.close();
    const until = Date.now() + 10_000;
    while (!s.logs.some((l) => l.event === 'fetch-end') && Date.now() < until) await sleep(20);
    const end = s.logs.find((l) => l.event === 'fetch-end')!;
    expect(end.outcome).to.equal('cut short');
    expect(end.bytes as number).to.be.below(big.length);
    const c = await connectClient(s.port);
    track(c);
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('close(deadline) lets a transfer in progress finish, refuses new connections, tells idle clients 421 (docs/ftp-servers.md, fault 7)', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 3);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await startServer(t.root);
    const idle = await raw(s.port);
    const r = await raw(s.port);
    const data = await r.pasv();
    let received = 0;
    data.on('data', (chunk: Buffer) => {
      received += chunk.length;
      data.pause();
      setTimeout(() => data.resume(), 2);
    });
    const dataClosed = new Promise((resolve) => data.once('close', resolve));
    expect((await r.cmd('RETR BIGFILE')).code).to.equal(150);
    await new Promise((resolve) => data.once('data', resolve));
    const closing = s.close(20_000);
    expect((await idle.reply()).code).to.equal(421);
    let refused = false;
    try {
      const late = await RawFtp.connect(s.port, { greeting: false });
      track(late);
      await late.reply(2000);
    } catch {
      refused = true;
    }
    expect(refused).to.equal(true);
    await dataClosed;
    expect(received).to.equal(big.length);
    expect((await r.reply()).code).to.equal(226);
    await closing;
  });

  it('close(deadline) destroys a transfer that does not finish in time (docs/ftp-servers.md, fault 7)', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 5);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await startServer(t.root);
    const r = await raw(s.port);
    const data = await r.pasv();
    data.pause(); // a client that never reads
    expect((await r.cmd('RETR BIGFILE')).code).to.equal(150);
    const dataClosed = new Promise((resolve) => data.once('close', resolve));
    data.resume();
    data.once('data', () => data.pause());
    await s.close(300);
    await r.waitClosed();
    data.resume();
    await dataClosed;
  });

  it('leaves nothing that keeps the process alive after close() (docs/ftp-servers.md, fault 7)', async function () {
    this.timeout(30_000);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const script = `
      import { startFtp } from ${JSON.stringify(path.join(here, '..', '..', 'server', 'ftp', 'server.ts'))};
      import { createLogger } from ${JSON.stringify(path.join(here, '..', '..', 'server', 'log.ts'))};
      import { Client } from 'basic-ftp';
      import { Writable } from 'node:stream';
      const ftp = await startFtp({ root: ${JSON.stringify(t.root)}, host: '127.0.0.1', port: 0, users: [{ user: 'u', pass: 'p' }] }, createLogger({ level: 'silent' }));
      const c = new Client();
      await c.access({ host: '127.0.0.1', port: ftp.port, user: 'u', password: 'p' });
      await c.downloadTo(new Writable({ write(_c, _e, cb) { cb(); } }), 'ABCDEFG');
      await c.send('PASV');
      const idle = new Client();
      await idle.access({ host: '127.0.0.1', port: ftp.port, user: 'u', password: 'p' });
      await ftp.close(1000);
      c.close(); idle.close();
      console.log('closed');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.join(here, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, out).to.equal(0);
    expect(out).to.contain('closed');
  });
});
