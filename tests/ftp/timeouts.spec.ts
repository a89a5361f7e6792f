/**
 * Timeouts of the control connection (docs/ftp-servers.md, fault 3): a connection idle between commands is closed
 * with 421 (RFC 959 §5.4); idleness counts from the last complete command, so a line trickled byte by byte that
 * never ends is closed (slowloris); a transfer that keeps moving is never cut, however long it runs; a connection
 * that does not log in within loginTimeoutMs is closed with 421 while a logged-in one stays.
 *
 * No timing assertions: timeouts are short (0.3–1 s) and the assertions are on what happened.
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startServer, USER, useServer, type TestRoot } from '../support/ftp-fixtures.ts';
import { HOST, RawFtp } from '../support/raw-ftp.ts';
import { sleep, within } from '../support/wait.ts';

describe('timeouts: idle connections and moving transfers', function () {
  let t: TestRoot;
  const { server, raw } = useServer({ each: true, server: false }, (f) => ({ t } = f));

  it('closes a connection idle between commands, with 421 (docs/ftp-servers.md, fault 3)', async () => {
    const s = await server({ idleTimeoutMs: 300 });
    const r = await raw(s.port);
    const reply = await r.reply(10_000);
    expect(reply.code).to.equal(421);
    await r.waitClosed();
    const until = Date.now() + 5000;
    while (!s.logs.some((l) => l.event === 'logout') && Date.now() < until) await sleep(20);
    expect(s.logs.find((l) => l.event === 'logout')?.reason).to.equal('idle timeout');
  });

  it('measures idleness from the last complete command: a line trickled byte by byte that never ends is closed (docs/ftp-servers.md, fault 3)', async () => {
    const s = await server({ idleTimeoutMs: 300 });
    const r = await raw(s.port);
    for (let i = 0; i < 100 && !r.isClosed; i++) {
      r.write('N');
      await sleep(50);
    }
    expect(r.isClosed).to.equal(true);
    expect(r.transcript).to.contain('421 ');
  });

  it('never cuts a transfer that keeps moving, even one far longer than the idle timeout (docs/ftp-servers.md, fault 3)', async () => {
    const big = Buffer.alloc(24 * 1024 * 1024, 7);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    // Progress is seen when the kernel takes more bytes; on loopback that comes in steps of up to ~0.3 s.
    const s = await server({ idleTimeoutMs: 1000 });
    const r = await raw(s.port);
    const data = await r.pasv();
    let received = 0;
    const done = new Promise<void>((resolve) => data.once('close', () => resolve()));
    // read slowly for the first half (about 2 s: twice the idle timeout), then at full speed
    data.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < big.length / 2) {
        data.pause();
        setTimeout(() => data.resume(), 10);
      }
    });
    expect((await r.cmd('RETR BIGFILE')).code).to.equal(150);
    await done;
    expect(received).to.equal(big.length);
    expect((await r.reply()).code).to.equal(226);
    expect((await r.cmd('NOOP')).code).to.equal(200);
  });
});

describe('timeouts: slowloris and the login timeout', function () {
  this.timeout(60_000);
  let tree: TestRoot;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree } = f));

  it('closes a connection that trickles bytes but never completes a command (slowloris), once idle', async () => {
    // Own server with a short idle timeout: idleness is time without a complete command, not without a byte.
    const own = await startServer(tree.root, { idleTimeoutMs: 1000 });
    try {
      const { ftp } = await RawFtp.connect(HOST, own.port);
      track(ftp);
      const TRICKLE = 60; // bytes, one per 250 ms: 15 s, far beyond the 1 s idle timeout
      for (let i = 0; i < TRICKLE && !ftp.isClosed; i++) {
        await ftp.write('A');
        await sleep(250);
      }
      expect(ftp.isClosed, `still open after ${TRICKLE} bytes without a line end (idle timeout is 1 s)`).to.equal(true);
      const last = ftp.history.at(-1);
      if (last) expect(last.code, `last reply ${last.code} ${last.text}`).to.be.oneOf([421, 500]);
      // Devices that do send commands are not affected.
      expect((await RawFtp.download(own.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    } finally {
      await own.close(0);
    }
  });

  it('closes a connection that does not log in within loginTimeoutMs with 421; a logged-in one stays', async () => {
    const quick = await startServer(tree.root, { loginTimeoutMs: 1000 });
    try {
      const { ftp: idle } = await RawFtp.connect(HOST, quick.port);
      track(idle);
      expect((await idle.send(`USER ${USER}`)).code).to.equal(331); // a command is not a login
      const r = await within(20_000, '421 login timeout', idle.readUntil([421]));
      expect(r?.code).to.equal(421);
      const user = track(await RawFtp.login(quick.port));
      await sleep(1500); // past the login timeout: ordering, not a timing assertion
      expect((await user.send('NOOP')).code).to.equal(200);
    } finally {
      await quick.close(1000);
    }
  });
});
