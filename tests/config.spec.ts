import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_OPTIONS, ConfigError, DEFAULT_PORT, assertRootDir, loadConfig } from '../server/config.ts';

const cwd = '/srv/firmdrop';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has documented defaults: ./ota-root, 0.0.0.0:2121, ota/libelium, checksums on, anonymous off', () => {
    const c = loadConfig({}, {}, cwd);
    expect(c.root).to.equal(path.join(cwd, 'ota-root'));
    expect(c.host).to.equal('0.0.0.0');
    expect(c.port).to.equal(DEFAULT_PORT).and.equal(2121);
    expect(c.users).to.deep.equal([{ user: 'ota', pass: 'libelium' }]);
    expect(c.anonymous).to.equal(false);
    expect(c.checksums).to.equal(true);
    expect(c.pasvAddress).to.equal(undefined);
    expect(c.pasvMin).to.equal(undefined);
    expect(c.pasvMax).to.equal(undefined);
    expect(c.stabilityMs).to.equal(1000);
    expect(c.idleTimeoutMs).to.equal(300_000);
    expect(c.loginTimeoutMs).to.equal(60_000);
    expect(c.maxConnections).to.equal(10000);
    expect(c.maxPerAddress).to.equal(0);
    expect(c.drainTimeoutMs).to.equal(5000);
    expect(c.logLevel).to.equal('info');
    expect(c.logFormat).to.equal('auto');
  });

  it('takes every setting from FIRMDROP_* variables', () => {
    const c = loadConfig({}, {
      FIRMDROP_ROOT: 'files', FIRMDROP_HOST: '127.0.0.1', FIRMDROP_PORT: '2221',
      FIRMDROP_PASV_ADDRESS: '203.0.113.9', FIRMDROP_PASV_RANGE: '30000-30999',
      FIRMDROP_USERS: 'ota:libelium, dev:se:cret', FIRMDROP_ANONYMOUS: 'yes', FIRMDROP_CHECKSUMS: '0',
      FIRMDROP_STABILITY_MS: '250', FIRMDROP_IDLE_TIMEOUT_MS: '1000', FIRMDROP_LOGIN_TIMEOUT_MS: '2000', FIRMDROP_MAX_CONNECTIONS: '10',
      FIRMDROP_MAX_PER_ADDRESS: '3', FIRMDROP_DRAIN_TIMEOUT_MS: '100', FIRMDROP_LOG_LEVEL: 'DEBUG',
      FIRMDROP_LOG_FORMAT: 'json', FIRMDROP_TLS_CERT: 'tls/cert.pem', FIRMDROP_TLS_KEY: '/etc/firmdrop/key.pem',
      FIRMDROP_HTTP_PORT: '8080', FIRMDROP_HTTP_HOST: '0.0.0.0', FIRMDROP_ADMIN_PASSWORD: 'pw', FIRMDROP_ADMIN_PASSWORD_FILE: 'admin.pw',
    }, cwd);
    expect(c).to.deep.equal({
      root: path.join(cwd, 'files'), host: '127.0.0.1', port: 2221, pasvAddress: '203.0.113.9',
      pasvMin: 30000, pasvMax: 30999,
      users: [{ user: 'ota', pass: 'libelium' }, { user: 'dev', pass: 'se:cret' }],
      anonymous: true, checksums: false, stabilityMs: 250, idleTimeoutMs: 1000, loginTimeoutMs: 2000, maxConnections: 10, maxPerAddress: 3,
      drainTimeoutMs: 100, logLevel: 'debug', logFormat: 'json',
      tlsCert: path.join(cwd, 'tls', 'cert.pem'), tlsKey: '/etc/firmdrop/key.pem',
      httpPort: 8080, httpHost: '0.0.0.0', adminPassword: 'pw', adminPasswordFile: path.join(cwd, 'admin.pw'),
      fleet: true, metricsPort: undefined, metricsHost: '127.0.0.1',
    });
  });

  it('prefers a flag over the environment, and the environment over the default', () => {
    const env = { FIRMDROP_PORT: '2221', FIRMDROP_USERS: 'a:1', FIRMDROP_CHECKSUMS: 'false', FIRMDROP_ROOT: '/env/root' };
    const c = loadConfig({ port: '0', user: ['b:2', 'c:3'], checksums: true }, env, cwd);
    expect(c.port).to.equal(0);
    expect(c.users).to.deep.equal([{ user: 'b', pass: '2' }, { user: 'c', pass: '3' }]);
    expect(c.checksums).to.equal(true);
    expect(c.root).to.equal('/env/root');
    // an empty variable counts as unset; an empty repeated flag (yargs gives []) as not given
    expect(loadConfig({ user: [] }, { FIRMDROP_PORT: '' }, cwd).port).to.equal(2121);
    expect(loadConfig({ user: [] }, { FIRMDROP_USERS: 'z:9' }, cwd).users).to.deep.equal([{ user: 'z', pass: '9' }]);
  });

  it('a single-port passive range is MIN = MAX', () => {
    const c = loadConfig({ 'pasv-range': '40000' }, {}, cwd);
    expect([c.pasvMin, c.pasvMax]).to.deep.equal([40000, 40000]);
  });

  const bad: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
    ['port out of range', { port: '65536' }, {}, /^--port "65536": expected a TCP port/],
    ['port not a number', {}, { FIRMDROP_PORT: 'ftp' }, /^FIRMDROP_PORT="ftp": expected a TCP port/],
    ['HTTP port not a number', {}, { FIRMDROP_HTTP_PORT: 'web' }, /^FIRMDROP_HTTP_PORT="web": expected a TCP port/],
    ['negative ms', { 'stability-ms': '-5' }, {}, /^--stability-ms "-5": expected a duration in ms/],
    ['idle timeout 0 (a vanished device would hold its session forever)', { 'idle-timeout-ms': '0' }, {}, /^--idle-timeout-ms "0": expected a duration in ms, a whole number from 1000/],
    ['login timeout 0', {}, { FIRMDROP_LOGIN_TIMEOUT_MS: '0' }, /^FIRMDROP_LOGIN_TIMEOUT_MS="0": expected a duration in ms, a whole number from 1000/],
    ['fractional count', { 'max-connections': '1.5' }, {}, /^--max-connections "1.5"/],
    ['pasv range reversed', { 'pasv-range': '31000-30000' }, {}, /MIN-MAX/],
    ['pasv range garbage', {}, { FIRMDROP_PASV_RANGE: 'lots' }, /^FIRMDROP_PASV_RANGE="lots"/],
    ['pasv address is a host name', { 'pasv-address': 'ota.example.com' }, {}, /bare IPv4/],
    ['pasv address with a port', { 'pasv-address': '1.2.3.4:21' }, {}, /bare IPv4/],
    ['user without password', { user: ['ota'] }, {}, /^--user "ota": expected USER:PASS/],
    ['user with empty password', {}, { FIRMDROP_USERS: 'ota:' }, /^FIRMDROP_USERS="ota:": expected USER:PASS/],
    ['duplicate user', {}, { FIRMDROP_USERS: 'ota:a,ota:b' }, /user "ota" is given twice/],
    ['boolean garbage', {}, { FIRMDROP_ANONYMOUS: 'maybe' }, /^FIRMDROP_ANONYMOUS="maybe": expected true or false/],
    ['log level unknown', { 'log-level': 'loud' }, {}, /expected one of fatal, error/],
    ['host with spaces', { host: 'my host' }, {}, /expected an IP address or host name/],
    ['empty root flag', { root: '  ' }, {}, /^--root "  ": must not be empty/],
  ];
  for (const [title, flags, env, re] of bad) {
    it(`refuses ${title} with one clear line`, () => {
      const err = configError(() => loadConfig(flags, env, cwd));
      expect(err.message).to.match(re);
      expect(err.message).not.to.include('\n');
    });
  }

  it('documents every setting with a flag, a FIRMDROP_ variable and a default', () => {
    const keys = new Set(Object.keys(loadConfig({}, {}, cwd)));
    for (const o of CONFIG_OPTIONS) {
      expect(o.env).to.equal(`FIRMDROP_${o.flag.replace(/-/g, '_').toUpperCase()}${o.flag === 'user' ? 'S' : ''}`);
      expect(o.describe).to.be.a('string').and.not.equal('');
      expect(o.defaultText).to.be.a('string').and.not.equal('');
      if (o.key !== 'pasvRange') expect(keys.has(o.key), o.key).to.equal(true);
    }
    for (const k of keys) {
      if (k === 'pasvMin' || k === 'pasvMax') continue;
      expect(CONFIG_OPTIONS.some((o) => o.key === k), k).to.equal(true);
    }
  });

  it('the README configuration table lists every flag and variable with the default firmdrop uses', async () => {
    const readme = await fsp.readFile(new URL('../README.md', import.meta.url), 'utf8');
    const defaults = loadConfig({}, {}, cwd);
    for (const o of CONFIG_OPTIONS) {
      const row = readme.split('\n').find((l) => l.startsWith('| `--') && l.includes(`| \`${o.env}\` |`));
      expect(row, `README row for ${o.env}`).to.be.a('string');
      expect(row).to.include(`--${o.flag === 'checksums' ? 'no-checksums' : o.flag}`);
      const value = (defaults as unknown as Record<string, unknown>)[o.key];
      if (typeof value === 'number' || typeof value === 'boolean') expect(row, o.env).to.include(`| \`${value}\` |`);
    }
  });

  it('assertRootDir accepts a folder and refuses a missing path or a file with one line', async () => {
    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-config-'));
    try {
      await assertRootDir(tmp);
      const file = path.join(tmp, 'UPGRADE.TXT');
      await fsp.writeFile(file, 'x');
      let err = await assertRootDir(path.join(tmp, 'nope')).then(() => undefined, (e: Error) => e);
      expect(err).to.be.instanceOf(ConfigError);
      expect(err!.message).to.equal(`root ${path.join(tmp, 'nope')}: no such directory`);
      err = await assertRootDir(file).then(() => undefined, (e: Error) => e);
      expect(err!.message).to.equal(`root ${file}: not a directory`);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
});
