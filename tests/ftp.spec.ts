/**
 * server/ftp/ against real clients on loopback: basic-ftp and raw control connections.
 * Covers read-only serving ( serving, PASV/EPSV, SIZE, REST, LIST form, jail, hidden catalogue, generic
 * errors, users) and the faults of a general-purpose Node FTP server (docs/ftp-servers.md: split commands, signals, limits, idle, close).
 */
import { expect } from 'chai';
import { enterPassiveModeIPv4, enterPassiveModeIPv6, FTPError } from 'basic-ftp';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MAX_LOGIN_FAILURES } from '../server/ftp/server.ts';
import {
  collector, connectClient, freePortPair, makeRoot, MANIFEST, PASS, RawFtp, snapshot, startServer, USER,
  type TestRoot, type TestServer,
} from './support/ftp-fixtures.ts';

async function ftpErrorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FTPError) return err.code;
    throw err;
  }
  throw new Error('expected an FTP error');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('ftp: serving the OTA root read-only', function () {
  let t: TestRoot;
  let srv: TestServer;
  const opened: { close(): void }[] = [];

  beforeEach(async () => {
    t = await makeRoot();
    srv = await startServer(t.root);
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) c.close();
    await srv.close(500);
    await t.cleanup();
  });

  async function client(user = USER, pass = PASS) {
    const c = await connectClient(srv.port, user, pass);
    opened.push(c);
    return c;
  }
  async function raw(login = true) {
    const r = login ? await RawFtp.login(srv.port) : await RawFtp.connect(srv.port);
    opened.push(r);
    return r;
  }

  it('logs in, answers SIZE and serves RETR byte-exact over PASV', async () => {
    const c = await client();
    c.prepareTransfer = enterPassiveModeIPv4;
    expect(await c.size('UPGRADE.TXT')).to.equal(MANIFEST.length);
    expect(await c.size('/ABCDEFG')).to.equal(t.binary.length);
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
    const m = collector();
    await c.downloadTo(m, '/UPGRADE.TXT');
    expect(m.data().toString()).to.equal(MANIFEST);
  });

  it('serves RETR byte-exact over EPSV', async () => {
    const c = await client();
    c.prepareTransfer = enterPassiveModeIPv6; // sends EPSV
    const out = collector();
    await c.downloadTo(out, '/ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('resumes with REST byte-exact (full and resumed fetches both logged)', async () => {
    const c = await client();
    for (const offset of [1, 100_000, t.binary.length - 1]) {
      const out = collector();
      await c.downloadTo(out, 'ABCDEFG', offset);
      expect(out.data().equals(t.binary.subarray(offset)), `offset ${offset}`).to.equal(true);
    }
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('answers LIST <file> with one ls -l line whose 5th field is the size', async () => {
    const r = await raw();
    for (const name of ['UPGRADE.TXT', '/ABCDEFG']) {
      const { data, first, last } = await r.pasvTransfer(`LIST ${name}`);
      expect(first.code).to.equal(150);
      expect(last?.code).to.equal(226);
      const lines = data.toString().split('\r\n').filter(Boolean);
      expect(lines).to.have.length(1);
      const size = name.endsWith('UPGRADE.TXT') ? MANIFEST.length : t.binary.length;
      expect(lines[0]!.split(/\s+/)[4]).to.equal(String(size));
      expect(lines[0]!.split(' ')[4]).to.equal(String(size));
      expect(lines[0]).to.match(/^-r--r--r-- /);
    }
  });

  it('lists the root without the catalogue, temp files or escaping symlinks (LIST and NLST)', async () => {
    const c = await client();
    const names = (await c.list('/')).map((f) => f.name).sort();
    expect(names).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
    const r = await raw();
    const { data } = await r.pasvTransfer('NLST');
    expect(data.toString().split('\r\n').filter(Boolean).sort()).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
  });

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

  it('answers SIZE and MDTM per RFC 3659 (bytes; YYYYMMDDHHMMSS)', async () => {
    const r = await raw();
    expect((await r.cmd('TYPE I')).code).to.equal(200);
    expect((await r.cmd('SIZE UPGRADE.TXT')).text).to.equal(`213 ${MANIFEST.length}\r\n`);
    expect((await r.cmd('SIZE ota')).code).to.equal(550);
    expect((await r.cmd('MDTM UPGRADE.TXT')).text).to.match(/^213 \d{14}\r\n$/);
  });

  it('advertises SIZE, MDTM, REST STREAM and EPSV in FEAT', async () => {
    const r = await raw(false);
    const feat = (await r.cmd('FEAT')).text.split('\r\n').map((l) => l.trim());
    expect(feat).to.include.members(['SIZE', 'MDTM', 'REST STREAM', 'EPSV', 'PASV', 'UTF8']);
  });

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

  it('logs device sessions: login, full and resumed fetches with bytes, logout; never the password', async () => {
    const c = await client();
    await c.downloadTo(collector(), 'ABCDEFG');
    await c.downloadTo(collector(), 'ABCDEFG', 1000);
    c.close();
    const until = Date.now() + 5000;
    while (!srv.logs.some((l) => l.event === 'logout') && Date.now() < until) await sleep(20);
    const events = srv.logs.filter((l) => typeof l.event === 'string');
    const login = events.find((l) => l.event === 'login')!;
    expect(login).to.include({ user: USER, address: '127.0.0.1' });
    const fetches = events.filter((l) => l.event === 'fetch');
    expect(fetches.map((f) => [f.file, f.mode, f.offset])).to.deep.equal([['/ABCDEFG', 'full', 0], ['/ABCDEFG', 'resumed', 1000]]);
    const ends = events.filter((l) => l.event === 'fetch-end');
    expect(ends.map((e) => [e.outcome, e.bytes])).to.deep.equal([['completed', t.binary.length], ['completed', t.binary.length - 1000]]);
    for (const e of ends) expect(e.durationMs).to.be.a('number');
    const logout = events.find((l) => l.event === 'logout')!;
    expect(logout).to.include({ user: USER, fetches: 2 });
    expect(logout.durationMs).to.be.a('number');
    expect(new Set(events.map((e) => e.session)).size).to.equal(1);
    expect(JSON.stringify(srv.logs)).to.not.contain(PASS);
  });
});

describe('ftp: what a general-purpose Node FTP server gets wrong (docs/ftp-servers.md)', function () {
  let t: TestRoot;
  const servers: TestServer[] = [];
  const opened: { close(): void }[] = [];

  beforeEach(async () => {
    t = await makeRoot();
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.close(500);
    await t.cleanup();
  });

  async function server(extra: Parameters<typeof startServer>[1] = {}) {
    const s = await startServer(t.root, extra);
    servers.push(s);
    return s;
  }
  async function raw(port: number, login = true) {
    const r = login ? await RawFtp.login(port) : await RawFtp.connect(port);
    opened.push(r);
    return r;
  }

  it('#1 reassembles a command sent one byte per TCP segment', async () => {
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

  it('#1 handles the split `SI` + `ZE f` (RFC 9293: TCP is a byte stream), and LF-only line ends', async () => {
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
    opened.push(c);
    expect(await c.size('UPGRADE.TXT')).to.equal(MANIFEST.length);
  });

  it('#6 leaves no SIGINT/SIGTERM/SIGQUIT listener behind', async () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGQUIT'].map((sig) => process.listenerCount(sig));
    await server();
    await server();
    const after = ['SIGINT', 'SIGTERM', 'SIGQUIT'].map((sig) => process.listenerCount(sig));
    expect(after).to.deep.equal(before);
  });

  it('answers 421 Too many connections over maxConnections, and serves again once one leaves', async () => {
    const s = await server({ maxConnections: 2 });
    const a = await raw(s.port, false);
    await raw(s.port, false);
    const third = await RawFtp.connect(s.port, { greeting: false });
    opened.push(third);
    expect((await third.reply()).text).to.equal('421 Too many connections\r\n');
    await third.waitClosed();
    a.close();
    await sleep(50);
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      const again = await RawFtp.connect(s.port, { greeting: false });
      opened.push(again);
      ok = (await again.reply()).code === 220;
      if (!ok) await sleep(50);
    }
    expect(ok).to.equal(true);
  });

  it('answers 421 over maxPerAddress', async () => {
    const s = await server({ maxPerAddress: 1 });
    await raw(s.port, false);
    const second = await RawFtp.connect(s.port, { greeting: false });
    opened.push(second);
    expect((await second.reply()).code).to.equal(421);
  });

  it('#2 releases a passive port at accept: a 2-port range serves many transfers and many waiting PASVs fail cleanly', async () => {
    const base = await freePortPair();
    const s = await server({ pasvMin: base, pasvMax: base + 1 });
    const c = await connectClient(s.port);
    opened.push(c);
    c.prepareTransfer = enterPassiveModeIPv4;
    for (let i = 0; i < 12; i++) {
      const out = collector();
      await c.downloadTo(out, 'UPGRADE.TXT');
      expect(out.data().toString()).to.equal(MANIFEST);
    }
    // two sessions hold both ports with a PASV whose data connection has not arrived: the third gets 425
    const a = await raw(s.port);
    const b = await raw(s.port);
    const third = await raw(s.port);
    const pa = await a.cmd('PASV');
    const pb = await b.cmd('PASV');
    expect([pa.code, pb.code]).to.deep.equal([227, 227]);
    expect((await third.cmd('PASV')).code).to.equal(425);
    // a's data connection arrives: its port goes back to the pool at once
    const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pa.text)!;
    const data = net.connect(Number(m[5]) * 256 + Number(m[6]), '127.0.0.1');
    data.on('error', () => undefined);
    await new Promise((resolve) => data.once('connect', resolve));
    let got = 425;
    for (let i = 0; i < 50 && got !== 227; i++) {
      got = (await third.cmd('PASV')).code;
      if (got !== 227) await sleep(20);
    }
    expect(got).to.equal(227);
    data.destroy();
    // ABOR gives back the ports b and the third session hold; transfers work byte-exact again
    expect((await b.cmd('ABOR')).code).to.equal(225);
    expect((await third.cmd('ABOR')).code).to.equal(225);
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('#5 puts pasvUrl (bare IP or function of the client IP) in the 227 reply', async () => {
    const seen: string[] = [];
    const s = await server({ pasvUrl: (ip) => (seen.push(ip), '127.0.0.1') });
    const r = await raw(s.port);
    expect((await r.cmd('PASV')).text).to.match(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)/);
    expect(seen).to.deep.equal(['127.0.0.1']);
    let err: Error | undefined;
    try {
      await startServer(t.root, { pasvUrl: 'ftp.example.com' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('pasvUrl');
  });

  it('#3 closes a connection idle between commands, with 421', async () => {
    const s = await server({ idleTimeoutMs: 300 });
    const r = await raw(s.port);
    const reply = await r.reply(10_000);
    expect(reply.code).to.equal(421);
    await r.waitClosed();
    const until = Date.now() + 5000;
    while (!s.logs.some((l) => l.event === 'logout') && Date.now() < until) await sleep(20);
    expect(s.logs.find((l) => l.event === 'logout')?.reason).to.equal('idle timeout');
  });

  it('#3 measures idleness from the last complete command: a line trickled byte by byte that never ends is closed', async () => {
    const s = await server({ idleTimeoutMs: 300 });
    const r = await raw(s.port);
    for (let i = 0; i < 100 && !r.closed; i++) {
      r.write('N');
      await sleep(50);
    }
    expect(r.closed).to.equal(true);
    expect(r.transcript).to.contain('421 ');
  });

  it('#3 never cuts a transfer that keeps moving, even one far longer than the idle timeout', async () => {
    const big = Buffer.alloc(24 * 1024 * 1024, 7);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    // Progress is seen when the kernel takes more bytes; on loopback that comes in steps of up to ~0.3 s.
    const s = await server({ idleTimeoutMs: 1000 });
    const r = await raw(s.port);
    const data = await r.pasvData();
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

  it('keeps serving when a client vanishes mid-transfer, and logs the fetch as cut short', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 1);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await server();
    const r = await raw(s.port);
    const data = await r.pasvData();
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
    opened.push(c);
    const out = collector();
    await c.downloadTo(out, 'ABCDEFG');
    expect(out.data().equals(t.binary)).to.equal(true);
  });

  it('#7 close(deadline) lets a transfer in progress finish, refuses new connections, tells idle clients 421', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 3);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await startServer(t.root);
    const idle = await raw(s.port);
    const r = await raw(s.port);
    const data = await r.pasvData();
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
      opened.push(late);
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

  it('#7 close(deadline) destroys a transfer that does not finish in time', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 5);
    await fs.writeFile(path.join(t.root, 'BIGFILE'), big);
    const s = await startServer(t.root);
    const r = await raw(s.port);
    const data = await r.pasvData();
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

  it('#7 leaves nothing that keeps the process alive after close()', async function () {
    this.timeout(30_000);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const script = `
      import { startFtp } from ${JSON.stringify(path.join(here, '..', 'server', 'ftp', 'server.ts'))};
      import { createLogger } from ${JSON.stringify(path.join(here, '..', 'server', 'log.ts'))};
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
      cwd: path.join(here, '..'),
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
