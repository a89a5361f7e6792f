/**
 * Hostile bytes on the control connection. A command ends only at its CRLF and TCP is a byte stream (RFC 959 §4.1,
 * §5.3; RFC 9293 §2.2), so commands split anywhere, one byte per segment, whole sessions byte by byte, and LF-only
 * line ends are reassembled (docs/ftp-servers.md, fault 1); an oversized line gets 500 without unbounded buffering;
 * garbage, NUL and control bytes never come back as a reply of their own or inside one (no forged reply lines,
 * RFC 959 §4.2 reply format); long and flooding pipelines are answered in order; every command gets exactly one
 * reply; commands pipelined before a half-close (FIN) are answered, then the connection closes.
 * Fuzzed streams are tests/ftp/hostile-fuzz.spec.ts; paths are tests/ftp/hostile-paths.spec.ts.
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import net from 'node:net';
import {
  connectClient, MANIFEST, PASS, TMP_PREFIX, USER, useServer, type TestRoot, type TestServer,
} from '../support/ftp-fixtures.ts';
import { canCountSockets, controlSockets, waitForSockets } from '../support/open-sockets.ts';
import { collect, type FtpReply, HOST, RawFtp } from '../support/raw-ftp.ts';
import { sleep, within } from '../support/wait.ts';

describe('hostile input: split, oversized, garbage and pipelined command lines', function () {
  let t: TestRoot;
  const { server, raw, track } = useServer({ each: true, server: false }, (f) => ({ t } = f));

  it('reassembles a command sent one byte per TCP segment (docs/ftp-servers.md, fault 1)', async () => {
    const s = await server();
    const r = await raw(s.port, false);
    const session = `USER ${USER}\r\nPASS ${PASS}\r\nSIZE UPGRADE.TXT\r\n`;
    for (const byte of Buffer.from(session)) {
      r.write(Buffer.from([byte]));
      await sleep(1);
    }
    expect((await r.reply()).code).to.equal(331);
    expect((await r.reply()).code).to.equal(230);
    expect((await r.reply()).text).to.equal(`213 ${MANIFEST.length}\r\n`);
  });

  it('handles the split `SI` + `ZE f` (RFC 9293: TCP is a byte stream), and LF-only line ends (docs/ftp-servers.md, fault 1)', async () => {
    const s = await server();
    const r = await raw(s.port);
    r.write('SI');
    await sleep(50);
    r.write('ZE UPGRADE.TXT\r\n');
    expect((await r.reply()).code).to.equal(213);
    r.write('SIZE ABCDEFG\n');
    expect((await r.reply()).text).to.equal(`213 ${t.binary.length}\r\n`);
  });

  it('answers an oversized command line with 500 and keeps the connection working', async () => {
    const s = await server({ maxCommandBytes: 4096 });
    const r = await raw(s.port);
    r.write(`SIZE ${'A'.repeat(5000)}\r\n`);
    expect((await r.reply()).code).to.equal(500);
    // a line far longer than one TCP chunk, sent in pieces: one 500, nothing buffered without bound
    for (let i = 0; i < 64; i++) r.write('B'.repeat(16 * 1024));
    r.write('\r\nNOOP\r\n');
    expect((await r.reply()).code).to.equal(500);
    expect((await r.reply()).code).to.equal(200);
    expect((await r.cmd('SIZE UPGRADE.TXT')).code).to.equal(213);
  });

  it('answers every command of a long pipeline in order (the queue is flow-controlled, not dropped)', async () => {
    const s = await server();
    const r = await raw(s.port);
    const n = 2000;
    let batch = '';
    for (let i = 0; i < n; i++) batch += i % 2 ? 'NOOP\r\n' : 'SIZE UPGRADE.TXT\r\n';
    r.write(batch);
    for (let i = 0; i < n; i++) expect((await r.reply()).code, `reply ${i}`).to.equal(i % 2 ? 200 : 213);
    expect((await r.cmd('SIZE ABCDEFG')).text).to.equal(`213 ${t.binary.length}\r\n`);
  });

  it('survives garbage and NUL bytes, and keeps serving', async () => {
    const s = await server();
    const r = await raw(s.port);
    r.write(Buffer.from([0, 0, 0xff, 0xfe, 0x01, 0x0d, 0x0a]));
    r.write(Buffer.from('SIZE \0UPGRADE.TXT\r\n'));
    r.write(Buffer.from([0x80, 0x81, 0xc3, 0x28, 0x0a]));
    r.write('\r\n\r\n');
    expect((await r.cmd('NOOP')).code).to.be.oneOf([500, 502, 200]);
    let last = await r.cmd('NOOP');
    while (last.code !== 200) last = await r.reply();
    expect(last.code).to.equal(200);
    for (const line of r.transcript.split('\r\n').filter(Boolean)) expect(line).to.match(/^\d{3}[ -]|^ /);
    const c = await connectClient(s.port);
    track(c);
    expect(await c.size('UPGRADE.TXT')).to.equal(MANIFEST.length);
  });
});

describe('hostile input: whole sessions of hostile bytes', function () {
  this.timeout(60_000);
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree, srv: ftpd } = f));

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
    expect((await RawFtp.download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    const r = await a.readOrEnd(10_000);
    expect(r !== undefined || a.isClosed, 'server neither replied to nor closed the 1 MiB line (buffering it?)').to.equal(true);
    if (r) expect(r.code === 421 || (r.code >= 500 && r.code < 600), `reply ${r.code} ${r.text}`).to.equal(true);
    // ...and still serves after it.
    expect((await RawFtp.download(ftpd.port, 'UPGRADE.TXT')).equals(tree.files['UPGRADE.TXT'])).to.equal(true);
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
    expect((await RawFtp.download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    // Every client of this server is gone (earlier tests' ones too): its control connections must drop to zero.
    if (canCountSockets()) expect(await waitForSockets(() => controlSockets(ftpd.port), 0), 'server control sockets left open').to.equal(0);
  });

  it('never echoes CR, LF, NUL or other control bytes into a reply (no forged reply lines, no terminal escapes)', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
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

  it('neither stalls others nor loses commands when a client pipelines 20,000 NOOPs without reading replies', async () => {
    const N = 20_000;
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    track(ftp);
    ftp.socket.pause(); // read nothing: the server's replies back up
    const written = ftp.write(Buffer.from('NOOP\r\n'.repeat(N)));
    await sleep(300);
    // Meanwhile, another device is served.
    expect((await RawFtp.download(ftpd.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
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

  it('gives every command exactly one reply, with no argument and with a `-x` flag (ftp-srv handlers that threw)', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    const verbs = ['ABOR', 'ALLO', 'APPE', 'CDUP', 'CWD', 'DELE', 'EPRT', 'EPSV', 'FEAT', 'HELP', 'LIST', 'MDTM', 'MKD',
      'MODE', 'NLST', 'NOOP', 'OPTS', 'PBSZ', 'PORT', 'PROT', 'PWD', 'REST', 'RETR', 'RMD', 'RNFR', 'RNTO', 'SITE',
      'SIZE', 'STAT', 'STOR', 'STOU', 'STRU', 'SYST', 'TYPE', 'XCWD', 'XMKD', 'XPWD', 'XRMD', 'ACCT', 'XYZZ'];
    for (const verb of verbs) {
      for (const cmd of [verb, `${verb} -x`]) {
        if (verb === 'EPSV') continue; // opens a listener (`-x` is a flag, not an argument): covered elsewhere
        // A marker NOOP right behind: its 200 must be the next reply but one, whatever `cmd` answered.
        await ftp.write(`${cmd}\r\nNOOP\r\n`);
        const read = (what: string) => ftp.read(10_000).catch((err: Error) => { throw new Error(`${cmd}: ${what}: ${err.message}`); });
        const first = await read('reply');
        expect(first.code, `${cmd}: ${first.code} ${first.text}`).to.be.within(200, 599);
        if (first.code === 150) await read('final reply'); // a data command that opened (none should without PASV)
        const marker = await read('NOOP reply');
        expect(marker.code, `reply after ${cmd} (one reply per command): ${marker.code} ${marker.text}`).to.equal(200);
      }
    }
  });

  it('answers every command pipelined before a half-close (FIN), then closes', async () => {
    const s = net.connect({ host: HOST, port: ftpd.port });
    const text = collect(s);
    await new Promise<void>((resolve) => s.once('connect', resolve));
    s.end(`USER ${USER}\r\nPASS ${PASS}\r\nTYPE I\r\nSIZE PROGRAM\r\nNOOP\r\nQUIT\r\n`);
    const replies = (await within(20_000, 'server closes after answering', text)).toString('latin1')
      .split('\r\n').filter(Boolean).map((l) => Number(l.slice(0, 3)));
    expect(replies).to.deep.equal([220, 331, 230, 200, 213, 200, 221]);
  });

  it('closes a half-closed connection without QUIT once its commands are answered', async () => {
    const s = net.connect({ host: HOST, port: ftpd.port });
    const text = collect(s);
    await new Promise<void>((resolve) => s.once('connect', resolve));
    s.end(`USER ${USER}\r\nPASS ${PASS}\r\nSIZE PROGRAM\r\n`);
    const replies = (await within(20_000, 'server closes after answering', text)).toString('latin1')
      .split('\r\n').filter(Boolean).map((l) => Number(l.slice(0, 3)));
    expect(replies).to.deep.equal([220, 331, 230, 213]);
  });
});
