import { expect } from 'chai';
import { closeSync, readSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Jail, isHiddenName, MSG_NOT_FOUND } from '../server/jail.ts';
import { ManifestPins, manifestKey } from '../server/pins.ts';
import { SnapshotCache } from '../server/snapshots/reader.ts';
import { ManifestBytes } from '../server/ftp/manifest-bytes.ts';
import { SessionFiles } from '../server/ftp/files.ts';
import { formatListLine } from '../server/ftp/list-format.ts';
import { makeRoot, type TestRoot } from './support/ftp-fixtures.ts';

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** What a RETR of `name` from `rest` would send (the session's view of the root). */
async function retrBytes(files: SessionFiles, name: string, rest = 0): Promise<Buffer> {
  const src = files.source(await files.open(name), rest);
  if (src.buffer) return src.buffer.subarray(src.offset);
  const buf = Buffer.alloc(src.size - src.offset);
  readSync(src.fd!, buf, 0, buf.length, src.offset);
  closeSync(src.fd!);
  return buf;
}

function sessionFiles(root: Jail): SessionFiles {
  return new SessionFiles({ jail: root, pins: new ManifestPins(), cache: new SnapshotCache(), manifest: new ManifestBytes() }, '127.0.0.1');
}

describe('jail and a session\'s view of the root: read-only, jailed', () => {
  let t: TestRoot;
  let dfs: SessionFiles;
  beforeEach(async () => {
    t = await makeRoot();
    dfs = sessionFiles(await Jail.open(t.root));
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

  it('takes /.gprs (the Libelium GPRS library\'s folder) as the root', async () => {
    expect(dfs.virtualPath('.gprs/UPGRADE.TXT')).to.equal('/UPGRADE.TXT');
    expect(dfs.virtualPath('/.gprs')).to.equal('/');
    expect(dfs.virtualPath('/.gprs/ota/NESTED1')).to.equal('/ota/NESTED1');
    expect(await dfs.chdir('.gprs')).to.equal('/.gprs');
    expect((await dfs.stat('ABCDEFG')).stat.size).to.equal(t.binary.length);
    expect((await retrBytes(dfs, 'ABCDEFG')).equals(t.binary)).to.equal(true);
    expect((await dfs.list('/')).map((e) => e.name)).to.not.include('.gprs');
  });

  it('stats files by relative and absolute name, with the size in bytes', async () => {
    expect((await dfs.stat('UPGRADE.TXT')).stat.size).to.equal(Buffer.byteLength('FILE:ABCDEFG\nPATH:/\nSIZE:204800\nVERSION:3\n'));
    expect((await dfs.stat('/ABCDEFG')).stat.size).to.equal(t.binary.length);
    expect((await dfs.stat('ABCDEFG')).name).to.equal('ABCDEFG');
  });

  it('lists visible entries only: no dot-entries, no symlinks leaving the root or into hidden folders', async () => {
    const names = (await dfs.list('/')).map((e) => e.name);
    expect(names).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
  });

  it('hides the catalogue folder and temp files from stat, list, chdir and open', async () => {
    for (const p of ['.firmdrop', '/.firmdrop/releases.json', '.UPGRADE.TXT.tmp', 'ota/../.firmdrop', 'LINKHID']) {
      expect((await rejection(dfs.stat(p))).message, p).to.equal(MSG_NOT_FOUND);
      expect((await rejection(dfs.open(p))).message, p).to.equal(MSG_NOT_FOUND);
    }
    expect((await rejection(dfs.list('.firmdrop'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.chdir('.firmdrop'))).message).to.equal(MSG_NOT_FOUND);
  });

  it('refuses symlinks pointing outside the root (file and folder), allows one pointing inside', async () => {
    expect((await rejection(dfs.open('LINKOUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.stat('DIROUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.chdir('DIROUT'))).message).to.equal(MSG_NOT_FOUND);
    expect((await rejection(dfs.open('DIROUT/secret.txt'))).message).to.equal(MSG_NOT_FOUND);
    expect((await retrBytes(dfs, 'LINKIN')).equals(t.binary)).to.equal(true);
  });

  it('serves a root given through a symlink, and still jails it', async () => {
    const alias = `${t.root}-alias`;
    await fs.symlink(t.root, alias);
    try {
      const viaAlias = sessionFiles(await Jail.open(alias));
      expect((await viaAlias.stat('UPGRADE.TXT')).stat.isFile()).to.equal(true);
      expect((await rejection(viaAlias.open('LINKOUT'))).message).to.equal(MSG_NOT_FOUND);
    } finally {
      await fs.rm(alias);
    }
  });

  it('refuses a root that is not a folder with one line', async () => {
    expect((await rejection(Jail.open(path.join(t.root, 'UPGRADE.TXT')))).message).to.match(/^FTP root is not a folder: /);
  });

  it('never lets ../ climb out of the root', async () => {
    const rel = path.relative(t.root, path.join(t.outside, 'secret.txt'));
    expect(rel.startsWith('..')).to.equal(true);
    expect((await rejection(dfs.open(rel))).message).to.equal(MSG_NOT_FOUND);
    expect(await dfs.chdir('../../..')).to.equal('/');
    expect(dfs.cwd).to.equal('/');
  });

  it('changes folder and resolves names relative to it', async () => {
    expect(await dfs.chdir('ota')).to.equal('/ota');
    expect((await dfs.stat('NESTED1')).stat.size).to.equal(6);
    expect((await dfs.stat('../UPGRADE.TXT')).stat.isFile()).to.equal(true);
    expect((await rejection(dfs.chdir('/UPGRADE.TXT'))).message).to.equal('Not a directory');
  });

  it('reads from a REST offset, and an offset past the end gives an empty source', async () => {
    expect((await retrBytes(dfs, 'ABCDEFG', 1000)).equals(t.binary.subarray(1000))).to.equal(true);
    expect((await retrBytes(dfs, 'ABCDEFG', t.binary.length + 50)).length).to.equal(0);
    for (const huge of [2 ** 53 + 1, 1e21, Infinity]) {
      expect((await retrBytes(dfs, 'ABCDEFG', huge)).length, String(huge)).to.equal(0);
    }
  });

  it('opens a RETR before the data connection: a missing file is refused, the opened file is the one sent even if replaced after', async () => {
    for (const p of ['NOFILE1', '.firmdrop/releases.json', 'ota']) expect((await rejection(dfs.open(p))).message, p).to.equal(MSG_NOT_FOUND);
    const opened = await dfs.open('/ABCDEFG');
    // the publisher replaces the file by rename after the check: the device still gets one whole, consistent file
    await fs.writeFile(path.join(t.root, 'ABCDEFG.new'), 'other bytes');
    await fs.rename(path.join(t.root, 'ABCDEFG.new'), path.join(t.root, 'ABCDEFG'));
    const src = dfs.source(opened, 0);
    const buf = Buffer.alloc(src.size);
    readSync(src.fd!, buf, 0, buf.length, 0);
    closeSync(src.fd!);
    expect(buf.equals(t.binary)).to.equal(true);
    // a new open sees the new file
    expect((await retrBytes(dfs, '/ABCDEFG')).toString()).to.equal('other bytes');
  });

  it('has no write operation at all (read-only by construction)', () => {
    for (const op of ['write', 'delete', 'mkdir', 'rename', 'chmod', 'unlink']) {
      expect((dfs as unknown as Record<string, unknown>)[op], op).to.equal(undefined);
      expect((Jail.prototype as unknown as Record<string, unknown>)[op], op).to.equal(undefined);
    }
  });

  it('gives generic messages for odd names (NUL bytes, very long names)', async () => {
    for (const p of ['a\0b', 'x'.repeat(5000), '/'.repeat(300) + 'nothing']) {
      const err = await rejection(dfs.stat(p));
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

describe('pins: what a manifest read pins', () => {
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
