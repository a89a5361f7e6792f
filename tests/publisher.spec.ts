import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import CRC32 from 'crc-32';
import Database from 'libsql';
import { captureLogger } from './support/publisher-log.ts';
import { Publisher, PublishError, hashBinary, LOCK_FILE } from '../server/publisher.ts';
import { Catalog, CatalogError, CATALOG_DIR } from '../server/catalog.ts';
import { parseManifest, lintManifest } from '../server/manifest.ts';
import { snapshotPath } from '../server/snapshots/reader.ts';

const crcOf = (b: Buffer) => (CRC32.buf(b) >>> 0).toString(16).padStart(8, '0');
const md5Of = (b: Buffer) => createHash('md5').update(b).digest('hex');

async function expectRejects(p: Promise<unknown>, cls: Function, code: string, pattern?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(cls);
    expect((e as PublishError).code).to.equal(code);
    if (pattern) expect((e as Error).message).to.match(pattern);
    return e as Error;
  }
  return expect.fail('not refused');
}

describe('publisher', () => {
  let root: string;
  let outside: string;
  const read = (f = 'UPGRADE.TXT') => fsp.readFile(path.join(root, f), 'utf8');
  const put = (name: string, bytes: Buffer) => fsp.writeFile(path.join(root, name), bytes);
  const tmpEntries = async () => fsp.readdir(path.join(root, CATALOG_DIR, 'tmp')).catch(() => [] as string[]);
  const expectNoLock = async () => {
    expect(await fsp.stat(path.join(root, CATALOG_DIR, LOCK_FILE)).then(() => true, () => false), 'lock left behind').to.equal(false);
  };

  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-pub-'));
    outside = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-src-'));
  });
  afterEach(async () => {
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rm(outside, { recursive: true, force: true });
  });

  it('publishes a binary: exact SIZE, CRC32 and MD5 of its bytes, VERSION 1, one log line, no temp files', async () => {
    const bytes = randomBytes(174945);
    await put('ABCDEFG', bytes);
    const { logger, lines } = captureLogger();
    const p = new Publisher({ root, logger });
    const r = await p.publish('ABCDEFG');
    expect(r).to.include({ name: 'ABCDEFG', version: 1, size: 174945, crc32: crcOf(bytes), md5: md5Of(bytes) });
    expect(await read()).to.equal(`FILE:ABCDEFG\nPATH:/\nSIZE:174945\nVERSION:1\nCRC32:${crcOf(bytes)}\nMD5:${md5Of(bytes)}\n`);
    expect(lintManifest(await read(), { size: bytes.length, crc32: crcOf(bytes), md5: md5Of(bytes) })).to.deep.equal([]);
    expect(await tmpEntries()).to.deep.equal([]);
    expect(lines.filter((l) => l.msg.startsWith('published'))).to.have.length(1);
    expect(lines.find((l) => l.msg.startsWith('published'))!.msg).to.equal(`published ABCDEFG v1 (174945 bytes, crc32 ${crcOf(bytes)})`);
    const cat = await Catalog.open(root);
    expect(cat.releases).to.have.length(1);
    expect(cat.current).to.deep.equal({ kind: 'release', name: 'ABCDEFG', version: 1 });
    expect(await p.current()).to.deep.equal(parseManifest(await read()));
  });

  it('writes the plain Meshlium format with checksums: false', async () => {
    await put('ABCDEFG', Buffer.from('hello'));
    await new Publisher({ root, checksums: false }).publish('ABCDEFG');
    expect(await read()).to.equal('FILE:ABCDEFG\nPATH:/\nSIZE:5\nVERSION:1\n');
  });

  it('re-publishing identical bytes keeps the VERSION; new bytes get the next one', async () => {
    const p = new Publisher({ root });
    await put('ABCDEFG', Buffer.from('one'));
    expect((await p.publish('ABCDEFG')).version).to.equal(1);
    const before = await read();
    expect((await p.publish('ABCDEFG')).version).to.equal(1);
    expect(await read()).to.equal(before);
    expect(await p.releases()).to.have.length(1);
    await put('ABCDEFG', Buffer.from('two!'));
    expect((await p.publish('ABCDEFG')).version).to.equal(2);
    expect(parseManifest(await read())).to.include({ version: 2, size: 4 });
    await put('ABCDEFG', Buffer.from('three'));
    expect((await p.publish('ABCDEFG', { version: 9 })).version).to.equal(9);
    await put('ABCDEFG', Buffer.from('four'));
    await expectRejects(p.publish('ABCDEFG', { version: 5 }), CatalogError, 'version-not-higher');
    expect(parseManifest(await read()).version).to.equal(9);
    expect((await p.publish('ABCDEFG', { version: 5, force: true })).version).to.equal(5);
  });

  it('refuses bad binaries with a clear error and leaves UPGRADE.TXT untouched', async () => {
    const p = new Publisher({ root });
    await put('GOODONE', Buffer.from('x'));
    await p.publish('GOODONE');
    const before = await read();
    await put('TOOLONGNAME', Buffer.from('x'));
    await expectRejects(p.publish('TOOLONGNAME'), PublishError, 'bad-name', /11 characters.*TOOLONG/);
    await put('EMPTYPG', Buffer.alloc(0));
    await expectRejects(p.publish('EMPTYPG'), PublishError, 'empty', /0 bytes/);
    await fsp.writeFile(path.join(outside, 'secret'), 'secret');
    await fsp.symlink(path.join(outside, 'secret'), path.join(root, 'LINKPRG'));
    await expectRejects(p.publish('LINKPRG'), PublishError, 'not-regular', /symbolic link/);
    await fsp.mkdir(path.join(root, 'DIRPROG'));
    await expectRejects(p.publish('DIRPROG'), PublishError, 'not-regular');
    await expectRejects(p.publish('MISSING'), PublishError, 'not-found');
    expect(await read()).to.equal(before);
  });

  it('detects a binary that changes while it is being checksummed', async () => {
    const file = path.join(root, 'GROWING');
    await fsp.writeFile(file, randomBytes(4 << 20));
    let refused = false;
    for (let attempt = 0; attempt < 20 && !refused; attempt++) {
      let writing = true;
      const writer = (async () => { while (writing) await fsp.appendFile(file, randomBytes(1024)); })();
      try {
        await hashBinary(file);
      } catch (e) {
        expect(e).to.be.instanceOf(PublishError);
        expect((e as PublishError).code).to.equal('unstable');
        expect((e as Error).message).to.match(/still being written/);
        refused = true;
      }
      writing = false;
      await writer;
    }
    expect(refused).to.equal(true);
  });

  it('importBinary copies atomically, names the binary, and is idempotent', async () => {
    const bytes = randomBytes(50000);
    const src = path.join(outside, 'ABCDEFG');
    await fsp.writeFile(src, bytes);
    const p = new Publisher({ root });
    const r = await p.importBinary(src);
    expect(r).to.include({ name: 'ABCDEFG', version: 1, size: 50000 });
    expect(Buffer.compare(await fsp.readFile(path.join(root, 'ABCDEFG')), bytes)).to.equal(0);
    expect((await p.importBinary(src)).version).to.equal(1);
    const other = path.join(outside, 'prog.hex');
    await fsp.writeFile(other, bytes);
    expect((await p.importBinary(other, { name: 'OTHERPG', version: 4 })).version).to.equal(4);
    expect(parseManifest(await read()).file).to.equal('OTHERPG');
    expect(await tmpEntries()).to.deep.equal([]);
  });

  it('importBinary refuses a bad name saying why, and a refused VERSION leaves the root untouched', async () => {
    const p = new Publisher({ root });
    const src = path.join(outside, 'MYPROGRAM.bin');
    await fsp.writeFile(src, 'abc');
    await expectRejects(p.importBinary(src), PublishError, 'bad-name', /extension \('\.bin'\).*rename it to 'MYPROGR'/);
    expect((await fsp.readdir(root)).filter((n) => !n.startsWith('.'))).to.deep.equal([]);
    await p.importBinary(src, { name: 'MYPROGR', version: 5 });
    const before = await read();
    const newer = path.join(outside, 'newer');
    await fsp.writeFile(newer, 'abcdef');
    await expectRejects(p.importBinary(newer, { name: 'MYPROGR', version: 3 }), CatalogError, 'version-not-higher');
    expect(await read()).to.equal(before);
    expect(await fsp.readFile(path.join(root, 'MYPROGR'), 'utf8')).to.equal('abc');
    expect(await tmpEntries()).to.deep.equal([]);
  });

  it('select offers an existing binary (rollback by name) with its recorded VERSION; selectNoFile', async () => {
    const p = new Publisher({ root });
    await put('OLDPROG', Buffer.from('old'));
    await p.publish('OLDPROG', { version: 7 });
    await put('NEWPROG', Buffer.from('new'));
    await p.publish('NEWPROG');
    expect(parseManifest(await read()).file).to.equal('NEWPROG');
    expect((await p.select('OLDPROG')).version).to.equal(7);
    expect(parseManifest(await read())).to.include({ file: 'OLDPROG', version: 7, size: 3 });
    await p.selectNoFile();
    expect(await read()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    expect((await Catalog.open(root)).current).to.deep.equal({ kind: 'no-file' });
    expect((await p.select('NEWPROG', { version: 1 })).version).to.equal(1);
    expect((await p.select('NEWPROG', { version: 3 })).version).to.equal(3);
    await expectRejects(p.select('NEWPROG', { version: 2 }), CatalogError, 'version-not-higher');
    await put('UNKNOWN', Buffer.from('u'));
    expect((await p.select('UNKNOWN')).version).to.equal(1);
  });

  it('serializes concurrent operations: every publish lands, the last queued ends current', async () => {
    const p = new Publisher({ root });
    const names = ['PROG_00', 'PROG_01', 'PROG_02', 'PROG_03', 'PROG_04', 'PROG_05', 'PROG_06', 'PROG_07'];
    for (const n of names) await put(n, randomBytes(20000));
    const same = Array.from({ length: 5 }, () => p.publish('PROG_00'));
    const results = await Promise.all([...same, ...names.map((n) => p.publish(n))]);
    expect(results.map((r) => r.version)).to.deep.equal(Array(5 + names.length).fill(1));
    expect(parseManifest(await read()).file).to.equal('PROG_07');
    const cat = await Catalog.open(root);
    expect(cat.releases.map((r) => r.name)).to.deep.equal(names);
    expect(await tmpEntries()).to.deep.equal([]);
  });

  it('two publishers on one root (as two processes) never lose a release: the lock serializes them', async () => {
    const a = new Publisher({ root });
    const b = new Publisher({ root });
    const names = ['LOCK_00', 'LOCK_01', 'LOCK_02', 'LOCK_03', 'LOCK_04', 'LOCK_05'];
    for (const n of names) await put(n, randomBytes(10000));
    await Promise.all(names.map((n, i) => (i % 2 ? a : b).publish(n)));
    expect((await Catalog.open(root)).releases.map((r) => r.name).sort()).to.deep.equal(names);
    await expectNoLock();
  });

  it('takes over a lock left by a process that is gone', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR), { recursive: true });
    await fsp.writeFile(path.join(root, CATALOG_DIR, LOCK_FILE), '999999999\n');
    await put('ABCDEFG', Buffer.from('x'));
    expect((await new Publisher({ root }).publish('ABCDEFG')).version).to.equal(1);
    await expectNoLock();
  });

  it('takes over an empty lock (a process killed between creating and writing it) once it is EMPTY_LOCK_STALE_MS old, not before', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR), { recursive: true });
    const lock = path.join(root, CATALOG_DIR, LOCK_FILE);
    await fsp.writeFile(lock, '');
    await put('ABCDEFG', Buffer.from('x'));
    const publishing = new Publisher({ root }).publish('ABCDEFG');
    let settled = false;
    void publishing.finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled, 'took over a fresh empty lock').to.equal(false);
    expect((await publishing).version).to.equal(1);
    await expectNoLock();
  });

  describe('reconcile', () => {
    it('missing UPGRADE.TXT → NO_FILE: an info line on a new root, a warning once a catalogue exists', async () => {
      const { logger, lines } = captureLogger();
      const p = new Publisher({ root, logger });
      await p.reconcile();
      expect(await read()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
      expect(lines.filter((l) => l.level >= 40)).to.deep.equal([]);
      expect(lines.some((l) => l.level === 30 && /no UPGRADE\.TXT yet/.test(l.msg))).to.equal(true);
      await fsp.rm(path.join(root, 'UPGRADE.TXT'));
      await p.reconcile();
      expect(await read()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
      expect(lines.some((l) => l.level === 40 && /missing/.test(l.msg))).to.equal(true);
    });

    it('a CRLF UPGRADE.TXT naming a valid binary keeps being offered in strict form with its VERSION; the original is kept', async () => {
      const original = Buffer.from('FILE:ABCDEFG\r\nPATH:/\r\nSIZE:1\r\nVERSION:7\r\n');
      await put('ABCDEFG', Buffer.from('x'));
      await put('UPGRADE.TXT', original);
      const { logger, lines } = captureLogger();
      const p = new Publisher({ root, logger });
      await p.reconcile();
      const now = parseManifest(await read());
      expect(now).to.include({ file: 'ABCDEFG', size: 1, version: 7, crc32: crcOf(Buffer.from('x')) });
      expect((await p.releases()).map((r) => `${r.name} v${r.version}`)).to.deep.equal(['ABCDEFG v7']);
      const kept = await fsp.readdir(path.join(root, CATALOG_DIR, 'kept'));
      expect(kept).to.have.length(1);
      expect(await fsp.readFile(path.join(root, CATALOG_DIR, 'kept', kept[0]!))).to.deep.equal(original);
      const line = lines.find((l) => l.level === 40)!.msg;
      expect(line).to.match(/broke crlf.*kept the original as \.firmdrop\/kept\/UPGRADE\.TXT\..*; offer ABCDEFG v7 \(broken\) → ABCDEFG v7$/);
      expect(line).to.not.include(root);
      expect(lines.filter((l) => l.level >= 30 && /ABCDEFG/.test(l.msg)), 'one line says what changed').to.have.length(1);
    });

    it('a broken UPGRADE.TXT whose binary does not match → NO_FILE, naming the rules; the original is kept', async () => {
      await put('ABCDEFG', Buffer.from('xy'));
      await put('UPGRADE.TXT', Buffer.from('FILE:ABCDEFG\r\nPATH:/\r\nSIZE:1\r\nVERSION:1\r\n'));
      const { logger, lines } = captureLogger();
      const p = new Publisher({ root, logger });
      await p.reconcile();
      expect(await read()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
      expect(lines.find((l) => l.level === 40)!.msg).to.match(/broke crlf, .*file-length.*kept the original .*→ NO_FILE/);
      expect(await fsp.readdir(path.join(root, CATALOG_DIR, 'kept'))).to.have.length(1);
    });

    it('a hand-written UPGRADE.TXT is copied before a publish replaces it; one firmdrop wrote is not', async () => {
      await put('ABCDEFG', Buffer.from('x'));
      await put('UPGRADE.TXT', Buffer.from('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n'));
      const p = new Publisher({ root });
      await p.reconcile();
      await p.publish('ABCDEFG');
      expect(await fsp.readdir(path.join(root, CATALOG_DIR, 'kept')).catch(() => [])).to.deep.equal([]);
      await put('UPGRADE.TXT', Buffer.from('FILE:ABCDEFG\nPATH:/\nSIZE:1\nVERSION:9\n'));
      await put('HIJKLMN', Buffer.from('y'));
      await p.publish('HIJKLMN');
      expect(await fsp.readdir(path.join(root, CATALOG_DIR, 'kept'))).to.have.length(1);
    });

    it('a deleted current binary → NO_FILE, never an older binary of another name', async () => {
      const { logger, lines } = captureLogger();
      const p = new Publisher({ root, logger });
      await put('OLDPROG', Buffer.from('old'));
      await p.publish('OLDPROG');
      await put('NEWPROG', Buffer.from('new'));
      await p.publish('NEWPROG');
      await fsp.rm(path.join(root, 'NEWPROG'));
      await p.reconcile();
      expect(await read()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
      expect(lines.find((l) => l.level === 40)!.msg).to.match(/NEWPROG v1.*no such file.*NO_FILE.*roll the fleet back/);
    });

    it('a replaced current binary is republished as a new VERSION', async () => {
      const p = new Publisher({ root });
      await put('ABCDEFG', Buffer.from('first'));
      await p.publish('ABCDEFG', { version: 3 });
      const bytes = Buffer.from('second version, longer');
      await put('ABCDEFG', bytes);
      await p.reconcile();
      expect(parseManifest(await read())).to.include({ file: 'ABCDEFG', version: 4, size: bytes.length, crc32: crcOf(bytes) });
    });

    it('same size, other bytes, checksum lines off: the catalogue record still catches the replacement', async () => {
      const p = new Publisher({ root, checksums: false });
      await put('ABCDEFG', Buffer.from('aaaa'));
      await p.publish('ABCDEFG');
      await put('ABCDEFG', Buffer.from('bbbb'));
      await p.reconcile();
      expect(await read()).to.equal('FILE:ABCDEFG\nPATH:/\nSIZE:4\nVERSION:2\n');
    });

    it('adopts an existing Meshlium root: records the release, UPGRADE.TXT byte-identical', async () => {
      const bytes = randomBytes(1234);
      await put('MESHPRG', bytes);
      await put('OLDERPG', randomBytes(10));
      const text = 'FILE:MESHPRG\nPATH:/\nSIZE:1234\nVERSION:12\n';
      await put('UPGRADE.TXT', Buffer.from(text));
      const p = new Publisher({ root });
      await p.reconcile();
      expect(await read()).to.equal(text);
      const cat = await Catalog.open(root);
      expect(cat.releases).to.have.length(1);
      expect(cat.releases[0]).to.include({ name: 'MESHPRG', version: 12, size: 1234, crc32: crcOf(bytes) });
      expect((await p.publish('MESHPRG')).version).to.equal(12);
      await put('MESHPRG', randomBytes(1234));
      expect((await p.publish('MESHPRG')).version).to.equal(13);
    });

    /** Publishes ABCDEFG v1 then v2, then puts v1's catalogue back: a crash after v2's manifest rename. */
    async function crashBeforeCatalogWrite(): Promise<string> {
      const p = new Publisher({ root });
      await put('ABCDEFG', Buffer.from('v1'));
      await p.publish('ABCDEFG');
      await put('ABCDEFG', Buffer.from('v2 bytes'));
      await p.publish('ABCDEFG');
      await p.close();
      // v1's catalogue back: the transaction recording v2 never committed
      const db = new Database(path.join(root, CATALOG_DIR, 'firmdrop.db'));
      db.prepare(`DELETE FROM releases WHERE name = 'ABCDEFG' AND version = 2`).run();
      db.prepare(`UPDATE settings SET value = ? WHERE key = 'catalog-current'`).run(JSON.stringify({ kind: 'release', name: 'ABCDEFG', version: 1 }));
      db.close();
      return read();
    }

    it('repairs a crash between the manifest rename and the catalogue write', async () => {
      const manifestV2 = await crashBeforeCatalogWrite();
      // a stale temp file from the dead writer
      await fsp.writeFile(path.join(root, CATALOG_DIR, 'tmp', '999999999.abcdef.UPGRADE.TXT'), 'FILE:');
      const fresh = new Publisher({ root });
      await fresh.reconcile();
      expect(await read()).to.equal(manifestV2);
      expect((await Catalog.open(root)).releases.map((r) => r.version)).to.deep.equal([1, 2]);
      expect(await tmpEntries()).to.deep.equal([]);
      // and the next release of that name is 3, not 2 again
      await put('ABCDEFG', Buffer.from('v3 bytes!'));
      expect((await fresh.publish('ABCDEFG')).version).to.equal(3);
    });

    it('a crash before the catalogue write never lets a VERSION be reused for other bytes', async () => {
      await crashBeforeCatalogWrite();
      await put('ABCDEFG', Buffer.from('v3 other bytes'));
      expect((await new Publisher({ root }).publish('ABCDEFG')).version).to.equal(3);
    });

    it('current() throws a ManifestError on a broken manifest and is undefined without one', async () => {
      const p = new Publisher({ root });
      expect(await p.current()).to.equal(undefined);
      await put('UPGRADE.TXT', Buffer.from('FILE: ABCDEFG\n'));
      try {
        await p.current();
        expect.fail('no error');
      } catch (e) {
        expect((e as Error).name).to.equal('ManifestError');
      }
    });
  });
});

describe('publisher: offered snapshots (server/snapshots/)', () => {
  let root: string;
  const put = (name: string, bytes: Buffer) => fsp.writeFile(path.join(root, name), bytes);
  const snap = (name: string, v: number) => fsp.readFile(snapshotPath(root, name, v)).catch(() => undefined);
  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-pub-'));
  });
  afterEach(() => fsp.rm(root, { recursive: true, force: true }));

  it('reconcile creates the missing snapshot of an adopted Meshlium root, offer unchanged', async () => {
    const bytes = randomBytes(1234);
    await put('MESHPRG', bytes);
    const text = 'FILE:MESHPRG\nPATH:/\nSIZE:1234\nVERSION:12\n';
    await put('UPGRADE.TXT', Buffer.from(text));
    await new Publisher({ root }).reconcile();
    expect(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).to.equal(text);
    expect(await snap('MESHPRG', 12)).to.deep.equal(bytes);
  });

  it('reconcile recreates a lost snapshot from the root file when it still matches the release', async () => {
    const bytes = randomBytes(500);
    await put('ABCDEFG', bytes);
    await new Publisher({ root }).publish('ABCDEFG');
    await fsp.rm(snapshotPath(root, 'ABCDEFG', 1));
    await new Publisher({ root }).reconcile();
    expect(await snap('ABCDEFG', 1)).to.deep.equal(bytes);
    expect(parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).version).to.equal(1);
  });

  it('a lost snapshot whose root file changed is not recreated from other bytes: the new bytes become the next VERSION', async () => {
    await put('ABCDEFG', randomBytes(500));
    await new Publisher({ root }).publish('ABCDEFG');
    await fsp.rm(snapshotPath(root, 'ABCDEFG', 1));
    const next = randomBytes(600);
    await put('ABCDEFG', next);
    await new Publisher({ root }).reconcile();
    expect(await snap('ABCDEFG', 1)).to.equal(undefined);
    expect(await snap('ABCDEFG', 2)).to.deep.equal(next);
    expect(parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8'))).to.include({ version: 2, size: 600 });
  });

  it('select of an older release recreates its snapshot from the root file', async () => {
    const p = new Publisher({ root });
    const a = randomBytes(100);
    await put('AAAAAAA', a);
    await p.publish('AAAAAAA');
    await put('BBBBBBB', randomBytes(100));
    await p.publish('BBBBBBB');
    await fsp.rm(snapshotPath(root, 'AAAAAAA', 1));
    await p.select('AAAAAAA');
    expect(await snap('AAAAAAA', 1)).to.deep.equal(a);
    expect(parseManifest(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).file).to.equal('AAAAAAA');
  });
});
