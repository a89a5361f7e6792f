/**
 * Shared helpers for the FTP specs: a temp OTA root with a catalogue folder and hostile symlinks, a server on an
 * ephemeral loopback port with its log captured, basic-ftp clients, and a raw control-connection client that
 * records every byte the server sends.
 */
import { Client } from 'basic-ftp';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startFtp, type FtpHandle, type FtpOptions } from '../../server/ftp/server.ts';
import { createLogger } from '../../server/log.ts';

export const USER = 'ota';
export const PASS = 'libelium';
export const MANIFEST = 'FILE:ABCDEFG\nPATH:/\nSIZE:204800\nVERSION:3\n';

/** A temp root and an outside folder; `cleanup()` removes both. */
export interface TestRoot {
  root: string;
  outside: string;
  binary: Buffer;
  secret: Buffer;
  cleanup(): Promise<void>;
}

/**
 * Builds: UPGRADE.TXT, ABCDEFG (200 KiB random), ota/NESTED1, .firmdrop/releases.json, .UPGRADE.TXT.tmp,
 * LINKIN → ABCDEFG (inside), LINKOUT → outside/secret.txt, DIROUT → outside/, LINKHID → .firmdrop/releases.json.
 */
export async function makeRoot(): Promise<TestRoot> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-root-'));
  const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-outside-'));
  const binary = randomBytes(200 * 1024);
  const secret = Buffer.from('TOP SECRET outside the root\n');
  await fs.writeFile(path.join(root, 'UPGRADE.TXT'), MANIFEST);
  await fs.writeFile(path.join(root, 'ABCDEFG'), binary);
  await fs.mkdir(path.join(root, 'ota'));
  await fs.writeFile(path.join(root, 'ota', 'NESTED1'), 'nested');
  await fs.mkdir(path.join(root, '.firmdrop'));
  await fs.writeFile(path.join(root, '.firmdrop', 'releases.json'), '{"releases":[]}');
  await fs.writeFile(path.join(root, '.UPGRADE.TXT.tmp'), 'partial');
  await fs.writeFile(path.join(outside, 'secret.txt'), secret);
  await fs.symlink(path.join(root, 'ABCDEFG'), path.join(root, 'LINKIN'));
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(root, 'LINKOUT'));
  await fs.symlink(outside, path.join(root, 'DIROUT'));
  await fs.symlink(path.join(root, '.firmdrop', 'releases.json'), path.join(root, 'LINKHID'));
  return {
    root,
    outside,
    binary,
    secret,
    async cleanup() {
      await fs.rm(root, { recursive: true, force: true });
      await fs.rm(outside, { recursive: true, force: true });
    },
  };
}

/** A listing of every entry under `dir` (lstat type, size, content hash-free) to prove nothing changed. */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string) {
    for (const name of (await fs.readdir(d)).sort()) {
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      const r = `${rel}/${name}`;
      if (st.isSymbolicLink()) out.push(`${r} -> ${await fs.readlink(p)}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        await walk(p, r);
      } else out.push(`${r} ${st.size} ${(await fs.readFile(p)).toString('base64').slice(0, 64)}`);
    }
  }
  await walk(dir, '');
  return out;
}

/** A running server plus its captured JSON log lines. */
export interface TestServer {
  ftp: FtpHandle;
  port: number;
  logs: Record<string, unknown>[];
  close(deadlineMs?: number): Promise<void>;
}

/** Starts startFtp() on 127.0.0.1:0 with `ota`/`libelium`; log lines are parsed into `logs`. */
export async function startServer(root: string, extra: Partial<FtpOptions> = {}): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  let pending = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim()) logs.push(JSON.parse(line));
      }
      done();
    },
  });
  const logger = createLogger({ level: 'debug', pretty: false, destination });
  const ftp = await startFtp({ root, host: '127.0.0.1', port: 0, users: [{ user: USER, pass: PASS }], ...extra }, logger);
  return { ftp, port: ftp.port, logs, close: (d?: number) => ftp.close(d ?? 2000) };
}

/** A logged-in basic-ftp client. */
export async function connectClient(port: number, user = USER, password = PASS): Promise<Client> {
  const client = new Client(10_000);
  await client.access({ host: '127.0.0.1', port, user, password });
  return client;
}

/** A Writable that collects everything written to it. */
export function collector(): Writable & { data(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  }) as Writable & { data(): Buffer };
  w.data = () => Buffer.concat(chunks);
  return w;
}

/** One FTP reply: code and full text (all lines of a multi-line reply). */
export interface Reply {
  code: number;
  text: string;
}

/**
 * A raw control connection: write any bytes, read replies one at a time (multi-line aware), and keep a
 * transcript of everything the server sent.
 */
export class RawFtp {
  readonly socket: net.Socket;
  transcript = '';
  closed = false;
  #buffer = '';
  #replies: Reply[] = [];
  #waiters: Array<(r: Reply | undefined) => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      const s = d.toString('latin1');
      this.transcript += s;
      this.#buffer += s;
      this.#parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    });
  }

  /** Connects and (unless `greeting` is false) reads the 220 greeting. */
  static async connect(port: number, opts: { greeting?: boolean } = {}): Promise<RawFtp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawFtp(socket);
    if (opts.greeting !== false) await raw.reply();
    return raw;
  }

  /** Connects and logs in with USER/PASS. */
  static async login(port: number, user = USER, pass = PASS): Promise<RawFtp> {
    const raw = await RawFtp.connect(port);
    await raw.cmd(`USER ${user}`);
    const r = await raw.cmd(`PASS ${pass}`);
    if (r.code !== 230) throw new Error(`login failed: ${r.code} ${r.text}`);
    return raw;
  }

  #parse(): void {
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r?\n/m.exec(this.#buffer);
      if (!m) return;
      // a reply ends at the first "ddd " line; everything before it belongs to the same reply
      const end = m.index + m[0].length;
      const text = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end);
      const reply = { code: Number(m[1]), text };
      const w = this.#waiters.shift();
      if (w) w(reply);
      else this.#replies.push(reply);
    }
  }

  /** The next reply; rejects when the connection closes first or after `timeoutMs`. */
  reply(timeoutMs = 10_000): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no reply within ${timeoutMs} ms; transcript: ${this.transcript}`));
      }, timeoutMs);
      const waiter = (r: Reply | undefined) => {
        clearTimeout(timer);
        if (r) resolve(r);
        else reject(new Error('connection closed'));
      };
      this.#waiters.push(waiter);
    });
  }

  /** Writes raw bytes. */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves when the server has closed the connection. */
  waitClosed(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('still open')), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * PASV, connect the data socket, send `command`, collect the data until the server closes it, read the final
   * reply. Returns the data and both replies (preliminary and final).
   */
  async pasvTransfer(command: string): Promise<{ data: Buffer; first: Reply; last?: Reply }> {
    let data: net.Socket;
    try {
      data = await this.pasvData();
    } catch (err) {
      return { data: Buffer.alloc(0), first: (err as Error & { reply: Reply }).reply };
    }
    const chunks: Buffer[] = [];
    data.on('data', (d: Buffer) => chunks.push(d));
    const dataDone = new Promise<void>((resolve) => data.once('close', () => resolve()));
    const first = await this.cmd(command);
    if (first.code >= 300) {
      data.destroy();
      return { data: Buffer.alloc(0), first };
    }
    await dataDone;
    const last = await this.reply();
    return { data: Buffer.concat(chunks), first, last };
  }

  /**
   * Sends PASV and returns the connected data socket (errors ignored). Rejects with an Error carrying `reply`
   * when the server does not answer 227.
   */
  async pasvData(): Promise<net.Socket> {
    const pasv = await this.cmd('PASV');
    const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv.text);
    if (pasv.code !== 227 || !m) throw Object.assign(new Error(`PASV: ${pasv.text}`), { reply: pasv });
    const data = net.connect(Number(m[5]) * 256 + Number(m[6]), `${m[1]}.${m[2]}.${m[3]}.${m[4]}`);
    data.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      data.once('connect', () => resolve());
      data.once('error', reject);
    });
    return data;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Two consecutive free TCP ports on 127.0.0.1 (for a passive range). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all([base, base + 1].map((p) => canListen(p)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free port pair found');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
