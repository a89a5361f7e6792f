import { expect } from 'chai';
import net from 'node:net';
import { QuectelModem, type QuectelOptions } from '../client-sim/modem/quectel.ts';
import { startFaultProxy, type Faults } from '../client-sim/net/fault-proxy.ts';
import { AtSerial } from './support/at-serial.ts';
import { closedPort, startFtpPeer } from './support/ftp-peer.ts';
import { useModemRig } from './support/modem-rig.ts';

const SIZE = 100_000;
/** Firmware-like bytes containing Quectel result text a scanning parser would stop at. */
const FW = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) FW[i] = (i * 59 + 3) & 0xff;
['\r\nOK\r\n', '\r\n+QFTPGET: 0,12\r\n', '\r\nCONNECT 5\r\n', '+QFTPGET: 0,', '\r\n+CME ERROR: 603\r\n'].forEach((t, k) => FW.write(t, 900 + k * 11_000, 'latin1'));

describe('Quectel EC2x/BG96/ECx00 FTP dialect (client-sim/modem/quectel.ts)', function () {
  this.timeout(20_000);
  const rig = useModemRig({ 'fw/FW.bin': FW });
  let modem: QuectelModem | undefined;

  /** A configured modem, logged in (`+QFTPOPEN: 0,0` seen), in /fw; through a fault proxy when `faults` are given. */
  async function opened(opts: QuectelOptions = {}, faults?: Faults): Promise<AtSerial> {
    const port = await rig.port(faults);
    modem = rig.adopt(new QuectelModem({ cmee: 1, trace: rig.trace, ...opts }));
    const at = new AtSerial(modem);
    for (const c of ['AT+QIACT=1', 'AT+QFTPCFG="contextid",1', 'AT+QFTPCFG="account","anonymous","x"',
      'AT+QFTPCFG="filetype",0', 'AT+QFTPCFG="transmode",1']) {
      expect((await at.command(c)).final, c).to.equal('OK');
    }
    expect((await at.command(`AT+QFTPOPEN="127.0.0.1",${port}`)).final).to.equal('OK');
    await at.until(/^\r\n\+QFTPOPEN: 0,0\r\n/);
    await at.command('AT+QFTPCWD="/fw"');
    await at.until(/^\r\n\+QFTPCWD: 0,0\r\n/);
    return at;
  }

  /** `+QFTPGET="FW.bin","COM:"...`: returns the bytes between CONNECT and OK, and the URC's two fields. */
  async function getCom(at: AtSerial, args: string, n: number): Promise<{ data: Buffer; urc: string }> {
    at.send(`AT+QFTPGET="FW.bin","COM:"${args}`);
    await at.until(/^\r\nCONNECT\r\n/);
    const data = await at.take(n);
    const m = await at.until(/^\r\nOK\r\n\r\n\+QFTPGET: (\d+,\d+)\r\n/);
    return { data, urc: m[1]! };
  }

  /** `AT+QFTPSTAT` on EC2x: `OK`, then `+QFTPSTAT: 0,<state>`; returns the state. */
  async function stat(at: AtSerial): Promise<number> {
    at.send('AT+QFTPSTAT');
    return Number((await at.until(/^\r\nOK\r\n\r\n\+QFTPSTAT: 0,(\d)\r\n/))[1]);
  }

  it('open, cwd, pwd (EC21: unquoted), size, GET to COM: byte-exact, stat (OK first), close (UC15 manual sequence)', async () => {
    const at = await opened();
    expect((await at.command('ATI')).lines).to.deep.equal(['Quectel', 'EC21', 'Revision: firmdrop emulator']);
    await at.command('AT+QFTPPWD');
    await at.until(/^\r\n\+QFTPPWD: 0,\/fw\r\n/);
    await at.command('AT+QFTPSIZE="FW.bin"');
    await at.until(new RegExp(`^\\r\\n\\+QFTPSIZE: 0,${SIZE}\\r\\n`));
    const r = await getCom(at, '', SIZE);
    expect(r.data.equals(FW)).to.equal(true);
    expect(r.urc).to.equal(`0,${SIZE}`);
    expect(await stat(at)).to.equal(1);
    expect((await at.command('AT+QFTPCLOSE')).final).to.equal('OK');
    await at.until(/^\r\n\+QFTPCLOSE: 0,0\r\n/);
    expect(await stat(at)).to.equal(4);
  });

  it('EG800K (ECx00 line): +QFTPPWD quoted, +QFTPSTAT line before OK', async () => {
    const at = await opened({ model: 'EG800K' });
    await at.command('AT+QFTPPWD');
    await at.until(/^\r\n\+QFTPPWD: 0,"\/fw"\r\n/);
    expect((await at.command('AT+QFTPSTAT')).lines).to.deep.equal(['+QFTPSTAT: 0,1']);
  });

  it('resume with <startpos>, and <downloadlen> chunks, stay byte-exact on one session', async () => {
    const at = await opened();
    const tail = await getCom(at, ',60000', SIZE - 60_000);
    expect(tail.data.equals(FW.subarray(60_000))).to.equal(true);
    expect(tail.urc).to.equal(`0,${SIZE - 60_000}`);
    const parts: Buffer[] = [];
    for (let pos = 0; pos < 12_000; pos += 4000) {
      const c = await getCom(at, `,${pos},4000`, 4000);
      expect(c.urc).to.equal('0,4000');
      parts.push(c.data);
    }
    expect(Buffer.concat(parts).equals(FW.subarray(0, 12_000))).to.equal(true);
    await at.command('AT+QFTPSIZE="FW.bin"'); // waits for the drain of the last chunk's transfer
    await at.until(new RegExp(`^\\r\\n\\+QFTPSIZE: 0,${SIZE}\\r\\n`));
  });

  it('a missing file: +QFTPSIZE: 627,550 and +QFTPGET: 627,550 (550 → 627)', async () => {
    const at = await opened();
    await at.command('AT+QFTPSIZE="NOPE.bin"');
    await at.until(/^\r\n\+QFTPSIZE: 627,550\r\n/);
    expect((await at.command('AT+QFTPGET="NOPE.bin","COM:"')).final).to.equal('OK');
    await at.until(/^\r\n\+QFTPGET: 627,550\r\n/);
  });

  it('GET to UFS: then +QFLST / +QFOPEN / +QFSEEK / +QFREAD (CONNECT <n>) / +QFCLOSE in 490-byte chunks', async () => {
    const at = await opened();
    await at.command('AT+QFTPGET="FW.bin","UFS:fw.bin"');
    await at.until(new RegExp(`^\\r\\n\\+QFTPGET: 0,${SIZE}\\r\\n`));
    expect((await at.command('AT+QFLST="fw.bin"')).lines).to.deep.equal([`+QFLST: "fw.bin",${SIZE}`]);
    const open = await at.command('AT+QFOPEN="UFS:fw.bin"');
    const h = /^\+QFOPEN: (\d+)$/.exec(open.lines[0]!)![1];
    const parts: Buffer[] = [];
    for (let off = 0; off < SIZE; off += 490) {
      expect((await at.command(`AT+QFSEEK=${h},${off},0`)).final).to.equal('OK');
      at.send(`AT+QFREAD=${h},490`);
      const m = await at.until(/^\r\nCONNECT (\d+)\r\n/);
      parts.push(await at.take(Number(m[1])));
      await at.until(/^\r\nOK\r\n/);
    }
    expect((await at.command(`AT+QFCLOSE=${h}`)).final).to.equal('OK');
    expect(Buffer.concat(parts).equals(FW)).to.equal(true);
    expect((await at.command('AT+QFLST="nope"')).final).to.equal('+CME ERROR: 405');
  });

  it('a cut data connection: COM: GET reports 607 (never short success); UFS: resumes with <startpos>', async () => {
    const at = await opened({}, [{ kind: 'cut', afterBytes: 30_000, on: { data: 1 } }, { kind: 'cut', afterBytes: 20_000, on: { data: 2 } }]);
    const r = await getCom(at, '', 30_000);
    expect(r.data.equals(FW.subarray(0, 30_000))).to.equal(true);
    expect(r.urc).to.equal('607,0');
    await at.command('AT+QFTPGET="FW.bin","RAM:fw"');
    await at.until(/^\r\n\+QFTPGET: 607,0\r\n/);
    expect((await at.command('AT+QFLST="RAM:fw"')).lines).to.deep.equal(['+QFLST: "RAM:fw",20000']);
    await at.command('AT+QFTPGET="FW.bin","RAM:fw",20000');
    await at.until(new RegExp(`^\\r\\n\\+QFTPGET: 0,${SIZE - 20_000}\\r\\n`));
    expect(modem!.fs.read('RAM:fw').equals(FW)).to.equal(true);
  });

  it('a stalled data connection: +QFTPGET: 609,0 after the FTP timeout', async () => {
    const at = await opened({ timing: { ftpTimeoutMs: 400 } }, { kind: 'stall', afterBytes: 5000 });
    at.send('AT+QFTPGET="FW.bin","COM:"');
    await at.until(/^\r\nCONNECT\r\n/);
    expect((await at.take(5000)).equals(FW.subarray(0, 5000))).to.equal(true);
    await at.until(/^\r\nOK\r\n\r\n\+QFTPGET: 609,0\r\n/);
  });

  it('while a close is pending every FTP command gets +CME ERROR: 603, +QFTPSTAT says 3', async () => {
    const at = await opened({ closeLatencyMs: 400 });
    expect((await at.command('AT+QFTPCLOSE')).final).to.equal('OK');
    expect((await at.command('AT+QFTPSIZE="FW.bin"')).final).to.equal('+CME ERROR: 603');
    expect((await at.command('AT+QFTPOPEN="127.0.0.1",21')).final).to.equal('+CME ERROR: 603');
    expect(await stat(at)).to.equal(3);
    await at.until(/^\r\n\+QFTPCLOSE: 0,0\r\n/);
    expect(await stat(at)).to.equal(4);
  });

  it('login refused: +QFTPOPEN: 625,530; connection refused: +QFTPOPEN: 605,0', async () => {
    const peer = await startFtpPeer({ 'a.bin': 'x' });
    try {
      modem = rig.adopt(new QuectelModem({ cmee: 1 }));
      const at = new AtSerial(modem);
      await at.command('AT+QFTPCFG="account","dev","wrong"');
      await at.command(`AT+QFTPOPEN="127.0.0.1",${peer.port}`);
      await at.until(/^\r\n\+QFTPOPEN: 625,530\r\n/);
      const refusing = await startFaultProxy({ target: { host: peer.host, port: peer.port }, faults: { kind: 'refuse' } });
      rig.proxy = refusing;
      await at.command(`AT+QFTPOPEN="127.0.0.1",${refusing.port}`);
      await at.until(/^\r\n\+QFTPOPEN: 605,0\r\n/);
    } finally {
      await peer.close();
    }
  });

  it('configuration: read-back with the password masked, ranges enforced, stat order OK first', async () => {
    modem = rig.adopt(new QuectelModem({ cmee: 1 }));
    const at = new AtSerial(modem);
    await at.command('AT+QFTPCFG="account","user","secret"');
    expect((await at.command('AT+QFTPCFG="account"')).lines).to.deep.equal(['+QFTPCFG: "account","user","******"']);
    expect((await at.command('AT+QFTPCFG="rsptimeout",10')).final).to.equal('ERROR');
    expect((await at.command('AT+QFTPCFG="rsptimeout",30')).final).to.equal('OK');
    expect(modem.timing.ftpTimeoutMs).to.equal(30_000);
    expect((await at.command('AT+QFTPSTAT')).body).to.equal('');
    expect(rig.adopt(new QuectelModem({ timing: 'realistic' })).timing.ftpTimeoutMs).to.equal(90_000); // rsptimeout default
    await at.until(/^\r\n\+QFTPSTAT: 0,4\r\n/);
  });

  it('EG800K (dataFailureCme): GET to UFS: and to COM: still work when the data connection opens', async () => {
    const at = await opened({ model: 'EG800K' });
    expect((await at.command('AT+QFTPGET="FW.bin","UFS:fw.bin",1000')).final).to.equal('OK');
    await at.until(new RegExp(`^\\r\\n\\+QFTPGET: 0,${SIZE - 1000}\\r\\n`));
    expect((await at.command('AT+QFLST="fw.bin"')).lines).to.deep.equal([`+QFLST: "fw.bin",${SIZE - 1000}`]);
    const r = await getCom(at, '', SIZE);
    expect(r.data.equals(FW)).to.equal(true);
  });

  it('+++ with guard times during a COM: download aborts it: OK, no +QFTPGET URC, session still open (EG800K report)', async () => {
    const at = await opened({ escapeGuardMs: 50 }, { kind: 'stall', afterBytes: 5000, ms: 1500, on: { data: 1 } });
    at.send('AT+QFTPGET="FW.bin","COM:"');
    await at.until(/^\r\nCONNECT\r\n/);
    expect((await at.take(5000)).equals(FW.subarray(0, 5000))).to.equal(true);
    await new Promise((r) => setTimeout(r, 120));
    modem!.write('+++');
    await at.until(/^\r\nOK\r\n/);
    expect(at.pending()).to.equal('');
    expect(await stat(at)).to.equal(1);
    expect((await at.command('ATO')).final).to.equal('NO CARRIER');
    const r = await getCom(at, ',5000', SIZE - 5000);
    expect(r.data.equals(FW.subarray(5000))).to.equal(true);
    expect(r.urc).to.equal(`0,${SIZE - 5000}`);
  });

  it('+++ without the guard time after it is data: the download completes', async () => {
    const at = await opened({ escapeGuardMs: 200 }, { kind: 'stall', afterBytes: 5000, ms: 300, on: { data: 1 } });
    at.send('AT+QFTPGET="FW.bin","COM:"');
    await at.until(/^\r\nCONNECT\r\n/);
    await at.take(5000);
    await new Promise((r) => setTimeout(r, 250));
    modem!.write('+++x');
    await at.take(SIZE - 5000);
    await at.until(new RegExp(`^\\r\\nOK\\r\\n\\r\\n\\+QFTPGET: 0,${SIZE}\\r\\n`));
    expect(await stat(at)).to.equal(1);
  });

  /** A scripted FTP peer that logs in and sizes, but whose PASV names a closed port (the data connection fails). */
  async function brokenDataPeer(): Promise<{ port: number; close(): Promise<void> }> {
    const dead = await closedPort();
    const socks = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      socks.add(s);
      s.write('220 ready\r\n');
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
          const cmd = buf.slice(0, i).split(' ')[0]!.toUpperCase();
          buf = buf.slice(i + 2);
          const reply: Record<string, string> = { USER: '331 pass', PASS: '230 in', TYPE: '200 ok', SIZE: '213 1000', QUIT: '221 bye',
            PASV: `227 Entering Passive Mode (127,0,0,1,${dead >> 8},${dead & 255})`, CWD: '250 ok' };
          s.write(`${reply[cmd] ?? '502 no'}\r\n`);
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return {
      port: (srv.address() as net.AddressInfo).port,
      close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
    };
  }

  it('a data connection that cannot open: EC21 answers OK then +QFTPGET: 615,0; EG800K +CME ERROR: 615, then 603 until closed', async () => {
    const peer = await brokenDataPeer();
    try {
      for (const model of ['EC21', 'EG800K'] as const) {
        modem = rig.adopt(new QuectelModem({ cmee: 1, model }));
        const at = new AtSerial(modem);
        await at.command(`AT+QFTPOPEN="127.0.0.1",${peer.port}`);
        await at.until(/^\r\n\+QFTPOPEN: 0,0\r\n/);
        const get = await at.command('AT+QFTPGET="FW.bin","COM:"');
        if (model === 'EC21') {
          expect(get.final).to.equal('OK');
          await at.until(/^\r\n\+QFTPGET: 615,0\r\n/);
          expect((await at.command('AT+QFTPSIZE="FW.bin"')).final).to.equal('OK');
          await at.until(/^\r\n\+QFTPSIZE: 0,1000\r\n/);
          continue;
        }
        expect(get.final).to.equal('+CME ERROR: 615');
        expect((await at.command('AT+QFTPSIZE="FW.bin"')).final).to.equal('+CME ERROR: 603');
        expect((await at.command('AT+QFTPGET="FW.bin","UFS:x"')).final).to.equal('+CME ERROR: 603');
        expect((await at.command('AT+QFTPSTAT')).lines).to.deep.equal(['+QFTPSTAT: 0,1']);
        expect((await at.command('AT+QFTPCLOSE')).final).to.equal('OK');
        await at.until(/^\r\n\+QFTPCLOSE: 0,0\r\n/);
        expect((await at.command(`AT+QFTPOPEN="127.0.0.1",${peer.port}`)).final).to.equal('OK');
        await at.until(/^\r\n\+QFTPOPEN: 0,0\r\n/);
      }
    } finally {
      await peer.close();
    }
  });
});
