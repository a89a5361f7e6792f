/**
 * Every modem family's AT download against three standard FTP servers: pyftpdlib and vsftpd (started as the bench
 * starts them, bench/servers.ts) and firmdrop (tests/support/ftp-fixtures.ts). Each flow logs in, sizes the file,
 * downloads it byte-exact, resumes at an offset where the family can, and logs out, asserting the exact AT response
 * lines of the key steps; the FTP wire trace must show `TYPE I` before the first SIZE/REST/RETR (pyftpdlib answers
 * `550 SIZE not allowed in ASCII mode` otherwise).
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BENCH_PROGRAM, benchBinary, writeBenchRoot } from '../bench/fixture.ts';
import { missingAnchor, startBenchServer, type ServerKind } from '../bench/servers.ts';
import { AtHost, type PayloadFraming } from '../client-sim/at/host.ts';
import { ModuleFs, type AtModem, type TraceEvent } from '../client-sim/modem/core.ts';
import { createModem } from '../client-sim/modem/index.ts';
import { runOta } from '../client-sim/waspmote/run-ota.ts';
import { AtSerial } from './support/at-serial.ts';
import { PASS, USER, startServer } from './support/ftp-fixtures.ts';

const SIZE = 50_000;
const REST = 12_345;
const FW = benchBinary(SIZE);
const FILE = BENCH_PROGRAM;

/** A server to dial. */
interface Target { host: string; port: number; user: string; pass: string; stop(): Promise<void> }

async function startTarget(kind: 'pyftpdlib' | 'vsftpd' | 'firmdrop'): Promise<Target> {
  if (kind === 'firmdrop') {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'modem-interop-'));
    await writeBenchRoot(root, SIZE);
    const srv = await startServer(root);
    return {
      host: '127.0.0.1', port: srv.port, user: USER, pass: PASS,
      async stop() { await srv.close(); await fs.rm(root, { recursive: true, force: true }); },
    };
  }
  const b = await startBenchServer(kind as ServerKind, { size: SIZE });
  const u = new URL(b.url);
  return { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password), stop: b.stop };
}

/** The FTP commands the modem sent (wire trace `> CMD`), without the PASS argument. */
function sent(wire: string[]): string[] {
  return wire.filter((l) => l.startsWith('> ')).map((l) => l.slice(2));
}

/** `TYPE I` was sent before the first SIZE, REST and RETR. */
function expectTypeFirst(wire: string[]): void {
  const cmds = sent(wire);
  const firstXfer = cmds.findIndex((c) => /^(SIZE|REST|RETR) /.test(c));
  expect(firstXfer, cmds.join(' | ')).to.be.greaterThan(0);
  expect(cmds.slice(0, firstXfer), cmds.join(' | ')).to.include('TYPE I');
  expect(wire.filter((l) => /^< 550 SIZE/.test(l))).to.deep.equal([]);
}

for (const kind of ['pyftpdlib', 'vsftpd', 'firmdrop'] as const) {
  describe(`modem families' AT download against ${kind}`, function () {
    this.timeout(60_000);
    let t: Target;
    let wire: string[];
    const modems: AtModem[] = [];
    const hosts: AtHost[] = [];

    before(async function () {
      if (kind !== 'firmdrop' && missingAnchor(kind)) this.skip();
      t = await startTarget(kind);
    });
    after(async () => { await t?.stop(); });
    beforeEach(() => { wire = []; });
    afterEach(async function () {
      if (this.currentTest?.state === 'failed') process.stderr.write(`    FTP wire:\n      ${wire.join('\n      ')}\n`);
      for (const h of hosts.splice(0)) h.close();
      for (const m of modems.splice(0)) m.destroy();
    });

    /** A modem of `family` whose FTP wire lines go to `wire`. */
    function modem(family: string, extra: Record<string, unknown> = {}): AtModem {
      const m = createModem(family, { ...extra, trace: (ev: TraceEvent) => { if (ev.kind === 'wire') wire.push(ev.text); } });
      modems.push(m);
      return m;
    }

    async function ok(at: AtSerial, cmd: string, lines: string[] = []): Promise<void> {
      const r = await at.command(cmd);
      expect([...r.lines, r.final], cmd).to.deep.equal([...lines, 'OK']);
    }

    /** Telit `#FTPGETPKT` + `#FTPRECV=490` loop (Wasp4G.cpp ftpDownload, LE910_MAX_DL_PAYLOAD 490) from `from`. */
    async function telitGet(at: AtSerial, from: number): Promise<Buffer> {
      await ok(at, `AT#FTPGETPKT="${FILE}",0`);
      const parts: Buffer[] = [];
      let got = 0;
      for (let i = 0; got < SIZE - from && i < 5000; i++) {
        at.send('AT#FTPRECV=490');
        const n = Number((await at.until(/^\r\n#FTPRECV: (\d+)\r\n/))[1]);
        parts.push(await at.take(n));
        got += n;
        await at.until(/^\r\n\r\nOK\r\n/);
      }
      expect((await at.command('AT#FTPGETPKT?')).lines).to.deep.equal([`#FTPGETPKT: ${FILE},0,1`]);
      return Buffer.concat(parts);
    }

    it('Telit: #FTPOPEN, #FTPTYPE=0, #FTPFSIZE, #FTPGETPKT/#FTPRECV byte-exact, #FTPREST resume, #FTPCLOSE', async () => {
      const at = new AtSerial(modem('telit', { cmee: 1 }));
      await ok(at, `AT#FTPOPEN="${t.host}:${t.port}","${t.user}","${t.pass}",1`);
      await ok(at, 'AT#FTPTYPE=0');
      await ok(at, `AT#FTPFSIZE="${FILE}"`, [`#FTPFSIZE: ${SIZE}`]);
      expect((await telitGet(at, 0)).equals(FW)).to.equal(true);
      await ok(at, `AT#FTPREST=${REST}`);
      expect((await telitGet(at, REST)).equals(FW.subarray(REST))).to.equal(true);
      await ok(at, 'AT#FTPCLOSE');
      expectTypeFirst(wire);
      expect(sent(wire)).to.include(`REST ${REST}`);
      expect(sent(wire).at(-1)).to.equal('QUIT');
    });

    it('u-blox: +UFTP profile, +UFTPC=1 login, op 13 size, op 4 to the module FS (+ resume), op 6 direct link at an offset, logout', async () => {
      const fsys = new ModuleFs();
      fsys.write('part', FW.subarray(0, REST));
      const at = new AtSerial(modem('ublox', { fs: fsys }));
      for (const c of [`AT+UFTP=0,"${t.host}"`, `AT+UFTP=7,${t.port}`, `AT+UFTP=2,"${t.user}"`, `AT+UFTP=3,"${t.pass}"`, 'AT+UFTP=6,1']) await ok(at, c);
      await ok(at, 'AT+UFTPC=1');
      await at.until(/^\r\n\+UUFTPCR: 1,1\r\n/);
      await ok(at, `AT+UFTPC=13,"${FILE}"`);
      const info = await at.until(/^\r\n\+UUFTPCD: 13,(\d+),"([^"]*)"\r\n\r\n\+UUFTPCR: 13,1\r\n/);
      expect(Buffer.byteLength(info[2]!, 'latin1')).to.equal(Number(info[1]));
      expect(info[2]!.trim().split(/\s+/)[4]).to.equal(String(SIZE));
      await ok(at, `AT+UFTPC=4,"${FILE}","fw"`);
      await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
      await ok(at, 'AT+ULSTFILE=2,"fw"', [`+ULSTFILE: ${SIZE}`]);
      at.send('AT+URDBLOCK="fw",0,50000');
      await at.until(/^\n\+URDBLOCK: "fw",50000,"/);
      expect((await at.take(SIZE)).equals(FW)).to.equal(true);
      await at.until(/^"\r\n\r\nOK\r\n/);
      await ok(at, `AT+UFTPC=4,"${FILE}","part",1`);
      await at.until(/^\r\n\+UUFTPCR: 4,1\r\n/);
      expect(fsys.read('part').equals(FW)).to.equal(true);
      at.send(`AT+UFTPC=6,"${FILE}",${REST}`);
      await at.until(/^\r\nCONNECT\r\n/);
      expect((await at.take(SIZE - REST)).equals(FW.subarray(REST))).to.equal(true);
      await at.until(/^\r\n\+UUFTPCR: 6,1\r\n/);
      await ok(at, 'AT+UFTPC=0');
      await at.until(/^\r\n\+UUFTPCR: 0,1\r\n/);
      expectTypeFirst(wire);
      expect(sent(wire)).to.include(`REST ${REST}`);
    });

    it('Quectel: +QFTPCFG, +QFTPOPEN, +QFTPSIZE, +QFTPGET "COM:" byte-exact and from <startpos>, +QFTPCLOSE', async () => {
      const at = new AtSerial(modem('quectel'));
      for (const c of ['AT+QFTPCFG="contextid",1', `AT+QFTPCFG="account","${t.user}","${t.pass}"`, 'AT+QFTPCFG="filetype",0',
        'AT+QFTPCFG="transmode",1', 'AT+QFTPCFG="rsptimeout",90']) await ok(at, c);
      await ok(at, `AT+QFTPOPEN="${t.host}",${t.port}`);
      await at.until(/^\r\n\+QFTPOPEN: 0,0\r\n/);
      await ok(at, 'AT+QFTPCWD="/"');
      await at.until(/^\r\n\+QFTPCWD: 0,0\r\n/);
      await ok(at, `AT+QFTPSIZE="${FILE}"`);
      await at.until(new RegExp(`^\\r\\n\\+QFTPSIZE: 0,${SIZE}\\r\\n`));
      for (const from of [0, REST]) {
        at.send(`AT+QFTPGET="${FILE}","COM:"${from ? `,${from}` : ''}`);
        await at.until(/^\r\nCONNECT\r\n/);
        expect((await at.take(SIZE - from)).equals(FW.subarray(from))).to.equal(true);
        await at.until(new RegExp(`^\\r\\nOK\\r\\n\\r\\n\\+QFTPGET: 0,${SIZE - from}\\r\\n`));
      }
      await ok(at, 'AT+QFTPCLOSE');
      await at.until(/^\r\n\+QFTPCLOSE: 0,0\r\n/);
      expectTypeFirst(wire);
      expect(sent(wire)).to.include(`REST ${REST}`);
    });

    const get2: PayloadFraming = (l) => { const m = /^\+FTPGET: ?2,(\d+)$/.exec(l); return m ? Number(m[1]) : undefined; };

    /** SIM900: `AT+FTPGET=1`, then `AT+FTPGET=2,<n>` until the `+FTPGET:1,0` URC (WaspGPRS_Pro_core.cpp readDataFTP). */
    async function simcomGet(host: AtHost): Promise<Buffer> {
      expect((await host.command('AT+FTPGET=1')).final).to.equal('OK');
      await host.waitFor(/^\+FTPGET: ?1,1$/, 10_000);
      const parts: Buffer[] = [];
      for (let i = 0; i < 20_000; i++) {
        const end = host.backlog().find((e) => /^\+FTPGET: ?1,(?!1$)/.test(e.line));
        const r = await host.command('AT+FTPGET=2,1024');
        if (r.final === 'OK') parts.push(r.data);
        if (end && (r.final !== 'OK' || r.data.length === 0)) {
          expect(end.line).to.match(/^\+FTPGET: ?1,0$/);
          host.clearBacklog();
          return Buffer.concat(parts);
        }
        if (r.data.length === 0) await new Promise((res) => setTimeout(res, 5));
      }
      throw new Error('no +FTPGET: 1,0');
    }

    it('SIMCom SIM900 (createModem): bearer, +FTPSIZE, +FTPGET byte-exact, +FTPREST resume', async () => {
      const host = new AtHost(modem('simcom900', { bufferBytes: 8192 }), { payload: get2, urcs: [/^\+FTPGET: ?1,/, /^\+FTPSIZE: ?1,/] });
      hosts.push(host);
      for (const c of ['AT+SAPBR=3,1,"Contype","GPRS"', 'AT+SAPBR=3,1,"APN","internet"', 'AT+SAPBR=1,1', 'AT+FTPCID=1',
        'AT+FTPMODE=1', 'AT+FTPTYPE="I"', `AT+FTPSERV="${t.host}"`, `AT+FTPPORT=${t.port}`, `AT+FTPUN="${t.user}"`,
        `AT+FTPPW="${t.pass}"`, `AT+FTPGETNAME="${FILE}"`, 'AT+FTPGETPATH="/"']) {
        expect((await host.command(c)).final, c).to.equal('OK');
      }
      expect((await host.command('AT+FTPSIZE')).final).to.equal('OK');
      expect((await host.waitFor(/^\+FTPSIZE: ?1,/, 10_000)).line).to.match(new RegExp(`^\\+FTPSIZE: ?1,0,${SIZE}$`));
      expect((await simcomGet(host)).equals(FW)).to.equal(true);
      expect((await host.command(`AT+FTPREST=${REST}`)).final).to.equal('OK');
      expect((await simcomGet(host)).equals(FW.subarray(REST))).to.equal(true);
      expect((await host.command('AT+SAPBR=0,1')).final).to.equal('OK');
      expectTypeFirst(wire);
      expect(sent(wire)).to.include(`REST ${REST}`);
    });

    const cftp: PayloadFraming = (l) => { const m = /^\+CFTPGET: DATA,(\d+)$/.exec(l); return m ? Number(m[1]) : undefined; };

    it('SIMCom SIM5215 (createModem): +CFTPGET streamed byte-exact and from <rest_size>', async () => {
      const host = new AtHost(modem('simcom5215'), { payload: cftp });
      hosts.push(host);
      for (const c of [`AT+CFTPSERV="${t.host}"`, `AT+CFTPPORT=${t.port}`, 'AT+CFTPMODE=1', 'AT+CFTPTYPE=I',
        `AT+CFTPUN="${t.user}"`, `AT+CFTPPW="${t.pass}"`]) {
        expect((await host.command(c)).final, c).to.equal('OK');
      }
      for (const from of [0, REST]) {
        expect((await host.command(`AT+CFTPGET="/${FILE}"${from ? `,${from}` : ''}`)).final).to.equal('OK');
        const parts: Buffer[] = [];
        let end = '';
        for (let i = 0; i < 10_000 && !end; i++) {
          const ev = await host.waitFor('+CFTPGET: ', 10_000);
          if (ev.payload) parts.push(ev.payload);
          else end = ev.line;
        }
        expect(end).to.equal('+CFTPGET: 0');
        expect(Buffer.concat(parts).equals(FW.subarray(from))).to.equal(true);
      }
      expectTypeFirst(wire);
      expect(sent(wire)).to.include(`REST ${REST}`);
    });

    // GPRS is left out: requestOTA's `.gprs` paths need firmdrop's `.gprs` alias, which other servers lack.
    for (const module of ['4g', 'wifi-pro', '3g'] as const) {
      it(`Waspmote requestOTA through the ${module} modem: success and the binary on the SD card byte for byte`, async () => {
        const lines: string[] = [];
        const { result, device } = await runOta({
          module, timeScale: 0.005, minTimeoutMs: 1500, maxIdlePolls: 50,
          server: { host: t.host, port: t.port, user: t.user, pass: t.pass },
          device: { programId: 'OTA_APP', version: 1 }, trace: (l) => lines.push(l),
        });
        wire.push(...lines.filter((l) => / ftp /.test(l)));
        expect(result.ok, `${result.code} ${result.name} ${result.notes.join('; ')}`).to.equal(true);
        expect(result.checkNewProgram).to.equal(1);
        expect(device.sd.read(FILE)?.equals(FW)).to.equal(true);
        expect(lines.some((l) => / ftp > TYPE I$/.test(l))).to.equal(true);
      });
    }

    it('iChip (createModem): AT+iFOPN, AT+iFSZ, AT+iFRCV byte-exact, AT+iFCLS', async () => {
      const host = new AtHost(modem('ichip'));
      hosts.push(host);
      expect((await host.command(`AT+iFOPN:${t.host},${t.port}:${t.user},${t.pass}`, { expect: [/^I\/\d+$/] })).final).to.equal('I/0');
      expect((await host.command(`AT+iFSZ:0,${FILE}`, { expect: [/^I\/\d+$/] })).final).to.equal(`I/${SIZE}`);
      const r = await host.command(`AT+iFRCV:0,${FILE}`, {
        finals: [/^I\/ONLINE$/, /^I\/ERROR/], timeoutMs: 20_000,
        payload: (l) => { const m = /^I\/(\d+)$/.exec(l); return m ? Number(m[1]) : undefined; },
      });
      expect(r.lines).to.deep.equal(['I/OK', `I/${SIZE}`]);
      expect(r.final).to.equal('I/ONLINE');
      expect(r.data.equals(FW)).to.equal(true);
      expect((await host.command('AT+iFCLS:0')).final).to.equal('I/OK');
      expectTypeFirst(wire);
    });
  });
}
