/**
 * Client quirks the FTP layer serves: the Libelium GPRS library's `.gprs` folder (WaspGPRS_Pro_core.cpp sends
 * `AT+FTPGETPATH=".gprs"` and asks for `.gprs/UPGRADE.TXT`, `.gprs/<PATH>/<FILE>`), served as the root and never
 * listed (RFC 959 §4.1.1 CWD, CDUP; §4.1.3 RETR, NLST; RFC 3659 §4 SIZE), and ncftp's login sequence (FEAT, HELP SITE,
 * CLNT) with no "not implemented" reply (RFC 3659 §7 MLSD/MLST, RFC 2389 FEAT).
 */
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { MANIFEST, PASS, USER, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';

function has(cmd: string): boolean {
  return spawnSync(cmd, ['-v'], { stdio: 'ignore' }).error === undefined;
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'latin1', timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

describe('compat: GPRS .gprs folder, ncftp', function () {
  let t: TestRoot, srv: TestServer;
  const { raw } = useServer({}, (f) => ({ t, srv } = f));

  it('serves /.gprs as the root: CWD .gprs then RETR UPGRADE.TXT, SIZE /.gprs/UPGRADE.TXT, RETR .gprs/NAME', async () => {
    const r = await raw();
    expect((await r.cmd('SIZE /.gprs/UPGRADE.TXT')).text).to.equal(`213 ${MANIFEST.length}\r\n`);
    expect((await r.cmd('MDTM .gprs/UPGRADE.TXT')).code).to.equal(213);
    const named = await r.pasvTransfer('RETR .gprs/ABCDEFG');
    expect(named.data.equals(t.binary)).to.equal(true);
    expect((await r.pasvTransfer('RETR .gprs/ota/NESTED1')).data.toString()).to.equal('nested');
    expect((await r.cmd('CWD .gprs')).code).to.equal(250);
    expect((await r.cmd('PWD')).text).to.contain('"/.gprs"');
    expect((await r.pasvTransfer('RETR UPGRADE.TXT')).data.toString()).to.equal(MANIFEST);
    expect((await r.cmd('SIZE ABCDEFG')).text).to.equal(`213 ${t.binary.length}\r\n`);
    const nlst = (await r.pasvTransfer('NLST')).data.toString().split('\r\n').filter(Boolean).sort();
    expect(nlst).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
    expect((await r.cmd('CDUP')).code).to.equal(250);
    expect((await r.cmd('PWD')).text).to.contain('"/"');
  });

  it('never lists .gprs in the root and keeps hidden folders hidden behind it', async () => {
    const r = await raw();
    expect((await r.pasvTransfer('LIST')).data.toString()).to.not.contain('.gprs');
    expect((await r.cmd('SIZE .gprs/.firmdrop/releases.json')).code).to.equal(550);
    expect((await r.cmd('CWD .gprs/../.firmdrop')).code).to.equal(550);
    expect((await r.cmd('SIZE .gprs/LINKOUT')).code).to.equal(550);
  });

  it('ncftpls and ncftpget log in without any "not implemented" reply and list and fetch', async function () {
    if (!has('ncftpls') || !has('ncftpget')) this.skip();
    const base = ['-u', USER, '-p', PASS, '-P', String(srv.port)];
    const ls = await run('ncftpls', ['-d', 'stdout', ...base, 'ftp://127.0.0.1/']);
    expect(ls.code, ls.out).to.equal(0);
    expect(ls.out).to.contain('Cmd: CLNT').and.contain('Cmd: HELP SITE');
    expect(ls.out).to.not.match(/not implemented|^50\d:/im);
    expect(ls.out).to.match(/^UPGRADE\.TXT$/m);
    const long = await run('ncftpls', [...base, '-l', 'ftp://127.0.0.1/']);
    expect(long.out).to.match(new RegExp(`^-r--r--r-- 1 ftp ftp ${t.binary.length} .* ABCDEFG$`, 'm'));
    const get = await run('ncftpget', [...base, '-c', 'ftp://127.0.0.1/UPGRADE.TXT']);
    expect(get.code, get.out).to.equal(0);
    expect(get.out).to.contain(MANIFEST).and.not.match(/not implemented/i);
  });
});
