import { expect } from 'chai';
import { AtHost, type PayloadFraming } from '../client-sim/at/host.ts';
import { createModem } from '../client-sim/modem/index.ts';
import type { AtModem } from '../client-sim/modem/core.ts';
import { startFtpPeer, trickyBinary, type FtpPeer } from './support/ftp-peer.ts';

const get2: PayloadFraming = (l) => {
  const m = /^\+FTPGET: ?2,(\d+)$/.exec(l);
  return m ? Number(m[1]) : undefined;
};

describe('SIMCom SIM900/SIM800 emulator (+SAPBR, +FTP*)', () => {
  const FW = trickyBinary(9_000);
  let peer: FtpPeer;
  let modem: AtModem;
  let host: AtHost;

  beforeEach(async () => {
    peer = await startFtpPeer({ 'FW00001': FW, 'ota/BIN0002': FW.subarray(0, 777) });
  });
  afterEach(async () => {
    host.close();
    modem.destroy();
    await peer.close();
  });

  function make(family: 'simcom900' | 'simcom800') {
    modem = createModem(family, { bufferBytes: 2048 });
    host = new AtHost(modem, { payload: get2, urcs: [/^\+FTPGET: ?1,/, /^\+FTPSIZE: ?1,/] });
  }

  async function setup(opts: { pass?: string; name?: string; path?: string } = {}) {
    for (const c of ['AT+SAPBR=3,1,"Contype","GPRS"', 'AT+SAPBR=3,1,"APN","internet"', 'AT+SAPBR=1,1',
      'AT+FTPCID=1', 'AT+FTPMODE=1', 'AT+FTPTYPE="I"', `AT+FTPSERV="${peer.host}"`, `AT+FTPPORT=${peer.port}`,
      `AT+FTPUN="${peer.user}"`, `AT+FTPPW="${opts.pass ?? peer.pass}"`, `AT+FTPGETNAME="${opts.name ?? 'FW00001'}"`,
      `AT+FTPGETPATH="${opts.path ?? '/'}"`]) {
      expect((await host.command(c)).final, c).to.equal('OK');
    }
  }

  /** Libelium-style read loop: FTPGET=2,250 until `+FTPGET:1,0` (or an error URC). */
  async function readAll(sep: string): Promise<{ data: Buffer; end: string }> {
    const parts: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) {
      const endUrc = host.backlog().find((e) => new RegExp(`^\\+FTPGET:${sep}1,(?!1$)`).test(e.line));
      const r = await host.command('AT+FTPGET=2,250');
      if (r.final === 'OK') parts.push(r.data);
      if (endUrc && (r.final !== 'OK' || r.data.length === 0)) return { data: Buffer.concat(parts), end: endUrc.line };
      if (r.final !== 'OK' || r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
    }
    throw new Error('no end URC');
  }

  it('SIM900: bearer, size, download byte-exact, resume with FTPREST, session per operation (no space after colon)', async () => {
    make('simcom900');
    await setup();
    expect((await host.command('AT+SAPBR=2,1')).lines).to.deep.equal(['+SAPBR: 1,1,"10.0.0.2"']);
    expect((await host.command('AT+FTPSIZE')).final).to.equal('OK');
    expect((await host.waitFor('+FTPSIZE:', 5000)).line).to.equal('+FTPSIZE:1,0,9000');
    expect((await host.command('AT+FTPSTATE')).lines).to.deep.equal(['+FTPSTATE: 0']);
    expect((await host.command('AT+FTPGET=1')).final).to.equal('OK');
    await host.waitFor('+FTPGET:1,1', 5000);
    const all = await readAll('');
    expect(all.end).to.equal('+FTPGET:1,0');
    expect(all.data.equals(FW)).to.equal(true);
    host.clearBacklog();
    expect((await host.command('AT+FTPREST=4321')).final).to.equal('OK');
    expect((await host.command('AT+FTPGET=1')).final).to.equal('OK');
    await host.waitFor('+FTPGET:1,1', 5000);
    expect((await host.command('AT+FTPREST?')).lines).to.deep.equal(['+FTPREST:0']);
    const tail = await readAll('');
    expect(tail.end).to.equal('+FTPGET:1,0');
    expect(tail.data.equals(FW.subarray(4321))).to.equal(true);
    expect((await host.command('AT+SAPBR=0,1')).final).to.equal('OK');
  });

  it('SIM800: same exchange with a space after the colon, path + name', async () => {
    make('simcom800');
    await setup({ name: 'BIN0002', path: '/ota' });
    await host.command('AT+FTPSIZE');
    expect((await host.waitFor('+FTPSIZE: ', 5000)).line).to.equal('+FTPSIZE: 1,0,777');
    await host.command('AT+FTPGET=1');
    await host.waitFor('+FTPGET: 1,1', 5000);
    const all = await readAll(' ');
    expect(all.end).to.equal('+FTPGET: 1,0');
    expect(all.data.equals(FW.subarray(0, 777))).to.equal(true);
  });

  it('missing file → +FTPSIZE: 1,77,0 and +FTPGET: 1,77; bad password → 72; no bearer → 61', async () => {
    make('simcom800');
    await setup({ name: 'NOFILE1' });
    await host.command('AT+FTPSIZE');
    expect((await host.waitFor('+FTPSIZE: ', 5000)).line).to.equal('+FTPSIZE: 1,77,0');
    await host.command('AT+FTPGET=1');
    expect((await host.waitFor('+FTPGET: 1,', 5000)).line).to.equal('+FTPGET: 1,77');
    await host.command(`AT+FTPPW="nope"`);
    await host.command('AT+FTPGET=1');
    expect((await host.waitFor('+FTPGET: 1,', 5000)).line).to.equal('+FTPGET: 1,72');
    await host.command('AT+SAPBR=0,1');
    await host.command('AT+FTPGET=1');
    expect((await host.waitFor('+FTPGET: 1,', 5000)).line).to.equal('+FTPGET: 1,61');
  });

  it('a data connection cut mid-transfer → +FTPGET: 1,79 and never +FTPGET: 1,0', async () => {
    make('simcom800');
    peer.faults.cutAfterBytes = 5000;
    await setup();
    await host.command('AT+FTPGET=1');
    await host.waitFor('+FTPGET: 1,1', 5000);
    const r = await readAll(' ');
    expect(r.end).to.equal('+FTPGET: 1,79');
    expect(r.data.length).to.equal(5000);
    expect(r.data.equals(FW.subarray(0, 5000))).to.equal(true);
  });

  it('a stalled data connection → +FTPGET: 1,64 (timeout) after the FTP timeout', async () => {
    modem = createModem('simcom800', { timing: { ftpTimeoutMs: 400 } });
    host = new AtHost(modem, { payload: get2, urcs: [/^\+FTPGET: ?1,/] });
    peer.faults.stallAfterBytes = 1000;
    await setup();
    await host.command('AT+FTPGET=1');
    const r = await readAll(' ');
    expect(r.end).to.equal('+FTPGET: 1,64');
    expect(r.data.length).to.equal(1000);
  });

  it('the server stopping mid-download → an error URC, not a hang', async () => {
    make('simcom800');
    peer.faults.stallAfterBytes = 3000; // keep the transfer in flight until the server is gone
    await setup();
    await host.command('AT+FTPGET=1');
    await host.waitFor('+FTPGET: 1,1', 5000);
    await host.command('AT+FTPGET=2,100');
    await peer.stop();
    const r = await readAll(' ');
    expect(r.end).to.equal('+FTPGET: 1,79');
  });

  it('SIM800: AT+FTPGETTOFS=0,"<file>" answers OK, then +FTPGETTOFS: 0,<size> with the file in the module file system', async () => {
    make('simcom800');
    await setup();
    expect((await host.command('AT+FTPGETTOFS=0,"LOCAL.BIN"')).final).to.equal('OK');
    expect((await host.waitFor('+FTPGETTOFS:', 5000)).line).to.equal('+FTPGETTOFS: 0,9000');
    expect(modem.fs.read('LOCAL.BIN', 0, 9000).equals(FW)).to.equal(true);
    expect((await host.command('AT+FTPGETNAME="NOFILE1"')).final).to.equal('OK');
    await host.command('AT+FTPGETTOFS=0,"LOCAL2.BIN"');
    expect((await host.waitFor('+FTPGETTOFS:', 5000)).line).to.match(/^\+FTPGETTOFS: [1-9]\d*,0$/);
  });
});
