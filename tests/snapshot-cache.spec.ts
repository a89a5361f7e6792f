// SnapshotCache (server/snapshots/): offered snapshots served from memory
// must be exactly the bytes on disk, never a stale copy of a file replaced, retired or removed under the same name,
// and the cache stays within its byte bound. Real files in a temp folder.
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SnapshotCache } from '../server/snapshots/reader.ts';

describe('SnapshotCache', function () {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-cache-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('serves the bytes on disk, and the same shared Buffer on the next hit', async function () {
    const file = path.join(dir, 'SENSOR1.v1');
    const bytes = randomBytes(200 * 1024);
    await fsp.writeFile(file, bytes);
    const cache = new SnapshotCache();
    const a = await cache.bytes(file, await fsp.lstat(file));
    const b = await cache.bytes(file, await fsp.lstat(file));
    expect(a && a.equals(bytes)).to.equal(true);
    expect(b).to.equal(a);
    expect(cache.size).to.equal(bytes.length);
  });

  it('never serves a stale copy: a file renamed over the same path (new inode, same size) is read again', async function () {
    const file = path.join(dir, 'SENSOR1.v1');
    await fsp.writeFile(file, Buffer.alloc(4096, 1));
    const cache = new SnapshotCache();
    expect((await cache.bytes(file, await fsp.lstat(file)))![0]).to.equal(1);
    const tmp = path.join(dir, 'tmp');
    await fsp.writeFile(tmp, Buffer.alloc(4096, 2));
    await fsp.rename(tmp, file);
    const again = await cache.bytes(file, await fsp.lstat(file));
    expect(again![0]).to.equal(2);
    expect(cache.size).to.equal(4096);
  });

  it('a stat that no longer matches the file (changed after the lstat) gives undefined, not wrong bytes', async function () {
    const file = path.join(dir, 'SENSOR1.v1');
    await fsp.writeFile(file, Buffer.alloc(100, 1));
    const old = await fsp.lstat(file);
    await fsp.rm(file);
    await fsp.writeFile(file, Buffer.alloc(200, 2));
    expect(await new SnapshotCache().bytes(file, old)).to.equal(undefined);
  });

  it('holds at most maxBytes (least recently used dropped) and refuses files over maxFileBytes', async function () {
    const cache = new SnapshotCache({ maxBytes: 3000, maxFileBytes: 1500 });
    const files = await Promise.all([1, 2, 3].map(async (i) => {
      const f = path.join(dir, `SENSOR1.v${i}`);
      await fsp.writeFile(f, Buffer.alloc(1000, i));
      return f;
    }));
    for (const f of files) await cache.bytes(f, await fsp.lstat(f));
    await cache.bytes(files[0]!, await fsp.lstat(files[0]!)); // v1 most recently used
    const f4 = path.join(dir, 'SENSOR1.v4');
    await fsp.writeFile(f4, Buffer.alloc(1000, 4));
    await cache.bytes(f4, await fsp.lstat(f4));
    expect(cache.size).to.equal(3000);
    const big = path.join(dir, 'BIGFILE.v1');
    await fsp.writeFile(big, Buffer.alloc(2000));
    expect(await cache.bytes(big, await fsp.lstat(big))).to.equal(undefined);
    expect(cache.size).to.equal(3000);
  });
});
