// Plain ftp-srv 4.6.3 (the library firmdrop used to wrap, started as bench/ftp-srv-server.ts starts it) next to
// firmdrop, on the same files: what ftp-srv gets wrong and firmdrop gets right. A command split across TCP
// segments, a symlink leading out of the root, and the Nagle delay (TCP_NODELAY): measured and printed only.
import { expect } from 'chai';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeRoot, MANIFEST, PASS, startServer, USER, type TestRoot, type TestServer } from './support/ftp-fixtures.ts';
import { startPlainFtp, type PlainFtp } from './support/plain-ftp-server.ts';
import { sleep } from './support/wait.ts';

/** A raw control connection that records each chunk the server sends (one chunk ≈ one TCP segment on loopback). */
class Wire {
  chunks: string[] = [];
  #text = '';
  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d.toString('latin1'));
      this.#text += d.toString('latin1');
    });
  }

  static async open(port: number): Promise<Wire> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const w = new Wire(socket);
    await w.until(/^220 /m);
    return w;
  }

  /** Waits (bounded) until the received text matches `re` after what was consumed; returns the new text. */
  async until(re: RegExp, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (!re.test(this.#text) && Date.now() < end) await sleep(2);
    const got = this.#text;
    this.#text = '';
    return got;
  }

  async login(user: string, pass: string): Promise<void> {
    this.socket.write(`USER ${user}\r\n`);
    await this.until(/^331 /m);
    this.socket.write(`PASS ${pass}\r\n`);
    const r = await this.until(/^2\d\d /m);
    if (!/^230 /m.test(r)) throw new Error(`login: ${r}`);
  }
}

describe('plain ftp-srv next to firmdrop: faults firmdrop fixes', function () {
  let t: TestRoot;
  let firmdrop: TestServer;
  let plain: PlainFtp;
  let outside: string;
  const wires: Wire[] = [];
  before(async () => {
    t = await makeRoot();
    firmdrop = await startServer(t.root);
    plain = await startPlainFtp({ 'UPGRADE.TXT': MANIFEST });
    outside = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-outside-'));
    await fs.writeFile(path.join(outside, 'secret.txt'), 'TOP SECRET outside the root\n');
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(plain.root, 'LINKOUT'));
  });
  afterEach(() => {
    for (const w of wires.splice(0)) w.socket.destroy();
  });
  after(async () => {
    await firmdrop?.close(500);
    await plain?.close();
    await t?.cleanup();
    if (outside) await fs.rm(outside, { recursive: true, force: true });
  });
  async function open(port: number): Promise<Wire> {
    const w = await Wire.open(port);
    wires.push(w);
    await w.login(USER, PASS);
    return w;
  }

  it('a command split across TCP segments (`SI` + `ZE UPGRADE.TXT`): ftp-srv answers two errors, firmdrop the size', async () => {
    for (const [name, port, good] of [['ftp-srv', plain.port, false], ['firmdrop', firmdrop.port, true]] as const) {
      const w = await open(port);
      w.socket.write('SI');
      await sleep(50); // ordering: the first piece is its own segment
      w.socket.write('ZE UPGRADE.TXT\r\n');
      w.socket.write('NOOP\r\n');
      const text = await w.until(/^200 /m);
      const codes = text.split('\r\n').filter(Boolean).map((l) => Number(l.slice(0, 3)));
      if (good) expect(codes, `${name}: ${text}`).to.deep.equal([213, 200]);
      else expect(codes, `${name}: ${text}`).to.not.include(213);
    }
  });

  it('a symlink out of the root: ftp-srv gives its size, firmdrop answers 550', async () => {
    const p = await open(plain.port);
    p.socket.write('SIZE LINKOUT\r\n');
    expect(await p.until(/^\d{3} /m), 'ftp-srv follows the link out of its root').to.match(/^213 28\r\n/);
    const f = await open(firmdrop.port);
    f.socket.write('SIZE LINKOUT\r\n');
    expect(await f.until(/^\d{3} /m)).to.match(/^550 /);
    f.socket.write('SIZE DIROUT/secret.txt\r\n');
    expect(await f.until(/^\d{3} /m)).to.match(/^550 /);
  });

  it('replies leave in one segment each (one write per reply, TCP_NODELAY); the Nagle delay is printed, not asserted', async () => {
    const f = await open(firmdrop.port);
    f.chunks = [];
    f.socket.write('FEAT\r\n');
    const feat = await f.until(/^211 End\r\n/m);
    expect(f.chunks, 'FEAT (a 10-line reply) arrives as one segment').to.deep.equal([feat]);
    const p = await open(plain.port);
    p.chunks = [];
    p.socket.write('FEAT\r\n');
    await p.until(/^211 /m);
    const featSegments = { 'ftp-srv': p.chunks.length, firmdrop: f.chunks.length };
    // Two pipelined commands answered by two writes: with Nagle the second waits for the ACK of the first.
    const timing: Record<string, number> = {};
    for (const [name, w] of [['ftp-srv', p], ['firmdrop', f]] as const) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 20; i++) {
        w.socket.write('NOOP\r\nNOOP\r\n');
        await w.until(/^200 [^\n]*\n200 [^\n]*\n/m);
      }
      timing[name] = Number(process.hrtime.bigint() - start) / 1e6;
    }
    console.log(`      FEAT segments: ftp-srv ${featSegments['ftp-srv']}, firmdrop ${featSegments.firmdrop}; ` +
      `20 pipelined NOOP pairs: ftp-srv ${timing['ftp-srv']!.toFixed(1)} ms, firmdrop ${timing.firmdrop!.toFixed(1)} ms`);
  });
});
