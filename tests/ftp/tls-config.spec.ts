/**
 * FTPS configuration (RFC 4217): without a certificate AUTH TLS is refused (502, RFC 4217 §11 and RFC 2228 §4), left
 * out of FEAT (RFC 2389), and plain FTP works on the same connection; the certificate and key come from flags or
 * variables, both or neither, and a missing, non-PEM, mismatched or folder path stops the server with one line
 * naming it (server/tls.ts); good files serve FTPS. The self-signed certificates are made with openssl in a temp
 * folder; the configuration cases are skipped only when openssl is absent.
 */
import { expect } from 'chai';
import { Client, FTPError } from 'basic-ftp';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFirmdrop } from '../../server/app.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { loadTls } from '../../server/tls.ts';
import { collector, connectClient, MANIFEST, PASS, USER, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { RawFtp } from '../support/raw-ftp.ts';
import { has, makeCert, secureAccess } from '../support/tls-cert.ts';

const HAS_OPENSSL = has('openssl', 'version');

describe('tls: no certificate configured', function () {
  let t: TestRoot, srv: TestServer;
  useServer({}, (f) => ({ t, srv } = f));

  it('refuses AUTH TLS (502), leaves it out of FEAT, and the same connection carries on in plain FTP', async () => {
    const raw = await RawFtp.connect(srv.port);
    try {
      const auth = await raw.cmd('AUTH TLS');
      expect([502, 504]).to.include(auth.code);
      const feat = await raw.cmd('FEAT');
      expect(feat.text).not.to.include('AUTH TLS');
      expect((await raw.cmd(`USER ${USER}`)).code).to.equal(331);
      expect((await raw.cmd(`PASS ${PASS}`)).code).to.equal(230);
      expect((await raw.cmd('SIZE ABCDEFG')).text).to.equal(`213 ${t.binary.length}\r\n`);
    } finally {
      raw.socket.destroy();
    }
  });

  it('basic-ftp with secure: true fails with the refusal; without it downloads', async () => {
    const c = new Client(10_000);
    try {
      const err = await secureAccess(c, srv.port).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(FTPError);
      expect([502, 504]).to.include((err as FTPError).code);
    } finally {
      c.close();
    }
    const plain = await connectClient(srv.port);
    try {
      const w = collector();
      await plain.downloadTo(w, 'UPGRADE.TXT');
      expect(w.data().toString('latin1')).to.equal(MANIFEST);
    } finally {
      plain.close();
    }
  });
});

describe('tls: configuration', function () {
  let dir: string;
  let good: { cert: string; key: string };
  let other: { cert: string; key: string };

  before(async function () {
    if (!HAS_OPENSSL) this.skip();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-ftps-cfg-'));
    good = await makeCert(dir);
    other = await makeCert(dir, '2');
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  function oneLineConfigError(err: unknown, re: RegExp): void {
    expect(err).to.be.instanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).to.match(re);
    expect(message).not.to.include('\n');
  }

  it('takes both files from flags or variables, resolved against the working directory; neither = plain only', () => {
    expect(loadConfig({}, {}, dir)).to.include({ tlsCert: undefined, tlsKey: undefined });
    expect(loadConfig({ 'tls-cert': 'c', 'tls-key': 'k' }, {}, dir)).to.include({ tlsCert: path.join(dir, 'c'), tlsKey: path.join(dir, 'k') });
    expect(loadConfig({}, { FIRMDROP_TLS_CERT: '/x/c.pem', FIRMDROP_TLS_KEY: '/x/k.pem' }, dir)).to.include({ tlsCert: '/x/c.pem', tlsKey: '/x/k.pem' });
  });

  it('refuses a certificate without a key (and a key without a certificate) with one line', () => {
    oneLineConfigError(catchSync(() => loadConfig({ 'tls-cert': 'c' }, {}, dir)), /^--tls-cert \(FIRMDROP_TLS_CERT\) needs --tls-key/);
    oneLineConfigError(catchSync(() => loadConfig({}, { FIRMDROP_TLS_KEY: 'k' }, dir)), /^--tls-key \(FIRMDROP_TLS_KEY\) needs --tls-cert/);
  });

  it('refuses a missing, non-PEM or mismatched file with one line naming it', async () => {
    const missing = path.join(dir, 'nope.pem');
    const cases: [{ certFile: string; keyFile: string }, RegExp][] = [
      [{ certFile: missing, keyFile: good.key }, new RegExp(`^TLS certificate ${missing}: no such file$`)],
      [{ certFile: good.cert, keyFile: missing }, new RegExp(`^TLS key ${missing}: no such file$`)],
      [{ certFile: good.key, keyFile: good.key }, new RegExp(`^TLS certificate ${good.key}: not a PEM certificate`)],
      [{ certFile: good.cert, keyFile: good.cert }, new RegExp(`^TLS key ${good.cert}: not an unencrypted PEM private key`)],
      [{ certFile: good.cert, keyFile: other.key }, new RegExp(`^TLS certificate ${good.cert} and key ${other.key} do not match`)],
      [{ certFile: dir, keyFile: good.key }, new RegExp(`^TLS certificate ${dir}: is a folder$`)],
    ];
    for (const [files, re] of cases) oneLineConfigError(await loadTls(files).then(() => undefined, (e: unknown) => e), re);
  });

  it('startFirmdrop stops at a bad certificate path with one line, before serving anything', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-ftps-root-'));
    try {
      const config = loadConfig({ root, host: '127.0.0.1', port: '0', 'tls-cert': 'missing.pem', 'tls-key': good.key }, {}, dir);
      const logger = createLogger({ level: 'silent', pretty: false });
      const err = await startFirmdrop(config, logger).then((app) => app.close(), (e: unknown) => e);
      oneLineConfigError(err, new RegExp(`^TLS certificate ${path.join(dir, 'missing.pem')}: no such file$`));
      expect(await fs.readdir(root)).to.deep.equal([]); // nothing reconciled or written
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('startFirmdrop with good files serves FTPS', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-ftps-root-'));
    const config = loadConfig({ root, host: '127.0.0.1', port: '0', 'tls-cert': good.cert, 'tls-key': good.key }, {}, dir);
    const app = await startFirmdrop(config, createLogger({ level: 'silent', pretty: false }));
    const c = new Client(10_000);
    try {
      await secureAccess(c, app.ftp.port);
      const w = collector();
      await c.downloadTo(w, 'UPGRADE.TXT');
      expect(w.data().toString('latin1')).to.match(/^FILE:NO_FILE\r?\n/);
    } finally {
      c.close();
      await app.close();
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

function catchSync(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
