/**
 * The launchers in bin/ under a service manager's or an operator's SIGTERM: `npx firmdrop serve` and
 * `npx client-sim modem --listen` run as npm exec → sh → node, and npm passes the signal to the shell only; the
 * launcher must stop the node process too (bin/parent-watch.js), so the port is freed and the whole process tree
 * exits. `node bin/firmdrop.js serve` receives the signal itself.
 */
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServerProcess, cleanEnv, groupPids, poll, portIsFree } from './support/server-process.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Waits (bounded) until no process of group `pgid` is left and `port` can be bound again. */
async function expectTreeGoneAndPortFree(pgid: number, port: number): Promise<void> {
  await poll(async () => (groupPids(pgid).length === 0 ? true : undefined), 15_000, `every process of group ${pgid} gone`);
  expect(await portIsFree(port), `port ${port} freed`).to.equal(true);
}

describe('launchers pass SIGTERM on: the port is freed and the process tree exits', function () {
  this.timeout(60_000);
  let tmp: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-launch-')); });
  afterEach(async () => {
    if (child?.pid && groupPids(child.pid).length) process.kill(-child.pid, 'SIGKILL');
    child = undefined;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  const serveArgs = () => ['serve', '--root', tmp, '--host', '127.0.0.1', '--port', '0'];

  for (const [what, cmd, args] of [
    ['node bin/firmdrop.js serve', process.execPath, [path.join(repo, 'bin', 'firmdrop.js')]],
    ['npx firmdrop serve', 'npx', ['--no-install', 'firmdrop']],
  ] as const) {
    it(`${what}: SIGTERM to the launched process stops the server cleanly`, async () => {
      // Its own process group, so the test can see every process of the tree (and kill them if it fails).
      child = spawn(cmd, [...args, ...serveArgs()], { cwd: repo, detached: true, env: cleanEnv({ FIRMDROP_LOG_FORMAT: 'json' }) });
      const server = new ServerProcess(child);
      const port = await server.port();
      child.kill('SIGTERM');
      await expectTreeGoneAndPortFree(child.pid!, port);
      expect(server.lines.some((l) => l.msg === 'stopped'), `server log: ${server.stderr}`).to.equal(true);
    });
  }

  it('node bin/firmdrop.js serve started outside npm keeps serving when the shell that started it exits (nohup … &)', async () => {
    const env = cleanEnv({ FIRMDROP_LOG_FORMAT: 'json' });
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
    const log = path.join(tmp, 'serve.log');
    const cmd = `"${process.execPath}" bin/firmdrop.js ${serveArgs().join(' ')} > "${log}" 2>&1 &`;
    child = spawn('sh', ['-c', cmd], { cwd: repo, detached: true, env });
    await new Promise((r) => child!.once('exit', r)); // the shell is gone at once; the server is orphaned
    const listening = await poll(async () => {
      const line = (await fsp.readFile(log, 'utf8').catch(() => '')).split('\n').find((l) => l.includes('"msg":"listening"'));
      return line ? JSON.parse(line) as { port: number; pid: number } : undefined;
    }, 20_000, 'listening line');
    await new Promise((r) => setTimeout(r, 1000)); // four parent checks' worth (bin/parent-watch.js polls every 250 ms)
    expect(await portIsFree(listening.port), 'still serving').to.equal(false);
    process.kill(listening.pid, 'SIGTERM');
    await expectTreeGoneAndPortFree(child.pid!, listening.port);
  });

  it('npx client-sim modem --listen: SIGTERM to npx frees the port and ends the tree', async () => {
    child = spawn('npx', ['--no-install', 'client-sim', 'modem', '--family', 'telit', '--listen', '0'], { cwd: repo, detached: true, env: cleanEnv({}) });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const port = await poll(async () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      return m ? Number(m[1]) : undefined;
    }, 20_000, 'client-sim listening line');
    expect(await portIsFree(port)).to.equal(false);
    child.kill('SIGTERM');
    await expectTreeGoneAndPortFree(child.pid!, port);
  });
});
