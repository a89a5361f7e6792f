// startFirmdrop, in process: reconcile + watcher + FTP, and close().
import { expect } from 'chai';
import { Client } from 'basic-ftp';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type Firmdrop, startFirmdrop, warnDefaultPassword } from '../server/app.ts';
import { captureLogger } from './support/publisher-log.ts';
import { ConfigError, loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';

const quiet = () => createLogger({ level: 'silent' });

async function fetchText(port: number, file: string): Promise<string> {
  const client = new Client(10_000);
  try {
    await client.access({ host: '127.0.0.1', port, user: 'ota', password: 'libelium' });
    const chunks: Buffer[] = [];
    await client.downloadTo(new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }), file);
    return Buffer.concat(chunks).toString();
  } finally {
    client.close();
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

describe('startFirmdrop (composition root)', function () {
  this.timeout(30_000);
  let tmp: string;
  const apps: Firmdrop[] = [];

  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-app-'));
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  const config = (root: string, extra: Record<string, unknown> = {}) =>
    loadConfig({ root, host: '127.0.0.1', port: '0', 'stability-ms': '100', ...extra }, {});

  it('reconciles an empty root to NO_FILE, serves it, publishes through its publisher, and closes idempotently', async () => {
    const app = await startFirmdrop(config(tmp), quiet());
    apps.push(app);
    expect(app.ftp.port).to.be.above(0);
    expect(await fsp.readFile(path.join(tmp, 'UPGRADE.TXT'), 'utf8')).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    expect(await fetchText(app.ftp.port, 'UPGRADE.TXT')).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');

    const src = path.join(tmp, 'src.bin');
    await fsp.writeFile(src, 'firmware');
    const release = await app.publisher.importBinary(src, { name: 'SENSOR1' });
    expect(release).to.deep.include({ name: 'SENSOR1', version: 1, size: 8 });
    expect(await fetchText(app.ftp.port, '/UPGRADE.TXT')).to.match(/^FILE:SENSOR1\nPATH:\/\nSIZE:8\nVERSION:1\nCRC32:[0-9a-f]{8}\nMD5:[0-9a-f]{32}\n$/);
    expect(await fetchText(app.ftp.port, 'SENSOR1')).to.equal('firmware');

    await app.close();
    await app.close();
    expect(await refused(app.ftp.port)).to.equal(true);
  });

  it('on a Meshlium root whose UPGRADE.TXT has CRLF line ends: keeps the original, goes on offering its binary in strict form with its VERSION', async () => {
    const original = Buffer.from('FILE:MESHPRG\r\nPATH:/\r\nSIZE:8\r\nVERSION:12\r\n');
    await fsp.writeFile(path.join(tmp, 'MESHPRG'), 'firmware');
    await fsp.writeFile(path.join(tmp, 'UPGRADE.TXT'), original);
    const { logger, lines } = captureLogger();
    const app = await startFirmdrop(config(tmp), logger);
    apps.push(app);
    expect(await fetchText(app.ftp.port, 'UPGRADE.TXT')).to.match(/^FILE:MESHPRG\nPATH:\/\nSIZE:8\nVERSION:12\nCRC32:[0-9a-f]{8}\nMD5:[0-9a-f]{32}\n$/);
    expect(await fetchText(app.ftp.port, 'MESHPRG')).to.equal('firmware');
    const kept = await fsp.readdir(path.join(tmp, '.firmdrop', 'kept'));
    expect(await fsp.readFile(path.join(tmp, '.firmdrop', 'kept', kept[0]!))).to.deep.equal(original);
    const said = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(said).to.have.length(1);
    expect(said[0]).to.match(/^UPGRADE\.TXT broke crlf.*kept the original as \.firmdrop\/kept\/UPGRADE\.TXT\.\S+; offer MESHPRG v12 \(broken\) → MESHPRG v12$/);
    expect((await app.publisher.releases()).map((r) => `${r.name} v${r.version}`)).to.deep.equal(['MESHPRG v12']);
  });

  it('writes the plain Meshlium manifest with checksums off', async () => {
    const app = await startFirmdrop(config(tmp, { checksums: false }), quiet());
    apps.push(app);
    const src = path.join(tmp, 'src.bin');
    await fsp.writeFile(src, 'firmware');
    await app.publisher.importBinary(src, { name: 'SENSOR1' });
    expect(await fetchText(app.ftp.port, 'UPGRADE.TXT')).to.equal('FILE:SENSOR1\nPATH:/\nSIZE:8\nVERSION:1\n');
  });

  it('a taken port is refused before anything is written, and nothing is left running (no watcher publishes afterwards)', async () => {
    const first = await startFirmdrop(config(path.join(tmp)), quiet());
    apps.push(first);
    const other = path.join(tmp, 'other');
    await fsp.mkdir(other);
    const err = await startFirmdrop(config(other, { port: String(first.ftp.port) }), quiet()).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/EADDRINUSE|in use/);
    // The port is checked before anything is written: the root is untouched.
    expect(await fsp.readdir(other)).to.deep.equal([]);
    await fsp.writeFile(path.join(other, 'SENSOR1'), 'firmware');
    // A leaked watcher (stability 100 ms) would publish SENSOR1 well within this bound.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await fsp.readdir(other)).to.deep.equal(['SENSOR1']);
  });

  it('refuses a root that is not a folder with a ConfigError and creates nothing', async () => {
    const missing = path.join(tmp, 'missing');
    const err = await startFirmdrop(config(missing), quiet()).then(() => undefined, (e: Error) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect(err!.message).to.equal(`root ${missing}: no such directory`);
    expect(await fsp.readdir(tmp)).to.deep.equal([]);
  });
});

describe('warnDefaultPassword', () => {
  const run = (host: string, users: { user: string; pass: string }[]) => {
    const { logger, lines } = captureLogger();
    warnDefaultPassword({ host, port: 2121, users }, logger);
    return lines.filter((l) => l.level === 40).map((l) => l.msg);
  };

  it('warns once, naming --user and FIRMDROP_USERS, when ota/libelium is served on a non-loopback address', () => {
    const w = run('0.0.0.0', [{ user: 'ota', pass: 'libelium' }, { user: 'ops', pass: 's3cret' }]);
    expect(w).to.have.length(1);
    expect(w[0]).to.match(/0\.0\.0\.0.*ota\/libelium.*--user NAME:PASSWORD or FIRMDROP_USERS/);
  });

  it('stays quiet on loopback, or when the default password was changed', () => {
    expect(run('127.0.0.1', [{ user: 'ota', pass: 'libelium' }])).to.deep.equal([]);
    expect(run('::1', [{ user: 'ota', pass: 'libelium' }])).to.deep.equal([]);
    expect(run('0.0.0.0', [{ user: 'ota', pass: 'n3w-pass' }])).to.deep.equal([]);
  });
});
