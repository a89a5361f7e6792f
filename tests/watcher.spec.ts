import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import CRC32 from 'crc-32';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
import { Publisher } from '../server/publisher.ts';
import { startWatcher, classifyEntry, type WatcherHandle } from '../server/watcher.ts';
import { Catalog } from '../server/catalog.ts';
import { parseManifest, type Manifest } from '../server/manifest.ts';
import { snapshotPath } from '../server/snapshots/reader.ts';
import { captureLogger, waitFor, type LogLine } from './support/publisher-log.ts';

const crcOf = (b: Buffer) => (CRC32.buf(b) >>> 0).toString(16).padStart(8, '0');
const NO_FILE_TEXT = 'FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n';
const STABILITY_MS = 200;

describe('watcher: what counts as a binary', () => {
  it('classifies names in the root', () => {
    expect(classifyEntry('ABCDEFG')).to.deep.equal({ kind: 'binary' });
    expect(classifyEntry('_4G_20_')).to.deep.equal({ kind: 'binary' });
    for (const n of ['UPGRADE.TXT', 'UPGRADE.TXT.new', '.firmdrop', '.hidden', 'notes.txt', 'ABCDEFG.part']) {
      expect(classifyEntry(n), n).to.deep.equal({ kind: 'ignored' });
    }
    for (const [n, why] of [['MYPROGRAM.bin', /extension/], ['ABCDEFG.hex', /rename it to 'ABCDEFG'/], ['TOOLONGNAME', /11 characters/],
      ['AB-DEFG', /'-'/], ['SHORT', /5 characters/], ['NO_FILE', /reserved/]] as const) {
      const k = classifyEntry(n);
      expect(k.kind, n).to.equal('bad-name');
      expect((k as { reason: string }).reason, n).to.match(why);
    }
  });
});

describe('watcher', function () {
  this.timeout(30_000);
  let root: string;
  let watcher: WatcherHandle | undefined;
  let publisher: Publisher;
  let lines: LogLine[];

  const manifestText = () => fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8').catch(() => undefined);
  const manifest = async (): Promise<Manifest | undefined> => {
    const t = await manifestText();
    return t === undefined ? undefined : parseManifest(t);
  };
  const start = async (stabilityMs = STABILITY_MS) => {
    const cap = captureLogger();
    lines = cap.lines;
    publisher = new Publisher({ root, logger: cap.logger });
    watcher = await startWatcher({ root, publisher, logger: cap.logger, stabilityMs });
  };
  /** Waits until UPGRADE.TXT names `name` (and `pred` holds), then until the publisher has also recorded it. */
  const advertised = async (name: string, pred: (m: Manifest) => boolean = () => true) => {
    const found = await waitFor(`UPGRADE.TXT naming ${name}`, async () => {
      const m = await manifest();
      return m && m.file === name && pred(m) ? m : undefined;
    });
    await publisher.idle();
    return found;
  };

  beforeEach(async () => { root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-watch-')); });
  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('a dropped binary is advertised with its exact SIZE, its CRC-32 and a higher VERSION', async () => {
    await start();
    expect(await manifestText()).to.equal(NO_FILE_TEXT);
    const first = randomBytes(3000);
    await fsp.writeFile(path.join(root, 'ABCDEFG'), first);
    const m1 = await advertised('ABCDEFG');
    expect(m1).to.include({ size: 3000, crc32: crcOf(first), version: 1 });
    const second = randomBytes(174945);
    await fsp.writeFile(path.join(root, 'ABCDEFG'), second);
    const m2 = await advertised('ABCDEFG', (m) => m.version > m1.version);
    expect(m2).to.include({ size: 174945, crc32: crcOf(second), version: 2 });
    expect(lines.some((l) => l.msg === `published ABCDEFG v2 (174945 bytes, crc32 ${crcOf(second)})`)).to.equal(true);
  });

  /** Writes `all` into `file` (truncating it) in 32 KiB chunks, pausing 50 ms (well under the stability window). */
  async function writeSlowly(file: string, all: Buffer): Promise<void> {
    const chunk = 32 * 1024;
    const fh = await fsp.open(file, 'w');
    try {
      for (let at = 0; at < all.length; at += chunk) {
        await fh.write(all.subarray(at, at + chunk));
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * Reads UPGRADE.TXT in a loop until it advertises `name` with `fullSize` bytes (bounded); every read that names
   * `name` must match the size the file has at that moment. `from` is polled first (e.g. "until withdrawn").
   */
  async function pollUntilAdvertised(name: string, fullSize: number, from?: () => Promise<boolean>): Promise<{ m: Manifest; reads: number }> {
    const file = path.join(root, name);
    const deadline = Date.now() + 20_000;
    if (from) await waitFor(`${name}: start condition`, from, 20_000, 5);
    let reads = 0;
    while (Date.now() < deadline) {
      const m = await manifest();
      reads++;
      if (m?.file === name) {
        const size = (await fsp.stat(file)).size;
        expect(size, `size of ${name} while UPGRADE.TXT names it`).to.equal(m.size);
        if (size === fullSize) return { m, reads };
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`${name} not advertised with ${fullSize} bytes within 20 s`);
  }

  it('a binary written slowly in chunks is never advertised before it is complete', async () => {
    await start(500);
    const all = randomBytes(24 * 32 * 1024);
    const poller = pollUntilAdvertised('SLOWBIN', all.length);
    await writeSlowly(path.join(root, 'SLOWBIN'), all);
    const { m, reads } = await poller;
    expect(m).to.include({ size: all.length, crc32: crcOf(all), version: 1 });
    expect(reads).to.be.greaterThan(24);
  });

  // Behaviour changed deliberately (offered snapshots, server/snapshots/): the offered binary rewritten in place used
  // to be withdrawn (NO_FILE) at once; devices are now served the published snapshot, so the offer stands and the
  // fleet sees no NO_FILE flap. What devices can fetch for the manifest is the snapshot, checked here on every read.
  it('the offered binary rewritten in place stays offered (its snapshot, never NO_FILE), and the complete build is offered next', async () => {
    await start(500);
    const first = randomBytes(50_000);
    await fsp.writeFile(path.join(root, 'CURRENT'), first);
    const v1 = await advertised('CURRENT');
    const logged = lines.length;
    const all = randomBytes(24 * 32 * 1024);
    let done = false;
    const seen: string[] = [];
    const poller = (async () => {
      for (let i = 0; i < 20_000 && !done; i++) {
        const m = await manifest();
        expect(m?.file, 'UPGRADE.TXT while CURRENT is rewritten').to.equal('CURRENT');
        const snap = await fsp.readFile(snapshotPath(root, 'CURRENT', m!.version));
        expect(snap.length, `snapshot of v${m!.version}: size`).to.equal(m!.size);
        expect(crcOf(snap), `snapshot of v${m!.version}: CRC32`).to.equal(m!.crc32);
        seen.push(`v${m!.version}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await writeSlowly(path.join(root, 'CURRENT'), all);
    const m2 = await advertised('CURRENT', (m) => m.version > v1.version);
    done = true;
    await poller;
    expect(m2).to.include({ size: all.length, crc32: crcOf(all), version: v1.version + 1 });
    expect(seen, 'reads during the rewrite').to.include(`v${v1.version}`);
    expect(lines.slice(logged).filter((l) => /NO_FILE/.test(l.msg)).map((l) => l.msg), 'NO_FILE logged during the rewrite').to.deep.equal([]);
  });

  it('a touched (same bytes) offered binary is neither withdrawn nor given a new VERSION', async () => {
    await start();
    await fsp.writeFile(path.join(root, 'TOUCHED'), 'same bytes');
    const v1 = await advertised('TOUCHED');
    const text = await manifestText();
    const later = Date.now() / 1000 + 5;
    await fsp.utimes(path.join(root, 'TOUCHED'), later, later);
    // Watch UPGRADE.TXT for well over the stability window (the touch's `change` event is handled in it).
    const until = Date.now() + 8 * STABILITY_MS;
    while (Date.now() < until) {
      expect(await manifestText(), 'UPGRADE.TXT after the touch').to.equal(text);
      await new Promise((r) => setTimeout(r, 10));
    }
    await publisher.idle();
    expect(await manifestText()).to.equal(text);
    expect((await publisher.releases()).filter((r) => r.name === 'TOUCHED').map((r) => r.version)).to.deep.equal([v1.version]);
  });

  it('badly named files leave UPGRADE.TXT byte-identical and log why', async () => {
    await fsp.writeFile(path.join(root, 'GOODONE'), 'good');
    await start();
    await advertised('GOODONE');
    const before = await manifestText();
    const catalogBefore = (await Catalog.open(root)).releases.length;
    const bad = ['MYPROGRAM.bin', 'TOOLONGNAME', 'ABCDEFG.hex', 'AB-DEFG'];
    for (const n of bad) await fsp.writeFile(path.join(root, n), randomBytes(100));
    await fsp.writeFile(path.join(root, 'readme.txt'), 'not a binary');
    for (const n of bad) {
      await waitFor(`warning for ${n}`, () => lines.some((l) => l.level === 40 && l.msg.includes(`'${n}' is not a program name`)));
    }
    expect(lines.find((l) => l.msg.includes("'MYPROGRAM.bin'"))!.msg).to.match(/extension.*rename it to 'MYPROGR'.*UPGRADE\.TXT unchanged/);
    expect(await manifestText()).to.equal(before);
    expect((await Catalog.open(root)).releases.length).to.equal(catalogBefore);
    expect(lines.some((l) => l.level >= 40 && l.msg.includes('readme.txt'))).to.equal(false);
  });

  it('a refused 0-byte or symlinked drop is logged as one line naming the file relative to the root, without a stack', async () => {
    await start();
    await fsp.writeFile(path.join(root, 'EMPTY00'), '');
    const outside = path.join(root, '..', `${path.basename(root)}-target`);
    await fsp.writeFile(outside, 'bytes');
    try {
      await fsp.symlink(outside, path.join(root, 'LINKED0'));
      for (const n of ['EMPTY00', 'LINKED0']) {
        await waitFor(`warning for ${n}`, () => lines.some((l) => l.level === 40 && l.msg.startsWith(`publish ${n}: ${n}:`)));
      }
      const refused = lines.filter((l) => l.level === 40 && /EMPTY00|LINKED0/.test(l.msg));
      for (const l of refused) {
        expect(l.msg, 'one line').to.not.include('\n');
        expect(JSON.stringify(l), 'no absolute path').to.not.include(root);
        expect(l, 'no stack').to.not.have.property('err');
        expect(l.msg).to.match(/UPGRADE\.TXT unchanged$/);
      }
      expect(refused.find((l) => l.msg.includes('EMPTY00'))!.msg).to.include('is empty (0 bytes)');
      expect(refused.find((l) => l.msg.includes('LINKED0'))!.msg).to.include('symbolic link');
      expect(await manifestText()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    } finally {
      await fsp.rm(outside, { force: true });
    }
  });

  it('logs once when another process changes the offer (firmdrop publish/select while serve runs)', async () => {
    await start();
    await fsp.writeFile(path.join(root, 'FIRSTPR'), 'first');
    await advertised('FIRSTPR');
    const other = new Publisher({ root }); // another process's publisher: same root, its own state
    await fsp.writeFile(path.join(root, '..', `${path.basename(root)}-SECONDP`), 'second');
    try {
      await other.importBinary(path.join(root, '..', `${path.basename(root)}-SECONDP`), { name: 'SECONDP' });
    } finally {
      await fsp.rm(path.join(root, '..', `${path.basename(root)}-SECONDP`), { force: true });
    }
    const changed = () => lines.filter((l) => l.msg.startsWith('offer changed:'));
    await waitFor('offer changed line', () => changed().length > 0);
    await other.selectNoFile();
    await waitFor('second offer changed line', () => changed().length > 1);
    await sleep(3 * STABILITY_MS);
    await publisher.idle();
    expect(changed().map((l) => l.msg)).to.deep.equal([
      'offer changed: FIRSTPR v1 → SECONDP v1 (by another process)',
      'offer changed: SECONDP v1 → NO_FILE (by another process)',
    ]);
    expect(lines.filter((l) => l.msg.startsWith('published SECONDP'))).to.deep.equal([]);
  });

  it('deleting the current binary → NO_FILE, not the older binary still in the root', async () => {
    await start();
    await fsp.writeFile(path.join(root, 'OLDPROG'), 'old');
    await advertised('OLDPROG');
    await fsp.writeFile(path.join(root, 'NEXTONE'), 'next');
    await advertised('NEXTONE');
    await fsp.rm(path.join(root, 'NEXTONE'));
    await waitFor('NO_FILE', async () => (await manifestText()) === NO_FILE_TEXT);
    expect(lines.some((l) => l.level === 40 && /NEXTONE v1.*NO_FILE/.test(l.msg))).to.equal(true);
  });

  it('a binary imported by the publisher is not bumped again when the watcher sees it land', async () => {
    await start();
    const src = path.join(root, '..', `${path.basename(root)}-src`);
    await fsp.writeFile(src, randomBytes(5000));
    try {
      expect((await publisher.importBinary(src, { name: 'IMPORTD' })).version).to.equal(1);
      // give the watcher time to see the rename (awaitWriteFinish), then let the publisher finish what it queued
      await new Promise((r) => setTimeout(r, STABILITY_MS * 3));
      await publisher.idle();
      expect((await publisher.releases()).map((r) => `${r.name}v${r.version}`)).to.deep.equal(['IMPORTDv1']);
      expect((await manifest())!.version).to.equal(1);
    } finally {
      await fsp.rm(src, { force: true });
    }
  });

  /** Starts, publishes FIRSTPG through the watcher, stops; returns FIRSTPG's mtime in seconds. */
  async function publishFirstThenStop(): Promise<number> {
    await start();
    await fsp.writeFile(path.join(root, 'FIRSTPG'), 'first');
    await advertised('FIRSTPG');
    await watcher!.close();
    watcher = undefined;
    return (await fsp.stat(path.join(root, 'FIRSTPG'))).mtimeMs / 1000;
  }

  it('on start, publishes binaries that landed while it was down, newest last; an older one is only recorded', async () => {
    const first = await publishFirstThenStop();
    for (const [name, offset] of [['LATERPG', 20], ['OLDERPG', -20], ['NEWESTP', 40], ['MIDDLEP', 30]] as const) {
      const f = path.join(root, name);
      await fsp.writeFile(f, `${name} bytes`);
      await fsp.utimes(f, first + offset, first + offset);
    }
    await start();
    expect((await publisher.releases()).map((r) => r.name)).to.deep.equal(['FIRSTPG', 'OLDERPG', 'LATERPG', 'MIDDLEP', 'NEWESTP']);
    expect((await manifest())!.file).to.equal('NEWESTP');
    expect(lines.some((l) => /^recorded OLDERPG v1 without offering it/.test(l.msg))).to.equal(true);
    expect(lines.some((l) => /^published OLDERPG/.test(l.msg))).to.equal(false);
  });

  it('on start, publishes a drop a killed server had seen but not published (mtime before its last catalogue write)', async () => {
    const first = await publishFirstThenStop();
    // dropped just after FIRSTPG, while the server was still publishing FIRSTPG: older than the catalogue write
    // the catalogue's last write: the store's write-ahead log (or its database file, after a checkpoint)
    const db = path.join(root, '.firmdrop', 'firmdrop.db');
    const mtimes = await Promise.all([db, `${db}-wal`].map((f) => fsp.stat(f).then((st) => st.mtimeMs, () => 0)));
    const written = Math.max(...mtimes) / 1000;
    await fsp.writeFile(path.join(root, 'SEENPRG'), 'seen, never published');
    await fsp.utimes(path.join(root, 'SEENPRG'), first + 0.05, first + 0.05);
    expect(first + 0.05).to.be.below(written);
    await start();
    expect((await manifest())!.file).to.equal('SEENPRG');
  });

  it('adopting an existing root (UPGRADE.TXT, no catalogue) changes nothing devices are offered', async () => {
    await fsp.writeFile(path.join(root, 'MESHPRG'), 'meshlium binary');
    await fsp.writeFile(path.join(root, 'ANOTHER'), 'another binary, newer');
    const text = 'FILE:MESHPRG\nPATH:/\nSIZE:15\nVERSION:4\n';
    await fsp.writeFile(path.join(root, 'UPGRADE.TXT'), text);
    await start();
    expect(await manifestText()).to.equal(text);
    expect((await publisher.releases()).map((r) => `${r.name}v${r.version}`)).to.deep.equal(['MESHPRGv4']);
    // a restart still leaves the baseline alone...
    await watcher!.close();
    await start();
    expect(await manifestText()).to.equal(text);
    // ...until a baseline binary changes while firmdrop is down: then it is new, and published
    await watcher!.close();
    watcher = undefined;
    await fsp.writeFile(path.join(root, 'ANOTHER'), 'another binary, rebuilt');
    await start();
    expect((await manifest())!.file).to.equal('ANOTHER');
  });

  it('a fresh root (no UPGRADE.TXT, no catalogue) publishes the binaries already there', async () => {
    await fsp.writeFile(path.join(root, 'ABCDEFG'), 'waiting for the first start');
    await start();
    const m = await advertised('ABCDEFG');
    expect(m).to.include({ version: 1, size: 27 });
  });

  it('close() waits for a publish in flight and stops publishing', async () => {
    await start();
    await fsp.writeFile(path.join(root, 'ABCDEFG'), randomBytes(1000));
    await advertised('ABCDEFG');
    await watcher!.close();
    watcher = undefined;
    const before = await manifestText();
    await fsp.writeFile(path.join(root, 'AFTERPG'), 'after close');
    await new Promise((r) => setTimeout(r, STABILITY_MS * 3));
    expect(await manifestText()).to.equal(before);
  });
});
