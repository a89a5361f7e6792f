/**
 * client-sim against any standard FTP server: each Waspmote module's whole OTA (library flow, modem emulator,
 * byte-exact binary on the SD card), and the SIMCom modems' own resume at the AT level (SIM900 `AT+FTPREST`,
 * SIM5215 `AT+CFTPGETFILE=…,<rest_size>`; the Waspmote library itself never resumes), against pyftpdlib, vsftpd
 * and firmdrop (started with bench/servers.ts, over its bench root: BENCHFW and UPGRADE.TXT). pyftpdlib refuses
 * SIZE in ASCII mode, so these fail if an emulator sends SIZE before its TYPE.
 */
import { expect } from 'chai';
import { runOta } from '../client-sim/waspmote/run-ota.ts';
import { WASP_MODULES } from '../client-sim/waspmote/upgrade-txt.ts';
import { mirrorGprs } from '../client-sim/scenarios/runner.ts';
import { AtHost } from '../client-sim/at/host.ts';
import { createModem } from '../client-sim/modem/index.ts';
import { startBenchServer, missingAnchor, type BenchServer } from '../bench/servers.ts';
import { benchBinary, BENCH_PROGRAM } from '../bench/fixture.ts';

const SIZE = 3_000;
const FAST = { timeScale: 0.005, minTimeoutMs: 1500, maxIdlePolls: 50 };

/** Credentials and port from a bench server URL (`ftp://user:pass@127.0.0.1:port`). */
function account(s: BenchServer): { host: string; port: number; user: string; pass: string } {
  const u = new URL(s.url);
  return { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
}

/** SIM900 AT-level download with `AT+FTPREST=<offset>`: the bytes from offset on. */
async function sim900Rest(s: BenchServer, offset: number): Promise<Buffer> {
  const a = account(s);
  const modem = createModem('simcom900', { cmee: 1 });
  const host = new AtHost(modem, { payload: (l) => { const m = /^\+FTPGET:2,(\d+)$/.exec(l); return m ? Number(m[1]) : undefined; } });
  try {
    for (const c of ['AT+SAPBR=3,1,"CONTYPE","GPRS"', 'AT+SAPBR=1,1', 'AT+FTPCID=1', 'AT+FTPMODE=1', 'AT+FTPTYPE="I"',
      `AT+FTPSERV="${a.host}"`, `AT+FTPPORT=${a.port}`, `AT+FTPUN="${a.user}"`, `AT+FTPPW="${a.pass}"`,
      `AT+FTPGETNAME="${BENCH_PROGRAM}"`, 'AT+FTPGETPATH="/"', `AT+FTPREST=${offset}`, 'AT+FTPGET=1']) {
      expect((await host.command(c)).final, c).to.equal('OK');
    }
    expect((await host.waitFor('+FTPGET:1,', 10_000)).line).to.equal('+FTPGET:1,1');
    const parts: Buffer[] = [];
    for (let i = 0; i < 2_000; i++) {
      const r = await host.command('AT+FTPGET=2,250');
      if (r.final !== 'OK') break;
      parts.push(r.data);
      if (r.data.length === 0) {
        if (host.backlog().some((e) => e.line === '+FTPGET:1,0')) break;
        await new Promise((res) => setTimeout(res, 5));
      }
    }
    return Buffer.concat(parts);
  } finally {
    host.close();
    modem.destroy();
  }
}

/** SIM5215 AT-level `AT+CFTPGETFILE` resumed with `<rest_size>` after a first, cut copy in the module file system. */
async function sim5215Rest(s: BenchServer, offset: number): Promise<Buffer> {
  const a = account(s);
  const modem = createModem('simcom5215', { cmee: 1 });
  const host = new AtHost(modem);
  try {
    for (const c of [`AT+CFTPSERV="${a.host}"`, `AT+CFTPPORT=${a.port}`, 'AT+CFTPMODE=1', 'AT+CFTPTYPE=I', `AT+CFTPUN="${a.user}"`, `AT+CFTPPW="${a.pass}"`]) {
      expect((await host.command(c)).final, c).to.equal('OK');
    }
    // the module file system holds the first `offset` bytes, as a cut transfer would leave them
    modem.fs.write(BENCH_PROGRAM, benchBinary(SIZE).subarray(0, offset));
    expect((await host.command(`AT+CFTPGETFILE="${BENCH_PROGRAM}",0,${offset}`)).final).to.equal('OK');
    expect((await host.waitFor('+CFTPGETFILE:', 10_000)).line).to.equal('+CFTPGETFILE: 0');
    return modem.fs.read(BENCH_PROGRAM, 0, modem.fs.size(BENCH_PROGRAM));
  } finally {
    host.close();
    modem.destroy();
  }
}

for (const kind of ['pyftpdlib', 'vsftpd', 'firmdrop-tsx'] as const) {
  describe(`client-sim against ${kind}`, function () {
    this.timeout(60_000);
    let server: BenchServer;
    before(async function () {
      if (missingAnchor(kind)) this.skip();
      server = await startBenchServer(kind, { size: SIZE });
      // the GPRS library asks for .gprs/… paths; firmdrop serves .gprs as an alias of its root (gprs-paths.spec.ts)
      if (kind !== 'firmdrop-tsx') await mirrorGprs(server.root);
    });
    after(async () => { await server?.stop(); });

    for (const module of WASP_MODULES) {
      it(`${module}: the library's OTA ends with the binary on the SD card byte for byte`, async () => {
        const { result, device } = await runOta({
          module, ...FAST, server: account(server), device: { programId: 'OTHERFW', version: 1 },
        });
        expect(result.ok, `${result.code} ${result.name} ${result.notes.join('; ')}`).to.equal(true);
        expect(result.checkNewProgram).to.equal(1);
        expect(device.sd.read(BENCH_PROGRAM)?.equals(benchBinary(SIZE))).to.equal(true);
      });
    }

    it('SIM900 resumes with AT+FTPREST (REST before RETR)', async () => {
      expect((await sim900Rest(server, 1234)).equals(benchBinary(SIZE).subarray(1234))).to.equal(true);
    });

    it('SIM5215 resumes AT+CFTPGETFILE with <rest_size> into the module file system', async () => {
      expect((await sim5215Rest(server, 1000)).equals(benchBinary(SIZE))).to.equal(true);
    });
  });
}
