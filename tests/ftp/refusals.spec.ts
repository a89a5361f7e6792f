/**
 * The server is read-only: every write command (RFC 959 §4.1.3 STOR, STOU, APPE, DELE, RNFR/RNTO, MKD, RMD, SITE)
 * gets 550 and leaves the root unchanged; HELP (RFC 959 §4.1.3) lists no refused command; PBSZ/PROT without TLS
 * are errors (RFC 4217 §8, §9). Refused commands leave a log line (a write command, a symlink out of the root, a
 * hidden path), bounded per session, and the session's end line counts them all.
 */
import { expect } from 'chai';
import { Readable } from 'node:stream';
import { MAX_REFUSALS_LOGGED } from '../../server/log.ts';
import { ftpErrorCode, snapshot, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { type FtpReply, RawFtp } from '../support/raw-ftp.ts';

describe('refusals: write commands on the read-only server', function () {
  let t: TestRoot;
  const { client, raw } = useServer({ each: true }, (f) => ({ t } = f));

  it('refuses every write command with 550 and leaves the root unchanged', async () => {
    const before = await snapshot(t.root);
    const c = await client();
    expect(await ftpErrorCode(c.uploadFrom(Readable.from([Buffer.from('evil')]), 'EVIL123'))).to.equal(550);
    expect(await ftpErrorCode(c.uploadFrom(Readable.from([Buffer.from('evil')]), 'UPGRADE.TXT'))).to.equal(550);
    expect(await ftpErrorCode(c.appendFrom(Readable.from([Buffer.from('evil')]), 'UPGRADE.TXT'))).to.equal(550);
    expect(await ftpErrorCode(c.remove('ABCDEFG'))).to.equal(550);
    expect(await ftpErrorCode(c.rename('ABCDEFG', 'HIJKLMN'))).to.equal(550);
    expect(await ftpErrorCode(c.send('MKD newdir'))).to.equal(550);
    expect(await ftpErrorCode(c.send('RMD ota'))).to.equal(550);
    const r = await raw();
    for (const cmd of ['STOR X', 'APPE UPGRADE.TXT', 'STOU', 'DELE UPGRADE.TXT', 'RNFR ABCDEFG', 'RNTO X', 'MKD d', 'XMKD d', 'RMD ota', 'XRMD ota', 'SITE CHMOD 777 ABCDEFG']) {
      const reply = await r.cmd(cmd);
      expect(reply.code, cmd).to.equal(550);
      expect(reply.text, cmd).to.contain('Permission denied');
    }
    expect(await snapshot(t.root)).to.deep.equal(before);
  });
});

describe('refusals: HELP and PBSZ/PROT without TLS', function () {
  let ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ srv: ftpd } = f));

  it('answers PBSZ/PROT without TLS with an error, not 202; HELP lists no refused write command', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    for (const cmd of ['PBSZ 0', 'PROT P']) expect((await ftp.send(cmd)).code, cmd).to.be.oneOf([502, 503]);
    const help: FtpReply = await ftp.send('HELP');
    expect(help.code).to.equal(214);
    const words = help.lines.join(' ').split(/\s+/);
    expect(words).to.include.members(['RETR', 'SIZE', 'PASV', 'EPSV', 'REST', 'QUIT']);
    expect(words).to.not.include.members(['STOR']);
    for (const w of ['STOR', 'DELE', 'MKD', 'RNFR', 'SITE', 'APPE']) expect(words, w).to.not.include(w);
    expect((await ftp.send('HELP STOR')).code).to.equal(502);
    expect((await ftp.send('HELP RETR')).code).to.equal(214);
  });
});

describe('refusals: refused commands are logged', function () {
  this.timeout(20_000);
  let srv: TestServer;
  useServer({ each: true }, (f) => ({ srv } = f));

  const refusals = () => srv.logs.filter((l) => l.event === 'refused');

  it('logs a write command, a symlink out of the root and a hidden path, each with its reason', async () => {
    const r = await RawFtp.login(srv.port);
    expect((await r.cmd('STOR EVIL')).code).to.equal(550);
    expect((await r.cmd('SIZE LINKOUT')).code).to.equal(550);
    expect((await r.cmd('SIZE .firmdrop/releases.json')).code).to.equal(550);
    expect((await r.cmd('SIZE ABCDEFG')).code).to.equal(213);
    expect((await r.cmd('SIZE NOSUCHF')).code).to.equal(550); // a plain missing file: no line
    await r.cmd('QUIT');
    const seen = refusals().map((l) => [l.command, l.arg, l.reason]);
    expect(seen).to.deep.equal([
      ['STOR', 'EVIL', 'read-only server'],
      ['SIZE', 'LINKOUT', 'outside the root'],
      ['SIZE', '.firmdrop/releases.json', 'hidden path'],
    ]);
  });

  it(`logs at most ${MAX_REFUSALS_LOGGED} refusals per session and counts the rest in the end line`, async () => {
    const r = await RawFtp.login(srv.port);
    for (let i = 0; i < MAX_REFUSALS_LOGGED + 15; i++) expect((await r.cmd(`DELE F${i}`)).code).to.equal(550);
    await r.cmd('QUIT');
    const until = Date.now() + 5000;
    while (!srv.logs.some((l) => l.event === 'logout') && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    expect(refusals()).to.have.length(MAX_REFUSALS_LOGGED);
    expect(srv.logs.find((l) => l.event === 'logout')).to.include({ refusals: MAX_REFUSALS_LOGGED + 15 });
  });
});
