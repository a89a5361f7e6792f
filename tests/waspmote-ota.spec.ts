import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startFirmdrop, type Firmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { runOta } from '../client-sim/waspmote/run-ota.ts';
import { WASP_MODULES } from '../client-sim/waspmote/upgrade-txt.ts';
import { scenarioBinary } from '../client-sim/scenarios/types.ts';
import { startScenarioServer } from '../client-sim/scenarios/runner.ts';
import { runFleet } from '../client-sim/fleet.ts';
import type { FtpHandle } from '../server/ftp/server.ts';

const run = promisify(execFile);
const FAST = { timeScale: 0.005, minTimeoutMs: 1500, maxIdlePolls: 50 };

async function tempRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-ota-'));
}

async function firmdrop(root: string): Promise<Firmdrop> {
  const config = { ...loadConfig({}, {}), root, host: '127.0.0.1', port: 0, stabilityMs: 100, logLevel: 'silent' as const };
  return startFirmdrop(config, createLogger({ level: 'silent' }));
}

describe('Waspmote requestOTA against firmdrop, per module (the requestOTA functions and WaspUtils.cpp)', function () {
  this.timeout(30_000);
  let root: string;
  let fd: Firmdrop;
  const binary = scenarioBinary('NEWPROG', 20_000);

  before(async () => {
    root = await tempRoot();
    fd = await firmdrop(root);
    const src = path.join(await tempRoot(), 'NEWPROG');
    await fs.writeFile(src, binary);
    await fd.publisher.importBinary(src, { name: 'NEWPROG', version: 7 });
    await fs.rm(path.dirname(src), { recursive: true, force: true });
  });
  after(async () => {
    await fd.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  for (const module of WASP_MODULES) {
    it(`${module}: full OTA ends with checkNewProgram() == 1 and the binary on the SD card byte for byte`, async () => {
      const { result, device } = await runOta({
        module, ...FAST,
        server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' },
        device: { programId: 'NEWPROG', version: 6 },
      });
      expect(result.ok, `${result.code} ${result.name} ${result.notes.join('; ')}`).to.equal(true);
      expect(result.checkNewProgram).to.equal(1);
      expect(device.sd.read('NEWPROG')?.equals(binary)).to.equal(true);
      expect(device.programId()).to.equal('NEWPROG');
      expect(device.programVersion()).to.equal(7);
      expect(device.eeprom.versionBackup()).to.equal(7);
      expect(result.bytes).to.be.greaterThan(binary.length);
      if (module === '4g') expect(result.sessions).to.equal(2, 'two FTP sessions: close and reopen between manifest and binary');
      if (module === 'wifi-pro') expect(result.sessions).to.equal(1, 'one FTP session for both files');
      // a second request finds nothing newer
      const again = await runOta({ module, ...FAST, server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' }, device });
      expect(again.result.name).to.equal('VERSION_NOT_NEWER');
    });
  }

  it('4G: a binary transfer that stalls forever makes #FTPRECV answer 0 again and again: reported as a hang (Wasp4G.cpp ftpDownload, :3296)', async () => {
    const { result } = await runOta({
      module: '4g', ...FAST, maxIdlePolls: 20,
      server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' },
      device: { programId: 'NEWPROG', version: 6 },
      netFaults: [{ kind: 'stall', afterBytes: 2000, on: { data: 2 } }],
    });
    expect(result.hung).to.equal(true);
    expect(result.code).to.equal(null);
    expect(result.name).to.equal('HUNG');
    const polls = /#FTPRECV answered 0 bytes (\d+) times/.exec(result.notes.join(' '));
    expect(Number(polls?.[1])).to.be.at.least(20);
    expect(result.programId).to.equal('NEWPROG');
    expect(result.version).to.equal(6, 'no loadOTA happened');
  });

  it('no checksum on the device: a flipped byte in the binary goes unnoticed and the device flashes it (no checksum in any requestOTA)', async () => {
    const { result, device } = await runOta({
      module: 'wifi-pro', ...FAST,
      server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' },
      device: { programId: 'NEWPROG', version: 6 },
      netFaults: [{ kind: 'flip', offset: 5000, mask: 0x40, on: { data: 2 } }],
    });
    expect(result.name).to.equal('OK');
    expect(result.checkNewProgram).to.equal(1);
    const got = device.sd.read('NEWPROG')!;
    expect(got.length).to.equal(binary.length);
    const diff = [...got].flatMap((b, i) => (b !== binary[i] ? [i] : []));
    expect(diff).to.deep.equal([5000]);
    expect(device.flash?.[5000]).to.equal(binary[5000]! ^ 0x40);
  });

  it('fleet: 8 devices at once against one server all succeed', async () => {
    const s = await runFleet({
      devices: 8, deadlineMs: 25_000,
      make: (i) => ({ module: WASP_MODULES[i % 4]!, ...FAST, server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' }, device: { programId: 'OTHER01', version: 1 } }),
    });
    expect(s.finished).to.equal(8);
    expect(s.rows.every((r) => r.name === 'OK')).to.equal(true);
    expect(s.rows.map((r) => r.code).sort()).to.deep.equal([0, 1], '4G/WiFi PRO succeed with 0, 3G/GPRS with 1');
  });
});

describe('firmdrop publishes a dropped binary and a device picks it up', function () {
  this.timeout(30_000);
  let root: string;
  let fd: Firmdrop;
  before(async () => { root = await tempRoot(); fd = await firmdrop(root); });
  after(async () => { await fd.close(); await fs.rm(root, { recursive: true, force: true }); });

  it('drop _4G_20_ into the root; the 4G device downloads it and reboots into it', async () => {
    const image = scenarioBinary('_4G_20_', 12_345);
    const before = await runOta({ module: '4g', ...FAST, server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' }, device: { programId: 'OLDPROG', version: 3 } });
    expect(before.result.name).to.be.oneOf(['NO_FILE', 'UPGRADE_TXT_DOWNLOAD']);
    await fs.writeFile(path.join(root, '_4G_20_'), image);
    const deadline = Date.now() + 15_000;
    while ((await fd.publisher.current())?.file !== '_4G_20_') {
      if (Date.now() > deadline) throw new Error('the watcher did not publish the dropped binary within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const { result, device } = await runOta({ module: '4g', ...FAST, server: { host: '127.0.0.1', port: fd.ftp.port, user: 'ota', pass: 'libelium' }, device: { programId: 'OLDPROG', version: 3 } });
    expect(result.name, result.notes.join('; ')).to.equal('OK');
    expect(result.checkNewProgram).to.equal(1);
    expect(device.programId()).to.equal('_4G_20_');
    expect(device.flash?.equals(image)).to.equal(true);
  });
});

describe('client-sim ota --json on hand-made roots (the code the real library would give)', function () {
  this.timeout(60_000);
  const cases: { what: string; module: string; files: Record<string, string | Buffer>; code: number | null; name: string; faults?: string[] }[] = [
    { what: 'truncated binary transfer on 4G', module: '4g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\nPATH:/\nSIZE:3000\nVERSION:2\n', APPLIC1: Buffer.alloc(3000, 1) },
      faults: ['cut:1000:reset@data2'], code: 19, name: 'RECV_ERROR_CODE' },
    { what: 'last line without \\n on 3G (VERSION copied with a negative length)', module: '3g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\nPATH:/\nVERSION:2', APPLIC1: Buffer.alloc(600, 1) }, code: null, name: 'UNDEFINED_BEHAVIOUR' },
    { what: 'CRLF manifest on 4G', module: '4g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\r\nPATH:/\r\nSIZE:600\r\nVERSION:2\r\n', APPLIC1: Buffer.alloc(600, 1) }, code: 4, name: 'FILE_LENGTH' },
    { what: 'space after a colon on WiFi PRO', module: 'wifi-pro', files: { 'UPGRADE.TXT': 'FILE: APPLIC1\nPATH:/\nSIZE:600\nVERSION:2\n', APPLIC1: Buffer.alloc(600, 1) }, code: 22, name: 'FILE_LENGTH' },
    { what: 'missing VERSION on 3G', module: '3g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\nPATH:/\nSIZE:600\n', APPLIC1: Buffer.alloc(600, 1) }, code: -25, name: 'NO_VERSION_LABEL' },
    { what: 'lower version on GPRS', module: 'gprs', files: { 'UPGRADE.TXT': 'FILE:OTA_APP\nPATH:/\nSIZE:600\nVERSION:1\n', OTA_APP: Buffer.alloc(600, 1) }, code: -70, name: 'VERSION_NOT_NEWER' },
    { what: 'missing binary on 4G', module: '4g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\nPATH:/\nSIZE:600\nVERSION:2\n' }, code: 13, name: 'SIZE_QUERY' },
    { what: 'wrong SIZE label on 4G', module: '4g', files: { 'UPGRADE.TXT': 'FILE:APPLIC1\nPATH:/\nSIZE:601\nVERSION:2\n', APPLIC1: Buffer.alloc(600, 1) }, code: 11, name: 'SIZE_LABEL_MISMATCH' },
  ];
  for (const c of cases) {
    it(`${c.what} → ${c.code} ${c.name}`, async () => {
      const root = await tempRoot();
      let ftp: FtpHandle | undefined;
      try {
        for (const [n, v] of Object.entries(c.files)) await fs.writeFile(path.join(root, n), v);
        ftp = await startScenarioServer(root);
        const { stdout } = await run(process.execPath, ['--import', 'tsx', 'client-sim/cli.ts', 'ota', '--module', c.module,
          '--host', '127.0.0.1', '--port', String(ftp.port), '--program', 'OTA_APP', '--version', '2', '--time-scale', '0.02', '--json', ...(c.module === 'gprs' ? ['--no-gprs-prefix'] : []), ...(c.faults ?? []).flatMap((f) => ['--fault', f])],
        { cwd: process.cwd() }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
        const out = JSON.parse(stdout.trim()) as { module: string; code: number | null; name: string; description: string; bytes: number; undefinedBehaviour?: { source: string } };
        if (c.code === null) expect(out.undefinedBehaviour?.source).to.match(/^Wasp3G\.cpp:\d+$/);
        expect(out.module).to.equal(c.module);
        expect(out.code).to.equal(c.code);
        expect(out.name).to.equal(c.name);
        expect(out.description).to.be.a('string').and.not.equal('');
        expect(out.bytes).to.be.a('number');
      } finally {
        await ftp?.close(2000);
        await fs.rm(root, { recursive: true, force: true });
      }
    });
  }
});
