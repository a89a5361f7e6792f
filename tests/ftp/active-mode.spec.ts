/**
 * The active data channel (RFC 959 §4.1.2 PORT, RFC 2428 §2 EPRT): downloads byte-exact over PORT and EPRT (the
 * IPv4-mapped form of the client's own address too), 425 when the connection cannot be made (RFC 959 §5.4),
 * PORT/EPRT to a foreign address refused before connecting (FTP bounce, RFC 2577 §3), and an EPRT crafted for
 * ftp-srv's `ip` regex (catastrophic backtracking) answered 501 at once. Unit tests of the PORT/EPRT grammar
 * are in tests/active-target.spec.ts.
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import net from 'node:net';
import { TMP_PREFIX, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { collect, type FtpReply, HOST, portArg, RawFtp } from '../support/raw-ftp.ts';
import { within } from '../support/wait.ts';

/** A listener on 127.0.0.1 for active mode: resolves with the bytes of the first connection to it. */
async function activeSink(): Promise<{ port: number; bytes: Promise<Buffer>; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const bytes = new Promise<Buffer>((resolve) => server.once('connection', (s) => resolve(collect(s))));
  return { port: (server.address() as net.AddressInfo).port, bytes, close: () => server.close() };
}

/** A reply to a bounce attempt must not carry an absolute server path either. */
function noPathIn(r: FtpReply): void {
  expect(r.lines.join('\n')).to.not.include(TMP_PREFIX);
}

describe('active mode: PORT and EPRT', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree, srv: ftpd } = f));

  it('answers an EPRT crafted for ftp-srv\'s `ip` regex (catastrophic backtracking) with 501 at once; other sessions go on', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const other = track(await RawFtp.login(ftpd.port));
    // ftp-srv handed this address to ip.isEqual(), whose IPv6 regex spent ~30 s of CPU on it, all sessions frozen.
    const crafted = `EPRT |2|${'111.111.111.111'.repeat(8)}!|2121|`;
    const r = await within(10_000, 'reply to the crafted EPRT', ftp.send(crafted));
    expect(r.code, r.text).to.equal(501);
    const [noop1, noop2] = await within(10_000, 'both sessions answer NOOP', Promise.all([ftp.send('NOOP'), other.send('NOOP')]));
    expect([noop1.code, noop2.code]).to.deep.equal([200, 200]);
  });

  it('downloads byte-exact over active mode, PORT and EPRT (also with the IPv4-mapped form of its own address)', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    expect((await ftp.send('TYPE I')).code).to.equal(200);
    for (const make of [(p: number) => `PORT ${portArg(p)}`, (p: number) => `EPRT |1|127.0.0.1|${p}|`, (p: number) => `EPRT !2!::FFFF:127.0.0.1!${p}!`]) {
      const sink = await activeSink();
      try {
        const cmd = make(sink.port);
        expect((await ftp.send(cmd)).code, cmd).to.equal(200);
        expect((await ftp.send('RETR PROGRAM')).code, `RETR after ${cmd}`).to.equal(150);
        expect((await ftp.read()).code).to.equal(226);
        expect((await sink.bytes).equals(tree.files.PROGRAM), `bytes after ${cmd}`).to.equal(true);
      } finally {
        sink.close();
      }
    }
  });

  it('answers 425 when the active data connection cannot be made, and the session carries on', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const sink = await activeSink();
    sink.close(); // nothing listens on that port any more: the connection is refused
    expect((await ftp.send(`PORT ${portArg(sink.port)}`)).code).to.equal(200);
    const r = await within(20_000, 'RETR reply', ftp.send('RETR PROGRAM'));
    expect(r.code, r.text).to.equal(425);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  it('refuses PORT/EPRT to a foreign address before connecting (FTP bounce), and the session carries on', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    // Never contacted: the reply code is the only evidence looked at (TEST-NET and private addresses).
    const BOUNCES = [
      'PORT 10,0,0,1,4,1', 'PORT 192,0,2,1,7,208', 'PORT 198,51,100,7,0,21', 'EPRT |1|192.0.2.1|2000|',
      'EPRT |1|10.0.0.1|25|', 'EPRT |2|2001:db8::1|2000|', 'EPRT |2|::ffff:192.0.2.1|2000|',
      'PORT 127,0,0,2,7,208', 'EPRT |1|127.0.0.2|2000|', // another loopback address is another host too
    ];
    for (const cmd of BOUNCES) {
      const r = await ftp.send(cmd);
      expect([500, 501, 504], `${cmd}: ${r.code} ${r.text}`).to.include(r.code);
      noPathIn(r);
      expect((await ftp.send('NOOP')).code, `session alive after ${cmd}`).to.equal(200);
    }
    // A RETR after the refused PORT has no data connection to use: it must fail, not connect anywhere.
    const r = await ftp.send('RETR PROGRAM', 15_000);
    expect(r.code, `RETR after refused PORT: ${r.code} ${r.text}`).to.be.at.least(400);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });
});
