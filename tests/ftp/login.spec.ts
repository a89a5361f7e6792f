/**
 * Logging in (RFC 959 §4.1.1 USER, PASS; §5.4 530 and 421 replies): a bad password or user gets 530 and the same
 * connection can still log in; a connection is closed with 421 after MAX_LOGIN_FAILURES failed logins; anonymous
 * logins (RFC 1635) only when enabled; password guessing on one connection is stopped; across connections the
 * per-address LoginThrottle (server/login-throttle.ts) delays each failure, keeps counting when the guesser
 * reconnects, starts from scratch for another address, and lets the right password in at once (carrier NAT puts a
 * fleet behind one address). A password is kept as sent, quotes and spaces included.
 *
 * No timing assertions: the delay each failure was given is read from the server's `login-refused` log lines
 * (`failures`, `delayMs`), which are what the server then waits.
 */
import { expect } from 'chai';
import { MAX_LOGIN_FAILURES } from '../../server/ftp/server.ts';
import {
  collector, connectClient, ftpErrorCode, MANIFEST, PASS, startServer, USER, useServer, type TestRoot, type TestServer,
} from '../support/ftp-fixtures.ts';
import { HOST, RawFtp } from '../support/raw-ftp.ts';

describe('login: USER/PASS, failed logins, anonymous', function () {
  let t: TestRoot, srv: TestServer;
  const { raw } = useServer({ each: true }, (f) => ({ t, srv } = f));

  it('answers a bad login with 530 and accepts a correct one on the same connection', async () => {
    expect(await ftpErrorCode(connectClient(srv.port, USER, 'wrong'))).to.equal(530);
    expect(await ftpErrorCode(connectClient(srv.port, 'nobody', PASS))).to.equal(530);
    const r = await raw(false);
    await r.cmd(`USER ${USER}`);
    expect((await r.cmd('PASS nope')).code).to.equal(530);
    expect((await r.cmd('SIZE UPGRADE.TXT')).code).to.equal(530);
    expect((await r.cmd(`USER ${USER}`)).code).to.equal(331);
    expect((await r.cmd(`PASS ${PASS}`)).code).to.equal(230);
    expect((await r.cmd('SIZE UPGRADE.TXT')).code).to.equal(213);
  });

  it(`closes a connection after ${MAX_LOGIN_FAILURES} failed logins`, async () => {
    const r = await raw(false);
    const codes: number[] = [];
    for (let i = 0; i < MAX_LOGIN_FAILURES; i++) {
      await r.cmd(`USER ${USER}`);
      codes.push((await r.cmd(`PASS bad${i}`)).code);
    }
    expect(codes).to.deep.equal(Array(MAX_LOGIN_FAILURES).fill(530));
    expect((await r.reply()).code).to.equal(421);
    await r.waitClosed();
  });

  it('refuses anonymous logins unless enabled', async () => {
    expect(await ftpErrorCode(connectClient(srv.port, 'anonymous', 'guest@'))).to.equal(530);
    expect(await ftpErrorCode(connectClient(srv.port, 'ftp', 'x'))).to.equal(530);
    const anon = await startServer(t.root, { anonymous: true });
    try {
      for (const user of ['anonymous', 'ftp', 'Anonymous']) {
        const c = await connectClient(anon.port, user, 'device@example.com');
        const out = collector();
        await c.downloadTo(out, 'UPGRADE.TXT');
        expect(out.data().toString()).to.equal(MANIFEST);
        c.close();
      }
      expect(await ftpErrorCode(connectClient(anon.port, USER, 'wrong'))).to.equal(530);
    } finally {
      await anon.close(500);
    }
  });
});

describe('login: password guessing on one connection', function () {
  this.timeout(60_000);
  let ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ srv: ftpd } = f));

  it('slows down password guessing: the connection is closed (or 421) after at most 10 bad passwords', async function () {
    this.timeout(180_000); // a server may delay each failure: bounded by the attempt count, not by time
    const MAX_BAD_LOGINS = 10;
    const ATTEMPTS = 40;
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    track(ftp);
    let failures = 0;
    let stopped = false;
    expect((await ftp.send(`USER ${USER}`)).code).to.equal(331);
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await ftp.send(`PASS wrong-${i}`, 30_000).catch(() => undefined); // undefined: closed
      if (!r || r.code === 421) { stopped = true; break; }
      if (r.code === 503) { // the server wants USER again after a failure
        const u = await ftp.send(`USER ${USER}`, 30_000).catch(() => undefined);
        if (!u || u.code === 421) { stopped = true; break; }
        continue;
      }
      expect(r.code, `bad password reply ${r.code} ${r.text}`).to.equal(530);
      failures++;
    }
    if (!stopped) stopped = ftp.isClosed;
    expect(stopped, `${failures} bad passwords in a row and the server still listens`).to.equal(true);
    expect(failures).to.be.at.most(MAX_BAD_LOGINS);
    // No lockout of the address itself (carrier NAT puts a fleet behind one IP): the right password still works.
    const ok = track((await RawFtp.connect(HOST, ftpd.port)).ftp);
    expect((await ok.send(`USER ${USER}`, 30_000)).code).to.equal(331);
    expect((await ok.send(`PASS ${PASS}`, 30_000)).code).to.equal(230);
  });
});

describe('login: brute force is slowed per address, across connections', function () {
  this.timeout(30_000);
  const fx = useServer({ extra: { loginThrottle: { freeFailures: 2, baseDelayMs: 20, maxDelayMs: 160 } } });
  const { track } = fx;
  /** The `login-refused` log lines so far: the failure count and the delay the server gave it. */
  const refused = (): Array<{ failures: unknown; delayMs: unknown }> =>
    fx.srv.logs.filter((l) => l.event === 'login-refused').map((l) => ({ failures: l.failures, delayMs: l.delayMs }));

  async function connect(localAddress = '127.0.0.1'): Promise<RawFtp> {
    const { ftp, greeting } = await RawFtp.connect(HOST, fx.srv.port, { localAddress });
    expect(greeting.code).to.equal(220);
    return track(ftp);
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
    expect(refused().map((r) => r.failures)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(refused().map((r) => r.delayMs)).to.deep.equal([20, 20, 40, 80, 160, 160]);

    const other = await connect('127.0.0.2');
    expect((await other.send(`USER ${USER}`)).code).to.equal(331);
    expect((await other.send('PASS nope')).code).to.equal(530);
    expect(refused().at(-1)).to.deep.equal({ failures: 1, delayMs: 20 });
  });

  it('lets the right password in from the guessing address, without wiping its count', async () => {
    const device = await connect();
    expect((await device.send(`USER ${USER}`)).code).to.equal(331);
    expect((await device.send(`PASS ${PASS}`)).code).to.equal(230);
    const guesser = await connect();
    expect((await guesser.send(`USER ${USER}`)).code).to.equal(331);
    expect((await guesser.send('PASS again')).code).to.equal(530);
    expect(refused().at(-1)).to.deep.equal({ failures: 7, delayMs: 160 });
  });

  it('keeps a password as sent, double quotes and spaces included', async () => {
    const quoted = await startServer(fx.t.root, { users: [{ user: 'dev', pass: 'a "quoted"  pass' }] });
    try {
      const { ftp } = await RawFtp.connect('127.0.0.1', quoted.port);
      track(ftp);
      expect((await ftp.send('USER dev')).code).to.equal(331);
      expect((await ftp.send('PASS a "quoted"  pass')).code).to.equal(230);
    } finally {
      await quoted.close(1000);
    }
  });
});
