/**
 * Brute force across reconnects, on a real server: the per-address LoginThrottle
 * (server/login-throttle.ts) wired into PASS in server/ftp.ts. A guesser that reconnects after every closed
 * connection keeps its count; another address starts from scratch; the right password from the guessing address
 * still logs in at once (carrier NAT: a fleet shares one address) and does not wipe the count.
 *
 * No timing assertions: the delay each failure was given is read from the server's `login-refused` log lines
 * (`failures`, `delayMs`), which are what the server then waits.
 */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startFtp, type FtpHandle, MAX_LOGIN_FAILURES } from '../server/ftp/server.ts';
import { createLogger } from '../server/log.ts';
import { RawFtp } from './support/raw-ftp.ts';

const USER = 'ota';
const PASS = 'libelium';

describe('ftp: login brute force is slowed per address, across connections', function () {
  this.timeout(30_000);
  let root: string;
  let ftpd: FtpHandle;
  const refused: Array<{ failures: number; delayMs: number }> = [];
  const open: RawFtp[] = [];

  before(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-throttle-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line.trim()) continue;
          const rec = JSON.parse(line) as { event?: string; failures: number; delayMs: number };
          if (rec.event === 'login-refused') refused.push({ failures: rec.failures, delayMs: rec.delayMs });
        }
        done();
      },
    });
    ftpd = await startFtp({
      root, host: '127.0.0.1', port: 0, pasvUrl: '127.0.0.1', users: [{ user: USER, pass: PASS }],
      loginThrottle: { freeFailures: 2, baseDelayMs: 20, maxDelayMs: 160 },
    }, createLogger({ level: 'info', destination: sink }));
  });
  after(async () => {
    for (const f of open) f.destroy();
    await ftpd?.close(1000);
    await fsp.rm(root, { recursive: true, force: true });
  });

  async function connect(localAddress = '127.0.0.1'): Promise<RawFtp> {
    const { ftp, greeting } = await RawFtp.connect('127.0.0.1', ftpd.port, { localAddress });
    expect(greeting.code).to.equal(220);
    open.push(ftp);
    return ftp;
  }

  /** Bad passwords on one connection until the server closes it; returns the 530 count. */
  async function guessUntilClosed(ftp: RawFtp): Promise<number> {
    let failures = 0;
    for (let i = 0; i < MAX_LOGIN_FAILURES + 2; i++) {
      const u = await ftp.send(`USER ${USER}`, 10_000).catch(() => undefined);
      if (!u || u.code === 421) break;
      const r = await ftp.send(`PASS wrong-${i}`, 10_000).catch(() => undefined);
      if (!r || r.code === 421) break;
      expect(r.code, `${r.code} ${r.text}`).to.equal(530);
      failures++;
    }
    return failures;
  }

  it('keeps counting when the guesser reconnects; another address starts from the first delay', async () => {
    let guessed = 0;
    for (let c = 0; c < 2; c++) guessed += await guessUntilClosed(await connect());
    expect(guessed).to.equal(2 * MAX_LOGIN_FAILURES);
    // 2 free failures at 20 ms, then doubling, capped at 160 ms; the count runs across the two connections
    expect(refused.map((r) => r.failures)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(refused.map((r) => r.delayMs)).to.deep.equal([20, 20, 40, 80, 160, 160]);

    const other = await connect('127.0.0.2');
    expect((await other.send(`USER ${USER}`)).code).to.equal(331);
    expect((await other.send('PASS nope')).code).to.equal(530);
    expect(refused.at(-1)).to.deep.equal({ failures: 1, delayMs: 20 });
  });

  it('lets the right password in from the guessing address, without wiping its count', async () => {
    const device = await connect();
    expect((await device.send(`USER ${USER}`)).code).to.equal(331);
    expect((await device.send(`PASS ${PASS}`)).code).to.equal(230);
    const guesser = await connect();
    expect((await guesser.send(`USER ${USER}`)).code).to.equal(331);
    expect((await guesser.send('PASS again')).code).to.equal(530);
    expect(refused.at(-1)).to.deep.equal({ failures: 7, delayMs: 160 });
  });

  it('keeps a password as sent, double quotes and spaces included', async () => {
    const quoted = await startFtp({
      root, host: '127.0.0.1', port: 0, users: [{ user: 'dev', pass: 'a "quoted"  pass' }],
    }, createLogger({ level: 'silent' }));
    try {
      const { ftp } = await RawFtp.connect('127.0.0.1', quoted.port);
      open.push(ftp);
      expect((await ftp.send('USER dev')).code).to.equal(331);
      expect((await ftp.send('PASS a "quoted"  pass')).code).to.equal(230);
    } finally {
      await quoted.close(1000);
    }
  });
});
