/**
 * Hostile input against the real firmdrop FTP server, at the byte level with a raw control
 * connection (tests/support/raw-ftp.ts). Basic cases (a command split in two, an oversized line, NUL, `../`, 421)
 * are in tests/ftp.spec.ts; these go further: whole sessions byte-at-a-time, a 1 MiB line, garbage and NUL bytes,
 * client control bytes echoed into replies (forged reply lines), a traversal/symlink corpus (SIZE, MDTM, RETR, CWD,
 * LIST, NLST, STAT), FTP bounce (PORT/EPRT), data-connection hijack from another address, password brute force,
 * clients vanishing at every stage, a client that never reads, slowloris, 20,000 pipelined commands, REST past the
 * end, ABOR during RETR (plain and Telnet IP/DM), PASV spam.
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { type FtpHandle, type FtpOptions } from '../server/ftp/server.ts';
import { RawFtp, type FtpReply, collect, connectData, parsePasv } from './support/raw-ftp.ts';
import { canCountSockets, countHeld, waitForSockets } from './support/open-sockets.ts';
import {
  type HostileTree, PASS, SECRET, TMP_PREFIX, USER, makeTree, removeTree, sleep, startTestFtp, within,
} from './support/hostile-server.ts';

const HOST = '127.0.0.1';
/** Size of BIGFILE: large enough that a client that stops reading leaves the server blocked (loopback buffers hold a few MB). */
const BIG = 32 * 1024 * 1024;

/** Log in on a fresh raw connection; fails the test unless the server says 230. */
async function loggedIn(port: number, localAddress?: string): Promise<RawFtp> {
  const { ftp, greeting } = await RawFtp.connect(HOST, port, { localAddress });
  expect(greeting.code, `greeting ${greeting.text}`).to.equal(220);
  const r = await ftp.login(USER, PASS);
  expect(r.code, `login: ${r.code} ${r.text}`).to.equal(230);
  return ftp;
}

/** The outcome of a command with a data connection: preliminary reply, final one (if it started) and the bytes. */
interface DataResult { first: FtpReply; final?: FtpReply; data: Buffer }

/** PASV, then `cmd` (RETR/LIST/NLST …) on a raw connection; collects the data connection to its end. */
async function dataCmd(ftp: RawFtp, cmd: string): Promise<DataResult> {
  const sock = await ftp.pasv();
  const got = collect(sock);
  const first = await ftp.send(cmd);
  if (first.code !== 150 && first.code !== 125) {
    sock.destroy();
    return { first, data: await got };
  }
  const [final, data] = await Promise.all([ftp.read(), got]);
  return { first, final, data };
}

/** PASV + RETR `name`. */
function retr(ftp: RawFtp, name: string): Promise<DataResult> {
  return dataCmd(ftp, `RETR ${name}`);
}

/** A full session on a fresh connection downloading `name`: the bytes, for a byte-exact comparison. */
async function download(port: number, name: string): Promise<Buffer> {
  const ftp = await loggedIn(port);
  try {
    expect((await ftp.send('TYPE I')).code).to.equal(200);
    const { first, final, data } = await retr(ftp, name);
    expect(first.code, `RETR ${name}: ${first.text}`).to.equal(150);
    expect(final?.code, `RETR ${name} final: ${final?.text}`).to.equal(226);
    return data;
  } finally {
    await ftp.quit();
  }
}

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

/** Sockets on the server's side of `port` (its control connections); with every client closed this must be 0. */
function controlSockets(port: number): number {
  return countHeld((s) => s.localPort === port && s.state !== 'LISTEN');
}

describe('hostile input', function () {
  this.timeout(60_000);
  let tree: HostileTree;
  let ftpd: FtpHandle;
  const open: RawFtp[] = [];
  const sockets: net.Socket[] = [];
  /** Connect and remember the connection for cleanup. */
  const track = (f: RawFtp): RawFtp => { open.push(f); return f; };

  before(async () => {
    tree = await makeTree({ bigBytes: BIG });
    ftpd = await startTestFtp(tree.root);
  });
  afterEach(() => {
    for (const f of open.splice(0)) f.destroy();
    for (const s of sockets.splice(0)) s.destroy();
  });
  after(async () => {
    await ftpd?.close(1000);
    await removeTree(tree);
  });

  it('serves a whole session sent one byte per TCP segment (USER, PASS, TYPE, SIZE, PASV, RETR) byte-exact', async () => {
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    track(ftp);
    expect((await ftp.sendByteAtATime(`USER ${USER}`)).code).to.equal(331);
    expect((await ftp.sendByteAtATime(`PASS ${PASS}`)).code).to.equal(230);
    expect((await ftp.sendByteAtATime('TYPE I')).code).to.equal(200);
    const size = await ftp.sendByteAtATime('SIZE PROGRAM');
    expect(size.code).to.equal(213);
    expect(Number(size.text.trim())).to.equal(tree.files.PROGRAM.length);
    const data = await ftp.pasv({ byteAtATime: true });
    const got = collect(data);
    expect((await ftp.sendByteAtATime('RETR PROGRAM')).code).to.equal(150);
    expect((await ftp.read()).code).to.equal(226);
    expect((await got).equals(tree.files.PROGRAM), 'RETR bytes equal the file').to.equal(true);
    expect((await ftp.sendByteAtATime('QUIT')).code).to.equal(221);
  });

  it('answers a 1 MiB line without CRLF with 500 or a close, and keeps serving other clients', async () => {
    const { ftp: a } = await RawFtp.connect(HOST, ftpd.port);
    track(a);
    const chunk = Buffer.alloc(64 * 1024, 'A');
    await within(15_000, 'writing 1 MiB', (async () => { for (let i = 0; i < 16; i++) await a.write(chunk); })());
    // Meanwhile (the long line still pending on A) another device downloads byte-exact.
    expect((await download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    const r = await a.readOrEnd(10_000);
    expect(r !== undefined || a.isClosed, 'server neither replied to nor closed the 1 MiB line (buffering it?)').to.equal(true);
    if (r) expect(r.code === 421 || (r.code >= 500 && r.code < 600), `reply ${r.code} ${r.text}`).to.equal(true);
    // ...and still serves after it.
    expect((await download(ftpd.port, 'UPGRADE.TXT')).equals(tree.files['UPGRADE.TXT'])).to.equal(true);
  });

  it('survives random binary garbage and NUL bytes: every reply is a well-formed reply line, fresh clients are served', async () => {
    let seed = 0x5eed1234;
    const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 8; };
    const replies: FtpReply[] = [];
    const sessions: Buffer[][] = [];
    for (let s = 0; s < 12; s++) {
      const garbage = Buffer.alloc(4096);
      for (let i = 0; i < garbage.length; i++) garbage[i] = rand() & 0xff;
      const parts: Buffer[] = [];
      if (s % 2 === 1) parts.push(Buffer.from(`USER ${USER}\r\nPASS ${PASS}\r\n`)); // garbage after login too
      for (let i = 0; i < garbage.length;) { const n = 1 + (rand() % 700); parts.push(garbage.subarray(i, i + n)); i += n; }
      parts.push(Buffer.from('\0\0\0\0\r\n'), Buffer.from(`USER ${USER}\0\r\n`), Buffer.from('RETR PROG\0RAM\r\n'),
        Buffer.from('SIZE UPGRADE.TXT\0/../../etc/passwd\r\n'), Buffer.from('\r\n\r\n\n\n\r\r'), Buffer.from('NOOP\r\n'));
      sessions.push(parts);
    }
    await Promise.all(sessions.map(async (parts) => {
      const { ftp } = await RawFtp.connect(HOST, ftpd.port);
      track(ftp);
      for (const p of parts) { await ftp.write(p); await new Promise((r) => setImmediate(r)); }
      // drain whatever the server says for a while, then hang up
      while (await ftp.readOrEnd(1500)) { /* collected in history */ }
      replies.push(...ftp.history);
      ftp.destroy();
    }));
    const bad = replies.filter((r) => r.code < 100 || r.code > 599);
    expect(bad.length, `reply lines without a reply code (raw client bytes echoed?): ${JSON.stringify(bad.slice(0, 3).map((r) => r.lines))}`).to.equal(0);
    for (const r of replies) expect(r.text).to.not.include(TMP_PREFIX);
    expect((await download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    // Every client of this server is gone (earlier tests' ones too): its control connections must drop to zero.
    if (canCountSockets()) expect(await waitForSockets(() => controlSockets(ftpd.port), 0), 'server control sockets left open').to.equal(0);
  });

  it('never echoes CR, LF, NUL or other control bytes into a reply (no forged reply lines, no terminal escapes)', async () => {
    const ftp = track(await loggedIn(ftpd.port));
    // A lone LF or CR in a verb or an argument: whether the server takes LF as a line end or not, no client bytes
    // may come back as a reply of their own (here a forged `230`), and no reply may carry raw control bytes
    // (a lone CR ends a line for some modem firmware; ESC sequences reach operators' terminals through logs).
    await ftp.write('XYZ\n230 injected\r\nSIZE NOSUCHF\n230 injected\r\nXYZ\r230 injected\r\n'
      + 'AB\0CD\r\nX\x1b[2J\x07\r\nSIZE A\x1b]0;owned\x07\r\nNOOP\r\n');
    const got: FtpReply[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await ftp.readOrEnd(5000);
      if (!r) break;
      got.push(r);
      if (r.code === 200) break;
    }
    const shown = JSON.stringify(got.map((r) => r.lines));
    expect(got.at(-1)?.code, `replies: ${shown}`).to.equal(200);
    expect(got.filter((r) => r.code < 100 || r.code > 599 || r.code === 230), `forged reply lines: ${shown}`).to.deep.equal([]);
    const ctl = got.filter((r) => r.lines.some((l) => /[\x00-\x08\x0a-\x1f\x7f]/.test(l)));
    expect(ctl.length, `raw control bytes echoed in a reply: ${JSON.stringify(ctl.map((r) => r.lines))}`).to.equal(0);
    expect(got.slice(0, -1).every((r) => r.code >= 400), `only errors before NOOP's 200: ${shown}`).to.equal(true);
    expect(await ftp.readOrEnd(500), 'a reply after NOOP\'s 200').to.equal(undefined);
  });

  describe('path traversal and symlink corpus', () => {
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
        const { first, final, data } = await retr(ftp, p);
        expect(first.code, `RETR ${ctx}: ${first.code} ${first.text}`).to.be.at.least(400);
        noLeak(first, p, `RETR ${ctx}`);
        noLeak(final, p, `RETR ${ctx}`);
        expect(data.toString('latin1'), `RETR ${ctx} data`).to.not.include(SECRET);
        expect(data.toString('latin1'), `RETR ${ctx} data`).to.not.match(/root:.*:0:0:/);
      }
    };

    it('refuses every file escape (SIZE, MDTM, RETR) from / and from a subfolder, leaking no path', async () => {
      const ftp = track(await loggedIn(ftpd.port));
      await fileCorpus(ftp, 'from /');
      expect((await ftp.send('CWD sub')).code).to.equal(250);
      await fileCorpus(ftp, 'from /sub');
      expect((await ftp.send('NOOP')).code).to.equal(200);
    });

    it('refuses CWD into hidden, outside and symlinked folders; LIST/NLST show nothing from them', async () => {
      const ftp = track(await loggedIn(ftpd.port));
      for (const p of DIR_ESCAPES(tree.outside)) {
        const cwd = await ftp.send(`CWD ${p}`);
        expect(cwd.code, `CWD ${JSON.stringify(p)}: ${cwd.code} ${cwd.text}`).to.be.at.least(400);
        noLeak(cwd, p, `CWD ${p}`);
        expect((await ftp.send('PWD')).text).to.match(/^"\/"/);
        for (const verb of ['LIST', 'NLST']) {
          const { first, final, data } = await dataCmd(ftp, `${verb} ${p}`);
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
      const ftp = track(await loggedIn(ftpd.port));
      for (const p of CLAMPED) {
        const cwd = await ftp.send(`CWD ${p}`);
        noLeak(cwd, p, `CWD ${p}`);
        expect((await ftp.send('PWD')).text, `PWD after CWD ${p}`).to.match(/^"\/"/);
        const size = await ftp.send('SIZE UPGRADE.TXT');
        expect(Number(size.text), `still at the root after CWD ${p}`).to.equal(tree.files['UPGRADE.TXT'].length);
        const listing = (await dataCmd(ftp, `LIST ${p}`)).data.toString('latin1');
        expect(listing, `LIST ${p}`).to.not.match(/\boutside\b/);
        expect(listing, `LIST ${p}`).to.not.match(/\sroot\r?$/m);
        expect(listing, `LIST ${p}`).to.not.include('.firmdrop');
        expect((await ftp.send('CWD /')).code).to.equal(250);
      }
    });

    it('LIST, NLST and STAT, with or without -a/-la/.* arguments, hide the catalogue and reveal no link target or temp path', async () => {
      const ftp = track(await loggedIn(ftpd.port));
      const { first, final, data } = await dataCmd(ftp, 'LIST');
      expect(first.code).to.equal(150);
      expect(final?.code).to.equal(226);
      expect(data.toString('latin1')).to.include('PROGRAM');
      const outputs: Array<[string, string]> = [['LIST', data.toString('latin1')]];
      for (const cmd of ['LIST -a', 'LIST -la', 'LIST -al', 'NLST -a', 'LIST .*', 'NLST .*', 'LIST .', 'LIST ./', 'LIST *', 'NLST ../*', 'LIST -R']) {
        const r = await dataCmd(ftp, cmd);
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

  it('refuses PORT/EPRT to a foreign address before connecting (FTP bounce), and the session carries on', async () => {
    const ftp = track(await loggedIn(ftpd.port));
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

  describe('a data connection from another address (PASV hijack)', () => {
    it('gets no file bytes and is closed', async () => {
      const ftp = track(await loggedIn(ftpd.port)); // control from 127.0.0.1
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port } = parsePasv(await ftp.send('PASV'));
      // The hijacker connects first, from 127.0.0.2, then the device asks for the file.
      const thief = await connectData(host, port, '127.0.0.2').catch(() => undefined);
      if (thief) sockets.push(thief);
      const stolen = thief ? collect(thief) : Promise.resolve(Buffer.alloc(0));
      await ftp.write('RETR PROGRAM\r\n');
      const got = await within(15_000, 'hijacking data socket closed by the server', stolen);
      expect(got.length, 'bytes sent to a data connection from another address').to.equal(0);
    });

    it('does not cost the device its session: it still downloads byte-exact', async () => {
      const ftp = track(await loggedIn(ftpd.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port } = parsePasv(await ftp.send('PASV'));
      const thief = await connectData(host, port, '127.0.0.2').catch(() => undefined);
      if (thief) { sockets.push(thief); await within(15_000, 'thief closed', collect(thief)); }
      // Either the same PASV still takes the device's own connection, or the server failed that transfer and a
      // new PASV works: the control connection must survive (a stranger must not be able to end a device's session).
      let data: Buffer | undefined;
      const own = await connectData(host, port).catch(() => undefined);
      if (own) {
        sockets.push(own);
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
        const r = await retr(ftp, 'PROGRAM');
        expect(r.first.code).to.equal(150);
        expect(r.final?.code).to.equal(226);
        data = r.data;
      }
      expect(data.equals(tree.files.PROGRAM), 'device download byte-exact').to.equal(true);
      expect((await ftp.send('NOOP')).code).to.equal(200);
    });
  });

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
      sockets.push(data);
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
    expect((await download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    if (canCountSockets()) {
      expect(await waitForSockets(() => controlSockets(ftpd.port), 0), 'server control sockets left open').to.equal(0);
      expect(await waitForSockets(() => countHeld(), allBase), 'TCP sockets left open (data connections, PASV listeners)').to.equal(allBase);
    }
  });

  it('REST past the end (or past 2^53) then RETR gives an error or an empty transfer, never bytes from elsewhere', async () => {
    const ftp = track(await loggedIn(ftpd.port));
    expect((await ftp.send('TYPE I')).code).to.equal(200);
    const size = tree.files.PROGRAM.length;
    for (const offset of [String(size), String(size + 1), String(size * 10), '9007199254740993', '99999999999999999999999']) {
      const rest = await ftp.send(`REST ${offset}`);
      if (rest.code >= 400) continue; // refusing the offset outright is fine
      expect(rest.code, `REST ${offset}`).to.equal(350);
      const { first, final, data } = await retr(ftp, 'PROGRAM');
      if (first.code >= 400) continue;
      expect(final?.code, `RETR after REST ${offset}: ${final?.code} ${final?.text}`).to.be.oneOf([226, 250, 426, 451, 551, 554]);
      expect(data.length, `bytes sent after REST ${offset} (file is ${size} bytes)`).to.equal(0);
    }
    for (const bad of ['-1', 'abc', '', '-99999999999999999999']) {
      const r = await ftp.send(`REST ${bad}`);
      expect(r.code, `REST ${JSON.stringify(bad)}: ${r.code} ${r.text}`).to.be.at.least(400);
    }
    // A refused REST leaves no offset behind: the next RETR is the whole file.
    const whole = await retr(ftp, 'PROGRAM');
    expect(whole.final?.code).to.equal(226);
    expect(whole.data.equals(tree.files.PROGRAM), 'whole file after refused REST').to.equal(true);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });

  for (const [label, abor] of [['ABOR', 'ABOR\r\n'], ['ABOR after Telnet IP/DM (as Python ftplib sends it)', '\xff\xf4\xff\xf2ABOR\r\n']] as const) {
    it(`${label} during a RETR stops the transfer, replies, and the session carries on`, async () => {
      const ftp = track(await loggedIn(ftpd.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const data = await ftp.pasv();
      sockets.push(data);
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

  it('holds at most one PASV listener per connection however often PASV is sent', async function () {
    if (!canCountSockets()) this.skip();
    const listeners = (): number => countHeld((s) => s.state === 'LISTEN');
    const base = listeners();
    const ftp = track(await loggedIn(ftpd.port));
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
    const ftp = track(await loggedIn(ftpd.port));
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

  it('closes a connection that trickles bytes but never completes a command (slowloris), once idle', async () => {
    // Own server with a short idle timeout: idleness is time without a complete command, not without a byte.
    const own = await startTestFtp(tree.root, { idleTimeoutMs: 1000 });
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
      expect((await download(own.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    } finally {
      await own.close(0);
    }
  });

  it('neither stalls others nor loses commands when a client pipelines 20,000 NOOPs without reading replies', async () => {
    const N = 20_000;
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    track(ftp);
    ftp.socket.pause(); // read nothing: the server's replies back up
    const written = ftp.write(Buffer.from('NOOP\r\n'.repeat(N)));
    await sleep(300);
    // Meanwhile, another device is served.
    expect((await download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    ftp.socket.resume();
    await within(30_000, 'writing the NOOPs', written);
    // Every NOOP answered in order, or the connection closed with a 421 (a server may cut a flooding client).
    const deadline = Date.now() + 30_000;
    while (ftp.history.filter((r) => r.code === 200).length < N && !ftp.isClosed && Date.now() < deadline) await sleep(50);
    const ok = ftp.history.filter((r) => r.code === 200).length;
    const others = ftp.history.filter((r) => r.code !== 200 && r.code !== 220);
    if (ok < N) {
      expect(ftp.isClosed, `${ok} of ${N} NOOPs answered and the connection is still open`).to.equal(true);
      expect(others.map((r) => r.code), 'replies other than 200 when cut').to.deep.equal([421]);
    } else {
      expect(others.map((r) => `${r.code} ${r.text}`), 'replies other than 200').to.deep.equal([]);
    }
  });

  it('ends a client that never reads its data connection when closed with a deadline', async () => {
    // Own server: this test closes it.
    const own = await startTestFtp(tree.root);
    try {
      const ftp = track(await loggedIn(own.port));
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port: dataPort } = parsePasv(await ftp.send('PASV'));
      const data = await connectData(host, dataPort);
      sockets.push(data);
      data.pause(); // never read: the server fills the socket and blocks
      expect((await ftp.send('RETR BIGFILE')).code).to.equal(150);
      await sleep(300);
      // The stalled device blocks nobody else.
      expect((await download(own.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
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

/** A reply to a bounce attempt must not carry an absolute server path either. */
function noPathIn(r: FtpReply): void {
  expect(r.lines.join('\n')).to.not.include(TMP_PREFIX);
}

describe('hostile input over FTPS (explicit AUTH TLS, RFC 4217)', function () {
  this.timeout(60_000);
  let tree: HostileTree;
  let ftpd: FtpHandle | undefined;
  const open: RawFtp[] = [];

  before(async function () {
    tree = await makeTree();
    // A throw-away self-signed certificate (P-256: fast to make).
    const key = path.join(tree.base, 'key.pem');
    const cert = path.join(tree.base, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const tlsOptions = { key: await fs.readFile(key), cert: await fs.readFile(cert) };
    // `tls` is the FTPS option of FtpOptions (cast: a server build without FTPS ignores it, and the tests skip).
    ftpd = await startTestFtp(tree.root, { tls: tlsOptions, idleTimeoutMs: 1000 } as Partial<FtpOptions>);
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    const auth = await ftp.send('AUTH TLS');
    ftp.destroy();
    if (auth.code !== 234) this.skip(); // this server build has no FTPS
  });
  afterEach(() => { for (const f of open.splice(0)) f.destroy(); });
  after(async () => {
    await ftpd?.close(1000);
    await removeTree(tree);
  });

  it('does not log in a client that sends USER/PASS in the clear after AUTH TLS, and keeps serving others', async () => {
    const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
    open.push(ftp);
    expect((await ftp.send('AUTH TLS')).code).to.equal(234);
    // No handshake: plain commands where a TLS ClientHello should be.
    await ftp.write(`USER ${USER}\r\nPASS ${PASS}\r\nRETR PROGRAM\r\n`);
    const r = await ftp.readOrEnd(5000);
    expect(r?.code, `reply to clear-text commands after AUTH TLS: ${r?.code} ${r?.text}`).to.not.be.oneOf([230, 331, 150, 226]);
    await within(15_000, 'connection dropped after a failed TLS handshake', ftp.closed);
    expect((await download(ftpd!.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
  });

  it('cuts a client that sends AUTH TLS and then never starts the handshake, once idle', async () => {
    const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
    open.push(ftp);
    expect((await ftp.send('AUTH TLS')).code).to.equal(234);
    // Silence: the server waits for a ClientHello that never comes; its 1 s idle timeout must still apply.
    await within(15_000, 'connection closed while the TLS handshake never started (idle timeout 1 s)', ftp.closed);
  });

  it('survives TLS garbage and handshakes abandoned halfway, and keeps serving others', async () => {
    for (let i = 0; i < 10; i++) {
      const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
      open.push(ftp);
      expect((await ftp.send('AUTH TLS')).code).to.equal(234);
      if (i % 2 === 0) {
        // Bytes that look like a TLS record header, then garbage.
        await ftp.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), crypto.randomBytes(2000)]));
      } else {
        // A real ClientHello, then the client vanishes before finishing the handshake.
        const t = tls.connect({ socket: ftp.socket, rejectUnauthorized: false });
        t.on('error', () => undefined);
        await sleep(20);
        t.destroy();
      }
      ftp.destroy();
    }
    expect((await download(ftpd!.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    if (canCountSockets()) expect(await waitForSockets(() => controlSockets(ftpd!.port), 0), 'server control sockets left open').to.equal(0);
  });
});
