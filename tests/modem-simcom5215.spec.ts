import { expect } from 'chai';
import { AtHost, type PayloadFraming } from '../client-sim/at/host.ts';
import { createModem } from '../client-sim/modem/index.ts';
import { ModuleFs, type AtModem } from '../client-sim/modem/core.ts';
import { closedPort, startFtpPeer, trickyBinary, type FtpPeer } from './support/ftp-peer.ts';

const framing: PayloadFraming = (l) => {
  const m = /^\+(?:CFTPGET|CFTPLIST): DATA,(\d+)$/.exec(l);
  return m ? Number(m[1]) : undefined;
};

describe('SIMCom SIM5215/SIM5320 emulator (+CFTP*)', () => {
  const FW = trickyBinary(5_000);
  let peer: FtpPeer;
  let modem: AtModem;
  let host: AtHost;

  beforeEach(async () => {
    peer = await startFtpPeer({ 'FW00001': FW });
    modem = createModem('simcom5215', { bufferBytes: 2048 });
    host = new AtHost(modem, { payload: framing });
  });
  afterEach(async () => {
    host.close();
    modem.destroy();
    await peer.close();
  });

  /** `AT+FSATTRI=<name>`: the size before the ','. */
  async function fsSize(name: string): Promise<number> {
    const r = await host.command(`AT+FSATTRI=${name}`);
    expect(r.final).to.equal('OK');
    return Number(/^\+FSATTRI: (\d+),/.exec(r.lines[0] ?? '')?.[1]);
  }

  /** `AT+CTXFILE="<name>"` and an XMODEM (checksum) receive of `size` bytes, as Wasp3G getXModemFile drives it. */
  async function xmodemGet(name: string, size: number): Promise<Buffer> {
    expect((await host.command(`AT+CTXFILE="${name}"`)).final).to.equal('OK');
    host.hold();
    const parts: Buffer[] = [];
    host.sendRaw(Buffer.from([0x15]));
    for (let block = 1; ; block++) {
      const first = await host.readBytes(1, 5000);
      if (first[0] === 0x04) { host.sendRaw(Buffer.from([0x06])); break; }
      const rest = await host.readBytes(131, 5000);
      expect([first[0], rest[0], rest[1]]).to.deep.equal([0x01, block & 0xff, 255 - (block & 0xff)]);
      const data = rest.subarray(2, 130);
      expect(data.reduce((a, b) => (a + b) & 0xff, 0)).to.equal(rest[130]);
      parts.push(Buffer.from(data));
      host.sendRaw(Buffer.from([0x06]));
    }
    host.release();
    return Buffer.concat(parts).subarray(0, size);
  }

  async function setup(pass = peer.pass) {
    for (const c of [`AT+CFTPSERV="${peer.host}"`, `AT+CFTPPORT=${peer.port}`, 'AT+CFTPMODE=1', 'AT+CFTPTYPE=I',
      `AT+CFTPUN="${peer.user}"`, `AT+CFTPPW="${pass}"`]) {
      expect((await host.command(c)).final, c).to.equal('OK');
    }
  }

  /** Collect `<name>: DATA` frames until `<name>: <code>`. */
  async function collect(name: string): Promise<{ data: Buffer; end: string }> {
    const parts: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) {
      const ev = await host.waitFor(`${name}: `, 5000);
      if (ev.payload) parts.push(ev.payload);
      else return { data: Buffer.concat(parts), end: ev.line };
    }
    throw new Error('too many frames');
  }

  it('lists (size from the 5th token), streams +CFTPGET byte-exact, resumes, downloads to the module FS', async () => {
    await setup();
    expect((await host.command('AT+CFTPLIST="FW00001"')).final).to.equal('OK');
    const ls = await collect('+CFTPLIST');
    expect(ls.end).to.equal('+CFTPLIST: 0');
    expect(ls.data.toString().trim().split(/\s+/)[4]).to.equal('5000');

    expect((await host.command('AT+CFTPGET="FW00001"')).final).to.equal('OK');
    const all = await collect('+CFTPGET');
    expect(all.end).to.equal('+CFTPGET: 0');
    expect(all.data.equals(FW)).to.equal(true);

    await host.command('AT+CFTPGET="/FW00001",1234');
    const tail = await collect('+CFTPGET');
    expect(tail.end).to.equal('+CFTPGET: 0');
    expect(tail.data.equals(FW.subarray(1234))).to.equal(true);

    expect((await host.command('AT+CFTPGETFILE="/FW00001",0')).final).to.equal('OK');
    expect((await host.waitFor('+CFTPGETFILE:', 5000)).line).to.equal('+CFTPGETFILE: 0');
    expect(await fsSize('FW00001')).to.equal(5000);
    expect((await xmodemGet('FW00001', 5000)).equals(FW)).to.equal(true);
    expect((await host.command('AT+FSDEL=FW00001')).final).to.equal('OK');
    expect((await host.command('AT+FSATTRI=FW00001')).final).to.equal('ERROR');
    const missing = await host.command('AT+CTXFILE="FW00001"');
    expect([...missing.lines, missing.final]).to.deep.equal(['FILE NOT EXISTING', 'ERROR']);
  });

  it('resumes +CFTPGETFILE with <rest_size> after a cut transfer, which itself reported an error', async () => {
    await setup();
    peer.faults.cutAfterBytes = 3000;
    await host.command('AT+CFTPGETFILE="FW00001",0');
    const first = (await host.waitFor('+CFTPGETFILE:', 5000)).line;
    expect(first).to.not.equal('+CFTPGETFILE: 0');
    expect(await fsSize('FW00001')).to.equal(3000);
    peer.faults.cutAfterBytes = undefined;
    await host.command('AT+CFTPGETFILE="FW00001",0,3000');
    expect((await host.waitFor('+CFTPGETFILE:', 5000)).line).to.equal('+CFTPGETFILE: 0');
    expect((await xmodemGet('FW00001', 5000)).equals(FW)).to.equal(true);
  });

  it('missing file → 213; unreachable server → 219; bad login → the configurable placeholder', async () => {
    await setup();
    await host.command('AT+CFTPGETFILE="NOFILE1",0');
    expect((await host.waitFor('+CFTPGETFILE:', 5000)).line).to.equal('+CFTPGETFILE: 213');
    await host.command('AT+CFTPGET="NOFILE1"');
    expect((await collect('+CFTPGET')).end).to.equal('+CFTPGET: 213');
    await host.command(`AT+CFTPPORT=${await closedPort()}`);
    await host.command('AT+CFTPGET="FW00001"');
    expect((await collect('+CFTPGET')).end).to.equal('+CFTPGET: 219');
    await setup('wrong');
    await host.command('AT+CFTPGET="FW00001"');
    expect((await collect('+CFTPGET')).end).to.equal('+CFTPGET: 201');
    host.close();
    modem.destroy();
    modem = createModem('simcom5215', { errorCodes: { login: 211 } });
    host = new AtHost(modem, { payload: framing });
    await setup('wrong');
    await host.command('AT+CFTPGET="FW00001"');
    expect((await collect('+CFTPGET')).end).to.equal('+CFTPGET: 211');
  });

  it('a cut data connection ends +CFTPGET with an error after the frames, never with +CFTPGET: 0', async () => {
    await setup();
    peer.faults.cutAfterBytes = 2500;
    await host.command('AT+CFTPGET="FW00001"');
    const r = await collect('+CFTPGET');
    expect(r.end).to.equal('+CFTPGET: 201');
    expect(r.data.equals(FW.subarray(0, 2500))).to.equal(true);
  });

  it('a stalled data connection → +CFTPGET: 219 after the FTP timeout', async () => {
    host.close();
    modem.destroy();
    modem = createModem('simcom5215', { timing: { ftpTimeoutMs: 400 } });
    host = new AtHost(modem, { payload: framing });
    await setup();
    peer.faults.stallAfterBytes = 1000;
    await host.command('AT+CFTPGET="FW00001"');
    const r = await collect('+CFTPGET');
    expect(r.end).to.equal('+CFTPGET: 219');
    expect(r.data.length).to.equal(1000);
  });

  it('the server stopping mid-transfer → an error URC, never +CFTPGET: 0', async () => {
    await setup();
    peer.faults.stallAfterBytes = 2000;
    await host.command('AT+CFTPGET="FW00001"');
    await host.waitFor('+CFTPGET: DATA', 5000);
    await peer.stop();
    const r = await collect('+CFTPGET');
    expect(r.end).to.equal('+CFTPGET: 201');
  });

  it('a full module file system or a rest_size past the stored file ends +CFTPGETFILE with an error, not 0', async () => {
    host.close();
    modem.destroy();
    modem = createModem('simcom5215', { fs: new ModuleFs({ capacity: 4000 }) });
    host = new AtHost(modem, { payload: framing });
    await setup();
    await host.command('AT+CFTPGETFILE="FW00001",0');
    expect((await host.waitFor('+CFTPGETFILE:', 5000)).line).to.equal('+CFTPGETFILE: 201');
    await host.command('AT+CFTPGETFILE="FW00001",0,4500');
    expect((await host.waitFor('+CFTPGETFILE:', 5000)).line).to.equal('+CFTPGETFILE: 201');
  });
});
