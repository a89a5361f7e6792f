// The HTTP device mirror (/ota/) against a running firmdrop: curl (Range, resume with -C -, If-None-Match, no
// credentials, traversal) and node fetch (HEAD, pull layout, hooks).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import CRC32 from 'crc-32';
import type { SessionEvent } from '../server/http/hooks.ts';
import { basic, startHttpRig, type HttpRig } from './support/http-rig.ts';

const run = promisify(execFile);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const crc = (b: Buffer) => (CRC32.buf(b) >>> 0).toString(16).padStart(8, '0');
/** 200 KiB of varied bytes: larger than one 64 KiB chunk, so ranges cross chunk edges. */
const FIRMWARE = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

/** Runs curl; returns stdout as a Buffer. `-s` always; `-w` output comes last when asked. */
async function curl(args: string[]): Promise<Buffer> {
  const { stdout } = await run('curl', ['-s', '--max-time', '20', ...args], { encoding: 'buffer', maxBuffer: 16 << 20 });
  return stdout;
}

async function publish(rig: HttpRig, name: string, bytes: Buffer) {
  const src = path.join(rig.root, '.src');
  await fsp.writeFile(src, bytes);
  try {
    return await rig.app.publisher.importBinary(src, { name });
  } finally {
    await fsp.rm(src, { force: true });
  }
}

describe('HTTP device mirror (/ota/)', function () {
  this.timeout(60_000);
  let rig: HttpRig;
  let url: string;
  const auth = ['-u', 'ota:libelium'];

  before(async () => {
    rig = await startHttpRig();
    await publish(rig, 'SENSOR1', FIRMWARE);
    url = `${rig.base}/ota/SENSOR1`;
  });
  after(async () => rig?.close());

  it('refuses requests without or with wrong credentials (401 with a Basic challenge)', async () => {
    for (const extra of [[], ['-u', 'ota:wrong'], ['-u', 'nobody:libelium']]) {
      const out = (await curl([...extra, '-D', '-', '-o', '/dev/null', url])).toString();
      expect(out, extra.join(' ')).to.match(/^HTTP\/1\.1 401/);
      expect(out).to.match(/www-authenticate: Basic realm="firmdrop OTA"/i);
    }
  });

  it('serves UPGRADE.TXT byte for byte as FTP does, and the binary with its MD5 as ETag and Content-Length', async () => {
    const overHttp = await curl([...auth, `${rig.base}/ota/UPGRADE.TXT`]);
    expect(overHttp.equals(await rig.ftpGet('UPGRADE.TXT'))).to.equal(true);
    expect(overHttp.toString()).to.include('FILE:SENSOR1\n');
    const res = await fetch(url, { headers: { authorization: basic('ota', 'libelium') } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('etag')).to.equal(`"${md5(FIRMWARE)}"`);
    expect(res.headers.get('content-length')).to.equal(String(FIRMWARE.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(FIRMWARE)).to.equal(true);
  });

  it('answers Range with 206 and the exact bytes, and a range past the end with 416', async () => {
    const out = await curl([...auth, '-r', '65530-70000', '-D', path.join(rig.root, '.h'), url]);
    const head = await fsp.readFile(path.join(rig.root, '.h'), 'utf8');
    expect(head).to.match(/^HTTP\/1\.1 206/);
    expect(head).to.match(new RegExp(`content-range: bytes 65530-70000/${FIRMWARE.length}`, 'i'));
    expect(out.equals(FIRMWARE.subarray(65530, 70001))).to.equal(true);
    const tail = await curl([...auth, '-H', 'Range: bytes=-10', url]);
    expect(tail.equals(FIRMWARE.subarray(FIRMWARE.length - 10))).to.equal(true);
    const past = (await curl([...auth, '-r', `${FIRMWARE.length}-`, '-D', '-', '-o', '/dev/null', url])).toString();
    expect(past).to.match(/^HTTP\/1\.1 416/);
    expect(past).to.match(new RegExp(`content-range: bytes \\*/${FIRMWARE.length}`, 'i'));
  });

  it('resumes an interrupted download with curl -C - to the exact file', async () => {
    const file = path.join(rig.root, '.partial');
    await fsp.writeFile(file, FIRMWARE.subarray(0, 12_345));
    await curl([...auth, '-C', '-', '-o', file, url]);
    expect((await fsp.readFile(file)).equals(FIRMWARE)).to.equal(true);
  });

  it('answers If-None-Match with the ETag by 304, and If-Range with another ETag by the whole file', async () => {
    const etag = `"${md5(FIRMWARE)}"`;
    const code = (await curl([...auth, '-H', `If-None-Match: ${etag}`, '-o', '/dev/null', '-w', '%{http_code}', url])).toString();
    expect(code).to.equal('304');
    const other = (await curl([...auth, '-H', 'If-None-Match: "0000"', '-o', '/dev/null', '-w', '%{http_code}', url])).toString();
    expect(other).to.equal('200');
    const stale = await curl([...auth, '-r', '0-9', '-H', 'If-Range: "0123456789abcdef0123456789abcdef"', url]);
    expect(stale.equals(FIRMWARE)).to.equal(true);
    const fresh = await curl([...auth, '-r', '0-9', '-H', `If-Range: ${etag}`, url]);
    expect(fresh.equals(FIRMWARE.subarray(0, 10))).to.equal(true);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const res = await fetch(url, { method: 'HEAD', headers: { authorization: basic('ota', 'libelium') } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-length')).to.equal(String(FIRMWARE.length));
    expect(res.headers.get('accept-ranges')).to.equal('bytes');
    expect((await res.arrayBuffer()).byteLength).to.equal(0);
    const manifest = await fetch(`${rig.base}/ota/UPGRADE.TXT`, { method: 'HEAD', headers: { authorization: basic('ota', 'libelium') } });
    expect(manifest.headers.get('content-length')).to.equal(String((await rig.ftpGet('UPGRADE.TXT')).length));
  });

  it('serves the pull layout: version, hash (CRC-32) and bin', async () => {
    const get = async (name: string) => {
      const res = await fetch(`${rig.base}/ota/${name}`, { headers: { authorization: basic('ota', 'libelium') } });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    expect((await get('version')).body.toString()).to.equal('1');
    expect((await get('hash')).body.toString()).to.equal(crc(FIRMWARE));
    expect((await get('bin')).body.equals(FIRMWARE)).to.equal(true);
    await rig.app.publisher.selectNoFile();
    try {
      expect((await get('version')).body.toString()).to.equal('0');
      expect((await get('hash')).status).to.equal(404);
      expect((await get('bin')).status).to.equal(404);
    } finally {
      await rig.app.publisher.select('SENSOR1');
    }
  });

  it('serves nothing outside the published store: traversal, dot files, symlinks, encoded slashes, other files', async () => {
    const secret = 'TOP-SECRET-OUTSIDE-THE-STORE';
    const outside = path.join(path.dirname(rig.root), `${path.basename(rig.root)}-outside.txt`);
    await fsp.writeFile(outside, secret);
    await fsp.symlink(outside, path.join(rig.root, 'LINKED1'));
    await fsp.symlink('/etc/passwd', path.join(rig.root, 'passwd'));
    // a binary in the root, published once, not offered now
    await publish(rig, 'OTHER01', Buffer.from(secret));
    await rig.app.publisher.select('SENSOR1');
    await new Promise((r) => setTimeout(r, 300)); // past the watcher's stability time: it must not re-offer OTHER01
    await rig.app.publisher.idle();
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:SENSOR1\n/);
    try {
      const paths = [
        '/ota/LINKED1', '/ota/passwd', '/ota/OTHER01', '/ota/.firmdrop', '/ota/.firmdrop/releases.json',
        '/ota/.firmdrop%2Freleases.json', '/ota/..%2F..%2F..%2Fetc%2Fpasswd', '/ota/%2e%2e/%2e%2e/etc/passwd',
        '/ota/../../etc/passwd', `/ota/..%2F${path.basename(outside)}`, '/ota/SENSOR1%2F..%2F..%2Fetc%2Fpasswd',
        '/ota/SENSOR1%00', '/ota/sensor1', '/ota/', '/ota', '/ota/UPGRADE.TXT/..', '/.firmdrop/releases.json',
      ];
      for (const p of paths) {
        const out = (await curl([...auth, '--path-as-is', '-D', '-', `${rig.base}${p}`])).toString();
        expect(out, p).to.match(/^HTTP\/1\.1 404/);
        expect(out, p).not.to.include(secret);
        expect(out, p).not.to.include('root:');
        expect(out, p).not.to.include('"releases"');
      }
    } finally {
      await fsp.rm(outside, { force: true });
    }
  });
});

describe('HTTP device mirror: hooks and pins', function () {
  this.timeout(60_000);
  let rig: HttpRig | undefined;
  afterEach(async () => rig?.close());

  it('keeps serving the release a client read in UPGRADE.TXT after a new one is published', async () => {
    rig = await startHttpRig();
    const v1 = Buffer.from('version one bytes');
    await publish(rig, 'SENSOR1', v1);
    const h = { authorization: basic('ota', 'libelium') };
    expect(await (await fetch(`${rig.base}/ota/UPGRADE.TXT`, { headers: h })).text()).to.include('VERSION:1\n');
    await publish(rig, 'SENSOR1', Buffer.from('version two, other bytes'));
    const pinned = Buffer.from(await (await fetch(`${rig.base}/ota/SENSOR1`, { headers: h })).arrayBuffer());
    expect(pinned.equals(v1)).to.equal(true);
    expect(await (await fetch(`${rig.base}/ota/UPGRADE.TXT`, { headers: h })).text()).to.include('VERSION:2\n');
    expect(await (await fetch(`${rig.base}/ota/SENSOR1`, { headers: h })).text()).to.equal('version two, other bytes');
  });

  it('streams a binary too big for the memory cache from disk, ranges included', async () => {
    rig = await startHttpRig();
    const big = Buffer.alloc(17 * 1024 * 1024 + 3, 0x5a);
    big.write('head', 0);
    big.write('tail', big.length - 4);
    await publish(rig, 'BIGPROG', big);
    const h = { authorization: basic('ota', 'libelium') };
    const whole = Buffer.from(await (await fetch(`${rig.base}/ota/BIGPROG`, { headers: h })).arrayBuffer());
    expect(whole.equals(big)).to.equal(true);
    const res = await fetch(`${rig.base}/ota/bin`, { headers: { ...h, range: `bytes=${big.length - 6}-` } });
    expect(res.status).to.equal(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(big.subarray(big.length - 6))).to.equal(true);
  });

  it('authenticates through authenticate(), offers through offerFor() and reports login, manifest-read and fetch events', async () => {
    const events: SessionEvent[] = [];
    let offerV1: Buffer | undefined;
    rig = await startHttpRig({
      hooks: {
        authenticate: (user, pass) => (user === 'dev-7' && pass === 'pw7' ? { login: 'dev-7', kind: 'device' } : null),
        offerFor: (id) => (id.login === 'dev-7' && offerV1 ? { bytes: offerV1, file: 'SENSOR1', version: 1 } : undefined),
        onEvent: (e) => events.push(e),
      },
    });
    const v1 = Buffer.from('device seven stays on v1');
    await publish(rig, 'SENSOR1', v1);
    offerV1 = await fsp.readFile(path.join(rig.root, 'UPGRADE.TXT'));
    await publish(rig, 'SENSOR1', Buffer.from('fleet-wide v2'));
    const h = { authorization: basic('dev-7', 'pw7') };
    expect((await fetch(`${rig.base}/ota/UPGRADE.TXT`, { headers: { authorization: basic('ota', 'libelium') } })).status).to.equal(401);
    expect((await (await fetch(`${rig.base}/ota/UPGRADE.TXT`, { headers: h })).arrayBuffer()).byteLength).to.equal(offerV1.length);
    expect(await (await fetch(`${rig.base}/ota/SENSOR1`, { headers: h })).text()).to.equal('device seven stays on v1');
    const types = events.map((e) => e.type);
    expect(types).to.include.members(['login-failed', 'login', 'manifest-read', 'fetch-start', 'fetch-end']);
    const end = events.find((e) => e.type === 'fetch-end');
    expect(end).to.deep.include({ login: 'dev-7', name: 'SENSOR1', version: 1, offset: 0, bytes: v1.length, outcome: 'completed' });
    expect(events.find((e) => e.type === 'manifest-read')).to.deep.include({ login: 'dev-7', file: 'SENSOR1', version: 1 });
  });
});
