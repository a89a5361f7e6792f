/**
 * FTPS, explicit AUTH TLS (RFC 4217 §4; PBSZ 0 / PROT P, §8, §9) with a certificate configured, against real
 * clients: basic-ftp (`secure: true`), curl (`--ssl-reqd`), Python ftplib FTP_TLS, and a raw TLS control connection
 * for commands split across TLS records (RFC 959 §4.1: a command ends at its CRLF) and ABOR during a RETR (RFC 959
 * §4.1.3). Active mode over TLS is refused at once; cleartext or garbage instead of a handshake closes only that
 * connection; a TLS session frees its connection slot; plain FTP keeps working next to FTPS. The self-signed
 * certificate is made with openssl in a temp folder; the spec is skipped only when openssl is absent (the curl and
 * Python cases also when curl or python3 is). Configuration and no certificate: tests/ftp/tls-config.spec.ts.
 */
import { expect } from 'chai';
import { Client, enterPassiveModeIPv4 } from 'basic-ftp';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { loadTls, type LoadedTls } from '../../server/tls.ts';
import {
  collector, connectClient, MANIFEST, PASS, startServer, USER, useServer, type TestRoot, type TestServer,
} from '../support/ftp-fixtures.ts';
import { RawFtp } from '../support/raw-ftp.ts';
import { has, makeCert, run, secureAccess } from '../support/tls-cert.ts';
import { sleep } from '../support/wait.ts';

const HAS_OPENSSL = has('openssl', 'version');
const HAS_CURL = has('curl', '--version');

/**
 * A control connection upgraded with AUTH TLS by hand: writes go out as separate TLS records (one `write()` each),
 * so a command can be split wherever the test wants. Replies are read from the decrypted transcript.
 */
class TlsControl {
  transcript = '';
  #seen = 0;
  private constructor(readonly socket: tls.TLSSocket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => (this.transcript += d.toString('latin1')));
    socket.on('error', () => undefined);
  }

  /** Connects, reads 220, sends AUTH TLS, expects 234, and does the TLS handshake on the same socket. */
  static async open(port: number): Promise<TlsControl> {
    const raw = await RawFtp.connect(port);
    const r = await raw.cmd('AUTH TLS');
    if (r.code !== 234) throw new Error(`AUTH TLS: ${r.text}`);
    raw.socket.removeAllListeners('data');
    const socket = tls.connect({ socket: raw.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return new TlsControl(socket);
  }

  /** The next complete reply (`ddd text` line) after the last one read; rejects after `timeoutMs`. */
  async reply(timeoutMs = 5000): Promise<{ code: number; text: string }> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.transcript.slice(this.#seen));
      if (m) {
        const text = this.transcript.slice(this.#seen, this.#seen + m.index + m[0].length);
        this.#seen += m.index + m[0].length;
        return { code: Number(m[1]), text };
      }
      if (Date.now() > until || this.socket.destroyed) throw new Error(`no reply; transcript: ${this.transcript}`);
      await sleep(5);
    }
  }

  /** Sends `pieces` as separate TLS records with a pause between them, then reads the reply. */
  async sendSplit(pieces: string[]): Promise<{ code: number; text: string }> {
    for (const p of pieces) {
      this.socket.write(p);
      await sleep(15);
    }
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('tls: explicit AUTH TLS with a certificate configured', function () {
  const fx = useServer({ server: false });
  const { track } = fx;
  let dir: string;
  let t: TestRoot;
  let srv: TestServer;
  let loaded: LoadedTls;

  before(async function () {
    if (!HAS_OPENSSL) this.skip();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-ftps-'));
    const { cert, key } = await makeCert(dir);
    loaded = await loadTls({ certFile: cert, keyFile: key });
    t = fx.t;
    srv = await startServer(t.root, { tls: loaded.options });
  });
  after(async () => {
    await srv?.close(500);
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('loads the certificate: subject and validity', () => {
    expect(loaded.subject).to.equal('CN=127.0.0.1');
    expect(loaded.validTo.getTime()).to.be.greaterThan(Date.now());
  });

  it('FEAT lists AUTH TLS, PBSZ and PROT next to the usual features', async () => {
    const raw = await RawFtp.connect(srv.port);
    track({ close: () => raw.socket.destroy() });
    const feat = await raw.cmd('FEAT');
    expect(feat.code).to.equal(211);
    for (const f of ['AUTH TLS', 'PBSZ', 'PROT', 'EPSV', 'SIZE', 'REST STREAM']) expect(feat.text).to.include(`\r\n ${f}\r\n`);
  });

  it('basic-ftp (secure, PROT P) downloads UPGRADE.TXT and the binary byte-exact over TLS control and data, EPSV and PASV', async () => {
    for (const pasv of [false, true]) {
      const client = new Client(10_000);
      track(client);
      await secureAccess(client, srv.port);
      if (pasv) client.prepareTransfer = enterPassiveModeIPv4;
      expect(client.ftp.socket).to.be.instanceOf(tls.TLSSocket);
      expect((client.ftp.socket as tls.TLSSocket).encrypted).to.equal(true);
      expect(await client.size('ABCDEFG')).to.equal(t.binary.length);
      // which protocol carried the data: recorded from basic-ftp's data socket as the first bytes arrive
      const dataProtocols: (string | null)[] = [];
      const sink = (): Writable & { data(): Buffer } => {
        const c = collector();
        const write = c._write.bind(c);
        let first = true;
        c._write = (chunk, enc, done) => {
          if (first) {
            const ds = client.ftp.dataSocket;
            dataProtocols.push(ds instanceof tls.TLSSocket ? ds.getProtocol() : null);
            first = false;
          }
          write(chunk, enc, done);
        };
        return c;
      };
      const manifest = sink();
      await client.downloadTo(manifest, 'UPGRADE.TXT');
      expect(manifest.data().toString('latin1')).to.equal(MANIFEST);
      const binary = sink();
      await client.downloadTo(binary, 'ABCDEFG');
      expect(binary.data().equals(t.binary), 'binary byte-exact').to.equal(true);
      expect(dataProtocols).to.have.length(2);
      for (const p of dataProtocols) expect(p, 'data connection is TLS').to.match(/^TLSv1\.[23]$/);
      client.close();
    }
    const ends = srv.logs.filter((l) => l.event === 'fetch-end' && l.file === '/ABCDEFG');
    expect(ends.length).to.be.at.least(2);
    for (const e of ends) expect(e).to.include({ outcome: 'completed', bytes: t.binary.length });
  });

  it('curl --ssl-reqd (explicit TLS on ftp://) downloads byte-exact over EPSV and PASV; active mode is refused at once', async function () {
    if (!HAS_CURL) this.skip();
    const url = `ftp://${USER}:${PASS}@127.0.0.1:${srv.port}`;
    const m = await run('curl', ['-sS', '-v', '--ssl-reqd', '-k', `${url}/UPGRADE.TXT`]);
    expect(m.code, m.stderr).to.equal(0);
    expect(m.stdout.toString('latin1')).to.equal(MANIFEST);
    expect(m.stderr).to.match(/AUTH TLS/).and.match(/PROT P/).and.match(/< 200/);
    for (const [extra, command] of [[[], 'EPSV'], [['--disable-epsv'], 'PASV']] as const) {
      const r = await run('curl', ['-sS', '-v', '--ssl-reqd', '-k', ...extra, `${url}/ABCDEFG`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.equals(t.binary), `byte-exact over ${command}`).to.equal(true);
      expect(r.stderr).to.include(`> ${command}`);
    }
    // Active mode is refused over TLS at once (502), not left to hang: curl gives up quickly, not on its timeout.
    const active = await run('curl', ['-sS', '-v', '--max-time', '15', '--ssl-reqd', '-k', '--ftp-port', '127.0.0.1', `${url}/ABCDEFG`]);
    expect(active.code, active.stderr).to.not.equal(0);
    expect(active.code, 'curl timed out').to.not.equal(28);
    expect(active.stderr).to.match(/< 502 Active mode is not available over TLS/);
  });

  it('Python ftplib FTP_TLS (login, prot_p, retrbinary) downloads byte-exact', async function () {
    if (!has('python3', '--version')) this.skip();
    const py = [
      'import ftplib, ssl, sys',
      'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
      'f = ftplib.FTP_TLS(context=ctx, timeout=10)',
      `f.connect('127.0.0.1', ${srv.port}); f.login('${USER}', '${PASS}'); f.prot_p()`,
      "buf = bytearray(); f.retrbinary('RETR ABCDEFG', buf.extend)",
      'sys.stdout.buffer.write(buf); f.quit()',
    ].join('\n');
    const r = await run('python3', ['-c', py]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.equals(t.binary), 'byte-exact').to.equal(true);
  });

  it('reads commands split across TLS records (the line buffer follows the control socket to TLS)', async () => {
    const c = await TlsControl.open(srv.port);
    track(c);
    expect((await c.sendSplit(['US', 'ER ', `${USER}\r`, '\n'])).code).to.equal(331);
    expect((await c.sendSplit(`PASS ${PASS}\r\n`.split(''))).code).to.equal(230); // one byte per record
    const size = await c.sendSplit(['SI', 'ZE ABC', 'DEFG\r\n']);
    expect(size.text).to.equal(`213 ${t.binary.length}\r\n`);
    // two commands in one record, then a NOOP split: answered in order
    c.socket.write('TYPE I\r\nMDTM UPGR');
    await sleep(15);
    c.socket.write('ADE.TXT\r\n');
    expect((await c.reply()).code).to.equal(200);
    expect((await c.reply()).code).to.equal(213);
    expect((await c.sendSplit(['QU', 'IT\r\n'])).code).to.equal(221);
  });

  it('ABOR over TLS during a RETR stops the transfer and the session carries on (the TLS control socket keeps reading)', async () => {
    const big = 16 * 1024 * 1024;
    await fs.writeFile(path.join(t.root, 'BIGFILE'), Buffer.alloc(big, 0x5a));
    const c = await TlsControl.open(srv.port);
    track(c);
    for (const [cmd, code] of [[`USER ${USER}`, 331], [`PASS ${PASS}`, 230], ['PBSZ 0', 200], ['PROT P', 200], ['TYPE I', 200]] as const) {
      expect((await c.sendSplit([`${cmd}\r\n`])).code, cmd).to.equal(code);
    }
    const epsv = await c.sendSplit(['EPSV\r\n']);
    const port = Number(/\|\|\|(\d+)\|/.exec(epsv.text)?.[1]);
    const data = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    track({ close: () => data.destroy() });
    data.on('error', () => undefined);
    let received = 0;
    const first = new Promise<void>((resolve) => data.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= 64 * 1024) {
        data.pause(); // the device stops reading; the server blocks on a full socket
        resolve();
      }
    }));
    expect((await c.sendSplit(['RETR BIGFILE\r\n'])).code).to.equal(150);
    await first;
    const abor = await c.sendSplit(['ABOR\r\n']);
    expect([225, 226, 426]).to.include(abor.code);
    data.resume();
    await sleep(200); // whatever was in flight arrives; the server destroyed its end at ABOR
    expect(received, 'the whole file was sent despite ABOR').to.be.below(big);
    for (;;) {
      const r = await c.sendSplit(['NOOP\r\n']);
      if (r.code === 200) break;
      expect([226, 426]).to.include(r.code); // the rest of the ABOR exchange, then NOOP's 200
    }
  });

  it('a client that sends cleartext or garbage instead of a TLS handshake after 234 is closed; others are served', async () => {
    for (const junk of ['USER ota\r\n', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0, 0, 0, 0])]) {
      const raw = await RawFtp.connect(srv.port);
      track({ close: () => raw.socket.destroy() });
      expect((await raw.cmd('AUTH TLS')).code).to.equal(234);
      raw.write(junk);
      await raw.waitClosed(5000);
    }
    const client = new Client(10_000);
    track(client);
    await secureAccess(client, srv.port);
    expect(await client.size('UPGRADE.TXT')).to.equal(MANIFEST.length);
  });

  it('counts a TLS session as gone once it ends (QUIT, or the client vanishing after the handshake)', async () => {
    const before = srv.ftp.stats().activeSessions;
    const quitter = await TlsControl.open(srv.port);
    const vanisher = await TlsControl.open(srv.port);
    expect((await quitter.sendSplit(['NOOP\r\n'])).code).to.equal(200);
    expect((await vanisher.sendSplit(['NOOP\r\n'])).code).to.equal(200);
    expect(srv.ftp.stats().activeSessions).to.equal(before + 2);
    expect((await quitter.sendSplit(['QUIT\r\n'])).code).to.equal(221);
    vanisher.close();
    const until = Date.now() + 5000;
    while (srv.ftp.stats().activeSessions > before && Date.now() < until) await sleep(10);
    expect(srv.ftp.stats().activeSessions).to.equal(before);
    quitter.close();
  });

  it('still serves plain FTP to devices that do not send AUTH TLS', async () => {
    const client = await connectClient(srv.port);
    track(client);
    expect(client.ftp.socket).not.to.be.instanceOf(tls.TLSSocket);
    const w = collector();
    await client.downloadTo(w, 'ABCDEFG');
    expect(w.data().equals(t.binary)).to.equal(true);
  });

  it('a TLS session frees its connection slot, and close() ends an idle TLS session with 421', async () => {
    const one = await startServer(t.root, { tls: loaded.options, maxConnections: 1 });
    try {
      const a = new Client(10_000);
      await secureAccess(a, one.port);
      const w = collector();
      await a.downloadTo(w, 'UPGRADE.TXT');
      a.close();
      // the slot comes back when the TLS session ends (the gate counts the plain socket's close)
      let b: Client | undefined;
      for (let i = 0; i < 50 && !b; i++) {
        const c = new Client(10_000);
        try {
          await c.access({ host: '127.0.0.1', port: one.port, user: USER, password: PASS });
          b = c;
        } catch {
          c.close();
          await sleep(20);
        }
      }
      expect(b, 'a new session after the TLS one ended').to.not.equal(undefined);
      b!.close();
      await sleep(50);
      const idle = await TlsControl.open(one.port);
      expect((await idle.sendSplit([`USER ${USER}\r\n`])).code).to.equal(331);
      const closed = new Promise<void>((resolve) => idle.socket.once('close', () => resolve()));
      await one.close(1000);
      await closed;
      expect(idle.transcript).to.match(/^421 /m);
    } finally {
      await one.close(500);
    }
  });
});
