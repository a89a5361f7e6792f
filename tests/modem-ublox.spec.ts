import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { UbloxModem, type UbloxOptions } from '../client-sim/modem/ublox.ts';
import type { Faults } from '../client-sim/net/fault-proxy.ts';
import { AtSerial } from './support/at-serial.ts';
import { useModemRig } from './support/modem-rig.ts';

const SIZE = 100_000;
/** Firmware-like bytes with u-blox result text inside, which a scanning parser would stop at. */
const FW = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) FW[i] = (i * 167 + 11) & 0xff;
['\r\nOK\r\n', '\r\n+UUFTPCR: 4,1\r\n', '"\r\n\r\nOK\r\n', '\n+URDBLOCK: "fw",3,"', '\r\nERROR\r\n'].forEach((t, k) => FW.write(t, 700 + k * 9000, 'latin1'));

describe('u-blox SARA-R4/U2 FTP dialect (client-sim/modem/ublox.ts)', function () {
  this.timeout(20_000);
  const rig = useModemRig({ 'FW.bin': FW, 'fw/SMALL.bin': FW.subarray(0, 1234) });
  let modem: UbloxModem | undefined;

  /** A modem with its profile pointed at the server (through a fault proxy when `faults` are given), logged in. */
  async function loggedIn(opts: UbloxOptions = {}, faults?: Faults): Promise<AtSerial> {
    const port = await rig.port(faults);
    modem = rig.adopt(new UbloxModem({ cmee: 1, trace: rig.trace, ...opts }));
    const at = new AtSerial(modem);
    for (const c of ['AT+UFTP=0,"127.0.0.1"', `AT+UFTP=7,${port}`, 'AT+UFTP=2,"anonymous"', 'AT+UFTP=3,"x"', 'AT+UFTP=6,1']) {
      expect((await at.command(c)).final, c).to.equal('OK');
    }
    expect((await at.command('AT+UFTPC=1')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 1,1\r\n/);
    return at;
  }

  /** Reads module file `name` with +URDBLOCK in `block`-byte steps, checking the R4 framing of each block. */
  async function readBlocks(at: AtSerial, name: string, size: number, block = 512): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let off = 0; off < size; off += block) {
      at.send(`AT+URDBLOCK="${name}",${off},${block}`);
      const m = await at.until(/^(\r?)\n\+URDBLOCK: "([^"]*)",(\d+),"/);
      expect(m[1], 'SARA-R4: only \\n before +URDBLOCK:').to.equal('');
      expect(m[2]).to.equal(name);
      parts.push(await at.take(Number(m[3])));
      await at.until(/^"\r\n\r\nOK\r\n/);
    }
    return Buffer.concat(parts);
  }

  it('logs in, sizes with op 13, retrieves to the module FS (op 4), reads it back byte-exact, logs out', async () => {
    const at = await loggedIn();
    expect((await at.command('AT+UFTPC=13,"FW.bin"')).final).to.equal('OK');
    const cd = await at.until(/^\r\n\+UUFTPCD: 13,(\d+),"/);
    const line = (await at.take(Number(cd[1]))).toString('latin1');
    await at.until(/^"\r\n\r\n\+UUFTPCR: 13,1\r\n/);
    expect(Number(line.trim().split(/\s+/)[4]), `size field of ${line}`).to.equal(SIZE); // MKRGSM parses the 5th field
    expect((await at.command('AT+UFTPC=4,"FW.bin","fw"')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
    const ls = await at.command('AT+ULSTFILE=2,"fw"');
    expect(ls.lines).to.deep.equal([`+ULSTFILE: ${SIZE}`]);
    expect((await readBlocks(at, 'fw', SIZE)).equals(FW)).to.equal(true);
    expect((await at.command('AT+UFTPC=0')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 0,1\r\n/);
  });

  it('+URDFILE returns the whole file with its length; SARA-U201 frames it with \\r\\n', async () => {
    const at = await loggedIn({ model: 'SARA-U201' });
    expect((await at.command('AT+UFTPC=8,"fw"')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 8,1\r\n/);
    expect((await at.command('AT+UFTPC=4,"SMALL.bin","s"')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
    at.send('AT+URDFILE="s"');
    const m = await at.until(/^\r\n\+URDFILE: "s",(\d+),"/);
    expect(Number(m[1])).to.equal(1234);
    expect((await at.take(1234)).equals(FW.subarray(0, 1234))).to.equal(true);
    await at.until(/^"\r\n\r\nOK\r\n/);
    expect((await at.command('AT+UDELFILE="s"')).final).to.equal('OK');
    expect((await at.command('AT+ULSTFILE=2,"s"')).final).to.equal('+CME ERROR: 1612');
  });

  it('op 4 cut by the network → +UUFTPCR: 4,0 and +UFTPER; retrieving_mode 1 resumes and completes byte-exact', async () => {
    const at = await loggedIn({}, { kind: 'cut', afterBytes: 30_000, on: { data: 1 } });
    await at.command('AT+UFTPC=4,"FW.bin","fw"');
    await at.until(/^\r\n\+UUFTPCR: 4,0\r\n/);
    const er = await at.command('AT+UFTPER');
    expect(er.lines).to.deep.equal(['+UFTPER: 1,8']); // class 1 (no server reply), "dropped"
    expect((await at.command('AT+ULSTFILE=2,"fw"')).lines).to.deep.equal(['+ULSTFILE: 30000']);
    await at.command('AT+UFTPC=4,"FW.bin","fw",1');
    await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
    expect((await at.command('AT+ULSTFILE=2,"fw"')).lines).to.deep.equal([`+ULSTFILE: ${SIZE}`]);
    expect(modem!.fs.read('fw').equals(FW)).to.equal(true);
    const data = rig.proxy!.stats.connections.filter((c) => c.kind === 'data');
    expect(data.map((c) => c.down.received)).to.deep.equal([SIZE, SIZE - 30_000]); // REST 30000 on the resume
  });

  it('a missing file: +UUFTPCR: 4,0 and +UFTPER: 0,550 (class 0 = server reply)', async () => {
    const at = await loggedIn();
    await at.command('AT+UFTPC=4,"NOPE.bin","x"');
    await at.until(/^\r\n\+UUFTPCR: 4,0\r\n/);
    expect((await at.command('AT+UFTPER')).lines).to.deep.equal(['+UFTPER: 0,550']);
  });

  it('op 6 direct link from an offset: CONNECT, exactly the tail bytes, then +UUFTPCR: 6,1', async () => {
    const at = await loggedIn();
    at.send('AT+UFTPC=6,"FW.bin",1000');
    await at.until(/^\r\nCONNECT\r\n/);
    expect((await at.take(SIZE - 1000)).equals(FW.subarray(1000))).to.equal(true);
    await at.until(/^\r\n\+UUFTPCR: 6,1\r\n/);
    expect(at.pending()).to.equal('');
  });

  it('op 6 stalled by the network → the FTP timeout ends it with +UUFTPCR: 6,0 and a timeout class', async () => {
    const at = await loggedIn({ timing: { ftpTimeoutMs: 400 } }, { kind: 'stall', afterBytes: 5000 });
    at.send('AT+UFTPC=6,"FW.bin"');
    await at.until(/^\r\nCONNECT\r\n/);
    await at.until(/\r\n\+UUFTPCR: 6,0\r\n$/);
    expect((await at.command('AT+UFTPER')).lines).to.deep.equal(['+UFTPER: 1,7']);
  });

  it('op 100 on SARA-R410M: progress URCs "<stored> / <total>", then +UUFTPCR: 100,1 without MD5', async () => {
    const at = await loggedIn({ fotaProgressBytes: 30_000 });
    expect((await at.command('AT+UFTPC=100,"FW.bin"')).final).to.equal('OK');
    const urcs: string[] = [];
    for (;;) {
      const m = await at.until(/^\r\n(\+UUFTPCR: 100,[^\r]*)\r\n/);
      urcs.push(m[1]!);
      if (!m[1]!.includes('/')) break;
    }
    expect(urcs.at(-1)).to.equal('+UUFTPCR: 100,1');
    const progress = urcs.slice(0, -1).map((u) => /^\+UUFTPCR: 100,(\d+) \/ (\d+)$/.exec(u));
    expect(progress.length).to.be.at.least(1);
    for (const p of progress) { expect(p, 'progress shape').to.not.equal(null); expect(Number(p![2])).to.equal(SIZE); }
    expect(modem!.fotaImage().equals(FW)).to.equal(true);
  });

  it('op 100 on SARA-R422S: one final URC with the MD5 of the image (UBX-17049154 §3.3.1)', async () => {
    const at = await loggedIn({ model: 'SARA-R422S' });
    await at.command('AT+UFTPC=100,"FW.bin"');
    const m = await at.until(/^\r\n\+UUFTPCR: 100,1,"([0-9a-f]{32})"\r\n/);
    expect(m[1]).to.equal(createHash('md5').update(FW).digest('hex'));
  });

  it('op 100 cancelled by the host: +UUFTPCR: 100,0 and +UFTPER: 8,40', async () => {
    const at = await loggedIn({}, { kind: 'stall', afterBytes: 10_000 });
    await at.command('AT+UFTPC=100,"FW.bin"');
    for (let i = 0; i < 200 && modem!.fotaImage().length < 10_000; i++) await new Promise((r) => setTimeout(r, 10));
    expect(modem!.fotaImage().length).to.equal(10_000);
    expect((await at.command('AT+UFTPC=100,"FW.bin",0')).final).to.equal('OK');
    await at.until(/^\r\n\+UUFTPCR: 100,0\r\n/);
    expect((await at.command('AT+UFTPER')).lines).to.deep.equal(['+UFTPER: 8,40']);
  });

  it('profile reads, resets, test command, busy and not-logged-in answers', async () => {
    modem = rig.adopt(new UbloxModem({ cmee: 1 }));
    const at = new AtSerial(modem);
    await at.command('AT+UFTP=1,"ftp.example"');
    await at.command('AT+UFTP=7,2121');
    expect((await at.command('AT+UFTP?')).lines).to.include.members(['+UFTP: 1,"ftp.example"', '+UFTP: 7,2121', '+UFTP: 6,0']);
    await at.command('AT+UFTP=7');
    expect((await at.command('AT+UFTP?')).lines).to.include('+UFTP: 7,21');
    expect((await at.command('AT+UFTP=6,2')).final).to.equal('ERROR');
    expect((await at.command('AT+UFTPC=?')).lines).to.deep.equal(['+UFTPC: (0-5,8,10,11,13,14,100)']);
    await at.command('AT+UFTPC=8,"x"');
    await at.until(/^\r\n\+UUFTPCR: 8,0\r\n/);
    expect((await at.command('AT+UFTPER')).lines).to.deep.equal(['+UFTPER: 1,10']);
    expect((await at.command('AT+UFTPC=2,"x"')).final).to.equal('+CME ERROR: 4');
  });

  it('a second +UFTPC while one runs → +CME ERROR: 3', async () => {
    const at = await loggedIn({}, { kind: 'stall', afterBytes: 1000, ms: 300 });
    at.send('AT+UFTPC=4,"FW.bin","fw"');
    at.send('AT+UFTPC=8,"/"');
    await at.until(/^\r\nOK\r\n\r\n\+CME ERROR: 3\r\n/);
    await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
  });

  it('op 13 with fileInfoCrlf: the ls line keeps its CRLF inside the quotes, counted in <len>', async () => {
    const at = await loggedIn({ fileInfoCrlf: true });
    expect((await at.command('AT+UFTPC=13,"FW.bin"')).final).to.equal('OK');
    const cd = await at.until(/^\r\n\+UUFTPCD: 13,(\d+),"/);
    const line = (await at.take(Number(cd[1]))).toString('latin1');
    expect(line.endsWith('\r\n')).to.equal(true);
    expect(line.slice(0, -2)).to.not.match(/[\r\n]/);
    await at.until(/^"\r\n\r\n\+UUFTPCR: 13,1\r\n/);
  });

  it('op 6 with directLinkExit escape: data mode lasts until +++ with guard times, then +UUFTPCR: 6,1', async () => {
    const at = await loggedIn({ directLinkExit: 'escape', escapeGuardMs: 50 });
    at.send('AT+UFTPC=6,"fw/SMALL.bin"');
    await at.until(/^\r\nCONNECT\r\n/);
    expect((await at.take(1234)).equals(FW.subarray(0, 1234))).to.equal(true);
    await new Promise((r) => setTimeout(r, 150));
    expect(at.pending()).to.equal('');
    modem!.write('+++');
    await at.until(/^\r\n\+UUFTPCR: 6,1\r\n/);
    expect((await at.command('AT+UFTPER')).lines).to.deep.equal(['+UFTPER: 0,0']);
  });

  it('op 6 with directLinkExit escape: +++ before the end stops the data and reports 6,0', async () => {
    const at = await loggedIn({ directLinkExit: 'escape', escapeGuardMs: 50 }, { kind: 'stall', afterBytes: 3000, ms: 800 });
    at.send('AT+UFTPC=6,"FW.bin"');
    await at.until(/^\r\nCONNECT\r\n/);
    await at.take(3000);
    await new Promise((r) => setTimeout(r, 120));
    modem!.write('+++');
    await at.until(/^\r\n\+UUFTPCR: 6,0\r\n/);
  });
});
