/**
 * Interoperability with FTP clients firmdrop did not write: curl (EPSV, PASV, EPRT, PORT, REST via -C, SIZE via -I,
 * uploads refused) and Python 3's ftplib (PASV, EPSV, PORT, REST, SIZE, NLST, STOR refused).
 * Skipped only when curl or python3 is not installed (.ci/run installs them).
 */
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeRoot, MANIFEST, PASS, startServer, USER, type TestRoot, type TestServer } from './support/ftp-fixtures.ts';

function has(cmd: string, arg: string): boolean {
  return spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
}

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program with a generous bound; never throws for a non-zero exit. */
function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'buffer', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : -1) : 0;
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(err);
      else resolve({ code, stdout, stderr: stderr.toString() });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('interop: curl', function () {
  let t: TestRoot;
  let srv: TestServer;
  let url: string;
  before(function () {
    if (!has('curl', '--version')) this.skip();
  });
  beforeEach(async () => {
    t = await makeRoot();
    srv = await startServer(t.root);
    url = `ftp://${USER}:${PASS}@127.0.0.1:${srv.port}`;
  });
  afterEach(async () => {
    await srv?.close(500);
    await t?.cleanup();
  });

  it('fetches UPGRADE.TXT (curl tries EPSV first)', async () => {
    const r = await run('curl', ['-sS', '-v', `${url}/UPGRADE.TXT`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.toString()).to.equal(MANIFEST);
    expect(r.stderr).to.match(/> EPSV/);
  });

  it('downloads the binary byte-exact over PASV (--disable-epsv) and EPSV', async () => {
    const pasv = await run('curl', ['-sS', '-v', '--disable-epsv', `${url}/ABCDEFG`]);
    expect(pasv.code, pasv.stderr).to.equal(0);
    expect(pasv.stderr).to.match(/> PASV/);
    expect(sha256(pasv.stdout)).to.equal(sha256(t.binary));
    const epsv = await run('curl', ['-sS', '-v', '--ftp-pasv', `${url}/ABCDEFG`]);
    expect(epsv.code, epsv.stderr).to.equal(0);
    expect(epsv.stderr).to.match(/> EPSV/);
    expect(sha256(epsv.stdout)).to.equal(sha256(t.binary));
  });

  it('resumes with -C <offset> byte-exact (REST)', async () => {
    for (const offset of [1, 4096, 150_000]) {
      const r = await run('curl', ['-sS', '-v', '-C', String(offset), `${url}/ABCDEFG`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.contain(`> REST ${offset}`);
      expect(sha256(r.stdout), `offset ${offset}`).to.equal(sha256(t.binary.subarray(offset)));
    }
    // resume a partial file on disk the way an operator would
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-curl-'));
    try {
      const file = path.join(dir, 'ABCDEFG');
      await fs.writeFile(file, t.binary.subarray(0, 77_777));
      const r = await run('curl', ['-sS', '-C', '-', '-o', file, `${url}/ABCDEFG`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(sha256(await fs.readFile(file))).to.equal(sha256(t.binary));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('downloads byte-exact in active mode over EPRT and PORT', async () => {
    const eprt = await run('curl', ['-sS', '-v', '--ftp-port', '127.0.0.1', `${url}/ABCDEFG`]);
    expect(eprt.code, eprt.stderr).to.equal(0);
    expect(eprt.stderr).to.match(/> EPRT \|1\|127\.0\.0\.1\|/);
    expect(sha256(eprt.stdout)).to.equal(sha256(t.binary));
    const port = await run('curl', ['-sS', '-v', '--ftp-port', '127.0.0.1', '--disable-eprt', `${url}/ABCDEFG`]);
    expect(port.code, port.stderr).to.equal(0);
    expect(port.stderr).to.match(/> PORT 127,0,0,1,/);
    expect(sha256(port.stdout)).to.equal(sha256(t.binary));
  });

  it('reports the size (-I uses SIZE) and lists the root without the catalogue', async () => {
    const head = await run('curl', ['-sS', '-I', `${url}/ABCDEFG`]);
    expect(head.code, head.stderr).to.equal(0);
    expect(head.stdout.toString()).to.match(new RegExp(`Content-Length: ${t.binary.length}\\r?\\n`));
    const list = await run('curl', ['-sS', `${url}/`]);
    expect(list.code, list.stderr).to.equal(0);
    const text = list.stdout.toString();
    expect(text).to.contain('UPGRADE.TXT').and.contain('ABCDEFG');
    expect(text).to.not.contain('.firmdrop');
    const names = await run('curl', ['-sS', '-l', `${url}/`]);
    expect(names.stdout.toString().split(/\r?\n/).filter(Boolean).sort()).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
  });

  it('is refused uploads, deletes and paths out of the root', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-curl-'));
    try {
      const local = path.join(dir, 'EVIL123');
      await fs.writeFile(local, 'evil');
      const up = await run('curl', ['-sS', '-T', local, `${url}/EVIL123`]);
      expect(up.code).to.not.equal(0);
      const del = await run('curl', ['-sS', '-Q', 'DELE UPGRADE.TXT', `${url}/`]);
      expect(del.code).to.not.equal(0);
      expect(del.stderr).to.contain('550');
      const out = await run('curl', ['-sS', '--path-as-is', `${url}/../../../../etc/passwd`]);
      expect(out.code).to.not.equal(0);
      const link = await run('curl', ['-sS', `${url}/LINKOUT`]);
      expect(link.code).to.not.equal(0);
      expect(link.stdout.toString()).to.not.contain('TOP SECRET');
      await fs.access(path.join(t.root, 'UPGRADE.TXT'));
      await fs.access(path.join(t.root, 'EVIL123')).then(
        () => expect.fail('upload landed'),
        () => undefined,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

/** The Python side: prints one JSON object with what each ftplib operation returned. */
const PY_CLIENT = String.raw`
import ftplib, hashlib, json, socket, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
def fetch(ftp, name, rest=None):
    buf = bytearray()
    ftp.retrbinary('RETR ' + name, buf.extend, rest=rest)
    return hashlib.sha256(bytes(buf)).hexdigest()
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, pw)
ftp.voidcmd('TYPE I')
out['size'] = ftp.size('ABCDEFG')
ftp.set_pasv(True)
out['pasv'] = fetch(ftp, 'ABCDEFG')
out['pasv_abs'] = fetch(ftp, '/ABCDEFG')
out['rest'] = fetch(ftp, 'ABCDEFG', rest=123456)
buf = bytearray(); ftp.retrbinary('RETR /UPGRADE.TXT', buf.extend); out['manifest_text'] = buf.decode()
out['nlst'] = sorted(ftp.nlst())
try:
    ftp.storbinary('STOR EVIL123', __import__('io').BytesIO(b'evil'))
    out['stor'] = 'accepted'
except ftplib.error_perm as e:
    out['stor'] = str(e)[:3]
# EPSV: ftplib sends EPSV when its address family is IPv6
ftp.af = socket.AF_INET6
out['epsv_reply'] = ftp.sendcmd('EPSV')[:3]
out['epsv'] = fetch(ftp, 'ABCDEFG')
ftp.af = socket.AF_INET
# active mode: PORT
ftp.set_pasv(False)
out['port'] = fetch(ftp, 'ABCDEFG')
ftp.quit()
print(json.dumps(out))
`;

describe('interop: Python ftplib', function () {
  let t: TestRoot;
  let srv: TestServer;
  before(function () {
    if (!has('python3', '--version')) this.skip();
  });
  beforeEach(async () => {
    t = await makeRoot();
    srv = await startServer(t.root);
  });
  afterEach(async () => {
    await srv?.close(500);
    await t?.cleanup();
  });

  it('downloads byte-exact over PASV, EPSV and PORT, resumes with REST, reads SIZE and NLST, is refused STOR', async () => {
    const r = await run('python3', ['-c', PY_CLIENT, '127.0.0.1', String(srv.port), USER, PASS]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.toString());
    const full = sha256(t.binary);
    expect(out.size).to.equal(t.binary.length);
    expect(out.pasv).to.equal(full);
    expect(out.pasv_abs).to.equal(full);
    expect(out.rest).to.equal(sha256(t.binary.subarray(123456)));
    expect(out.manifest_text).to.equal(MANIFEST);
    expect(out.nlst).to.deep.equal(['ABCDEFG', 'LINKIN', 'UPGRADE.TXT', 'ota']);
    expect(out.stor).to.equal('550');
    expect(out.epsv_reply).to.equal('229');
    expect(out.epsv).to.equal(full);
    expect(out.port).to.equal(full);
    const fetches = srv.logs.filter((l) => l.event === 'fetch-end' && l.outcome === 'completed');
    expect(fetches.length).to.equal(6); // pasv, pasv_abs, rest, UPGRADE.TXT, epsv, port
  });
});
