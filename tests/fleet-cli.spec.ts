/**
 * The fleet commands through the real `firmdrop` CLI in child processes: devices add/import/remove/list (--json),
 * publish --no-select, rollout start/status/abort, audit --json; errors are one line with exit code 1 and change
 * nothing. A CLI change made while `startFirmdrop` runs on the same root reaches the running fleet's offers (the
 * store's change counter, polled by the server).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startFirmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { parseManifest } from '../server/manifest.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
interface Run { code: number | null; stdout: string; stderr: string }

function firmdrop(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('FIRMDROP_')) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'server', 'cli.ts'), ...args], { cwd: repo, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.end(stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('fleet CLI (firmdrop devices, rollout, audit)', function () {
  this.timeout(120_000);
  let base: string;
  let root: string;

  before(async () => {
    base = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-fleet-cli-'));
    root = path.join(base, 'root');
    await fsp.mkdir(root);
    await fsp.writeFile(path.join(base, 'OLDPROG'), randomBytes(2000));
    await fsp.writeFile(path.join(base, 'NEWPROG'), randomBytes(3000));
  });
  after(async () => {
    await fsp.rm(base, { recursive: true, force: true });
  });

  it('manages devices and a rollout, audits it, and a running server picks the change up', async () => {
    expect((await firmdrop(['publish', path.join(base, 'OLDPROG'), '--root', root])).code).to.equal(0);
    const noSel = await firmdrop(['publish', path.join(base, 'NEWPROG'), '--no-select', '--root', root]);
    expect(noSel.code, noSel.stderr).to.equal(0);
    expect(parseManifest(noSel.stdout).file, 'root offer unchanged').to.equal('OLDPROG');

    expect((await firmdrop(['devices', 'add', 'dev1', '--password', 'pw1', '--cohort', 'test', '--root', root])).code).to.equal(0);
    expect((await firmdrop(['devices', 'add', 'dev2', '--password-stdin', '--root', root], 'pw2\n')).code).to.equal(0);
    await fsp.writeFile(path.join(base, 'bad.csv'), 'login,password,cohort\ndev3,pw3,field\ndev4,,field\n');
    const bad = await firmdrop(['devices', 'import', path.join(base, 'bad.csv'), '--root', root]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
    expect(bad.stderr).to.match(/bad\.csv line 3: password of dev4/);
    await fsp.writeFile(path.join(base, 'good.csv'), 'login,password,cohort\ndev3,pw3,field\ndev4,pw4,field\n');
    expect((await firmdrop(['devices', 'import', path.join(base, 'good.csv'), '--root', root])).stdout).to.equal('imported 2 devices\n');
    expect((await firmdrop(['devices', 'remove', 'dev4', '--root', root])).code).to.equal(0);
    const gone = await firmdrop(['devices', 'remove', 'dev4', '--root', root]);
    expect([gone.code, gone.stderr]).to.deep.equal([1, 'firmdrop: no device login dev4\n']);
    const list = JSON.parse((await firmdrop(['devices', '--json', '--root', root])).stdout) as { login: string; cohort: string | null; state: string }[];
    expect(list.map((d) => `${d.login}:${d.cohort}:${d.state}`)).to.deep.equal(['dev1:test:never-seen', 'dev2:null:never-seen', 'dev3:field:never-seen']);

    const app = await startFirmdrop(loadConfig({ root, host: '127.0.0.1', port: '0' }, {}), createLogger({ level: 'silent' }));
    try {
      const fleet = app.fleet.fleet!;
      expect(fleet.offerFor({ login: 'dev1', kind: 'device' })).to.equal(undefined);
      const start = await firmdrop(['rollout', 'start', 'NEWPROG', '--cohort', 'test', '--max-failures', '2', '--root', root]);
      expect(start.code, start.stderr).to.equal(0);
      expect(start.stdout).to.include('rollout NEWPROG v1: active');
      let offer;
      for (let i = 0; i < 50 && !offer; i++) {
        offer = fleet.offerFor({ login: 'dev1', kind: 'device' });
        if (!offer) await new Promise((r) => setTimeout(r, 100));
      }
      expect(offer?.file, 'the CLI change reaches the running server').to.equal('NEWPROG');
      expect(fleet.offerFor({ login: 'dev3', kind: 'device' })).to.equal(undefined);
      const again = await firmdrop(['rollout', 'start', 'NEWPROG', '--percent', '10', '--root', root]);
      expect([again.code, again.stderr]).to.deep.equal([1, 'firmdrop: rollout of NEWPROG v1 is active: complete or abort it first (one rollout at a time)\n']);
      const st = JSON.parse((await firmdrop(['rollout', 'status', '--json', '--root', root])).stdout) as { rollout: { state: string; budget: number }; waves: { devices: number }[] };
      expect(st.rollout).to.include({ state: 'active', budget: 2 });
      expect(st.waves[0]!.devices).to.equal(1);
      expect((await firmdrop(['rollout', 'abort', '--root', root])).code).to.equal(0);
      let cleared = false;
      for (let i = 0; i < 50 && !cleared; i++) {
        cleared = fleet.offerFor({ login: 'dev1', kind: 'device' }) === undefined;
        if (!cleared) await new Promise((r) => setTimeout(r, 100));
      }
      expect(cleared, 'abort reaches the running server').to.equal(true);
    } finally {
      await app.close();
    }
    const audit = JSON.parse((await firmdrop(['audit', '--json', '--root', root])).stdout) as { action: string; actor: string; offerAfter: string }[];
    expect(audit.map((a) => a.action)).to.deep.equal(['publish', 'record', 'device-add', 'device-add', 'device-import', 'device-remove', 'rollout-start', 'rollout-abort']);
    expect(audit[0]!.actor).to.match(/^.+@.+$/);
    expect(audit[6]!.offerAfter).to.equal('root OLDPROG v1; rollout NEWPROG v1 to cohort test + 0% (active)');
    const since = await firmdrop(['audit', '--since', 'not-a-time', '--root', root]);
    expect(since.code).to.equal(1);
    expect(since.stderr).to.match(/^firmdrop: --since "not-a-time": expected an ISO 8601 time/);
  });
});
