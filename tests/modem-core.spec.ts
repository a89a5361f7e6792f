import { expect } from 'chai';
import { Duplex } from 'node:stream';
import { Client, FTPError } from 'basic-ftp';
import { startFaultProxy } from '../client-sim/net/fault-proxy.ts';
import { holdPartialReplyLines } from '../client-sim/modem/ftp-session.ts';
import { AtHost, AtTimeoutError } from '../client-sim/at/host.ts';
import {
  AtModem, FtpFailure, FtpSession, ModuleFs, ModuleFsError, classifyFtpError, codeFor, formatTrace,
  resolveTiming, withOverrides, type ErrorCodeTable, type TraceEvent,
} from '../client-sim/modem/core.ts';
import { createModem, modemFamilies } from '../client-sim/modem/index.ts';
import { startFtpPeer, trickyBinary, type FtpPeer } from './support/ftp-peer.ts';

/** A minimal dialect on the core, to test the interpreter itself. */
class TestModem extends AtModem {
  protected readonly errorTable: ErrorCodeTable = {
    codes: { dns: 1, connect: 2, login: 3, notFound: 4, dataConnection: 5, timeout: 6, dropped: 7, busy: 8, notConnected: 9, unexpected: 10 },
  };
  constructor(o: ConstructorParameters<typeof AtModem>[1] = {}) {
    super('test', o);
    // +BIN=<n>: a counted payload of n bytes of AT-looking text, then OK
    this.register('+BIN', async (a) => {
      const n = Number(a.slice(1));
      const body = Buffer.alloc(n, '\r\nOK\r\n');
      this.info(`+BIN: ${n}`);
      await this.raw(body);
      this.ok();
    });
    this.register('+SLOW', async () => { await new Promise((r) => setTimeout(r, 30)); this.ok(); });
    this.register('+URC', () => { this.ok(); setTimeout(() => this.urc('+EVT: 1'), 5); });
    this.register('+FAIL', () => this.cmeError(this.errorCode({ kind: 'notFound', phase: 'command' })));
  }
}

describe('modem core: AtModem + AtHost', () => {
  let modem: TestModem;
  let host: AtHost;
  const events: TraceEvent[] = [];
  beforeEach(() => {
    events.length = 0;
    modem = new TestModem({ trace: (e) => events.push(e) });
    host = new AtHost(modem, { payload: (l) => { const m = /^\+BIN: (\d+)$/.exec(l); return m ? Number(m[1]) : undefined; } });
  });
  afterEach(() => { host.close(); modem.destroy(); });

  it('answers AT, unknown commands with ERROR, and follows AT+CMEE for errors', async () => {
    expect(await host.command('AT')).to.deep.include({ final: 'OK', lines: [] });
    expect((await host.command('AT+NOPE')).final).to.equal('ERROR');
    expect((await host.command('AT+FAIL')).final).to.equal('ERROR');
    await host.command('AT+CMEE=1');
    expect((await host.command('AT+FAIL')).final).to.equal('+CME ERROR: 4');
    await host.command('AT+CMEE=2');
    expect((await host.command('AT+FAIL')).final).to.equal('+CME ERROR: error 4');
    expect((await host.command('AT+CMEE?')).lines).to.deep.equal(['+CMEE: 2']);
  });

  it('echo is off by default; ATE1 echoes and the host drops the echo', async () => {
    await host.command('ATE1');
    const r = await host.command('AT+CMEE?');
    expect(r.lines).to.deep.equal(['+CMEE: 0']);
    await host.command('ATE0');
  });

  it('counts payload bytes: a payload made of "\\r\\nOK\\r\\n" does not end the reply', async () => {
    const r = await host.command('AT+BIN=600');
    expect(r.final).to.equal('OK');
    expect(r.data.equals(Buffer.alloc(600, '\r\nOK\r\n'))).to.equal(true);
    expect(r.lines).to.deep.equal(['+BIN: 600']);
  });

  it('processes commands one at a time, in order, and keeps early URCs for waitFor', async () => {
    const [a, b, c] = await Promise.all([host.command('AT+SLOW'), host.command('AT+URC'), host.command('AT+BIN=3')]);
    expect([a.final, b.final, c.final]).to.deep.equal(['OK', 'OK', 'OK']);
    await new Promise((r) => setTimeout(r, 20));
    expect((await host.waitFor('+EVT:', 1000)).line).to.equal('+EVT: 1');
  });

  it('rejects with AtTimeoutError when nothing answers', async () => {
    const mute = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
    const h = new AtHost(mute);
    let err: unknown;
    try { await h.command('AT', { timeoutMs: 50 }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(AtTimeoutError);
    let err2: unknown;
    try { await h.waitFor('+X', 30); } catch (e) { err2 = e; }
    expect(err2).to.be.instanceOf(AtTimeoutError);
    mute.destroy();
  });

  it('traces commands, replies, URCs and payload sizes; formatTrace prints serial-monitor lines', async () => {
    await host.command('AT+URC');
    await host.waitFor('+EVT', 1000);
    await host.command('AT+BIN=5');
    const kinds = events.map((e) => `${e.kind}:${e.text}`);
    expect(kinds).to.include.members(['cmd:AT+URC', 'reply:OK', 'urc:+EVT: 1', 'data:<5 bytes>']);
    expect(formatTrace(events[0]!)).to.match(/^\d\d:\d\d:\d\d\.\d{3} <- AT\+URC$/);
    expect(formatTrace(events[1]!)).to.match(/^\d\d:\d\d:\d\d\.\d{3} -> OK$/);
  });
});

describe('modem core: errors, module FS, timing, registry', () => {
  it('classifies FTP replies and socket errors into failure kinds', () => {
    expect(classifyFtpError(new FTPError({ code: 530, message: '530 Login incorrect' }), 'login').kind).to.equal('login');
    expect(classifyFtpError(new FTPError({ code: 550, message: '550 No such file' }), 'command').kind).to.equal('notFound');
    expect(classifyFtpError(new FTPError({ code: 425, message: '425 no data' }), 'data').kind).to.equal('dataConnection');
    expect(classifyFtpError(new FTPError({ code: 426, message: '426 aborted' }), 'data').kind).to.equal('dropped');
    expect(classifyFtpError(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), 'connect').kind).to.equal('dns');
    expect(classifyFtpError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'connect').kind).to.equal('connect');
    expect(classifyFtpError(new Error('Timeout (data socket)'), 'data').kind).to.equal('timeout');
    expect(classifyFtpError(new Error('Server closed connection unexpectedly.'), 'command').kind).to.equal('dropped');
    expect(classifyFtpError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'data').kind).to.equal('dropped');
    const f = new FtpFailure('busy', 'command', 'x');
    expect(classifyFtpError(f, 'data')).to.equal(f);
  });

  it('maps kinds to codes with data-phase overrides and user overrides', () => {
    const t: ErrorCodeTable = { codes: { dns: 1, connect: 2, login: 3, notFound: 4, dataConnection: 5, timeout: 6, dropped: 7, busy: 8, notConnected: 9, unexpected: 10 }, dataCodes: { dropped: 70 } };
    expect(codeFor(t, { kind: 'dropped', phase: 'command' })).to.equal(7);
    expect(codeFor(t, { kind: 'dropped', phase: 'data' })).to.equal(70);
    expect(codeFor(withOverrides(t, { dropped: 99 }), { kind: 'dropped', phase: 'data' })).to.equal(99);
  });

  it('module FS enforces its capacity and reports missing files', () => {
    const fs = new ModuleFs({ capacity: 10 });
    fs.write('a', Buffer.from('12345'));
    fs.append('a', Buffer.from('678'));
    expect(fs.read('a', 2, 3).toString()).to.equal('345');
    expect(() => fs.write('b', Buffer.alloc(3))).to.throw(ModuleFsError, /full/);
    expect(() => fs.size('zz')).to.throw(ModuleFsError, /no such module file/);
    fs.truncate('a', 2);
    expect(fs.size('a')).to.equal(2);
  });

  it('resolves timing presets and overrides, and refuses negative values', () => {
    expect(resolveTiming('telit').responseDelayMs).to.equal(0);
    const r = resolveTiming('telit', 'realistic');
    expect(r.loginDelayMs).to.be.greaterThan(0);
    expect(resolveTiming('ichip', { preset: 'realistic', silenceErrorMs: 7 }).silenceErrorMs).to.equal(7);
    expect(() => resolveTiming('telit', { ftpTimeoutMs: -1 })).to.throw(RangeError, /ftpTimeoutMs/);
  });

  it('createModem knows every family of this helper and names them on a typo', () => {
    expect(modemFamilies()).to.include.members(['telit', 'simcom900', 'simcom800', 'simcom5215', 'ichip']);
    expect(() => createModem('telitt')).to.throw(/unknown modem family "telitt" \(known: .*telit/);
  });
});

describe('modem core: FtpSession against a real FTP server', () => {
  const FW = trickyBinary(50_000);
  const BIG = trickyBinary(1_000_000);
  let peer: FtpPeer;
  beforeEach(async () => { peer = await startFtpPeer({ 'FW00001': FW, 'dir/F2': 'hello', 'BIG0001': BIG }); });
  afterEach(async () => { await peer.close(); });
  const open = () => FtpSession.open({ host: peer.host, port: peer.port, user: peer.user, pass: peer.pass, timeoutMs: 3000 });

  it('sizes, lists raw, downloads whole and from an offset, and logs the wire', async () => {
    const wire: string[] = [];
    const s = await FtpSession.open({ host: peer.host, port: peer.port, user: peer.user, pass: peer.pass, timeoutMs: 3000, wireTrace: (l) => wire.push(l) });
    await s.type(true);
    expect(await s.size('FW00001')).to.equal(50_000);
    expect((await s.listRaw('dir/F2')).toString()).to.match(/\s5\s.*F2/);
    expect((await s.getBuffer('FW00001')).equals(FW)).to.equal(true);
    expect((await s.getBuffer('FW00001', { offset: 49_000 })).equals(FW.subarray(49_000))).to.equal(true);
    await s.cwd('dir');
    expect((await s.pwd()).path).to.equal('/dir');
    expect(await s.close()).to.equal(true);
    expect(wire).to.include.members(['> TYPE I', '> SIZE FW00001', '> REST 49000', '> QUIT']);
    expect(wire.some((l) => l.startsWith('> PASV'))).to.equal(true);
  });

  it('sends TYPE <configured> once before the first SIZE/RETR, again only when the configuration changes', async () => {
    const wire: string[] = [];
    const s = await FtpSession.open({ host: peer.host, port: peer.port, user: peer.user, pass: peer.pass, timeoutMs: 3000,
      transferType: 'I', wireTrace: (l) => wire.push(l) });
    expect((await s.getBuffer('FW00001')).equals(FW)).to.equal(true);
    expect(await s.size('FW00001')).to.equal(50_000);
    s.setTransferType('A');
    await s.size('dir/F2');
    s.setTransferType('A');
    await s.size('dir/F2');
    await s.close();
    const sent = wire.filter((l) => l.startsWith('> ')).map((l) => l.slice(2));
    expect(sent.filter((c) => /^(TYPE|SIZE|RETR)/.test(c))).to.deep.equal(
      ['TYPE I', 'SIZE FW00001', 'RETR FW00001', 'SIZE FW00001', 'TYPE A', 'SIZE dir/F2', 'SIZE dir/F2']);
    const none: string[] = [];
    const t = await FtpSession.open({ host: peer.host, port: peer.port, user: peer.user, pass: peer.pass, timeoutMs: 3000, wireTrace: (l) => none.push(l) });
    await t.size('FW00001').catch(() => undefined);
    await t.close();
    expect(none.filter((l) => l.startsWith('> TYPE'))).to.deep.equal([]); // no configured type: the server's default stands
  });

  it('reads server replies the network split right after the reply code (basic-ftp alone misreads them)', async () => {
    // A segment holding only "220" looks like a complete reply to basic-ftp 6.2.3; holdPartialReplyLines fixes it.
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: peer.directPort },
      faults: { kind: 'split', on: 'control', direction: 'down', maxSegment: 3, gapMs: 5 },
    });
    try {
      const s = await FtpSession.open({ host: proxy.host, port: proxy.port, user: peer.user, pass: peer.pass, timeoutMs: 5000 });
      await s.type(true);
      expect(await s.size('FW00001')).to.equal(50_000);
      expect((await s.getBuffer('FW00001')).equals(FW)).to.equal(true);
      expect(await s.close()).to.equal(true);
    } finally {
      await proxy.close();
    }
  });

  it('finds basic-ftp\'s control-data hook point (fails if the library changes underneath)', () => {
    const c = new Client();
    expect(typeof (c.ftp as unknown as { _onControlSocketData: unknown })._onControlSocketData).to.equal('function');
    expect(() => holdPartialReplyLines(c)).not.to.throw();
    c.close();
  });

  it('back-pressures the data connection at the module buffer size and still delivers every byte', async () => {
    const s = await open();
    const dl = await s.startDownload('BIG0001', { capacity: 1000 });
    await dl.started;
    await new Promise((r) => setTimeout(r, 50));
    // what passed into the module buffer is bounded by capacity + one socket chunk + the sink's high-water mark
    expect(dl.received).to.be.lessThan(300_000);
    const parts: Buffer[] = [];
    while (!dl.drained) {
      if (dl.failure) throw dl.failure;
      if (dl.available) parts.push(dl.read(4096));
      else await dl.waitChange(1000);
    }
    expect(Buffer.concat(parts).equals(BIG)).to.equal(true);
    await s.close();
  });

  it('a transfer the server ends early with 226 is "dropped", not success (SIZE check)', async () => {
    peer.faults.truncateAfterBytes = 10_000;
    const s = await open();
    let err: unknown;
    try { await s.getBuffer('FW00001'); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(FtpFailure);
    expect((err as FtpFailure).kind).to.equal('dropped');
    expect((err as FtpFailure).message).to.match(/10000 of 50000/);
    s.destroy();
  });

  it('refused login → login; missing file → notFound; calls after close → notConnected', async () => {
    let err: unknown;
    try { await FtpSession.open({ host: peer.host, port: peer.port, user: peer.user, pass: 'x', timeoutMs: 3000 }); } catch (e) { err = e; }
    expect((err as FtpFailure).kind).to.equal('login');
    const s = await open();
    let e2: unknown;
    try { await s.size('NOPE'); } catch (e) { e2 = e; }
    expect((e2 as FtpFailure).kind).to.equal('notFound');
    await s.close();
    let e3: unknown;
    try { await s.size('FW00001'); } catch (e) { e3 = e; }
    expect((e3 as FtpFailure).kind).to.equal('notConnected');
  });
});
