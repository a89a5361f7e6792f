/**
 * The precompiled build (bin/build-dist.js → dist/, bin/dist.js, bin/firmdrop.js): `npm start` runs the server as
 * plain JavaScript, built from server/ by tsc, and falls back to the TypeScript sources (tsx) whenever the build is
 * missing or older than a source, so an edited source is never shadowed by a stale build.
 *
 * Cases: the build compiles every server source with rewritten `.js` imports; freshness is judged per file by
 * mtime (fresh, a newer source, a missing output); and `bin/firmdrop.js serve` runs from dist (its `listening` log
 * line says `build: "dist"`) and serves a published binary byte-exact to a real FTP client.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'basic-ftp';
import { Writable } from 'node:stream';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { distIsFresh } = (await import(path.join(repo, 'bin', 'dist.js'))) as {
  distIsFresh(srcDir?: string, repo?: string): boolean;
};

describe('precompiled build (dist/)', function () {
  this.timeout(60_000);
  let tmp: string;
  let child: ChildProcess | undefined;

  before(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-build-'));
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('compiles every server source to dist/server with .js imports', async () => {
    const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'build-dist.js'), '--force'], { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    const sources = (await fsp.readdir(path.join(repo, 'server'))).filter((f) => f.endsWith('.ts'));
    expect(sources.length).to.be.greaterThan(5);
    for (const f of sources) {
      const js = await fsp.readFile(path.join(repo, 'dist', 'server', f.replace(/\.ts$/, '.js')), 'utf8');
      expect(js, f).not.to.match(/from\s+['"]\.{1,2}\/[^'"]+\.ts['"]/);
    }
    expect(distIsFresh()).to.equal(true);
  });

  it('judges freshness per file: a newer source or a missing output means stale', async () => {
    const fake = path.join(tmp, 'repo');
    await fsp.mkdir(path.join(fake, 'server', 'sub'), { recursive: true });
    await fsp.mkdir(path.join(fake, 'dist', 'server', 'sub'), { recursive: true });
    expect(distIsFresh('server', fake), 'no sources').to.equal(false);
    const old = new Date(Date.now() - 60_000);
    for (const f of ['a', 'sub/b']) {
      await fsp.writeFile(path.join(fake, 'server', `${f}.ts`), 'export {};\n');
      await fsp.utimes(path.join(fake, 'server', `${f}.ts`), old, old);
      await fsp.writeFile(path.join(fake, 'dist', 'server', `${f}.js`), 'export {};\n');
    }
    expect(distIsFresh('server', fake)).to.equal(true);
    const later = new Date(Date.now() + 60_000);
    await fsp.utimes(path.join(fake, 'server', 'sub', 'b.ts'), later, later);
    expect(distIsFresh('server', fake), 'source edited after the build').to.equal(false);
    await fsp.utimes(path.join(fake, 'server', 'sub', 'b.ts'), old, old);
    await fsp.rm(path.join(fake, 'dist', 'server', 'a.js'));
    expect(distIsFresh('server', fake), 'output missing').to.equal(false);
  });

  it('bin/firmdrop.js serve runs from dist and serves a published binary byte-exact', async () => {
    const root = path.join(tmp, 'root');
    await fsp.mkdir(root);
    const firmware = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + 3) & 0xff));
    await fsp.writeFile(path.join(tmp, 'BUILDFW'), firmware);
    const pub = spawnSync(process.execPath, [path.join(repo, 'bin', 'firmdrop.js'), 'publish', path.join(tmp, 'BUILDFW'), '--root', root],
      { encoding: 'utf8' });
    expect(pub.status, pub.stderr).to.equal(0);
    const serve = spawn(process.execPath, [path.join(repo, 'bin', 'firmdrop.js'), 'serve', '--root', root, '--host', '127.0.0.1',
      '--port', '0', '--log-format', 'json', '--user', 'dev:secret'], { cwd: tmp });
    child = serve;
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      serve.stdout!.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        for (const line of out.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const rec = JSON.parse(line) as Record<string, unknown>;
            if (rec.msg === 'listening') resolve(rec);
          } catch { /* a partial line: wait for the rest */ }
        }
      });
      serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    expect(listening.build).to.equal('dist');
    const client = new Client(10_000);
    try {
      await client.access({ host: '127.0.0.1', port: listening.port as number, user: 'dev', password: 'secret' });
      const chunks: Buffer[] = [];
      const sink = new Writable({ write(c: Buffer, _e, done) { chunks.push(c); done(); } });
      await client.downloadTo(sink, 'BUILDFW');
      expect(Buffer.concat(chunks).equals(firmware)).to.equal(true);
    } finally {
      client.close();
    }
  });
});
