/**
 * Paths a client must not reach (RFC 959 §4.1.1 CWD, §4.1.3 RETR, LIST, NLST, STAT; RFC 3659 §3, §4 MDTM, SIZE):
 * `../` traversal clamped at the root (chroot semantics), symlinks leading out of the root or in loops, a FIFO,
 * /dev/zero and /proc, encoded and overlong dots, the hidden `.firmdrop` catalogue and publishers' temp files; no
 * reply shows the root's absolute path, a temp folder or errno text (docs/ftp-servers.md, fault 10).
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SECRET, TMP_PREFIX, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { type FtpReply, RawFtp } from '../support/raw-ftp.ts';

describe('hostile paths: traversal, escaping symlinks, the hidden catalogue', function () {
  let t: TestRoot;
  const { raw } = useServer({ each: true }, (f) => ({ t } = f));

  it('refuses ../ traversal and symlinks leading out of the root', async () => {
    const r = await raw();
    const rel = path.relative(t.root, path.join(t.outside, 'secret.txt'));
    for (const name of [rel, `../../../../../../../..${path.join(t.outside, 'secret.txt')}`, 'LINKOUT', 'DIROUT/secret.txt', '../../../../etc/passwd', 'LINKHID']) {
      expect((await r.cmd(`SIZE ${name}`)).code, `SIZE ${name}`).to.equal(550);
      const { first, data } = await r.pasvTransfer(`RETR ${name}`);
      expect(first.code, `RETR ${name}`).to.equal(550);
      expect(data.length).to.equal(0);
    }
    expect((await r.cmd('CWD DIROUT')).code).to.equal(550);
    expect((await r.cmd('CWD ../../..')).code).to.equal(250);
    expect((await r.cmd('PWD')).text).to.contain('"/"');
    // a link pointing inside the root is served
    expect((await r.cmd('SIZE LINKIN')).text).to.contain(String(t.binary.length));
    expect(r.transcript).to.not.contain('TOP SECRET');
  });

  it('keeps the .firmdrop catalogue invisible to LIST, RETR, SIZE, STAT and CWD', async () => {
    const r = await raw();
    expect((await r.cmd('CWD .firmdrop')).code).to.equal(550);
    expect((await r.cmd('SIZE .firmdrop/releases.json')).code).to.equal(550);
    expect((await r.cmd('STAT .firmdrop')).code).to.be.within(450, 559);
    expect((await r.pasvTransfer('RETR /.firmdrop/releases.json')).first.code).to.equal(550);
    expect((await r.pasvTransfer('RETR ota/../.firmdrop/releases.json')).first.code).to.equal(550);
    const { first, data } = await r.pasvTransfer('LIST .firmdrop');
    expect(first.code === 150 ? data.length : 0).to.equal(0);
    const root = await r.pasvTransfer('LIST');
    expect(root.data.toString()).to.not.contain('.firmdrop').and.not.contain('.UPGRADE.TXT.tmp');
  });

  it('never shows the root absolute path or errno text in any reply', async () => {
    const r = await raw();
    const commands = [
      'SIZE nothing', 'SIZE ota', 'MDTM nothing', 'CWD nothing', 'CWD UPGRADE.TXT', 'STAT nothing', 'STAT UPGRADE.TXT',
      'STAT /', 'RETR nothing', 'DELE UPGRADE.TXT', 'MKD x', 'RNFR UPGRADE.TXT', 'SIZE LINKOUT', 'CWD ota', 'PWD',
      'SIZE NESTED1', 'CWD /', 'MDTM UPGRADE.TXT', 'REST 10', 'SITE CHMOD 777 x', 'LIST -la', 'XPWD',
    ];
    for (const cmd of commands) await r.cmd(cmd);
    await r.pasvTransfer('RETR nothing');
    await r.pasvTransfer('LIST nothing');
    await r.pasvTransfer('LIST ota');
    const real = await fs.realpath(t.root);
    for (const leak of [t.root, real, t.outside, path.basename(t.root), 'ENOENT', 'EACCES', 'errno', 'stat ']) {
      expect(r.transcript, leak).to.not.contain(leak);
    }
  });
});

describe('hostile paths: the traversal and symlink corpus', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree, srv: ftpd } = f));

  // Paths aimed at files outside the root or hidden in it: SIZE, MDTM, RETR must all fail.
  const FILE_ESCAPES = (outside: string): string[] => [
    '../../etc/passwd', '../../../../../../../../../../etc/passwd', '..\\..\\..\\etc\\passwd', '/../../etc/passwd',
    '%2e%2e/%2e%2e/etc/passwd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2fetc%2fpasswd', '....//....//etc/passwd',
    '//etc/passwd', '/etc/passwd', '\\etc\\passwd', '~/../../etc/passwd', '~root/.ssh/id_rsa', '/proc/self/environ',
    './.firmdrop/releases.json', '.firmdrop/releases.json', '/.firmdrop/releases.json', '.FIRMDROP/releases.json',
    'sub/../.firmdrop/releases.json', '.firmdrop/../.firmdrop/releases.json', '.firmdrop\\releases.json',
    'LINKFIL', '/LINKFIL', './LINKFIL', 'LINKDIR/secret.txt', 'sub/../LINKDIR/secret.txt', 'LOOPAAA', 'LOOPSLF', 'LOOPAAA/x',
    '../outside/secret.txt', '../../outside/secret.txt', `${outside}/secret.txt`, `${outside}/dir/secret.txt`,
    'UPGRADE.TXT/../../etc/passwd', `sub/${'../'.repeat(50)}etc/passwd`, 'a'.repeat(300), `${'a/'.repeat(400)}x`,
    '\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/etc/passwd', '..\x00/etc/passwd', // overlong UTF-8 dots, NUL
    'FIFOPIP', 'LINKFIF', 'LINKZER', 'LINKPRC', // a FIFO (a RETR would hang on it), links to it, /dev/zero, /proc
  ];
  // Folders outside the root or hidden: CWD must fail, LIST/NLST must not show what is inside.
  const DIR_ESCAPES = (outside: string): string[] => [
    '.firmdrop', '/.firmdrop', './.firmdrop', 'sub/../.firmdrop', 'LINKDIR', '/LINKDIR', 'LINKDIR/', 'LOOPAAA', 'LOOPSLF',
    '../outside', '../../tmp', '/etc', '//etc', '..\\..\\etc', '%2e%2e', outside, `${outside}/dir`,
  ];
  // `..` at the top: allowed only as the root itself (chroot semantics).
  const CLAMPED = ['/..', '..', '../..', '/../..', '//..', 'sub/../..', '..\\..', '/./../.'];

  /** Checks a reply leaks nothing: the client's own argument is removed first (echoing it is no leak). */
  const noLeak = (r: FtpReply | undefined, arg: string, ctx: string): void => {
    if (!r) return;
    const text = r.lines.join('\n').split(arg).join('');
    expect(text, `${ctx}: reply leaks a temp path`).to.not.include(TMP_PREFIX);
    expect(text, `${ctx}: reply leaks the root`).to.not.include(tree.root);
    expect(text, `${ctx}: reply mentions /etc`).to.not.include('/etc');
    expect(text, `${ctx}: reply leaks the secret`).to.not.include(SECRET);
    expect(text, `${ctx}: reply shows an errno`).to.not.match(/\bE(NOENT|LOOP|NAMETOOLONG|ACCES|PERM|NOTDIR|ISDIR|INVAL)\b/);
  };

  const fileCorpus = async (ftp: RawFtp, where: string): Promise<void> => {
    for (const p of FILE_ESCAPES(tree.outside)) {
      const ctx = `${where} ${JSON.stringify(p.length > 60 ? `${p.slice(0, 60)}…` : p)}`;
      const size = await ftp.send(`SIZE ${p}`);
      expect(size.code, `SIZE ${ctx}: ${size.code} ${size.text}`).to.be.at.least(400);
      noLeak(size, p, `SIZE ${ctx}`);
      const mdtm = await ftp.send(`MDTM ${p}`);
      expect(mdtm.code, `MDTM ${ctx}: ${mdtm.code} ${mdtm.text}`).to.be.at.least(400);
      noLeak(mdtm, p, `MDTM ${ctx}`);
      const { first, final, data } = await ftp.pasvTransfer(`RETR ${p}`);
      expect(first.code, `RETR ${ctx}: ${first.code} ${first.text}`).to.be.at.least(400);
      noLeak(first, p, `RETR ${ctx}`);
      noLeak(final, p, `RETR ${ctx}`);
      expect(data.toString('latin1'), `RETR ${ctx} data`).to.not.include(SECRET);
      expect(data.toString('latin1'), `RETR ${ctx} data`).to.not.match(/root:.*:0:0:/);
    }
  };

  it('refuses every file escape (SIZE, MDTM, RETR) from / and from a subfolder, leaking no path', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    await fileCorpus(ftp, 'from /');
    expect((await ftp.send('CWD sub')).code).to.equal(250);
    await fileCorpus(ftp, 'from /sub');
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  it('refuses CWD into hidden, outside and symlinked folders; LIST/NLST show nothing from them', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    for (const p of DIR_ESCAPES(tree.outside)) {
      const cwd = await ftp.send(`CWD ${p}`);
      expect(cwd.code, `CWD ${JSON.stringify(p)}: ${cwd.code} ${cwd.text}`).to.be.at.least(400);
      noLeak(cwd, p, `CWD ${p}`);
      expect((await ftp.send('PWD')).text).to.match(/^"\/"/);
      for (const verb of ['LIST', 'NLST']) {
        const { first, final, data } = await ftp.pasvTransfer(`${verb} ${p}`);
        const listing = data.toString('latin1');
        noLeak(first, p, `${verb} ${p}`);
        noLeak(final, p, `${verb} ${p}`);
        expect(listing, `${verb} ${p}`).to.not.include('secret.txt');
        expect(listing, `${verb} ${p}`).to.not.include('releases.json');
        expect(listing, `${verb} ${p}`).to.not.include(TMP_PREFIX);
      }
    }
  });

  it('clamps `..` at the root: CWD stays at "/", LIST shows only the root', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    for (const p of CLAMPED) {
      const cwd = await ftp.send(`CWD ${p}`);
      noLeak(cwd, p, `CWD ${p}`);
      expect((await ftp.send('PWD')).text, `PWD after CWD ${p}`).to.match(/^"\/"/);
      const size = await ftp.send('SIZE UPGRADE.TXT');
      expect(Number(size.text), `still at the root after CWD ${p}`).to.equal(tree.files['UPGRADE.TXT'].length);
      const listing = (await ftp.pasvTransfer(`LIST ${p}`)).data.toString('latin1');
      expect(listing, `LIST ${p}`).to.not.match(/\boutside\b/);
      expect(listing, `LIST ${p}`).to.not.match(/\sroot\r?$/m);
      expect(listing, `LIST ${p}`).to.not.include('.firmdrop');
      expect((await ftp.send('CWD /')).code).to.equal(250);
    }
  });

  it('LIST, NLST and STAT, with or without -a/-la/.* arguments, hide the catalogue and reveal no link target or temp path', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const { first, final, data } = await ftp.pasvTransfer('LIST');
    expect(first.code).to.equal(150);
    expect(final?.code).to.equal(226);
    expect(data.toString('latin1')).to.include('PROGRAM');
    const outputs: Array<[string, string]> = [['LIST', data.toString('latin1')]];
    for (const cmd of ['LIST -a', 'LIST -la', 'LIST -al', 'NLST -a', 'LIST .*', 'NLST .*', 'LIST .', 'LIST ./', 'LIST *', 'NLST ../*', 'LIST -R']) {
      const r = await ftp.pasvTransfer(cmd);
      outputs.push([cmd, r.data.toString('latin1') + [r.first, r.final].map((x) => x?.lines.join('\n') ?? '').join('\n')]);
    }
    // STAT <path> sends the listing on the control connection.
    for (const arg of ['.', '/', '-a', '.firmdrop', 'LINKDIR', 'sub/..', '.*']) {
      const r = await ftp.send(`STAT ${arg}`);
      outputs.push([`STAT ${arg}`, r.lines.join('\n')]);
    }
    for (const [cmd, out] of outputs) {
      expect(out, cmd).to.not.include('.firmdrop');
      expect(out, cmd).to.not.include('releases.json');
      expect(out, cmd).to.not.include(TMP_PREFIX);
      expect(out, cmd).to.not.include('outside');
      expect(out, cmd).to.not.include('secret.txt');
      expect(out, cmd).to.not.include(SECRET);
    }
  });
});
