// Offered-binary snapshots (server/snapshots/) and how devices are served them (server/ftp/files.ts): a device
// gets the bytes the UPGRADE.TXT it read names, even while the operator writes a new build over the binary
// Real Publisher, real startFtp on 127.0.0.1:0, basic-ftp clients.
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'basic-ftp';
import { Publisher, PublishError, hashBinary } from '../server/publisher.ts';
import { CATALOG_DIR } from '../server/catalog.ts';
import { parseManifest, type Manifest } from '../server/manifest.ts';
import { OFFERED_DIR, SNAPSHOT_GRACE_MS, parseSnapshotName, snapshotPath } from '../server/snapshots/reader.ts';
import { SNAPSHOTS_PER_NAME, createSnapshot, pruneSnapshots, retireSnapshot } from '../server/snapshots/writer.ts';
import { connectClient, fetchBuffer, startServer, type TestServer } from './support/ftp-fixtures.ts';
import { crc32hex, md5hex } from './support/checksums.ts';

const NAME = 'SENSOR1';

/** Reads UPGRADE.TXT over `client` and parses it strictly. */
async function readManifest(client: Client): Promise<Manifest> {
  return parseManifest(await fetchBuffer(client, 'UPGRADE.TXT'));
}

/** Asserts `bytes` are exactly what `m` announces (size, CRC32, MD5). */
function expectMatches(bytes: Buffer, m: Manifest, what: string): void {
  expect(bytes.length, `${what}: size`).to.equal(m.size);
  expect(crc32hex(bytes), `${what}: CRC32`).to.equal(m.crc32);
  expect(md5hex(bytes), `${what}: MD5`).to.equal(m.md5);
}

/** Snapshot files in the store of `root`. */
async function storeEntries(root: string): Promise<string[]> {
  return (await fsp.readdir(path.join(root, CATALOG_DIR, OFFERED_DIR)).catch(() => [] as string[])).sort();
}

describe('offered snapshots served over FTP', function () {
  this.timeout(30_000);
  let root: string;
  let publisher: Publisher;
  let server: TestServer;
  const clients: Client[] = [];
  const connect = async () => {
    const c = await connectClient(server.port);
    clients.push(c);
    return c;
  };
  const put = (name: string, bytes: Buffer) => fsp.writeFile(path.join(root, name), bytes);

  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-offered-'));
    publisher = new Publisher({ root });
    server = await startServer(root);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('publishing writes the snapshot named by the manifest, with the binary\'s exact bytes', async () => {
    const v1 = randomBytes(5000);
    await put(NAME, v1);
    const r = await publisher.publish(NAME);
    expect(await storeEntries(root)).to.deep.equal([`${NAME}.v${r.version}`]);
    expect(await fsp.readFile(snapshotPath(root, NAME, r.version))).to.deep.equal(v1);
  });

  it('a binary overwritten in place (same name, same size) after the manifest was read: RETR in that session gets the manifest\'s bytes', async () => {
    await put(NAME, randomBytes(8192));
    await publisher.publish(NAME);
    const client = await connect();
    const m = await readManifest(client);
    await put(NAME, randomBytes(8192)); // in place, as an operator's cp would: no publish yet
    expectMatches(await fetchBuffer(client, NAME), m, 'RETR after in-place rewrite');
    // Still the published bytes after the new build is published, for this session (its pin) …
    await publisher.publish(NAME);
    expectMatches(await fetchBuffer(client, NAME), m, 'RETR after the next publish, same session');
    // … until it reads the new manifest.
    const m2 = await readManifest(client);
    expect(m2.version).to.equal(m.version + 1);
    expectMatches(await fetchBuffer(client, NAME), m2, 'RETR after reading the new manifest');
  });

  it('two sessions from one client (Waspmote 4G): manifest in the first, a new build published between, binary in the second → the bytes the manifest named', async () => {
    await put(NAME, randomBytes(3000));
    await publisher.publish(NAME);
    const first = await connect();
    const m = await readManifest(first);
    first.close();
    await put(NAME, randomBytes(4000));
    const r2 = await publisher.publish(NAME);
    expect(r2.version).to.equal(m.version + 1);
    const second = await connect();
    expect(await second.size(NAME), 'SIZE in the second session').to.equal(m.size);
    expectMatches(await fetchBuffer(second, NAME), m, 'RETR in the second session');
    // A new poll from that client reads v2 and then gets v2.
    const third = await connect();
    const m2 = await readManifest(third);
    expect(m2.version).to.equal(r2.version);
    third.close();
    const fourth = await connect();
    expectMatches(await fetchBuffer(fourth, NAME), m2, 'RETR after reading the newer manifest');
  });

  it('SIZE, LIST <file>, directory LIST, MDTM and RETR agree on the offered snapshot while the root file differs', async () => {
    const v1 = randomBytes(6000);
    await put(NAME, v1);
    await publisher.publish(NAME);
    const client = await connect();
    const m = await readManifest(client);
    await put(NAME, randomBytes(9000)); // a bigger build being written in place
    expect(await client.size(NAME), 'SIZE').to.equal(m.size);
    const one = await client.list(NAME);
    expect(one.map((f) => [f.name, f.size]), 'LIST NAME').to.deep.equal([[NAME, m.size]]);
    const all = await client.list('/');
    expect(all.find((f) => f.name === NAME)?.size, 'LIST / entry').to.equal(m.size);
    expect(all.map((f) => f.name), 'LIST / shows the root\'s real entries only').to.deep.equal([NAME, 'UPGRADE.TXT']);
    expect((await client.send(`MDTM ${NAME}`)).code, 'MDTM').to.equal(213);
    expectMatches(await fetchBuffer(client, NAME), m, 'RETR');
    // A session that never read the manifest is served the current snapshot too.
    const fresh = await connect();
    expect(await fresh.size(`/${NAME}`)).to.equal(m.size);
    expect(await fetchBuffer(fresh, `/${NAME}`)).to.deep.equal(v1);
  });

  it('a binary that is not offered is served from the root as before, live', async () => {
    await put(NAME, randomBytes(1000));
    await publisher.publish(NAME);
    const other = randomBytes(2222);
    await put('OTHER01', other);
    const client = await connect();
    await readManifest(client);
    expect(await client.size('OTHER01')).to.equal(other.length);
    expect(await fetchBuffer(client, 'OTHER01')).to.deep.equal(other);
    const changed = randomBytes(3333);
    await put('OTHER01', changed);
    expect(await client.size('OTHER01')).to.equal(changed.length);
    expect(await fetchBuffer(client, 'OTHER01')).to.deep.equal(changed);
    expect(await fetchBuffer(client, `${CATALOG_DIR}/${OFFERED_DIR}/${NAME}.v1`).then(() => 'served', () => 'refused'),
      'the store itself stays invisible').to.equal('refused');
  });

  it('a manifest naming NO_FILE pins nothing: the binary is served from the root', async () => {
    const bytes = randomBytes(1500);
    await put(NAME, bytes);
    await publisher.publish(NAME);
    await publisher.selectNoFile();
    const client = await connect();
    expect((await readManifest(client)).file).to.equal('NO_FILE');
    const live = randomBytes(1700);
    await put(NAME, live);
    expect(await fetchBuffer(client, NAME)).to.deep.equal(live);
  });
});

describe('offered snapshots: creation and pruning', () => {
  let root: string;
  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-offered-'));
  });
  afterEach(() => fsp.rm(root, { recursive: true, force: true }));

  it('names snapshots NAME.vVERSION inside the hidden catalogue folder, and never a path outside it', () => {
    expect(path.relative(root, snapshotPath(root, NAME, 12))).to.equal(path.join(CATALOG_DIR, OFFERED_DIR, `${NAME}.v12`));
    expect(parseSnapshotName(`${NAME}.v12`)).to.deep.equal({ name: NAME, version: 12 });
    for (const bad of ['SENSOR1.v256', 'SENSOR1', '123.0.SENSOR1.v1', '../x.v1', 'SENSOR10.v1']) expect(parseSnapshotName(bad), bad).to.equal(undefined);
    expect(() => snapshotPath(root, '../../x', 1)).to.throw(/not a release/);
    expect(() => snapshotPath(root, NAME, 1.5)).to.throw(/not a release/);
  });

  it('refuses a binary that changed between hashing and the copy (PublishError unstable), leaving no snapshot and no temp file', async () => {
    const file = path.join(root, NAME);
    await fsp.writeFile(file, randomBytes(4096));
    const hashed = await hashBinary(file);
    await fsp.writeFile(file, randomBytes(4096)); // same size, other bytes
    const err = await createSnapshot(root, NAME, 1, file, hashed).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(PublishError);
    expect((err as PublishError).code).to.equal('unstable');
    expect((err as Error).message).to.match(/SENSOR1: changed while its v1 snapshot was taken/);
    expect(await storeEntries(root)).to.deep.equal([]);
    expect(await fsp.readdir(path.join(root, CATALOG_DIR, 'tmp'))).to.deep.equal([]);
  });

  it('keeps an existing snapshot with the same bytes, replaces one with other bytes under the same key', async () => {
    const file = path.join(root, NAME);
    const a = randomBytes(100);
    await fsp.writeFile(file, a);
    const p = await createSnapshot(root, NAME, 1, file, await hashBinary(file));
    const ino = (await fsp.stat(p)).ino;
    await createSnapshot(root, NAME, 1, file, await hashBinary(file));
    expect((await fsp.stat(p)).ino, 'same bytes: not rewritten').to.equal(ino);
    const b = randomBytes(100);
    await fsp.writeFile(file, b);
    await createSnapshot(root, NAME, 1, file, await hashBinary(file));
    expect(await fsp.readFile(p)).to.deep.equal(b);
  });

  it('prunes old snapshots, keeping the current one, the newest per name and those touched within the grace period', async () => {
    const now = Date.now();
    const old = new Date(now - SNAPSHOT_GRACE_MS - 60_000);
    const file = path.join(root, 'SRC');
    await fsp.writeFile(file, randomBytes(10));
    const info = await hashBinary(file);
    for (const [name, v] of [[NAME, 1], [NAME, 2], [NAME, 3], [NAME, 4], [NAME, 5], [NAME, 6], ['OTHER01', 1], ['OTHER01', 2], ['OTHER01', 3], ['OTHER01', 4]] as const) {
      const p = await createSnapshot(root, name, v, file, info);
      await fsp.utimes(p, old, old);
    }
    await fsp.writeFile(path.join(root, CATALOG_DIR, OFFERED_DIR, 'stray.txt'), 'x');
    // SENSOR1 v2 was offered until a minute ago (retired now, within the grace period).
    await retireSnapshot(root, { name: NAME, version: 2 }, new Date(now - 60_000));
    // OTHER01 v1 is the one offered now, although old and not among OTHER01's newest three.
    const removed = await pruneSnapshots(root, [{ name: 'OTHER01', version: 1 }], { now });
    expect(SNAPSHOTS_PER_NAME).to.equal(3);
    expect(removed.map((k) => `${k.name}.v${k.version}`).sort()).to.deep.equal([`${NAME}.v1`, `${NAME}.v3`]);
    expect(await storeEntries(root)).to.deep.equal([
      'OTHER01.v1', 'OTHER01.v2', 'OTHER01.v3', 'OTHER01.v4', `${NAME}.v2`, `${NAME}.v4`, `${NAME}.v5`, `${NAME}.v6`, 'stray.txt',
    ]);
    // Once the grace period has passed for v2 too, it goes.
    const later = await pruneSnapshots(root, [{ name: 'OTHER01', version: 1 }], { now: now + SNAPSHOT_GRACE_MS });
    expect(later).to.deep.equal([{ name: NAME, version: 2 }]);
  });

  it('the publisher retires the replaced snapshot and prunes as it publishes', async () => {
    const publisher = new Publisher({ root });
    const file = path.join(root, NAME);
    for (let i = 0; i < 6; i++) {
      await fsp.writeFile(file, randomBytes(200 + i));
      await publisher.publish(NAME);
    }
    // All six are younger than the grace period: kept.
    expect(await storeEntries(root)).to.have.length(6);
    const old = new Date(Date.now() - SNAPSHOT_GRACE_MS - 1000);
    for (const v of [1, 2, 3, 4, 5, 6]) await fsp.utimes(snapshotPath(root, NAME, v), old, old);
    await fsp.writeFile(file, randomBytes(300));
    await publisher.publish(NAME);
    // v7 offered; v7, v6, v5 the newest three; v1–v4 older than the grace period: pruned.
    expect(await storeEntries(root)).to.deep.equal([`${NAME}.v5`, `${NAME}.v6`, `${NAME}.v7`]);
    // v6 was offered until now: retired, so its grace period starts again.
    expect((await fsp.stat(snapshotPath(root, NAME, 6))).mtimeMs).to.be.greaterThan(old.getTime() + 1000);
    expect((await fsp.stat(snapshotPath(root, NAME, 5))).mtimeMs, "v5 untouched").to.be.closeTo(old.getTime(), 1);
  });
});
