// Units of the FTP layer (server/ftp/): the line reader, the reply writer, the passive port pool, and the command
// table with its one pre-dispatch step (checked for every entry over a real control connection).
import { expect } from 'chai';
import net from 'node:net';
import { COMMANDS } from '../server/ftp/commands.ts';
import { LineReader, TOO_LONG, stripTelnet, type LineItem } from '../server/ftp/line-reader.ts';
import { formatFacts, formatListLine, timeVal } from '../server/ftp/list-format.ts';
import { PassivePortPool } from '../server/ftp/passive.ts';
import { multiLineReply, quotePath, replyLine } from '../server/ftp/reply.ts';
import { makeRoot, startServer, type TestRoot, type TestServer } from './support/ftp-fixtures.ts';
import { RawFtp } from './support/raw-ftp.ts';

function feed(reader: LineReader, ...chunks: (string | Buffer)[]): LineItem[] {
  const out: LineItem[] = [];
  for (const c of chunks) reader.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'latin1'), (l) => out.push(l));
  return out;
}

describe('ftp units: line reader', () => {
  it('joins a command split across chunks, accepts CRLF and bare LF, skips empty lines', () => {
    const r = new LineReader(100);
    expect(feed(r, 'SI', 'ZE f\r', '\nNOOP\n\r\n\r\n  \r\nPWD\r\n')).to.deep.equal(['SIZE f', 'NOOP', 'PWD']);
    expect(r.pendingBytes).to.equal(0);
  });

  it('turns a line over the limit into one TOO_LONG, drops the rest of it, and carries on', () => {
    const r = new LineReader(10);
    const out = feed(r, 'RETR ' + 'A'.repeat(20), 'B'.repeat(5000), '\r\nNOOP\r\n');
    expect(out).to.deep.equal([TOO_LONG, 'NOOP']);
    expect(feed(r, `${'C'.repeat(11)}\r\n`)).to.deep.equal([TOO_LONG]);
    expect(feed(r, `${'C'.repeat(10)}\r\n`)).to.deep.equal(['C'.repeat(10)]);
    // never holds more than the limit of an unfinished line
    feed(r, 'D'.repeat(9));
    expect(r.pendingBytes).to.equal(9);
    r.reset();
    expect(r.pendingBytes).to.equal(0);
  });

  it('removes telnet IAC sequences and keeps IAC IAC as one 0xFF byte', () => {
    expect(stripTelnet(Buffer.from([0xff, 0xf4, 0xff, 0xf2, 0x41]))).to.deep.equal(Buffer.from('A'));
    expect(stripTelnet(Buffer.from([0x41, 0xff, 0xfb, 0x01, 0x42]))).to.deep.equal(Buffer.from('AB'));
    expect(stripTelnet(Buffer.from([0x41, 0xff, 0xff]))).to.deep.equal(Buffer.from([0x41, 0xff]));
    const r = new LineReader(100);
    expect(feed(r, Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from('ABOR\r\n')]))).to.deep.equal(['ABOR']);
  });
});

describe('ftp units: replies and listing formats', () => {
  it('writes one-line and RFC 959 §4.2 multi-line replies; no CR/LF from the text reaches the wire', () => {
    expect(replyLine(200, 'ok')).to.equal('200 ok\r\n');
    expect(replyLine(550, 'a\r\n421 forged')).to.equal('550 a  421 forged\r\n');
    expect(multiLineReply(211, 'Extensions supported', ['EPSV', ' SIZE', '213 not a code'], 'End'))
      .to.equal('211-Extensions supported\r\n EPSV\r\n SIZE\r\n 213 not a code\r\n211 End\r\n');
    expect(quotePath('/a"b')).to.equal('"/a""b"');
  });

  it('formats LIST lines in ls -l form with the size as the 5th field, and RFC 3659 facts', () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const file = { name: 'ABCDEFG', size: 204800, mtime: new Date('2026-02-03T04:05:06Z'), isDirectory: () => false };
    expect(formatListLine(file, now)).to.equal('-r--r--r-- 1 ftp ftp 204800 Feb 03 04:05 ABCDEFG');
    const dir = { name: 'ota', size: 4096, mtime: new Date('2024-02-03T04:05:00Z'), isDirectory: () => true };
    expect(formatListLine(dir, now)).to.equal('dr-xr-xr-x 1 ftp ftp 4096 Feb 03 2024 ota');
    expect(timeVal(file.mtime)).to.equal('20260203040506');
    expect(formatFacts(file)).to.equal('type=file;size=204800;modify=20260203040506;perm=r; ABCDEFG');
    expect(formatFacts(dir)).to.equal('type=dir;size=4096;modify=20240203040500;perm=el; ota');
  });
});

describe('ftp units: passive port pool', () => {
  const servers: net.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });
  const listener = () => {
    const s = net.createServer();
    servers.push(s);
    return s;
  };

  it('hands out distinct ports of the range, skips a port someone else holds, and refuses when all are held', async () => {
    // a range of 4 ports, one of which another socket holds
    const probe = listener();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const taken = (probe.address() as net.AddressInfo).port;
    const min = taken - 1;
    const pool = new PassivePortPool('127.0.0.1', min, min + 3);
    const leases = [];
    for (let i = 0; i < 3; i++) {
      try {
        leases.push(await pool.listen(listener(), () => undefined));
      } catch {
        break; // a neighbour port of the range may be in use on this shared machine
      }
    }
    const ports = leases.map((l) => l.port);
    expect(new Set(ports).size).to.equal(ports.length);
    for (const p of ports) expect(p).to.be.within(min, min + 3).and.not.equal(taken);
    let refused: Error | undefined;
    await pool.listen(listener(), () => undefined).catch((err: Error) => (refused = err));
    expect(refused?.message).to.equal('no free passive port');
    expect(pool.held).to.equal(ports.length);
    leases[0]!.release();
    leases[0]!.release(); // idempotent
    expect(pool.held).to.equal(ports.length - 1);
  });
});

describe('ftp units: the command table and its pre-dispatch', function () {
  let t: TestRoot;
  let srv: TestServer;
  before(async () => {
    t = await makeRoot();
    srv = await startServer(t.root);
  });
  after(async () => {
    await srv?.close(500);
    await t?.cleanup();
  });

  it('answers 530 before login for every command that needs it, and lets the others through', async () => {
    const r = await RawFtp.connect(srv.port);
    try {
      for (const c of COMMANDS.values()) {
        if (c.name === 'QUIT' || c.name === 'USER' || c.name === 'PASS' || c.name === 'AUTH') continue;
        const reply = await r.cmd(c.argument === 'none' ? c.name : `${c.name} x`);
        if (c.needsLogin) expect(reply.code, `${c.name} before login: ${reply.text}`).to.equal(530);
        else expect(reply.code, `${c.name} before login: ${reply.text}`).to.not.equal(530);
      }
    } finally {
      r.close();
    }
  });

  it('answers 501 for a missing required argument and for an argument where none is taken, 550 for write commands', async () => {
    const r = await RawFtp.login(srv.port);
    try {
      for (const c of COMMANDS.values()) {
        if (c.name === 'QUIT') continue;
        if (c.refused) {
          const reply = await r.cmd(`${c.name} x`);
          expect(reply.code, c.name).to.equal(550);
          expect(reply.text, c.name).to.contain('Permission denied');
        } else if (c.argument === 'required') {
          expect((await r.cmd(c.name)).code, `${c.name} without argument`).to.equal(501);
        } else if (c.argument === 'none') {
          expect((await r.cmd(`${c.name} x`)).code, `${c.name} with an argument`).to.equal(501);
        }
      }
      expect((await r.cmd('XYZZY')).code, 'unknown verb').to.equal(500);
      expect((await r.cmd('NOOP')).code).to.equal(200);
    } finally {
      r.close();
    }
  });

  it('builds FEAT and HELP from the table', async () => {
    const r = await RawFtp.connect(srv.port);
    try {
      const feat = (await r.cmd('FEAT')).text.split('\r\n').slice(1, -2).map((l) => l.trim());
      const fromTable = [...COMMANDS.values()].filter((c) => c.feat && !c.tlsOnly).map((c) => c.feat!).sort();
      expect(feat).to.deep.equal(fromTable);
      expect(feat).to.not.include('AUTH TLS'); // no TLS configured
      const help = await r.cmd('HELP');
      expect(help.code).to.equal(214);
      const words = help.text.split('\r\n').slice(1, -2).join(' ').split(/\s+/).filter(Boolean).sort();
      expect(words).to.deep.equal([...COMMANDS.values()].filter((c) => !c.refused).map((c) => c.name).sort());
      expect((await r.cmd('HELP RETR')).text).to.equal(`214 Syntax: ${COMMANDS.get('RETR')!.help}\r\n`);
      expect((await r.cmd('HELP STOR')).code).to.equal(502);
    } finally {
      r.close();
    }
  });
});
