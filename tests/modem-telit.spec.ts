import { expect } from 'chai';
import { AtHost, type PayloadFraming } from '../client-sim/at/host.ts';
import { createModem } from '../client-sim/modem/index.ts';
import { formatTrace, type AtModem } from '../client-sim/modem/core.ts';
import { startFtpPeer, trickyBinary, type FtpPeer } from './support/ftp-peer.ts';

const recvFraming: PayloadFraming = (l) => {
  const m = /^#FTPRECV: (\d+)$/.exec(l);
  return m ? Number(m[1]) : undefined;
};

describe('Telit LE910 emulator (#FTP commands)', () => {
  const FW = trickyBinary(20_000);
  let peer: FtpPeer;
  let modem: AtModem;
  let host: AtHost;

  beforeEach(async () => {
    peer = await startFtpPeer({ 'FW00001': FW, 'UPGRADE.TXT': 'FILE:FW00001\nPATH:/\nSIZE:20000\nVERSION:2\n', 'ota/BIN0002': FW.subarray(0, 1000) });
    modem = createModem('telit', { bufferBytes: 4096 });
    host = new AtHost(modem);
  });
  afterEach(async () => {
    host.close();
    modem.destroy();
    await peer.close();
  });

  async function open(user = peer.user, pass = peer.pass) {
    return host.command(`AT#FTPOPEN="${peer.host}:${peer.port}","${user}","${pass}",1`, { timeoutMs: 10_000 });
  }

  /** Waspmote-style pull loop: #FTPRECV=min(490, remaining) until `size` bytes. */
  async function pull(size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    for (let i = 0; got < size && i < 10_000; i++) {
      const r = await host.command(`AT#FTPRECV=${Math.min(490, size - got)}`, { payload: recvFraming });
      if (r.final !== 'OK') throw new Error(`#FTPRECV failed: ${r.final} after ${got} bytes`);
      got += r.data.length;
      parts.push(r.data);
      if (r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
    }
    return Buffer.concat(parts);
  }

  it('logs in, sizes, downloads with GETPKT/RECV byte-exact, resumes at an offset, logs out', async () => {
    expect((await host.command('AT+CMEE=1')).final).to.equal('OK');
    expect((await open()).final).to.equal('OK');
    expect((await host.command('AT#FTPTYPE=0')).final).to.equal('OK');
    const pwd = await host.command('AT#FTPPWD');
    expect(pwd.lines[0]).to.match(/^#FTPPWD: 257 "\/"/);
    const fs = await host.command('AT#FTPFSIZE="FW00001"');
    expect(fs.lines).to.deep.equal(['#FTPFSIZE: 20000']);
    expect((await host.command('AT#FTPGETPKT="FW00001"')).final).to.equal('OK');
    const got = await pull(20_000);
    expect(got.equals(FW)).to.equal(true);
    // drained: RECV gives 0 until the server's 226 arrived, then reports the closed data port; GETPKT? says eof=1
    let end = 'OK';
    for (let i = 0; i < 500 && end === 'OK'; i++) {
      const r = await host.command('AT#FTPRECV=490', { payload: recvFraming });
      expect(r.data.length).to.equal(0);
      end = r.final;
      if (end === 'OK') await new Promise((res) => setTimeout(res, 5));
    }
    expect(end).to.equal('+CME ERROR: 614');
    expect((await host.command('AT#FTPGETPKT?')).lines).to.deep.equal(['#FTPGETPKT: FW00001,0,1']);
    // resume at 12345
    expect((await host.command('AT#FTPREST=12345')).final).to.equal('OK');
    expect((await host.command('AT#FTPGETPKT="FW00001"')).final).to.equal('OK');
    expect((await host.command('AT#FTPREST?')).lines).to.deep.equal(['#FTPREST: 0']);
    const tail = await pull(20_000 - 12345);
    expect(tail.equals(FW.subarray(12345))).to.equal(true);
    expect((await host.command('AT#FTPCLOSE')).final).to.equal('OK');
    expect((await host.command('AT#FTPCLOSE')).final).to.equal('+CME ERROR: 607');
  });

  it('puts the Waspmote sequence on the wire as USER, PASS, TYPE I, SIZE, PASV, RETR, QUIT (one SIZE), and traces it', async () => {
    const wire: string[] = [];
    const lines: string[] = [];
    const m = createModem('telit', { trace: (e) => { if (e.kind === 'wire') wire.push(e.text); else lines.push(formatTrace(e)); } });
    const h = new AtHost(m);
    try {
      await h.command(`AT#FTPOPEN="${peer.host}:${peer.port}","${peer.user}","${peer.pass}",1`);
      await h.command('AT#FTPTYPE=0');
      await h.command('AT#FTPFSIZE="UPGRADE.TXT"');
      await h.command('AT#FTPGETPKT="UPGRADE.TXT"');
      let got = 0;
      for (let i = 0; i < 200 && got < 41; i++) {
        const r = await h.command('AT#FTPRECV=490', { payload: recvFraming });
        got += r.data.length;
        if (!r.data.length) await new Promise((res) => setTimeout(res, 5));
      }
      expect(got).to.equal(41);
      await h.command('AT#FTPCLOSE');
      const sent = wire.filter((l) => l.startsWith('> ')).map((l) => l.slice(2).split(' ')[0]);
      expect(sent).to.deep.equal(['USER', 'PASS', 'TYPE', 'SIZE', 'PASV', 'RETR', 'QUIT']);
      expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} <- AT#FTPRECV=490$/.test(l))).to.equal(true);
      expect(lines.some((l) => /-> <41 bytes>$/.test(l))).to.equal(true);
    } finally {
      h.close();
      m.destroy();
    }
  });

  it('accepts active mode (wire stays passive), hex view mode, #FTPMSG and #FTPTO?', async () => {
    expect((await host.command(`AT#FTPOPEN="${peer.host}:${peer.port}","${peer.user}","${peer.pass}",0`)).final).to.equal('OK');
    expect((await host.command('AT#FTPTO=250')).final).to.equal('OK');
    expect((await host.command('AT#FTPTO?')).lines).to.deep.equal(['#FTPTO: 250']);
    expect((await host.command('AT#FTPGETPKT="ota/BIN0002",1')).final).to.equal('OK');
    const hex = (l: string) => { const m = /^#FTPRECV: (\d+)$/.exec(l); return m ? 2 * Number(m[1]) : undefined; };
    let text = '';
    for (let i = 0; i < 500 && text.length < 2000; i++) {
      const r = await host.command('AT#FTPRECV=300', { payload: hex });
      text += r.data.toString('latin1');
      if (!r.data.length) await new Promise((res) => setTimeout(res, 5));
    }
    expect(Buffer.from(text, 'hex').equals(FW.subarray(0, 1000))).to.equal(true);
    expect((await host.command('AT#FTPGETPKT?')).lines[0]).to.match(/^#FTPGETPKT: ota\/BIN0002,1,[01]$/);
    const msg = await host.command('AT#FTPMSG');
    expect(msg.lines[0]).to.match(/^#FTPMSG: [12]\d\d /);
  });

  it('a host polling #FTPRECV in a tight loop (no pauses) still receives a file larger than the module buffer', async () => {
    const big = trickyBinary(300_000);
    const p2 = await startFtpPeer({ BIG0001: big });
    const m = createModem('telit');
    const h = new AtHost(m);
    try {
      await h.command(`AT#FTPOPEN="${p2.host}:${p2.port}","${p2.user}","${p2.pass}",1`);
      await h.command('AT#FTPGETPKT="BIG0001"');
      const parts: Buffer[] = [];
      let got = 0;
      for (let i = 0; i < 100_000 && got < big.length; i++) {
        const r = await h.command('AT#FTPRECV=3000', { payload: recvFraming });
        expect(r.final).to.equal('OK');
        parts.push(r.data);
        got += r.data.length;
      }
      expect(Buffer.concat(parts).equals(big)).to.equal(true);
    } finally {
      h.close();
      m.destroy();
      await p2.close();
    }
  });

  it('frames #FTPRECV exactly as \\r\\n#FTPRECV: n\\r\\n<n bytes>\\r\\n\\r\\nOK\\r\\n', async () => {
    await open();
    await host.command('AT#FTPGETPKT="FW00001"');
    // wait until the module buffer holds data
    for (let i = 0; i < 200; i++) {
      const q = await host.command('AT#FTPRECV?');
      if (q.lines[0] !== '#FTPRECV: 0') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    host.hold();
    host.send('AT#FTPRECV=10');
    const want = Buffer.concat([Buffer.from('\r\n#FTPRECV: 10\r\n'), FW.subarray(0, 10), Buffer.from('\r\n\r\nOK\r\n')]);
    const raw = await host.readBytes(want.length, 5000);
    host.release();
    expect(raw.toString('latin1')).to.equal(want.toString('latin1'));
  });

  it('streams #FTPGET as CONNECT, raw bytes, NO CARRIER', async () => {
    await open();
    const c = await host.command('AT#FTPGET="ota/BIN0002"', { expect: ['CONNECT'], rawAfter: true });
    expect(c.final).to.equal('CONNECT');
    const body = await host.readBytes(1000, 5000);
    expect(body.equals(FW.subarray(0, 1000))).to.equal(true);
    await host.waitFor('NO CARRIER', 5000);
  });

  it('#FTPGET cut mid-stream ends with +CME ERROR: 621 instead of NO CARRIER', async () => {
    await host.command('AT+CMEE=1');
    peer.faults.cutAfterBytes = 9000;
    await open();
    const c = await host.command('AT#FTPGET="FW00001"', { expect: ['CONNECT'], rawAfter: true });
    expect(c.final).to.equal('CONNECT');
    const body = await host.readBytes(9000, 5000);
    expect(body.equals(FW.subarray(0, 9000))).to.equal(true);
    expect((await host.waitFor(/^(NO CARRIER|\+CME ERROR)/, 5000)).line).to.equal('+CME ERROR: 621');
  });

  it('reports a missing file as +CME ERROR: 632 and a bad login as 634', async () => {
    await host.command('AT+CMEE=1');
    expect((await open(peer.user, 'wrong')).final).to.equal('+CME ERROR: 634');
    expect((await open()).final).to.equal('OK');
    expect((await host.command('AT#FTPFSIZE="NOFILE1"')).final).to.equal('+CME ERROR: 632');
    expect((await host.command('AT#FTPGETPKT="NOFILE1"')).final).to.equal('+CME ERROR: 632');
    expect((await open()).final).to.equal('+CME ERROR: 608');
  });

  it('answers plain ERROR with CMEE=0 and text with CMEE=2', async () => {
    expect((await host.command('AT#FTPCLOSE')).final).to.equal('ERROR');
    await host.command('AT+CMEE=2');
    expect((await host.command('AT#FTPCLOSE')).final).to.equal('+CME ERROR: not connected');
    expect((await host.command('AT#NOSUCH')).final).to.equal('ERROR');
  });

  it('a data connection cut mid-transfer surfaces as +CME ERROR: 621 after the buffered bytes, never as success', async () => {
    await host.command('AT+CMEE=1');
    peer.faults.cutAfterBytes = 7000;
    await open();
    expect((await host.command('AT#FTPGETPKT="FW00001"')).final).to.equal('OK');
    let got = 0;
    let final = '';
    for (let i = 0; i < 5000; i++) {
      const r = await host.command('AT#FTPRECV=490', { payload: recvFraming });
      if (r.final !== 'OK') { final = r.final; break; }
      expect(FW.subarray(got, got + r.data.length).equals(r.data)).to.equal(true);
      got += r.data.length;
      if (r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
    }
    expect(final).to.equal('+CME ERROR: 621');
    expect(got).to.be.lessThan(20_000);
    expect((await host.command('AT#FTPGETPKT?')).lines[0]).to.match(/,0$/);
  });

  it('lost tail bytes (data connection closed early, server replied 226) → +CME ERROR: 621, not eof', async () => {
    await host.command('AT+CMEE=1');
    peer.faults.truncateAfterBytes = 12_000;
    await open();
    await host.command('AT#FTPGETPKT="FW00001"');
    let got = 0;
    let final = '';
    for (let i = 0; i < 5000 && !final; i++) {
      const r = await host.command('AT#FTPRECV=490', { payload: recvFraming });
      if (r.final !== 'OK') final = r.final;
      got += r.data.length;
      if (r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
    }
    expect(final).to.equal('+CME ERROR: 621');
    expect(got).to.equal(12_000);
    expect((await host.command('AT#FTPGETPKT?')).lines[0]).to.equal('#FTPGETPKT: FW00001,0,0');
  });

  it('a stalled data connection surfaces as +CME ERROR: 633 once #FTPTO passes', async () => {
    await host.command('AT+CMEE=1');
    peer.faults.stallAfterBytes = 3000;
    await open();
    expect((await host.command('AT#FTPTO=5')).final).to.equal('OK'); // 500 ms
    expect((await host.command('AT#FTPGETPKT="FW00001"')).final).to.equal('OK');
    let final = '';
    let got = 0;
    for (let i = 0; i < 2000 && !final; i++) {
      const r = await host.command('AT#FTPRECV=490', { payload: recvFraming });
      if (r.final !== 'OK') final = r.final;
      got += r.data.length;
      if (r.data.length === 0) await new Promise((res) => setTimeout(res, 20));
    }
    expect(final).to.equal('+CME ERROR: 633');
    expect(got).to.equal(3000);
  });

  it('the server going away mid-download is an error, not a hang', async () => {
    await host.command('AT+CMEE=1');
    peer.faults.stallAfterBytes = 5000; // keep the transfer in flight until the server is gone
    await open();
    expect((await host.command('AT#FTPGETPKT="FW00001"')).final).to.equal('OK');
    const first = await host.command('AT#FTPRECV=100', { payload: recvFraming });
    expect(first.final).to.equal('OK');
    await peer.stop();
    let final = '';
    for (let i = 0; i < 5000 && !final; i++) {
      const r = await host.command('AT#FTPRECV=490', { payload: recvFraming });
      if (r.final !== 'OK') final = r.final;
      if (r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
    }
    expect(final).to.equal('+CME ERROR: 621');
  });
});
