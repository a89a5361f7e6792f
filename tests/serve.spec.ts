// End to end: `firmdrop serve` and `npm start` as child processes, fetched with curl over loopback.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import CRC32 from 'crc-32';
import { ServerProcess, cleanEnv, poll } from './support/server-process.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs curl; resolves stdout as bytes (rejects on a non-zero exit). */
function curl(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], { encoding: 'buffer', timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`curl ${args.join(' ')}: ${stderr.toString() || err.message}`)) : resolve(stdout)));
  });
}

const hasCurl = await new Promise<boolean>((resolve) => execFile('curl', ['--version'], (err) => resolve(!err)));
const hasPython = await new Promise<boolean>((resolve) => execFile('python3', ['--version'], (err) => resolve(!err)));

/** Downloads `file` with Python 3's ftplib (PASV, binary) and resolves its bytes. */
function pythonFetch(port: number, file: string): Promise<Buffer> {
  const script = [
    'import ftplib, sys',
    `f = ftplib.FTP(); f.connect("127.0.0.1", ${port}, timeout=10); f.login("ota", "libelium")`,
    `f.retrbinary("RETR ${file}", sys.stdout.buffer.write); f.quit()`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script], { encoding: 'buffer', timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`ftplib: ${stderr.toString() || err.message}`)) : resolve(stdout)));
  });
}

function manifestFields(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

describe('firmdrop serve, end to end (curl)', function () {
  this.timeout(60_000);
  let tmp: string;
  let server: ServerProcess | undefined;

  before(function () {
    if (!hasCurl) this.skip();
  });
  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-serve-'));
  });
  afterEach(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    server = undefined;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('serves UPGRADE.TXT, publishes a dropped binary with exact SIZE, higher VERSION and CRC32, serves it byte-exact (EPSV, PASV, REST, ftplib), stops on SIGTERM', async () => {
    const root = path.join(tmp, 'root');
    await fsp.mkdir(root);
    server = new ServerProcess(spawn(process.execPath,
      ['--import', 'tsx', path.join(repo, 'server', 'cli.ts'), 'serve', '--root', root, '--host', '127.0.0.1', '--port', '0', '--stability-ms', '300'],
      { cwd: repo, env: cleanEnv({ FIRMDROP_LOG_FORMAT: 'json' }) }));
    const port = await server.port();
    expect((await server.waitFor('manifest')).manifest).to.not.equal(undefined);
    const url = `ftp://ota:libelium@127.0.0.1:${port}`;

    const before = manifestFields((await curl([`${url}/UPGRADE.TXT`])).toString());
    expect(before.FILE).to.equal('NO_FILE');
    const oldVersion = Number(before.VERSION);

    const bytes = Buffer.from([0x0c, 0x94, 0x5c, 0x00, 0x0d, 0x0a, 0x4f, 0x4b, 0x0d, 0x0a, 0xff, 0x00, 0x7f]);
    const src = path.join(tmp, 'SENSOR1');
    await fsp.writeFile(src, bytes);
    await fsp.copyFile(src, path.join(root, 'SENSOR1'));

    const crc = (CRC32.buf(bytes) >>> 0).toString(16).padStart(8, '0');
    const after = await poll(async () => {
      const m = manifestFields((await curl([`${url}/UPGRADE.TXT`])).toString());
      return m.FILE === 'SENSOR1' ? m : undefined;
    }, 10_000, 'FILE:SENSOR1 in UPGRADE.TXT');
    expect(after.PATH).to.equal('/');
    expect(Number(after.SIZE)).to.equal(bytes.length);
    expect(Number(after.VERSION)).to.be.above(oldVersion);
    expect(after.CRC32).to.equal(crc);

    expect(await curl([`${url}/SENSOR1`])).to.deep.equal(bytes);
    expect(await curl(['--disable-epsv', `${url}/SENSOR1`])).to.deep.equal(bytes);
    // Resume (REST) after 5 bytes, as curl -C - does with a partial file.
    const partial = path.join(tmp, 'partial');
    await fsp.writeFile(partial, bytes.subarray(0, 5));
    await curl(['-C', '-', '-o', partial, `${url}/SENSOR1`]);
    expect(await fsp.readFile(partial)).to.deep.equal(bytes);
    if (hasPython) expect(await pythonFetch(port, 'SENSOR1')).to.deep.equal(bytes);

    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit, server.stderr).to.deep.equal({ code: 0, signal: null });
    expect(server.lines.some((l) => l.msg === 'stopped')).to.equal(true);
  });

  it('refuses to start on a busy port with one line on stderr, nothing on stdout, and exit 1', async () => {
    const root = path.join(tmp, 'root');
    await fsp.mkdir(root);
    const args = ['--import', 'tsx', path.join(repo, 'server', 'cli.ts'), 'serve', '--root', root, '--host', '127.0.0.1'];
    server = new ServerProcess(spawn(process.execPath, [...args, '--port', '0'], { cwd: repo, env: cleanEnv({ FIRMDROP_LOG_FORMAT: 'json' }) }));
    const port = await server.port();
    const second = new ServerProcess(spawn(process.execPath, [...args, '--port', String(port)], { cwd: repo, env: cleanEnv({ FIRMDROP_LOG_FORMAT: 'json' }) }));
    const exit = await second.exited;
    expect(exit.code).to.equal(1);
    const lines = second.stderr.split('\n').filter((l) => l !== '');
    expect(lines, second.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^firmdrop: .*EADDRINUSE|^firmdrop: .*in use/);
    expect(second.lines, 'no start-up line before the error').to.deep.equal([]);
  });
});

describe('npm start (the README quick start) on a copy of the embedded ota-root', function () {
  this.timeout(60_000);
  let tmp: string;
  let otaRoot: string;
  let server: ServerProcess | undefined;

  before(async function () {
    if (!hasCurl) this.skip();
    // A copy of what git tracks in ota-root/ (its README only): the work tree's ota-root/ is never used by tests.
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-npm-start-'));
    otaRoot = path.join(tmp, 'ota-root');
    await fsp.mkdir(otaRoot);
    await fsp.copyFile(path.join(repo, 'ota-root', 'README.md'), path.join(otaRoot, 'README.md'));
  });
  after(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      process.kill(-server.child.pid!, 'SIGKILL');
      await server.exited;
    }
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('writes the NO_FILE manifest at first start, serves it on the port it logs (PASV and EPSV), warns about the default password, and stops cleanly', async () => {
    expect(await fsp.readdir(otaRoot)).to.deep.equal(['README.md']);
    // Its own process group, so a failed test can kill npm and the server together (after()).
    server = new ServerProcess(spawn('npm', ['start'], {
      cwd: repo, detached: true, env: cleanEnv({ FIRMDROP_ROOT: otaRoot, FIRMDROP_PORT: '0', FIRMDROP_LOG_FORMAT: 'json' }),
    }));
    const port = await server.port();
    expect(server.lines.find((l) => l.msg === 'listening')?.root).to.equal(otaRoot);
    expect(await fsp.readFile(path.join(otaRoot, 'UPGRADE.TXT'), 'utf8')).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    const url = `ftp://ota:libelium@127.0.0.1:${port}/UPGRADE.TXT`;
    expect((await curl([url])).toString()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    // PASV (not EPSV) on the default 0.0.0.0 bind: the 227 reply must carry an address the client can reach.
    expect((await curl(['--disable-epsv', url])).toString()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    const warning = server.lines.filter((l) => l.level === 40 && /default password/.test(String(l.msg)));
    expect(warning.map((l) => l.msg), 'one warning about ota/libelium on 0.0.0.0').to.have.length(1);
    expect(String(warning[0]!.msg)).to.match(/--user.*FIRMDROP_USERS/);

    // SIGTERM to npm (as a service manager or `kill <pid>` sends it): npm passes it on to the server (the script
    // `exec`s it, so no shell sits in between to die and orphan it) and exits with the server's code.
    const serverPid = server.lines.find((l) => l.msg === 'listening')?.pid as number;
    expect(serverPid).to.be.a('number');
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit, server.stderr).to.deep.equal({ code: 0, signal: null });
    expect(server.lines.some((l) => l.msg === 'stopped')).to.equal(true);
    expect(() => process.kill(serverPid, 0)).to.throw(/ESRCH/);
  });
});
