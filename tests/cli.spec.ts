import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import CRC32 from 'crc-32';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `node --import tsx server/cli.ts ...args` in the repository (or `script` instead of cli.ts). */
function firmdrop(args: string[], opts: { env?: Record<string, string>; script?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const script = opts.script ?? path.join(repo, 'server', 'cli.ts');
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    for (const k of Object.keys(env)) if (k.startsWith('FIRMDROP_') && !(opts.env && k in opts.env)) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: opts.cwd ?? repo, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Every file under `dir` (catalogue included) → its content, to prove a failed command changed nothing. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = (await fsp.readFile(full)).toString('base64');
  }
  return out;
}

/** Asserts a failed run: non-zero exit, exactly one line on stderr matching `re`, nothing on stdout. */
function expectOneLineError(r: Run, re: RegExp, code = 1): void {
  expect(r.code, r.stderr).to.equal(code);
  expect(r.stdout).to.equal('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(/^firmdrop: /);
  expect(lines[0]).to.match(re);
}

const crcHex = (b: Buffer) => (CRC32.buf(b) >>> 0).toString(16).padStart(8, '0');
const md5Hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('firmdrop CLI (child processes)', function () {
  this.timeout(60_000);
  let tmp: string;
  let root: string;
  const v1 = Buffer.from('binary one\x00\xff\r\nOK\r\n', 'latin1');
  const v2 = Buffer.from('binary two, a little longer\x00\x01\x02', 'latin1');

  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-cli-'));
    root = path.join(tmp, 'root');
    await fsp.mkdir(root);
    await fsp.writeFile(path.join(tmp, 'SENSOR1'), v1);
    await fsp.writeFile(path.join(tmp, 'MYPROGRAM.bin'), v2);
  });
  afterEach(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('--version alone prints package.json\'s version', async () => {
    const pkg = JSON.parse(await fsp.readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    const r = await firmdrop(['--version']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`${pkg.version}\n`);
  });

  it('prints --help for every command', async () => {
    const top = await firmdrop(['--help']);
    expect(top.code).to.equal(0);
    for (const cmd of ['serve', 'publish', 'select', 'status', 'check']) expect(top.stdout).to.include(cmd);
    const cmds = [['serve', '--pasv-range'], ['publish', '--force'], ['select', '--no-file'], ['status', '--json'], ['check', 'root']];
    const runs = await Promise.all(cmds.map(([cmd]) => firmdrop([cmd, '--help'])));
    cmds.forEach(([cmd, flag], i) => {
      expect(runs[i].code, `${cmd} --help`).to.equal(0);
      expect(runs[i].stdout).to.include(`firmdrop ${cmd}`).and.include(flag);
    });
  });

  it('publish copies the binary in and prints the new manifest; the same name gets the next version', async () => {
    const r1 = await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root]);
    expect(r1.code, r1.stderr).to.equal(0);
    expect(r1.stdout).to.equal(`FILE:SENSOR1\nPATH:/\nSIZE:${v1.length}\nVERSION:1\nCRC32:${crcHex(v1)}\nMD5:${md5Hex(v1)}\n`);
    expect(await fsp.readFile(path.join(root, 'SENSOR1'))).to.deep.equal(v1);
    expect(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).to.equal(r1.stdout);

    await fsp.writeFile(path.join(tmp, 'SENSOR1'), v2);
    const r2 = await firmdrop(['publish', path.join(tmp, 'SENSOR1')], { env: { FIRMDROP_ROOT: root } });
    expect(r2.code, r2.stderr).to.equal(0);
    expect(r2.stdout).to.match(new RegExp(`^FILE:SENSOR1\nPATH:/\nSIZE:${v2.length}\nVERSION:2\nCRC32:${crcHex(v2)}\n`));
  });

  it('publish --name renames, --version sets the version, --no-checksums writes the plain Meshlium form', async () => {
    const r = await firmdrop(['publish', path.join(tmp, 'MYPROGRAM.bin'), '--name', 'MYPROG_', '--version', '7', '--no-checksums', '--root', root]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`FILE:MYPROG_\nPATH:/\nSIZE:${v2.length}\nVERSION:7\n`);
    expect(await fsp.readFile(path.join(root, 'MYPROG_'))).to.deep.equal(v2);
  });

  it('refuses a bad name, version 256, a lower version and a missing file with one line, changing nothing', async () => {
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--version', '5', '--root', root])).code).to.equal(0);
    const before = await snapshot(root);
    const refused: [string[], RegExp][] = [
      [['publish', path.join(tmp, 'MYPROGRAM.bin'), '--root', root], /MYPROGRAM\.bin/],
      [['publish', path.join(tmp, 'SENSOR1'), '--version', '256', '--root', root], /256/],
      [['publish', path.join(tmp, 'SENSOR1'), '--version', '3', '--root', root], /not higher/],
      [['publish', path.join(tmp, 'SENSOR1'), '--version', 'two', '--root', root], /--version "two"/],
      [['publish', path.join(tmp, 'NOSUCH1'), '--root', root], /NOSUCH1/],
      [['publish', path.join(tmp, 'SENSOR1'), '--root', path.join(tmp, 'nowhere')], /no such directory/],
      [['select', 'OTHER_1', '--root', root], /OTHER_1/],
      [['select', 'SENSOR1', '--version', '2', '--root', root], /not higher/],
    ];
    // One after the other: concurrent writers on one root are the publisher's lock's business, not this test's.
    for (const [args, re] of refused) expectOneLineError(await firmdrop(args), re);
    expect(await snapshot(root)).to.deep.equal(before);
    // --force accepts the lower version
    const forced = await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--version', '3', '--force', '--root', root]);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(forced.stdout).to.include('VERSION:3\n');
  });

  it('select switches between releases and to NO_FILE', async () => {
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root])).code).to.equal(0);
    await fsp.writeFile(path.join(tmp, 'SENSOR1'), v2);
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root])).code).to.equal(0);

    const none = await firmdrop(['select', '--no-file', '--root', root]);
    expect(none.code, none.stderr).to.equal(0);
    expect(none.stdout).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    expect(await fsp.readFile(path.join(root, 'UPGRADE.TXT'), 'utf8')).to.equal(none.stdout);

    const latest = await firmdrop(['select', 'SENSOR1', '--root', root]);
    expect(latest.code, latest.stderr).to.equal(0);
    expect(latest.stdout).to.include(`SIZE:${v2.length}\nVERSION:2\n`);

    expectOneLineError(await firmdrop(['select', '--no-file', 'SENSOR1', '--root', root]), /no NAME/, 2);
    expectOneLineError(await firmdrop(['select', '--root', root]), /NAME/, 2);
  });

  it('status --json reports the manifest, the binary, whether they match, and the releases', async () => {
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root])).code).to.equal(0);
    const ok = await firmdrop(['status', '--json', '--root', root]);
    expect(ok.code, ok.stderr).to.equal(0);
    const s = JSON.parse(ok.stdout);
    expect(s.root).to.equal(root);
    expect(s.ok).to.equal(true);
    expect(s.issues).to.deep.equal([]);
    expect(s.manifest).to.deep.include({ file: 'SENSOR1', path: '/', size: v1.length, version: 1, crc32: crcHex(v1), md5: md5Hex(v1) });
    expect(s.binary).to.deep.equal({ name: 'SENSOR1', present: true, size: v1.length, crc32: crcHex(v1), md5: md5Hex(v1) });
    expect(s.releases).to.have.length(1);
    expect(s.releases[0]).to.deep.include({ name: 'SENSOR1', version: 1, size: v1.length, crc32: crcHex(v1) });

    // The binary changes behind firmdrop's back (nobody running to reconcile): status says it does not match.
    await fsp.appendFile(path.join(root, 'SENSOR1'), 'xx');
    const bad = JSON.parse((await firmdrop(['status', '--json', '--root', root])).stdout);
    expect(bad.ok).to.equal(false);
    expect(bad.issues.map((i: { rule: string }) => i.rule)).to.include.members(['size-mismatch', 'crc32-mismatch', 'md5-mismatch']);

    const badCode = (await firmdrop(['status', '--json', '--root', root])).code;
    expect(badCode, 'status --json exits 1 when the manifest does not match').to.equal(1);
    const text = await firmdrop(['status', '--root', root]);
    expect(text.code, 'status exits 1 when the manifest does not match').to.equal(1);
    expect(text.stdout).to.include('does NOT match').and.include('size-mismatch').and.include('SENSOR1 v1');
  });

  it('check says OK on a clean root (given, or FIRMDROP_ROOT) and exits 0', async () => {
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root])).code).to.equal(0);
    // serve-only variables (here a broken one) do not concern check
    const r = await firmdrop(['check', root], { env: { FIRMDROP_PORT: 'ftp' } });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^OK\b/);
    const fromEnv = await firmdrop(['check'], { env: { FIRMDROP_ROOT: root } });
    expect(fromEnv.stdout).to.equal(r.stdout);
  });

  it('check lints a Meshlium/vsftpd root with no catalogue, lists every rule broken, exits 1, writes nothing', async () => {
    const meshlium = path.join(tmp, 'meshlium');
    await fsp.mkdir(meshlium);
    await fsp.writeFile(path.join(meshlium, 'SENSOR1'), v1);
    // The plain Meshlium form with the right size: clean.
    await fsp.writeFile(path.join(meshlium, 'UPGRADE.TXT'), `FILE:SENSOR1\nPATH:/\nSIZE:${v1.length}\nVERSION:4\n`);
    const clean = await firmdrop(['check', meshlium]);
    expect(clean.code, clean.stdout).to.equal(0);
    expect(clean.stdout).to.match(/^OK/);

    // CRLF, a space, VERSION 256 and a wrong SIZE: every rule is listed.
    await fsp.writeFile(path.join(meshlium, 'UPGRADE.TXT'), `FILE:SENSOR1\r\nPATH:/\r\nSIZE: ${v1.length + 1}\r\nVERSION:256\r\n`);
    const before = await snapshot(meshlium);
    const r = await firmdrop(['check', meshlium]);
    expect(r.code).to.equal(1);
    for (const rule of ['crlf', 'space', 'version-range', 'size-mismatch']) expect(r.stdout).to.include(rule);
    expect(await snapshot(meshlium)).to.deep.equal(before);

    // A manifest naming a binary that is not there.
    await fsp.writeFile(path.join(meshlium, 'UPGRADE.TXT'), 'FILE:GONE___\nPATH:/\nSIZE:10\nVERSION:1\n');
    const gone = await firmdrop(['check', meshlium]);
    expect(gone.code).to.equal(1);
    expect(gone.stdout).to.include('binary-missing').and.include('GONE___');

    // No UPGRADE.TXT at all.
    await fsp.rm(path.join(meshlium, 'UPGRADE.TXT'));
    const missing = await firmdrop(['check', meshlium]);
    expect(missing.code).to.equal(1);
    expect(missing.stdout).to.include('manifest-missing');
  });

  it('refuses bad flags and bad environment with one line (2 for usage, 1 for values)', async () => {
    const [bogus, none, env, root404] = await Promise.all([
      firmdrop(['serve', '--bogus']), firmdrop([]), firmdrop(['serve'], { env: { FIRMDROP_PORT: 'ftp' } }),
      firmdrop(['serve', '--root', path.join(tmp, 'nowhere')]),
    ]);
    expectOneLineError(bogus, /Unknown argument: bogus/, 2);
    expectOneLineError(none, /give a command/, 2);
    expectOneLineError(env, /^firmdrop: FIRMDROP_PORT="ftp": expected a TCP port/);
    expectOneLineError(root404, /no such directory/);
  });

  it('bin/firmdrop.js runs the CLI from any working directory', async () => {
    expect((await firmdrop(['publish', path.join(tmp, 'SENSOR1'), '--root', root])).code).to.equal(0);
    const r = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(repo, 'bin', 'firmdrop.js'), 'check', root], { cwd: tmp });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^OK/);
  });
});
