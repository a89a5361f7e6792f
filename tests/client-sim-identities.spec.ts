/**
 * client-sim fleets with their own logins: the login / password patterns and the credentials CSV
 * (client-sim/identities.ts), and a rehearsal end to end: firmdrop with ten device logins in two cohorts, a rollout
 * of NEWPROG to one cohort, `client-sim ota --devices 10 --login-pattern 'dev{n:2}'` as a child process (the CLI as
 * an operator runs it), then the store says exactly that cohort downloaded NEWPROG and the others did not.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type Firmdrop, startFirmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { Store } from '../server/store/store.ts';
import { addDevices, deviceReports } from '../server/fleet/devices.ts';
import { startRollout } from '../server/fleet/rollouts.ts';
import { expandPattern, fleetIdentities, parseCredentialsCsv } from '../client-sim/identities.ts';
import { fleetRoot } from './support/fleet-root.ts';

const BIN = path.resolve('bin/client-sim.js');

describe('client-sim identities: patterns and credentials', () => {
  it('{n} is the device number, {n:W} zero-pads it', () => {
    expect(expandPattern('dev{n}', 7)).to.equal('dev7');
    expect(expandPattern('dev{n:3}', 7)).to.equal('dev007');
    expect(expandPattern('node-{n:2}-{n}', 12)).to.equal('node-12-12');
  });
  it('a pattern without a placeholder, or with another {...}, is refused in one line', () => {
    expect(() => expandPattern('device', 1)).to.throw(/no \{n\}.*same value/);
    expect(() => expandPattern('dev{i}', 1)).to.throw(/only \{n\} and \{n:WIDTH\}/);
  });
  it('passwords: one for all, a pattern, or a CSV of login,password (header, comments and blank lines skipped)', () => {
    expect(fleetIdentities({ devices: 2, loginPattern: 'd{n}', password: 'p' })).to.deep.equal([{ login: 'd1', password: 'p' }, { login: 'd2', password: 'p' }]);
    expect(fleetIdentities({ devices: 2, loginPattern: 'd{n}', password: 'p', passwordPattern: 'pw{n:2}' })!.map((d) => d.password)).to.deep.equal(['pw01', 'pw02']);
    const csv = 'login,password\n# rehearsal\nnodeA,secretA\n\nnodeB,secretB\n';
    expect(fleetIdentities({ devices: 1, password: 'x', csv })).to.deep.equal([{ login: 'nodeA', password: 'secretA' }]);
    expect(() => fleetIdentities({ devices: 3, password: 'x', csv })).to.throw(/--devices 3 but the credentials file has 2 logins/);
    expect(() => parseCredentialsCsv('a,b\na,c\n')).to.throw(/line 2: login 'a' given twice/);
    expect(() => parseCredentialsCsv('a,b,c\n')).to.throw(/line 1: expected login,password/);
    expect(fleetIdentities({ devices: 3, password: 'x' })).to.equal(undefined);
  });
});

describe('client-sim identities: a rollout rehearsed with simulated devices', function () {
  this.timeout(120_000);
  let root: string;
  let app: Firmdrop | undefined;
  let store: Store | undefined;
  after(async () => {
    store?.close();
    await app?.close();
    if (root) await fsp.rm(root, { recursive: true, force: true });
  });

  it('client-sim ota --devices 10 --login-pattern: exactly the rollout cohort downloads NEWPROG', async () => {
    const made = await fleetRoot('firmdrop-sim-ids-');
    root = made.root;
    await made.publisher.close();
    store = new Store(root);
    const logins = Array.from({ length: 10 }, (_, i) => `dev${String(i + 1).padStart(2, '0')}`);
    const canary = logins.filter((_, i) => i % 2 === 0); // dev01, dev03, ...: not the first five, so the login mapping matters
    addDevices(store, root, logins.map((login, i) => ({ login, password: `pw-${login}`, cohort: i % 2 === 0 ? 'canary' : 'field' })), 'operator@test');
    await startRollout(store, root, { name: 'NEWPROG', cohorts: ['canary'] }, 'operator@test');
    app = await startFirmdrop(loadConfig({ root, host: '127.0.0.1', port: '0' }, {}), createLogger({ level: 'silent' }));
    const port = app.ftp.port;

    const args = [BIN, 'ota', '-m', '4g', '--port', String(port), '--devices', '10', '--login-pattern', 'dev{n:2}',
      '--password-pattern', 'pw-dev{n:2}', '--program', 'OLDPROG', '--version', '1', '--deadline', '60000', '--json'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err, err).to.equal('');
    const summary = JSON.parse(out) as { finished: number; perLogin: { login: string; name: string; bytes: number }[] };
    expect(status).to.equal(1); // the field cohort reads OLDPROG v1, which it runs: no update is an error code
    expect(summary.finished).to.equal(10);
    expect(summary.perLogin.map((d) => d.login)).to.deep.equal(logins);
    for (const d of summary.perLogin) {
      if (canary.includes(d.login)) {
        expect(d.name, d.login).to.equal('OK');
        expect(d.bytes, d.login).to.be.at.least(made.newBin.length); // the binary, plus UPGRADE.TXT on the SD card
      }
      else expect(d.name, d.login).to.not.equal('OK');
    }

    // the server's view, as `firmdrop devices --json` prints it (status writes are batched: poll, bounded)
    const deadline = Date.now() + 10_000;
    let reports = deviceReports(store);
    while (reports.some((r) => r.state === 'never-seen' || r.state === 'downloading') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      reports = deviceReports(store);
    }
    for (const r of reports) {
      if (canary.includes(r.login)) {
        expect(r.state, r.login).to.be.oneOf(['downloaded', 'updated']);
        expect(r.download, r.login).to.include({ file: 'NEWPROG', outcome: 'completed' });
      } else {
        expect(r.state, r.login).to.equal('offered');
        expect(r.offered, r.login).to.include({ file: 'OLDPROG' });
        expect(r.download?.file ?? null, r.login).to.equal(null);
      }
    }
  });
});
