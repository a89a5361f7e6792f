/**
 * The GPRS library asks for `.gprs` paths: `AT+FTPGETPATH=".gprs"` with `AT+FTPGETNAME="/UPGRADE.TXT"`, and
 * `.gprs<PATH>` with `/<FILE>` for the binary (WaspGPRS_Pro_core.cpp:7052, :7120; split at the last '/' by
 * readDataFTP and getfilesizeFTP). How a SIM900 turns them into FTP commands is not public, so the emulator's
 * `pathMapping` option chooses; every mapping must work:
 * - against pyftpdlib over a root that has a real `.gprs` folder (a copy of the root), and
 * - against firmdrop, which serves `.gprs/` as an alias of its root (CWD, SIZE, RETR, LIST). The firmdrop cases
 *   need that alias (built in parallel); without it they fail at the size query (−32).
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runOta } from '../client-sim/waspmote/run-ota.ts';
import { mirrorGprs } from '../client-sim/scenarios/runner.ts';
import { GPRS_PATH_MAPPINGS } from '../client-sim/modem/simcom900.ts';
import { scenarioBinary } from '../client-sim/scenarios/types.ts';
import { startBenchServer, missingAnchor, type BenchServer } from '../bench/servers.ts';
import { startFirmdrop, type Firmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';

const FAST = { timeScale: 0.005, minTimeoutMs: 1500, maxIdlePolls: 50 };
const BIN = scenarioBinary('GPRSAPP', 4_000);

/** GPRS OTA with the literal `.gprs` paths; the AT lines sent and the FTP lines on the wire are collected. */
async function gprsOta(port: number, user: string, pass: string, mapping: string, wire: string[]) {
  return runOta({
    module: 'gprs', ...FAST, server: { host: '127.0.0.1', port, user, pass },
    device: { programId: 'OTHERFW', version: 1 }, modemOptions: { pathMapping: mapping },
    trace: (l) => { wire.push(l.replace(/^\S+ /, '')); },
  });
}

describe('GPRS .gprs paths: every SIM900 path mapping against pyftpdlib with a real .gprs folder', function () {
  this.timeout(60_000);
  let server: BenchServer;
  before(async function () {
    if (missingAnchor('pyftpdlib')) this.skip();
    server = await startBenchServer('pyftpdlib', { size: 10 });
    await fs.writeFile(path.join(server.root, 'GPRSAPP'), BIN);
    await fs.writeFile(path.join(server.root, 'UPGRADE.TXT'), `FILE:GPRSAPP\nPATH:/\nSIZE:${BIN.length}\nVERSION:5\n`);
    await mirrorGprs(server.root);
  });
  after(async () => { await server?.stop(); });

  for (const mapping of GPRS_PATH_MAPPINGS) {
    it(`${mapping}: the library's AT text, then the binary byte for byte`, async () => {
      const u = new URL(server.url);
      const wire: string[] = [];
      const { result, device } = await gprsOta(Number(u.port), u.username, u.password, mapping, wire);
      expect(result.ok, `${result.code} ${result.name}`).to.equal(true);
      expect(device.sd.read('GPRSAPP')?.equals(BIN)).to.equal(true);
      // binary: ".gprs" + "/" + "/" + "GPRSAPP" split at the last '/'
      expect(wire).to.include.members(['<- AT+FTPGETPATH=".gprs"', '<- AT+FTPGETNAME="/UPGRADE.TXT"', '<- AT+FTPGETPATH=".gprs/"', '<- AT+FTPGETNAME="/GPRSAPP"']);
      // cwd-then-retr: the name keeps its leading '/', so RETR is absolute and PATH only decides whether CWD works
      if (mapping === 'cwd-then-retr') expect(wire).to.include.members(['ftp > CWD .gprs', 'ftp > RETR /UPGRADE.TXT', 'ftp > CWD .gprs/', 'ftp > RETR /GPRSAPP']);
      else expect(wire).to.include.members(['ftp > RETR .gprs/UPGRADE.TXT', 'ftp > RETR .gprs//GPRSAPP']);
    });
  }
});

describe('GPRS .gprs paths: every SIM900 path mapping against firmdrop (.gprs/ is an alias of its root)', function () {
  this.timeout(60_000);
  let root: string;
  let fd: Firmdrop;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-gprs-'));
    const config = { ...loadConfig({}, {}), root, host: '127.0.0.1', port: 0, stabilityMs: 100, logLevel: 'silent' as const };
    fd = await startFirmdrop(config, createLogger({ level: 'silent' }));
    const src = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-gprs-src-')), 'GPRSAPP');
    await fs.writeFile(src, BIN);
    await fd.publisher.importBinary(src, { name: 'GPRSAPP', version: 5 });
    await fs.rm(path.dirname(src), { recursive: true, force: true });
  });
  after(async () => {
    await fd.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  for (const mapping of GPRS_PATH_MAPPINGS) {
    it(`${mapping}: the GPRS OTA with the library's .gprs paths succeeds`, async () => {
      const wire: string[] = [];
      const { result, device } = await gprsOta(fd.ftp.port, 'ota', 'libelium', mapping, wire);
      expect(result.ok, `${result.code} ${result.name}`).to.equal(true);
      expect(device.sd.read('GPRSAPP')?.equals(BIN)).to.equal(true);
      expect(wire).to.include('<- AT+FTPGETPATH=".gprs"');
    });
  }
});
