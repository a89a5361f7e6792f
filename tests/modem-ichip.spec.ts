import { expect } from 'chai';
import { AtHost, type CommandOptions } from '../client-sim/at/host.ts';
import { createModem } from '../client-sim/modem/index.ts';
import type { AtModem } from '../client-sim/modem/core.ts';
import { closedPort, startFtpPeer, trickyBinary, type FtpPeer } from './support/ftp-peer.ts';

/** How a host reads AT+iFRCV: I/OK, I/<sz> + sz raw bytes, then I/ONLINE (or I/ERROR (n)). */
const FRCV: CommandOptions = {
  finals: [/^I\/ONLINE$/, /^I\/ERROR/],
  payload: (l) => { const m = /^I\/(\d+)$/.exec(l); return m ? Number(m[1]) : undefined; },
  timeoutMs: 10_000,
};

describe('iChip WiFi PRO emulator (AT+iF*)', () => {
  const FW = trickyBinary(6_000);
  let peer: FtpPeer;
  let modem: AtModem;
  let host: AtHost;

  beforeEach(async () => {
    peer = await startFtpPeer({ 'FW00001': FW, 'ota/BIN0002': FW.subarray(100, 400) });
    modem = createModem('ichip', { bufferBytes: 2048 });
    host = new AtHost(modem);
  });
  afterEach(async () => {
    host.close();
    modem.destroy();
    await peer.close();
  });

  const fopn = (pass = peer.pass, port = peer.port) =>
    host.command(`AT+iFOPN:${peer.host},${port}:${peer.user},${pass}`, { expect: [/^I\/\d+$/] });

  it('opens a session, sizes, receives byte-exact (AT-looking bytes included), changes directory, closes', async () => {
    expect((await host.command('AT+i')).final).to.equal('I/OK');
    const o = await fopn();
    expect(o.final).to.equal('I/0');
    const sz = await host.command('AT+iFSZ:0,FW00001', { expect: [/^I\/\d+$/] });
    expect(sz.final).to.equal('I/6000');
    const r = await host.command('AT+iFRCV:0,FW00001', FRCV);
    expect(r.lines).to.deep.equal(['I/OK', 'I/6000']);
    expect(r.final).to.equal('I/ONLINE');
    expect(r.data.equals(FW)).to.equal(true);
    const r2 = await host.command('AT+iFRCV:0,/ota/BIN0002', FRCV);
    expect(r2.final).to.equal('I/ONLINE');
    expect(r2.data.equals(FW.subarray(100, 400))).to.equal(true);
    expect((await host.command('AT+iFCWD:0,/ota')).final).to.equal('I/OK');
    expect((await host.command('AT+iFRCV:0,BIN0002', FRCV)).data.length).to.equal(300);
    expect((await host.command('AT+iFCLS:0')).final).to.equal('I/OK');
    expect((await host.command('AT+iFCLS:0')).final).to.equal('I/ERROR (506)');
  });

  it('errors: bad login 509, missing file 510 (size and receive), unknown handle 506, no server 508, handles exhausted 505', async () => {
    expect((await fopn('wrong')).final).to.equal('I/ERROR (509)');
    expect((await fopn()).final).to.equal('I/0');
    expect((await host.command('AT+iFSZ:0,NOFILE1', { expect: [/^I\/\d+$/] })).final).to.equal('I/ERROR (510)');
    const r = await host.command('AT+iFRCV:0,NOFILE1', FRCV);
    expect(r.lines).to.deep.equal(['I/OK']);
    expect(r.final).to.equal('I/ERROR (510)');
    expect((await host.command('AT+iFSZ:7,FW00001', { expect: [/^I\/\d+$/] })).final).to.equal('I/ERROR (506)');
    expect((await fopn(peer.pass, await closedPort())).final).to.equal('I/ERROR (508)');
    expect((await fopn()).final).to.equal('I/1');
    expect((await fopn()).final).to.equal('I/ERROR (505)');
  });

  it('a data connection cut mid-stream ends with I/ERROR, never I/ONLINE', async () => {
    peer.faults.cutAfterBytes = 2500;
    await fopn();
    // read as a byte-counting host does: stop line parsing at I/<sz>, take what arrives raw
    const head = await host.command('AT+iFRCV:0,FW00001', { finals: [/^I\/\d+$/, /^I\/ERROR/], rawAfter: true });
    expect([...head.lines, head.final]).to.deep.equal(['I/OK', 'I/6000']);
    const got = await host.readBytes(2500, 5000);
    expect(got.equals(FW.subarray(0, 2500))).to.equal(true);
    // only 2500 of the announced 6000 bytes came; the stream ends with I/ERROR and never I/ONLINE
    expect((await host.waitFor(/^I\/(ERROR|ONLINE)/, 5000)).line).to.equal('I/ERROR (513)');
  });

  it('a stalled stream ends with I/ERROR (510) after the FTP timeout and the silence period', async () => {
    host.close();
    modem.destroy();
    modem = createModem('ichip', { timing: { ftpTimeoutMs: 400, silenceErrorMs: 50 } });
    host = new AtHost(modem);
    peer.faults.stallAfterBytes = 1000;
    await fopn();
    const head = await host.command('AT+iFRCV:0,FW00001', { finals: [/^I\/\d+$/, /^I\/ERROR/], rawAfter: true });
    expect(head.final).to.equal('I/6000');
    const got = await host.readBytes(1000, 5000);
    expect(got.equals(FW.subarray(0, 1000))).to.equal(true);
    expect((await host.waitFor(/^I\/(ERROR|ONLINE)/, 5000)).line).to.equal('I/ERROR (510)');
  });

  it('the server stopping mid-stream → I/ERROR (513), not I/ONLINE and not a hang', async () => {
    peer.faults.stallAfterBytes = 1500;
    await fopn();
    const head = await host.command('AT+iFRCV:0,FW00001', { finals: [/^I\/\d+$/, /^I\/ERROR/], rawAfter: true });
    expect(head.final).to.equal('I/6000');
    const got = await host.readBytes(1500, 5000);
    expect(got.equals(FW.subarray(0, 1500))).to.equal(true);
    await peer.stop();
    expect((await host.waitFor(/^I\/(ERROR|ONLINE)/, 5000)).line).to.equal('I/ERROR (513)');
  });
});
