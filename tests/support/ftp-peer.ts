/**
 * A real firmdrop FTP server (server/ftp.ts `startFtp`) on 127.0.0.1 (ephemeral port) over a temporary
 * root, reached through the project's fault proxy (client-sim/net/fault-proxy.ts), for the modem
 * emulator specs. Tests only: client-sim code never imports server/.
 *
 * Fault hooks (set before the operation; they apply to data connections opened afterwards):
 * - `stallAfterBytes`: the proxy forwards that many bytes of a data connection, then nothing (forever).
 * - `cutAfterBytes`: the proxy forwards that many bytes, then resets both sides (ECONNRESET / aborted).
 * - `truncateAfterBytes`: the proxy forwards that many bytes, then closes toward the modem with a FIN and
 *   discards the rest, so the server believes it sent everything and replies 226 (a cellular download's lost tail: the last bytes never reach the device).
 * `stop()` closes the server at once (in-flight transfers dropped), `close()` also removes the root.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { startFtp } from '../../server/ftp/server.ts';
import { startFaultProxy, type Fault } from '../../client-sim/net/fault-proxy.ts';

/** Fault settings; assigning one re-arms the proxy for new connections. */
export interface PeerFaults { stallAfterBytes?: number; cutAfterBytes?: number; truncateAfterBytes?: number }

/** A running test FTP server behind a fault proxy. */
export interface FtpPeer {
  /** Address the modem connects to (the proxy). */
  host: string;
  port: number;
  /** The server's own port (no proxy). */
  directPort: number;
  root: string;
  user: string;
  pass: string;
  /** Mutable fault settings for subsequent data connections. */
  faults: PeerFaults;
  /** Stop the server at once (drops live connections); the proxy stays up. Idempotent. */
  stop(): Promise<void>;
  /** Stop server and proxy and remove the root. Idempotent. */
  close(): Promise<void>;
}

function toFaults(f: PeerFaults): Fault[] {
  const out: Fault[] = [];
  if (f.stallAfterBytes !== undefined) out.push({ kind: 'stall', on: 'data', direction: 'down', afterBytes: f.stallAfterBytes });
  if (f.cutAfterBytes !== undefined) out.push({ kind: 'cut', on: 'data', direction: 'down', afterBytes: f.cutAfterBytes, mode: 'reset' });
  if (f.truncateAfterBytes !== undefined) out.push({ kind: 'cut', on: 'data', direction: 'down', afterBytes: f.truncateAfterBytes, mode: 'fin' });
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
  const ftp = await startFtp({ root, host: '127.0.0.1', port: 0, users: [{ user, pass }] }, pino({ level: 'silent' }));
  const proxy = await startFaultProxy({ target: { host: ftp.host, port: ftp.port } });
  const state: PeerFaults = {};
  const faults = new Proxy(state, {
    set(t, k, v) {
      (t as Record<string | symbol, unknown>)[k] = v;
      proxy.setFaults(toFaults(t));
      return true;
    },
  });
  let stopped = false;
  let closed = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await ftp.close(0);
  };
  return {
    host: proxy.host, port: proxy.port, directPort: ftp.port, root, user, pass, faults, stop,
    async close() {
      if (closed) return;
      closed = true;
      await stop();
      await proxy.close();
      await rm(root, { recursive: true, force: true });
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
