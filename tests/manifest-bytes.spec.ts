// ManifestBytes (server/ftp/manifest-bytes.ts): the root's UPGRADE.TXT held in memory between RETRs must always be
// the bytes on disk: an in-place edit of the same size, a rename over it, a removal are seen at the next read.
// Real files in a temp folder.
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManifestBytes, MAX_BUFFERED_MANIFEST } from '../server/ftp/manifest-bytes.ts';
import { JailError } from '../server/jail.ts';

const V1 = 'FILE:SENSOR1\nPATH:/\nSIZE:1000\nVERSION:1\n';
const V2 = 'FILE:SENSOR1\nPATH:/\nSIZE:1000\nVERSION:2\n'; // same length as V1

describe('ManifestBytes', function () {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-manifest-bytes-'));
    file = path.join(dir, 'UPGRADE.TXT');
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('reads the file with the release it names, and hands out the same Buffer while the file is unchanged', async function () {
    await fsp.writeFile(file, V1);
    const held = new ManifestBytes();
    const a = held.read(file, await fsp.lstat(file))!;
    expect(a.buffer.toString('latin1')).to.equal(V1);
    expect(a.names).to.deep.equal({ name: 'SENSOR1', version: 1 });
    expect(held.read(file, await fsp.lstat(file))!.buffer).to.equal(a.buffer);
    expect(held.read(file)!.buffer).to.equal(a.buffer); // lstat taken by read() itself
  });

  it('sees an edit in place of the same size at once, even with the old mtime put back (cp -p, rsync -t)', async function () {
    await fsp.writeFile(file, V1);
    const stamp = 1_700_000_000; // whole seconds: utimes puts it back exactly
    await fsp.utimes(file, stamp, stamp);
    const held = new ManifestBytes();
    const before = await fsp.lstat(file);
    held.read(file, before);
    const fh = await fsp.open(file, 'r+');
    await fh.write(Buffer.from(V2), 0, V2.length, 0);
    await fh.close();
    await fsp.utimes(file, stamp, stamp); // only ctime tells the edit now
    expect((await fsp.lstat(file)).mtimeMs).to.equal(before.mtimeMs);
    const b = held.read(file, await fsp.lstat(file))!;
    expect(b.buffer.toString('latin1')).to.equal(V2);
    expect(b.names).to.deep.equal({ name: 'SENSOR1', version: 2 });
  });

  it('sees a file renamed over it (the publisher\'s way)', async function () {
    await fsp.writeFile(file, V1);
    const held = new ManifestBytes();
    held.read(file);
    await fsp.writeFile(path.join(dir, 'tmp'), V2);
    await fsp.rename(path.join(dir, 'tmp'), file);
    expect(held.read(file)!.buffer.toString('latin1')).to.equal(V2);
  });

  it('refuses a missing file, a folder, a symlink swapped in (JailError), and leaves a big file to the streamer', async function () {
    const held = new ManifestBytes();
    expect(() => held.read(file)).to.throw(JailError);
    await fsp.writeFile(file, V1);
    held.read(file);
    await fsp.rm(file);
    expect(() => held.read(file)).to.throw(JailError); // held bytes of a removed file are never served
    await fsp.mkdir(file);
    expect(() => held.read(file)).to.throw(JailError);
    await fsp.rmdir(file);
    await fsp.writeFile(path.join(dir, 'target'), V1);
    await fsp.symlink(path.join(dir, 'target'), file);
    expect(() => held.read(file)).to.throw(JailError);
    await fsp.rm(file);
    await fsp.writeFile(file, Buffer.alloc(MAX_BUFFERED_MANIFEST + 1, 0x41));
    expect(held.read(file)).to.equal(undefined);
  });
});
