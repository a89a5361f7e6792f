import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Catalog, CatalogError, resolveVersion, CATALOG_DIR, CATALOG_FILE, type Release } from '../server/catalog.ts';
import { writeFileAtomic } from '../server/atomic-file.ts';
import { Store } from '../server/store/store.ts';

const rel = (name: string, version: number): Release => ({
  name, version, size: 10, crc32: '0a1b2c3d', md5: 'd41d8cd98f00b204e9800998ecf8427e', publishedAt: new Date().toISOString(),
});

function expectCatalogError(fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn();
    expect.fail('not refused');
  } catch (e) {
    expect(e).to.be.instanceOf(CatalogError);
    expect((e as CatalogError).code).to.equal(code);
    expect((e as Error).message).to.match(pattern);
  }
}

describe('catalog: VERSION rules', () => {
  it('a new name starts at 1, or at the version given', () => {
    expect(resolveVersion('ABCDEFG', [])).to.equal(1);
    expect(resolveVersion('ABCDEFG', [], { version: 7 })).to.equal(7);
  });
  it('the same name gets highest published + 1', () => {
    expect(resolveVersion('ABCDEFG', [1, 5, 3])).to.equal(6);
  });
  it('an explicit version must be higher than any published unless forced', () => {
    expect(resolveVersion('ABCDEFG', [4], { version: 5 })).to.equal(5);
    expectCatalogError(() => resolveVersion('ABCDEFG', [4], { version: 4 }), 'version-not-higher', /not higher than v4.*--force/);
    expectCatalogError(() => resolveVersion('ABCDEFG', [4], { version: 2 }), 'version-not-higher', /ABCDEFG/);
    expect(resolveVersion('ABCDEFG', [4], { version: 2, force: true })).to.equal(2);
  });
  it('256 is refused with a message telling the operator to rename the program', () => {
    expectCatalogError(() => resolveVersion('ABCDEFG', [255]), 'version-overflow', /rename the program/);
    expectCatalogError(() => resolveVersion('ABCDEFG', [], { version: 256 }), 'version-overflow', /read as 0.*rename/);
    expectCatalogError(() => resolveVersion('ABCDEFG', [], { version: 300, force: true }), 'version-overflow', /44/);
    expect(resolveVersion('ABCDEFG', [254])).to.equal(255);
  });
  it('version 0 and non-integers are refused (Meshlium cannot set 0 either)', () => {
    expectCatalogError(() => resolveVersion('ABCDEFG', [], { version: 0 }), 'version-range', /1\.\.255/);
    expectCatalogError(() => resolveVersion('ABCDEFG', [], { version: 1.5 }), 'version-range', /1\.\.255/);
    expectCatalogError(() => resolveVersion('ABCDEFG', [], { version: -1, force: true }), 'version-range', /1\.\.255/);
  });
});

describe('catalog: persistence', () => {
  let root: string;
  beforeEach(async () => { root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-catalog-')); });
  afterEach(async () => { await fsp.rm(root, { recursive: true, force: true }); });

  it('starts empty, records releases and the selection, and reads them back', async () => {
    const c = await Catalog.open(root);
    expect(c.releases).to.deep.equal([]);
    expect(c.current).to.equal(null);
    expect(c.exists).to.equal(false);
    await c.add(rel('ABCDEFG', 1));
    await c.add(rel('ABCDEFG', 2));
    await c.add(rel('OTHERPG', 1), false);
    const again = await Catalog.open(root);
    expect(again.releases.map((r) => `${r.name}v${r.version}`)).to.deep.equal(['ABCDEFGv1', 'ABCDEFGv2', 'OTHERPGv1']);
    expect(again.current).to.deep.equal({ kind: 'release', name: 'ABCDEFG', version: 2 });
    expect(again.latest('ABCDEFG')!.version).to.equal(2);
    expect(again.nextVersion('ABCDEFG')).to.equal(3);
    expect(again.nextVersion('ABCDEFG', { floor: 9 })).to.equal(10);
    expect(again.nextVersion('NEWNAME')).to.equal(1);
    await again.setCurrent({ kind: 'no-file' });
    expect((await Catalog.open(root)).current).to.deep.equal({ kind: 'no-file' });
    expect(again.exists).to.equal(true);
    // kept in the store, not in a catalogue file
    expect(await fsp.readdir(path.join(root, CATALOG_DIR))).to.not.include(CATALOG_FILE);
    c.close();
    again.close();
  });

  it('two catalogues of one root (the CLI and a server) see each other\'s changes', async () => {
    const a = await Catalog.open(root);
    const b = await Catalog.open(root);
    await a.add(rel('ABCDEFG', 1));
    await b.load();
    expect(b.releases.map((r) => r.version)).to.deep.equal([1]);
    await b.setCurrent({ kind: 'no-file' });
    await a.load();
    expect(a.current).to.deep.equal({ kind: 'no-file' });
    a.close();
    b.close();
  });

  it('imports a releases.json once (releases, selection, baseline), then keeps it renamed, never overwriting', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR));
    const file = path.join(root, CATALOG_DIR, CATALOG_FILE);
    const legacy = { format: 1, current: { kind: 'release', name: 'ABCDEFG', version: 2 }, releases: [rel('ABCDEFG', 1), rel('ABCDEFG', 2)],
      baseline: [{ name: 'MESHPRG', size: 3, mtimeMs: 1000 }] };
    await fsp.writeFile(file, JSON.stringify(legacy));
    await fsp.writeFile(`${file}.imported`, 'an older import the operator kept');
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const c = await Catalog.open(root, pino({ level: 'info' }, sink));
    expect(c.releases.map((r) => r.version)).to.deep.equal([1, 2]);
    expect(c.current).to.deep.equal(legacy.current);
    expect(c.baseline).to.deep.equal(legacy.baseline);
    expect(c.exists).to.equal(true);
    expect(lines.join('')).to.match(/imported 2 releases from releases\.json/);
    const names = await fsp.readdir(path.join(root, CATALOG_DIR));
    expect(names).to.not.include(CATALOG_FILE);
    expect(await fsp.readFile(`${file}.imported`, 'utf8')).to.equal('an older import the operator kept');
    const kept = names.filter((n) => n.startsWith('releases.json.imported-'));
    expect(kept).to.have.length(1);
    expect(JSON.parse(await fsp.readFile(path.join(root, CATALOG_DIR, kept[0]), 'utf8'))).to.deep.equal(legacy);
    c.close();
    // a releases.json that appears again (an older firmdrop ran) is not imported a second time
    await fsp.writeFile(file, JSON.stringify({ ...legacy, releases: [rel('OTHERPG', 1)] }));
    const again = await Catalog.open(root);
    expect(again.releases.map((r) => r.name)).to.deep.equal(['ABCDEFG', 'ABCDEFG']);
    expect(await fsp.readdir(path.join(root, CATALOG_DIR))).to.not.include(CATALOG_FILE);
    again.close();
  });

  it('a store that imported the releases alone, while releases.json was still written, imports the file whole', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR));
    const store = new Store(root);
    store.addRelease(rel('ABCDEFG', 1));
    store.setSetting('releases-imported', new Date().toISOString());
    store.close();
    const legacy = { format: 1, current: { kind: 'release', name: 'ABCDEFG', version: 2 }, releases: [rel('ABCDEFG', 1), rel('ABCDEFG', 2)] };
    await fsp.writeFile(path.join(root, CATALOG_DIR, CATALOG_FILE), JSON.stringify(legacy));
    const c = await Catalog.open(root);
    expect(c.releases.map((r) => r.version)).to.deep.equal([1, 2]);
    expect(c.current).to.deep.equal(legacy.current);
    expect(c.exists).to.equal(true);
    c.close();
  });

  it('a corrupt store file is moved aside (not overwritten), logged in one line, and the catalogue starts empty', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR));
    const db = path.join(root, CATALOG_DIR, 'firmdrop.db');
    const garbage = Buffer.alloc(8192, 0x5a);
    await fsp.writeFile(db, garbage);
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const c = await Catalog.open(root, pino({ level: 'info' }, sink));
    expect(c.releases).to.deep.equal([]);
    expect(c.exists).to.equal(false);
    const aside = (await fsp.readdir(path.join(root, CATALOG_DIR))).filter((n) => /^firmdrop\.db\.corrupt-[^-]+.*[^lm]$/.test(n) && !n.endsWith('-wal') && !n.endsWith('-shm'));
    expect(aside).to.have.length(1);
    expect(await fsp.readFile(path.join(root, CATALOG_DIR, aside[0]))).to.deep.equal(garbage);
    expect(lines.filter((l) => /store unreadable.*moved aside to firmdrop\.db\.corrupt-/.test(l))).to.have.length(1);
    await c.add(rel('ABCDEFG', 1));
    c.close();
    const again = await Catalog.open(root);
    expect(again.releases).to.have.length(1);
    again.close();
  });

  it('a corrupt releases.json is moved aside (not overwritten), logged, and the catalogue starts empty', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR));
    const file = path.join(root, CATALOG_DIR, CATALOG_FILE);
    await fsp.writeFile(file, '{"format":1,"releases":[{"name":"ABC');
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const c = await Catalog.open(root, pino({ level: 'info' }, sink));
    expect(c.releases).to.deep.equal([]);
    const names = await fsp.readdir(path.join(root, CATALOG_DIR));
    const aside = names.filter((n) => n.startsWith('releases.json.corrupt-'));
    expect(aside).to.have.length(1);
    expect(await fsp.readFile(path.join(root, CATALOG_DIR, aside[0]), 'utf8')).to.equal('{"format":1,"releases":[{"name":"ABC');
    expect(lines.join('')).to.match(/unreadable.*moved aside/);
    await c.add(rel('ABCDEFG', 1));
    expect((await Catalog.open(root)).releases).to.have.length(1);
  });

  it('a releases.json with a wrong shape is also kept aside', async () => {
    await fsp.mkdir(path.join(root, CATALOG_DIR));
    await fsp.writeFile(path.join(root, CATALOG_DIR, CATALOG_FILE), JSON.stringify({ format: 1, current: null, releases: [{ ...rel('ABCDEFG', 1), version: 999 }] }));
    const c = await Catalog.open(root);
    expect(c.releases).to.deep.equal([]);
    expect((await fsp.readdir(path.join(root, CATALOG_DIR))).some((n) => n.startsWith('releases.json.corrupt-'))).to.equal(true);
  });

  it('refuses to record a release whose name is not a program name', async () => {
    const c = await Catalog.open(root);
    try {
      await c.add(rel('TOOLONGNAME', 1));
      expect.fail('accepted');
    } catch (e) {
      expect((e as CatalogError).code).to.equal('bad-name');
    }
  });

  it('writeFileAtomic replaces a file and leaves no temp file', async () => {
    const target = path.join(root, 'X.TXT');
    await writeFileAtomic(path.join(root, 'tmp'), target, 'one');
    await writeFileAtomic(path.join(root, 'tmp'), target, 'two');
    expect(await fsp.readFile(target, 'utf8')).to.equal('two');
    expect(await fsp.readdir(path.join(root, 'tmp'))).to.deep.equal([]);
  });
});
