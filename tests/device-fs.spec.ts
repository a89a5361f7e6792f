import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DeviceFileSystem, formatListLine, isHiddenName, ManifestPins, manifestKey, MSG_DENIED, MSG_NOT_FOUND } from '../server/device-fs.ts';
import { makeRoot, snapshot, type TestRoot } from './support/ftp-fixtures.ts';

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error & { code?: number }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error & { code?: number };
  }
  throw new Error('expected a rejection');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('device-fs: read-only jailed file system', () => {
  let t: TestRoot;
  let dfs: DeviceFileSystem;
  beforeEach(async () => {
    t = await makeRoot();
    dfs = new DeviceFileSystem({}, { root: t.root });
  });
  afterEach(() => t.cleanup());

  it('resolves UPGRADE.TXT, /UPGRADE.TXT and ../UPGRADE.TXT to the same virtual path', () => {
    expect(dfs.virtualPath('UPGRADE.TXT')).to.equal('/UPGRADE.TXT');
    expect(dfs.virtualPath('/UPGRADE.TXT')).to.equal('/UPGRADE.TXT');
    expect(dfs.virtualPath('../UPGRADE.TXT')).to.equal('/UPGRADE.TXT');
    expect(dfs.virtualPath('../../../../etc/passwd')).to.equal('/etc/passwd');
    expect(dfs.virtualPath('ota\\..\\..\\NAME')).to.equal('/NAME');
    expect(dfs.virtualPath('')).to.equal('/');
  });

  it('stats files by relative and absolute name, with the size in bytes', async () => {
    expect((await dfs.get('UPGRADE.TXT')).size).to.equal(Buffer.byteLength('FILE:ABCDEFG\nPATH:/\nSIZE:204800\nVERSION:3\n'));
    expect((await dfs.get('/ABCDEFG')).size).to.equal(t.binary.length);
    expect((await dfs.get('ABCDEFG')).name).to.equal('ABCDEFG');
  });

  it('lists visible entries only: no dot-entries, no symlinks leaving the root or into hidden folders', async () => {
    const names = (await dfs.list('/')).map((e) => e.name);
    expect(names).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
  });

  it('hides the catalogue folder and temp files from get, list, chdir and read', async () => {
    for (const p of ['.firmdrop', '/.firmdrop/releases.json', '.UPGRADE.TXT.tmp', 'ota/../.firmdrop', 'LINKHID']) {
      expect((await rejection(dfs.get(p))).message, p).to.equal(MSG_NOT_FOUND);
      expect((await rejection(dfs.read(p))).code, p).to.equal(550);
    }
    expect((await rejection(dfs.list('.firmdrop'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.chdir('.firmdrop'))).message).to.equal(MSG_NOT_FOUND);
  });

  it('refuses symlinks pointing outside the root (file and folder), allows one pointing inside', async () => {
    expect((await rejection(dfs.read('LINKOUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.get('DIROUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.chdir('DIROUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.read('DIROUT/secret.txt'))).message).to.equal(MSG_NOT_FOUND);
    const { stream } = await dfs.read('LINKIN');
    expect((await readAll(stream)).equals(t.binary)).to.equal(true);
  });

  it('serves a root given through a symlink, and still jails it', async () => {
    // A root given through a symlink is served (realpath of the root is the jail), and still jails.
    const alias = `${t.root}-alias`;
    await fs.symlink(t.root, alias);
    try {
      const viaAlias = new DeviceFileSystem({}, { root: alias });
      expect((await viaAlias.get('UPGRADE.TXT')).isFile()).to.equal(true);
      expect((await rejection(viaAlias.read('LINKOUT'))).message).to.equal(MSG_NOT_FOUND);
    } finally {
      await fs.rm(alias);
    }
  });

  it('never lets ../ climb out of the root', async () => {
    const rel = path.relative(t.root, path.join(t.outside, 'secret.txt'));
    expect(rel.startsWith('..')).to.equal(true);
    expect((await rejection(dfs.read(rel))).message).to.equal(MSG_NOT_FOUND);
    expect(await dfs.chdir('../../..')).to.equal('/');
    expect(dfs.currentDirectory()).to.equal('/');
  });

  it('changes folder and resolves names relative to it', async () => {
    expect(await dfs.chdir('ota')).to.equal('/ota');
    expect((await dfs.get('NESTED1')).size).to.equal(6);
    expect((await dfs.get('../UPGRADE.TXT')).isFile()).to.equal(true);
    expect((await rejection(dfs.chdir('/UPGRADE.TXT'))).code).to.equal(550);
  });

  it('reads from a REST offset, and an offset past the end gives an empty stream', async () => {
    const part = await readAll((await dfs.read('ABCDEFG', { start: 1000 })).stream);
    expect(part.equals(t.binary.subarray(1000))).to.equal(true);
    const none = await readAll((await dfs.read('ABCDEFG', { start: t.binary.length + 50 })).stream);
    expect(none.length).to.equal(0);
    for (const huge of [2 ** 53 + 1, 1e21, Infinity]) {
      expect((await readAll((await dfs.read('ABCDEFG', { start: huge })).stream)).length, String(huge)).to.equal(0);
    }
  });

  it('tells its owner about each read and uses the stream it returns', async () => {
    const seen: { file: string; offset: number; size: number }[] = [];
    const hooked = new DeviceFileSystem({}, { root: t.root, onRead: ({ file, offset, size }) => void seen.push({ file, offset, size }) });
    await readAll((await hooked.read('/ABCDEFG', { start: 10 })).stream);
    expect(seen).to.deep.equal([{ file: '/ABCDEFG', offset: 10, size: t.binary.length }]);
  });

  it('prepares a RETR: a missing file answers false, the prepared file is the one read even if replaced after', async () => {
    expect(await dfs.prepareRead('NOFILE1')).to.equal(false);
    expect(await dfs.prepareRead('.firmdrop/releases.json')).to.equal(false);
    expect(await dfs.prepareRead('ota')).to.equal(false);
    expect(await dfs.prepareRead('/ABCDEFG')).to.equal(true);
    // the publisher replaces the file by rename after the check: the device still gets one whole, consistent file
    await fs.writeFile(path.join(t.root, 'ABCDEFG.new'), 'other bytes');
    await fs.rename(path.join(t.root, 'ABCDEFG.new'), path.join(t.root, 'ABCDEFG'));
    expect((await readAll((await dfs.read('/ABCDEFG')).stream)).equals(t.binary)).to.equal(true);
    // not prepared any more: a new read sees the new file
    expect((await readAll((await dfs.read('/ABCDEFG')).stream)).toString()).to.equal('other bytes');
    expect(await dfs.prepareRead('UPGRADE.TXT')).to.equal(true);
    await dfs.discardPrepared();
  });

  it('refuses every write operation with 550 Permission denied and changes nothing', async () => {
    const before = await snapshot(t.root);
    for (const op of [
      () => dfs.write(),
      () => dfs.delete(),
      () => dfs.mkdir(),
      () => dfs.rename(),
      () => dfs.chmod(),
    ]) {
      const err = await rejection(op);
      expect(err.code).to.equal(550);
      expect(err.message).to.equal(MSG_DENIED);
    }
    expect(await snapshot(t.root)).to.deep.equal(before);
  });

  it('gives generic messages for odd names (NUL bytes, very long names)', async () => {
    for (const p of ['a\0b', 'x'.repeat(5000), '/'.repeat(300) + 'nothing']) {
      const err = await rejection(dfs.get(p));
      expect(err.message).to.equal(MSG_NOT_FOUND);
    }
  });

  it('marks every dot-entry hidden', () => {
    expect(isHiddenName('.firmdrop')).to.equal(true);
    expect(isHiddenName('.UPGRADE.TXT.tmp')).to.equal(true);
    expect(isHiddenName('UPGRADE.TXT')).to.equal(false);
  });

  it('formats LIST lines in ls -l form with the size as the 5th field', () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const line = formatListLine({ name: 'ABCDEFG', size: 204800, mtime: new Date('2026-02-03T04:05:00Z'), isDirectory: () => false }, now);
    expect(line).to.equal('-r--r--r-- 1 ftp ftp 204800 Feb 03 04:05 ABCDEFG');
    expect(line.split(' ')[4]).to.equal('204800');
    const old = formatListLine({ name: 'ota', size: 4096, mtime: new Date('2024-02-03T04:05:00Z'), isDirectory: () => true }, now);
    expect(old).to.equal('dr-xr-xr-x 1 ftp ftp 4096 Feb 03 2024 ota');
  });
});

describe('device-fs: what a manifest read pins', () => {
  it('manifestKey reads FILE and VERSION tolerantly (CRLF, spaces, extra lines) and nothing else', () => {
    expect(manifestKey('FILE:ABCDEFG\nPATH:/\nSIZE:10\nVERSION:3\nCRC32:00000000\n')).to.deep.equal({ name: 'ABCDEFG', version: 3 });
    expect(manifestKey(Buffer.from('FILE: ABCDEFG\r\nPATH:/\r\nSIZE:10\r\nVERSION: 200\r\n'))).to.deep.equal({ name: 'ABCDEFG', version: 200 });
    for (const bad of ['FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n', 'FILE:ABCDEFG\nVERSION:256\n', 'FILE:ABCDEFG\nVERSION:0\n',
      'FILE:../../x\nVERSION:1\n', 'FILE:ABCDEFG\n', 'VERSION:1\n', 'FILE:ABCDEFG\nVERSION:1a\n', '']) {
      expect(manifestKey(bad), JSON.stringify(bad)).to.equal(undefined);
    }
  });

  it('ManifestPins: one pin per address, for its name only, expiring after the grace period, least recently used dropped first', () => {
    const pins = new ManifestPins({ graceMs: 1000, max: 2 });
    pins.remember('10.0.0.1', { name: 'ABCDEFG', version: 3 }, 0);
    expect(pins.versionFor('10.0.0.1', 'ABCDEFG', 999)).to.equal(3);
    expect(pins.versionFor('10.0.0.1', 'OTHER01', 999)).to.equal(undefined);
    expect(pins.versionFor('10.0.0.2', 'ABCDEFG', 999)).to.equal(undefined);
    pins.remember('10.0.0.1', { name: 'ABCDEFG', version: 4 }, 10);
    expect(pins.versionFor('10.0.0.1', 'ABCDEFG', 20)).to.equal(4);
    expect(pins.versionFor('10.0.0.1', 'ABCDEFG', 1010)).to.equal(undefined);
    expect(pins.size).to.equal(0);
    pins.remember('a', { name: 'ABCDEFG', version: 1 }, 0);
    pins.remember('b', { name: 'ABCDEFG', version: 2 }, 0);
    pins.remember('a', { name: 'ABCDEFG', version: 5 }, 1);
    pins.remember('c', { name: 'ABCDEFG', version: 3 }, 2);
    expect(pins.size).to.equal(2);
    expect(pins.versionFor('b', 'ABCDEFG', 3), 'least recently used: dropped').to.equal(undefined);
    expect(pins.versionFor('a', 'ABCDEFG', 3)).to.equal(5);
    expect(pins.versionFor('c', 'ABCDEFG', 3)).to.equal(3);
  });
});
