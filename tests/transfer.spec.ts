/**
 * server/transfer.ts sendBytes() on real loopback sockets: a buffer source and an fd source arrive byte-exact
 * from any offset (progress counted per chunk), an offset at the end sends nothing and completes, a file shorter
 * than its size fails as a local error (451) instead of sending fewer bytes than announced, a peer that closes
 * early and destroy() (ABOR) fail as connection errors (426), and a slow reader is served with back-pressure.
 */
import { expect } from 'chai';
import { openSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sendBytes, TransferError, CHUNK_BYTES } from '../server/ftp/transfer.ts';

/** A connected pair of loopback sockets: `server` sends, `client` receives. */
async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  server.on('error', () => undefined);
  client.on('error', () => undefined);
  return { server, client, close: () => { server.destroy(); client.destroy(); } };
}

/** Everything the client receives until the server side ends. */
function receive(client: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => client.once('close', () => resolve(Buffer.concat(chunks))));
}

describe('transfer: sendBytes', function () {
  this.timeout(20_000);
  const bytes = Buffer.from(Array.from({ length: 3 * CHUNK_BYTES + 1234 }, (_, i) => (i * 31 + 7) & 0xff));
  let dir: string;
  let file: string;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-transfer-'));
    file = path.join(dir, 'FIRMWAR');
    await fsp.writeFile(file, bytes);
  });
  after(() => fsp.rm(dir, { recursive: true, force: true }));

  for (const kind of ['buffer', 'fd'] as const) {
    for (const offset of [0, 1, CHUNK_BYTES, bytes.length - 1]) {
      it(`${kind} source from offset ${offset} arrives byte-exact, progress summed`, async () => {
        const p = await socketPair();
        try {
          const got = receive(p.client);
          let counted = 0;
          const src = kind === 'buffer' ? { buffer: bytes, offset, size: bytes.length } : { fd: openSync(file, 'r'), offset, size: bytes.length };
          const t = sendBytes(p.server, src, (n) => { counted += n; });
          await t.done;
          p.server.end();
          expect((await got).equals(bytes.subarray(offset))).to.equal(true);
          expect(counted).to.equal(bytes.length - offset);
        } finally {
          p.close();
        }
      });
    }
  }

  it('an offset at the end sends nothing and completes', async () => {
    const p = await socketPair();
    try {
      const got = receive(p.client);
      await sendBytes(p.server, { buffer: bytes, offset: bytes.length + 10, size: bytes.length }, () => undefined).done;
      p.server.end();
      expect((await got).length).to.equal(0);
    } finally {
      p.close();
    }
  });

  it('a file shorter than its announced size fails as a local error', async () => {
    const short = path.join(dir, 'SHORTFW');
    await fsp.writeFile(short, bytes.subarray(0, 1000));
    const p = await socketPair();
    try {
      const t = sendBytes(p.server, { fd: openSync(short, 'r'), offset: 0, size: bytes.length }, () => undefined);
      const err = await t.done.then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(TransferError);
      expect((err as TransferError).local).to.equal(true);
    } finally {
      p.close();
    }
  });

  it('a peer that closes mid-transfer and destroy() (ABOR) fail as connection errors', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024);
    const p = await socketPair();
    try {
      p.client.pause(); // never read: the transfer waits on back-pressure
      const t = sendBytes(p.server, { buffer: big, offset: 0, size: big.length }, () => undefined);
      setTimeout(() => p.client.destroy(), 50);
      const err = (await t.done.then(() => undefined, (e: unknown) => e)) as TransferError;
      expect(err).to.be.instanceOf(TransferError);
      expect(err.local).to.equal(false);
      expect(err.message).to.match(/Data connection/);
    } finally {
      p.close();
    }
    const q = await socketPair();
    try {
      q.client.pause();
      const t = sendBytes(q.server, { buffer: big, offset: 0, size: big.length }, () => undefined);
      t.destroy(new Error('Transfer aborted'));
      const err = (await t.done.then(() => undefined, (e: unknown) => e)) as TransferError;
      expect(err.message).to.equal('Transfer aborted');
      expect(err.local).to.equal(false);
      t.destroy(); // harmless after the end
    } finally {
      q.close();
    }
  });

  it('holds at most a few chunks queued while a slow reader drains (back-pressure)', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 1);
    const p = await socketPair();
    try {
      p.client.pause();
      let sent = 0;
      const t = sendBytes(p.server, { buffer: big, offset: 0, size: big.length }, (n) => { sent += n; });
      await new Promise((r) => setTimeout(r, 200));
      // only what the kernel's socket buffers took, plus one chunk waiting in the socket: far less than 16 MiB
      expect(p.server.writableLength).to.be.at.most(2 * CHUNK_BYTES);
      expect(sent).to.be.below(big.length);
      let received = 0;
      p.client.on('data', (c: Buffer) => { received += c.length; });
      p.client.resume();
      await t.done;
      p.server.end();
      await new Promise((r) => p.client.once('end', r));
      expect(received).to.equal(big.length);
    } finally {
      p.close();
    }
  });
});
