import { expect } from 'chai';
import path from 'node:path';
import type os from 'node:os';
import {
  CONFIG_OPTIONS, ConfigError, DEFAULT_PORT, loadConfig, localAddressFacing, pasvUrlFor,
} from '../server/config.ts';

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
    expect(c.maxConnections).to.equal(500);
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
      FIRMDROP_STABILITY_MS: '250', FIRMDROP_IDLE_TIMEOUT_MS: '0', FIRMDROP_MAX_CONNECTIONS: '10',
      FIRMDROP_MAX_PER_ADDRESS: '3', FIRMDROP_DRAIN_TIMEOUT_MS: '100', FIRMDROP_LOG_LEVEL: 'DEBUG',
      FIRMDROP_LOG_FORMAT: 'json',
    }, cwd);
    expect(c).to.deep.equal({
      root: path.join(cwd, 'files'), host: '127.0.0.1', port: 2221, pasvAddress: '203.0.113.9',
      pasvMin: 30000, pasvMax: 30999,
      users: [{ user: 'ota', pass: 'libelium' }, { user: 'dev', pass: 'se:cret' }],
      anonymous: true, checksums: false, stabilityMs: 250, idleTimeoutMs: 0, maxConnections: 10, maxPerAddress: 3,
      drainTimeoutMs: 100, logLevel: 'debug', logFormat: 'json',
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
    ['negative ms', { 'stability-ms': '-5' }, {}, /^--stability-ms "-5": expected a duration in ms/],
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

  describe('passive address', () => {
    const ifaces = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true }],
      eth0: [{ address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', internal: false }],
      wlan0: [{ address: '10.4.0.7', netmask: '255.255.0.0', family: 'IPv4', internal: false }],
    } as unknown as NodeJS.Dict<os.NetworkInterfaceInfo[]>;

    it('answers a loopback client with 127.0.0.1 and a LAN client with the interface on its subnet', () => {
      expect(localAddressFacing('127.0.0.1', ifaces)).to.equal('127.0.0.1');
      expect(localAddressFacing('::ffff:127.0.0.1', ifaces)).to.equal('127.0.0.1');
      expect(localAddressFacing('::1', ifaces)).to.equal('127.0.0.1');
      expect(localAddressFacing('192.168.1.77', ifaces)).to.equal('192.168.1.20');
      expect(localAddressFacing('::ffff:10.4.200.1', ifaces)).to.equal('10.4.0.7');
      // from elsewhere (routed, NAT): the first external interface
      expect(localAddressFacing('198.51.100.3', ifaces)).to.equal('192.168.1.20');
    });

    it('uses --pasv-address when given, else a specific bind address, else the per-client function', () => {
      expect(pasvUrlFor({ host: '0.0.0.0', pasvAddress: '203.0.113.9' })).to.equal('203.0.113.9');
      expect(pasvUrlFor({ host: '127.0.0.1' })).to.equal('127.0.0.1');
      const fn = pasvUrlFor({ host: '0.0.0.0' });
      expect(fn).to.be.a('function');
      expect((fn as (ip: string) => string)('127.0.0.1')).to.equal('127.0.0.1');
    });
  });
});
