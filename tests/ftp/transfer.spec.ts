/**
 * Serving files read-only: RETR byte-exact over PASV and EPSV (RFC 959 §4.1.3, RFC 2428 §3), REST resumes from any
 * offset (RFC 3659 §5) and an offset past the end sends nothing, SIZE in bytes and MDTM as YYYYMMDDHHMMSS (RFC 3659
 * §4, §3), FEAT (RFC 2389), LIST `<file>` as one `ls -l` line and the root's LIST/NLST (RFC 959 §4.1.3), MLST/MLSD
 * facts (RFC 3659 §7), the session's log lines (login, fetches with bytes, logout), and server/ftp/transfer.ts
 * sendBytes() on real loopback sockets (buffer and fd sources, a short file as a local error 451, a peer leaving or
 * ABOR as a connection error 426, RFC 959 §5.4; back-pressure for a slow reader).
 */
import { expect } from 'chai';
import { enterPassiveModeIPv6, enterPassiveModeIPv4 } from 'basic-ftp';
import { openSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CHUNK_BYTES, sendBytes, TransferError } from '../../server/ftp/transfer.ts';
import { collector, MANIFEST, PASS, USER, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { RawFtp } from '../support/raw-ftp.ts';
import { sleep } from '../support/wait.ts';

describe('transfer: RETR, REST, SIZE, MDTM, FEAT, LIST, NLST, MLST, MLSD', function () {
  let t: TestRoot, srv: TestServer;
  const { client, raw } = useServer({ each: true }, (f) => ({ t, srv } = f));

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
      const { data, first, final: last } = await r.pasvTransfer(`LIST ${name}`);
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

  it('answers MLST and MLSD with RFC 3659 facts (type, size, modify, perm), read-only', async () => {
    const r = await raw();
    const feat = (await r.cmd('FEAT')).text;
    expect(feat).to.contain('\r\n MLST type*;size*;modify*;perm*;\r\n');
    const one = await r.cmd('MLST ABCDEFG');
    expect(one.code).to.equal(250);
    expect(one.text).to.match(new RegExp(`^250-.*\\r\\n type=file;size=${t.binary.length};modify=\\d{14};perm=r; /ABCDEFG\\r\\n250 End\\r\\n$`));
    const dir = await r.pasvTransfer('MLSD');
    expect(dir.final?.code).to.equal(226);
    const lines = dir.data.toString().split('\r\n').filter(Boolean).sort();
    expect(lines).to.have.length(4);
    expect(lines).to.include(`type=file;size=${MANIFEST.length};modify=${lines.find((l) => l.endsWith(' UPGRADE.TXT'))!.match(/modify=(\d{14})/)![1]};perm=r; UPGRADE.TXT`);
    expect(lines.find((l) => l.endsWith(' ota'))).to.match(/^type=dir;size=\d+;modify=\d{14};perm=el; ota$/);
    expect((await r.cmd('MLST .firmdrop')).code).to.equal(550);
    expect((await r.pasvTransfer('MLSD ABCDEFG')).first.code).to.equal(501);
  });
});

describe('transfer: REST past the end', function () {
  let tree: TestRoot, ftpd: TestServer;
  const { track } = useServer({ layout: 'hostile' }, (f) => ({ t: tree, srv: ftpd } = f));

  it('REST past the end (or past 2^53) then RETR gives an error or an empty transfer, never bytes from elsewhere', async () => {
    const ftp = track(await RawFtp.login(ftpd.port));
    expect((await ftp.send('TYPE I')).code).to.equal(200);
    const size = tree.files.PROGRAM.length;
    for (const offset of [String(size), String(size + 1), String(size * 10), '9007199254740993', '99999999999999999999999']) {
      const rest = await ftp.send(`REST ${offset}`);
      if (rest.code >= 400) continue; // refusing the offset outright is fine
      expect(rest.code, `REST ${offset}`).to.equal(350);
      const { first, final, data } = await ftp.pasvTransfer('RETR PROGRAM');
      if (first.code >= 400) continue;
      expect(final?.code, `RETR after REST ${offset}: ${final?.code} ${final?.text}`).to.be.oneOf([226, 250, 426, 451, 551, 554]);
      expect(data.length, `bytes sent after REST ${offset} (file is ${size} bytes)`).to.equal(0);
    }
    for (const bad of ['-1', 'abc', '', '-99999999999999999999']) {
      const r = await ftp.send(`REST ${bad}`);
      expect(r.code, `REST ${JSON.stringify(bad)}: ${r.code} ${r.text}`).to.be.at.least(400);
    }
    // A refused REST leaves no offset behind: the next RETR is the whole file.
    const whole = await ftp.pasvTransfer('RETR PROGRAM');
    expect(whole.final?.code).to.equal(226);
    expect(whole.data.equals(tree.files.PROGRAM), 'whole file after refused REST').to.equal(true);
    expect((await ftp.send('NOOP')).code).to.equal(200);
  });
});

/** A connected pair of loopback sockets: `server` sends, `client` receives. */
async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  server.on('error', () => undefined);
  client.on('error', () => undefined);
  return { server, client, close: () => { server.destroy(); client.destroy(); } };
}

/** Everything the client receives until the server side ends. */
function receive(client: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => client.once('close', () => resolve(Buffer.concat(chunks))));
}

describe('transfer: sendBytes on loopback sockets', function () {
  this.timeout(20_000);
  const bytes = Buffer.from(Array.from({ length: 3 * CHUNK_BYTES + 1234 }, (_, i) => (i * 31 + 7) & 0xff));
  let dir: string;
  let file: string;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-transfer-'));
    file = path.join(dir, 'FIRMWAR');
    await fsp.writeFile(file, bytes);
  });
  after(() => fsp.rm(dir, { recursive: true, force: true }));

  for (const kind of ['buffer', 'fd'] as const) {
    for (const offset of [0, 1, CHUNK_BYTES, bytes.length - 1]) {
      it(`${kind} source from offset ${offset} arrives byte-exact, progress summed`, async () => {
        const p = await socketPair();
        try {
          const got = receive(p.client);
          let counted = 0;
          const src = kind === 'buffer' ? { buffer: bytes, offset, size: bytes.length } : { fd: openSync(file, 'r'), offset, size: bytes.length };
          const t = sendBytes(p.server, src, (n) => { counted += n; });
          await t.done;
          p.server.end();
          expect((await got).equals(bytes.subarray(offset))).to.equal(true);
          expect(counted).to.equal(bytes.length - offset);
        } finally {
          p.close();
        }
      });
    }
  }

  it('an offset at the end sends nothing and completes', async () => {
    const p = await socketPair();
    try {
      const got = receive(p.client);
      await sendBytes(p.server, { buffer: bytes, offset: bytes.length + 10, size: bytes.length }, () => undefined).done;
      p.server.end();
      expect((await got).length).to.equal(0);
    } finally {
      p.close();
    }
  });

  it('a file shorter than its announced size fails as a local error', async () => {
    const short = path.join(dir, 'SHORTFW');
    await fsp.writeFile(short, bytes.subarray(0, 1000));
    const p = await socketPair();
    try {
      const t = sendBytes(p.server, { fd: openSync(short, 'r'), offset: 0, size: bytes.length }, () => undefined);
      const err = await t.done.then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(TransferError);
      expect((err as TransferError).local).to.equal(true);
    } finally {
      p.close();
    }
  });

  it('a peer that closes mid-transfer and destroy() (ABOR) fail as connection errors', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024);
    const p = await socketPair();
    try {
      p.client.pause(); // never read: the transfer waits on back-pressure
      const t = sendBytes(p.server, { buffer: big, offset: 0, size: big.length }, () => undefined);
      setTimeout(() => p.client.destroy(), 50);
      const err = (await t.done.then(() => undefined, (e: unknown) => e)) as TransferError;
      expect(err).to.be.instanceOf(TransferError);
      expect(err.local).to.equal(false);
      expect(err.message).to.match(/Data connection/);
    } finally {
      p.close();
    }
    const q = await socketPair();
    try {
      q.client.pause();
      const t = sendBytes(q.server, { buffer: big, offset: 0, size: big.length }, () => undefined);
      t.destroy(new Error('Transfer aborted'));
      const err = (await t.done.then(() => undefined, (e: unknown) => e)) as TransferError;
      expect(err.message).to.equal('Transfer aborted');
      expect(err.local).to.equal(false);
      t.destroy(); // harmless after the end
    } finally {
      q.close();
    }
  });

  it('holds at most a few chunks queued while a slow reader drains (back-pressure)', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 1);
    const p = await socketPair();
    try {
      p.client.pause();
      let sent = 0;
      const t = sendBytes(p.server, { buffer: big, offset: 0, size: big.length }, (n) => { sent += n; });
      await new Promise((r) => setTimeout(r, 200));
      // only what the kernel's socket buffers took, plus one chunk waiting in the socket: far less than 16 MiB
      expect(p.server.writableLength).to.be.at.most(2 * CHUNK_BYTES);
      expect(sent).to.be.below(big.length);
      let received = 0;
      p.client.on('data', (c: Buffer) => { received += c.length; });
      p.client.resume();
      await t.done;
      p.server.end();
      await new Promise((r) => p.client.once('end', r));
      expect(received).to.equal(big.length);
    } finally {
      p.close();
    }
  });
});
