/**
 * Hostile clients of FTPS (explicit AUTH TLS, RFC 4217 §4): USER/PASS in the clear after AUTH TLS never log in; a
 * client that sends AUTH TLS and never starts the handshake is cut once idle (docs/ftp-servers.md, fault 3); TLS
 * garbage and handshakes abandoned halfway leave no socket open, and other devices are served throughout.
 *
 * No timing assertions: every wait has a generous bound and the assertion is on what happened.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import tls from 'node:tls';
import { type FtpOptions } from '../../server/ftp/server.ts';
import { PASS, startServer, USER, useServer, type TestRoot, type TestServer } from '../support/ftp-fixtures.ts';
import { canCountSockets, controlSockets, waitForSockets } from '../support/open-sockets.ts';
import { HOST, RawFtp } from '../support/raw-ftp.ts';
import { has, makeCert } from '../support/tls-cert.ts';
import { sleep, within } from '../support/wait.ts';

describe('tls: hostile clients (explicit AUTH TLS, RFC 4217)', function () {
  this.timeout(60_000);
  const fx = useServer({ layout: 'hostile', server: false });
  const { track } = fx;
  let tree: TestRoot;
  let ftpd: TestServer | undefined;

  before(async function () {
    if (!has('openssl', 'version')) this.skip();
    tree = fx.t;
    // A throw-away self-signed certificate.
    const { cert, key } = await makeCert(tree.base);
    const tlsOptions = { key: await fs.readFile(key), cert: await fs.readFile(cert) };
    // `tls` is the FTPS option of FtpOptions (cast: a server build without FTPS ignores it, and the tests skip).
    ftpd = await startServer(tree.root, { tls: tlsOptions, idleTimeoutMs: 1000 } as Partial<FtpOptions>);
    const { ftp } = await RawFtp.connect(HOST, ftpd.port);
    const auth = await ftp.send('AUTH TLS');
    ftp.destroy();
    if (auth.code !== 234) this.skip(); // this server build has no FTPS
  });
  after(async () => {
    await ftpd?.close(1000);
  });

  it('does not log in a client that sends USER/PASS in the clear after AUTH TLS, and keeps serving others', async () => {
    const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
    track(ftp);
    expect((await ftp.send('AUTH TLS')).code).to.equal(234);
    // No handshake: plain commands where a TLS ClientHello should be.
    await ftp.write(`USER ${USER}\r\nPASS ${PASS}\r\nRETR PROGRAM\r\n`);
    const r = await ftp.readOrEnd(5000);
    expect(r?.code, `reply to clear-text commands after AUTH TLS: ${r?.code} ${r?.text}`).to.not.be.oneOf([230, 331, 150, 226]);
    await within(15_000, 'connection dropped after a failed TLS handshake', ftp.closed);
    expect((await RawFtp.download(ftpd!.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
  });

  it('cuts a client that sends AUTH TLS and then never starts the handshake, once idle', async () => {
    const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
    track(ftp);
    expect((await ftp.send('AUTH TLS')).code).to.equal(234);
    // Silence: the server waits for a ClientHello that never comes; its 1 s idle timeout must still apply.
    await within(15_000, 'connection closed while the TLS handshake never started (idle timeout 1 s)', ftp.closed);
  });

  it('survives TLS garbage and handshakes abandoned halfway, and keeps serving others', async () => {
    for (let i = 0; i < 10; i++) {
      const { ftp } = await RawFtp.connect(HOST, ftpd!.port);
      track(ftp);
      expect((await ftp.send('AUTH TLS')).code).to.equal(234);
      if (i % 2 === 0) {
        // Bytes that look like a TLS record header, then garbage.
        await ftp.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), crypto.randomBytes(2000)]));
      } else {
        // A real ClientHello, then the client vanishes before finishing the handshake.
        const t = tls.connect({ socket: ftp.socket, rejectUnauthorized: false });
        t.on('error', () => undefined);
        await sleep(20);
        t.destroy();
      }
      ftp.destroy();
    }
    expect((await RawFtp.download(ftpd!.port, 'PROGRAM')).equals(tree.files.PROGRAM)).to.equal(true);
    if (canCountSockets()) expect(await waitForSockets(() => controlSockets(ftpd!.port), 0), 'server control sockets left open').to.equal(0);
  });
});
