/**
 * A real FTP server on 127.0.0.1 (ephemeral port) over a temporary root, for the modem emulator specs.
 *
 * Until the project's own `startFtp` (server/ftp.ts) lands, this uses ftp-srv's `FtpSrv` directly with a
 * read-only file system (every write command is refused). Fault hooks for the tests, applied to the
 * next file reads (RETR): `stallAfterBytes` (send that many bytes, then nothing, never end — a stalled
 * data connection) and `cutAfterBytes` (send that many bytes, then fail the stream: ftp-srv destroys
 * the data connection and replies 551) and `truncateAfterBytes` (end the stream early: the server
 * replies 226 after a short transfer, as when a proxy drops the tail). `close()` stops the server and drops every connection
 * (ftp-srv drops in-flight transfers). Tests only; client-sim code never imports this.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { createServer, type AddressInfo } from 'node:net';
import { FtpSrv, FileSystem } from 'ftp-srv';

/** A running test FTP server. */
export interface FtpPeer {
  host: string;
  port: number;
  root: string;
  user: string;
  pass: string;
  /** Mutable fault settings for subsequent RETRs. */
  faults: { stallAfterBytes?: number; cutAfterBytes?: number; truncateAfterBytes?: number };
  /** Stop the server (drops live connections) and remove the root. Idempotent. */
  close(): Promise<void>;
  /** Stop the server but keep the root (e.g. to cut a transfer in the middle). */
  stop(): Promise<void>;
}

const quietLog = {
  child() { return quietLog; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

/** Wrap a file stream so it stalls or fails after `n` bytes. */
function faulty(src: Readable, n: number, mode: 'stall' | 'cut' | 'truncate'): Readable {
  let sent = 0;
  const out = new Readable({ read() { src.resume(); } });
  src.on('data', (chunk: Buffer) => {
    if (sent >= n) return;
    const take = chunk.subarray(0, Math.max(0, n - sent));
    sent += take.length;
    if (take.length) out.push(take);
    if (sent >= n) {
      src.destroy();
      if (mode === 'cut') setTimeout(() => out.destroy(new Error('fault injected: stream cut')), 20);
      if (mode === 'truncate') out.push(null);
      // 'stall': never push more, never end
    } else src.pause();
  });
  src.on('end', () => { if (sent < n) out.push(null); });
  src.on('error', (e) => out.destroy(e));
  return out;
}

/**
 * Start a server whose root holds `files` (relative path → content). Credentials default to dev/secret.
 */
export async function startFtpPeer(files: Record<string, Buffer | string>, opts: { user?: string; pass?: string } = {}): Promise<FtpPeer> {
  const root = await mkdtemp(join(tmpdir(), 'firmdrop-modem-'));
  for (const [rel, data] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
  }
  const user = opts.user ?? 'dev';
  const pass = opts.pass ?? 'secret';
  const faults: FtpPeer['faults'] = {};

  class ReadOnlyFs extends FileSystem {
    override read(fileName: string, o: { start?: number } = {}): any {
      const r = super.read(fileName, o) as unknown as Promise<{ stream: Readable; clientPath: string }>;
      return r.then(({ stream, clientPath }) => {
        if (faults.stallAfterBytes !== undefined) return { stream: faulty(stream, faults.stallAfterBytes, 'stall'), clientPath };
        if (faults.cutAfterBytes !== undefined) return { stream: faulty(stream, faults.cutAfterBytes, 'cut'), clientPath };
        if (faults.truncateAfterBytes !== undefined) return { stream: faulty(stream, faults.truncateAfterBytes, 'truncate'), clientPath };
        return { stream, clientPath };
      });
    }
    override write(): any { throw new Error('read-only'); }
    override delete(): any { throw new Error('read-only'); }
    override mkdir(): any { throw new Error('read-only'); }
    override rename(): any { throw new Error('read-only'); }
    override chmod(): any { throw new Error('read-only'); }
  }

  const before = new Map(['SIGINT', 'SIGTERM', 'SIGQUIT'].map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const srv = new FtpSrv({ url: 'ftp://127.0.0.1:0', pasv_url: '127.0.0.1', anonymous: false, greeting: 'firmdrop test peer', log: quietLog as never });
  for (const [sig, had] of before) {
    for (const l of process.listeners(sig as NodeJS.Signals)) if (!had.has(l)) process.removeListener(sig, l);
  }
  srv.on('login', ({ connection, username, password }: any, resolve: any, reject: any) => {
    if (username === user && password === pass) resolve({ fs: new ReadOnlyFs(connection, { root, cwd: '/' }) });
    else reject(new Error('bad credentials'));
  });
  srv.on('client-error', () => undefined);
  await srv.listen();
  const port = ((srv as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  let stopped = false;
  let removed = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await srv.close().catch(() => undefined);
  };
  return {
    host: '127.0.0.1', port, root, user, pass, faults, stop,
    async close() {
      await stop();
      if (!removed) { removed = true; await rm(root, { recursive: true, force: true }); }
    },
  };
}

/**
 * A deterministic binary of `size` bytes that contains AT-looking text an unframed parser would stop
 * at: `\r\nOK\r\n`, `+FTPGET: 1,0`, `#FTPRECV: 5`, `NO CARRIER`, `I/ONLINE`, `+CFTPGET: 0`, `I/ERROR (513)`.
 */
export function trickyBinary(size: number): Buffer {
  const traps = ['\r\nOK\r\n', '\r\n+FTPGET: 1,0\r\n', '\r\n#FTPRECV: 5\r\n', '\r\nNO CARRIER\r\n', '\r\nI/ONLINE\r\n',
    '\r\n+CFTPGET: 0\r\n', 'I/ERROR (513)\r\n', '\r\n+CME ERROR: 621\r\n', '\r\nERROR\r\n', '+FTPGET:1,0\r\n'];
  const b = Buffer.alloc(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  let pos = 3;
  for (let k = 0; pos < size; k++) {
    const t = Buffer.from(traps[k % traps.length]!, 'latin1');
    t.copy(b, pos, 0, Math.min(t.length, size - pos));
    pos += t.length + 97 + (k * 31) % 200;
  }
  return b;
}

/** A loopback TCP port that was free a moment ago and has nothing listening (connect → ECONNREFUSED). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}
