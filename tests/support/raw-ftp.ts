/**
 * The one raw FTP control-connection client of the specs, over `net.Socket`, for byte-level tests: it sends exactly
 * the bytes it is given (split anywhere, garbage included), parses the server's replies, multi-line replies included
 * (RFC 959 §4.2: `ddd-text` … `ddd text`), and keeps a transcript of every byte the server sent.
 *
 * Two ways to read a reply, on one queue: {@link RawFtp.send} / {@link RawFtp.read} give an {@link FtpReply}
 * (code, last line's text, every line); {@link RawFtp.cmd} / {@link RawFtp.reply} give a {@link Reply} whose `text` is
 * the whole reply as sent, CRLFs included (for assertions on the exact bytes). Not a general FTP client: use
 * basic-ftp for ordinary sessions.
 */
import net from 'node:net';
import { PASS, USER } from './ftp-account.ts';
import { within } from './wait.ts';

/**
 * One FTP reply: the 3-digit code, the text of the last line, every line (CR/LF stripped), and `raw`, the reply
 * exactly as received (every line, line ends included).
 */
export interface FtpReply { code: number; text: string; lines: string[]; raw: string }

/** The outcome of a command with a data connection: preliminary reply, final one (if it started) and the bytes. */
export interface DataResult { first: FtpReply; final?: FtpReply; data: Buffer }

/** One FTP reply as {@link RawFtp.cmd} and {@link RawFtp.reply} give it: the code and the whole reply as received. */
export interface Reply { code: number; text: string }

/** The address every spec server listens on (loopback IPv4): no test traffic leaves the machine. */
export const HOST = '127.0.0.1';

/** Error thrown by {@link RawFtp.read} when the server closed the connection before (another) full reply came. */
export class FtpClosedError extends Error {
  constructor(readonly partial: string) { super(`control connection closed${partial ? ` (partial: ${JSON.stringify(partial.slice(0, 80))})` : ''}`); }
}

/** Error thrown by {@link RawFtp.read} when no reply came within the wait bound (ms). */
export class FtpWaitError extends Error {
  constructor(readonly waitMs: number) { super(`no reply within ${waitMs} ms`); }
}

const DEFAULT_WAIT_MS = 10_000;

/**
 * Parse as many complete replies as `buf` holds. Lines end in LF (a preceding CR is dropped). A multi-line reply
 * starts with `ddd-` and ends at the first line starting with the same `ddd ` (RFC 959 §4.2); other lines in between
 * are kept as they are. A line that is not a reply start outside a multi-line reply becomes a reply with code 0, so
 * a test sees garbage from the server instead of silently skipping it.
 * @returns the replies and the unconsumed rest of `buf` (an incomplete line or multi-line reply)
 */
export function parseReplies(buf: string): { replies: FtpReply[]; rest: string } {
  const replies: FtpReply[] = [];
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf('\n', pos);
    if (nl < 0) break;
    const first = stripCr(buf.slice(pos, nl));
    const m = /^(\d{3})([ -])([\s\S]*)$/.exec(first);
    if (!m) { replies.push({ code: 0, text: first, lines: [first], raw: buf.slice(pos, nl + 1) }); pos = nl + 1; continue; }
    if (m[2] === ' ') { replies.push({ code: Number(m[1]), text: m[3], lines: [first], raw: buf.slice(pos, nl + 1) }); pos = nl + 1; continue; }
    // multi-line: look for the closing `ddd ` line
    const lines = [first];
    let p = nl + 1;
    let done: FtpReply | undefined;
    for (;;) {
      const n2 = buf.indexOf('\n', p);
      if (n2 < 0) break;
      const line = stripCr(buf.slice(p, n2));
      lines.push(line);
      p = n2 + 1;
      if (line.startsWith(`${m[1]} `)) { done = { code: Number(m[1]), text: line.slice(4), lines, raw: buf.slice(pos, p) }; break; }
    }
    if (!done) break;
    replies.push(done);
    pos = p;
  }
  return { replies, rest: buf.slice(pos) };
}

function stripCr(line: string): string { return line.endsWith('\r') ? line.slice(0, -1) : line; }

function whole(r: FtpReply): Reply { return { code: r.code, text: r.raw }; }

/** A raw FTP control connection. Replies are queued as they arrive; {@link read} takes them in order. */
export class RawFtp {
  readonly socket: net.Socket;
  /** Every reply received so far, in order (also those already taken by {@link read}). */
  readonly history: FtpReply[] = [];
  /** Every byte the server sent on this connection so far (latin1). */
  transcript = '';
  private queue: FtpReply[] = [];
  private pending = '';
  private waiters: { resolve: (r: FtpReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private closedFlag = false;
  /** Resolves when the socket has closed (for any reason, either side). */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setEncoding('latin1');          // byte-preserving; replies are ASCII anyway
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => { /* surfaces as close */ });
    this.closed = new Promise((resolve) => socket.once('close', () => { this.onClose(); resolve(); }));
  }

  /**
   * Connect to `host:port` and wait for the greeting (returned as `greeting`; a 421 greeting is returned too, not
   * thrown). With a port alone: connect to 127.0.0.1 and return the client itself, having read the greeting unless
   * `opts.greeting` is false (then the first {@link reply} is the greeting).
   * @param opts.localAddress source address of the control connection (e.g. 127.0.0.2)
   * @throws if the connection fails or no greeting comes within `waitMs` (default 10 000 ms)
   */
  static connect(port: number, opts?: { greeting?: boolean }): Promise<RawFtp>;
  static connect(host: string, port: number, opts?: { localAddress?: string; waitMs?: number }): Promise<{ ftp: RawFtp; greeting: FtpReply }>;
  static async connect(
    a: string | number, b?: number | { greeting?: boolean }, c: { localAddress?: string; waitMs?: number } = {},
  ): Promise<RawFtp | { ftp: RawFtp; greeting: FtpReply }> {
    if (typeof a === 'number') {
      const ftp = await RawFtp.open(HOST, a);
      if ((b as { greeting?: boolean } | undefined)?.greeting !== false) await ftp.read();
      return ftp;
    }
    const ftp = await RawFtp.open(a, b as number, c.localAddress);
    const greeting = await ftp.read(c.waitMs);
    return { ftp, greeting };
  }

  private static async open(host: string, port: number, localAddress?: string): Promise<RawFtp> {
    const socket = net.connect({ host, port, localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => { socket.off('error', reject); resolve(); });
      socket.once('error', reject);
    });
    return new RawFtp(socket);
  }

  /**
   * Connect to 127.0.0.1:`port` and log in (USER, PASS).
   * @throws unless the greeting is 220 and the login 230
   */
  static async login(port: number, user = USER, pass = PASS, opts: { localAddress?: string } = {}): Promise<RawFtp> {
    const { ftp, greeting } = await RawFtp.connect(HOST, port, opts);
    if (greeting.code !== 220) throw new Error(`greeting ${greeting.code} ${greeting.text}`);
    const r = await ftp.login(user, pass);
    if (r.code !== 230) throw new Error(`login failed: ${r.code} ${r.text}`);
    return ftp;
  }

  /** True once the socket has closed. */
  get isClosed(): boolean { return this.closedFlag; }

  /** Write raw bytes (no CRLF added). Resolves when written; never rejects (a dead socket shows up as close). */
  write(bytes: string | Buffer): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    return new Promise((resolve) => this.socket.write(buf, () => resolve()));
  }

  /** Send one command line (`cmd` + CRLF) and read the next reply. */
  async send(cmd: string, waitMs?: number): Promise<FtpReply> {
    await this.write(`${cmd}\r\n`);
    return this.read(waitMs);
  }

  /**
   * Send a command one byte per TCP write, each write flushed before the next (Nagle off), so the server sees
   * the command split across as many segments as it has bytes; then read the reply.
   */
  async sendByteAtATime(cmd: string, waitMs?: number): Promise<FtpReply> {
    const bytes = Buffer.from(`${cmd}\r\n`, 'latin1');
    for (let i = 0; i < bytes.length; i++) {
      await this.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    return this.read(waitMs);
  }

  /** Send one command line (CRLF added) and return its reply, whole ({@link Reply}). */
  async cmd(line: string, waitMs?: number): Promise<Reply> {
    return whole(await this.send(line, waitMs));
  }

  /** The next reply, whole ({@link Reply}); rejects as {@link read} does. */
  async reply(waitMs?: number): Promise<Reply> {
    return whole(await this.read(waitMs));
  }

  /**
   * The next reply, waiting up to `waitMs` (default 10 000 ms).
   * @throws FtpClosedError if the connection closed first, FtpWaitError if nothing came in time
   */
  read(waitMs = DEFAULT_WAIT_MS): Promise<FtpReply> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    if (this.closedFlag) return Promise.reject(new FtpClosedError(this.pending));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve, reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new FtpWaitError(waitMs));
        }, waitMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Like {@link read}, but `undefined` instead of throwing when the connection closes or nothing comes in time. */
  async readOrEnd(waitMs?: number): Promise<FtpReply | undefined> {
    try { return await this.read(waitMs); } catch (e) {
      if (e instanceof FtpClosedError || e instanceof FtpWaitError) return undefined;
      throw e;
    }
  }

  /** Read replies until one with a code in `codes` comes (returned), the connection closes, or `waitMs` passes. */
  async readUntil(codes: number[], waitMs = DEFAULT_WAIT_MS): Promise<FtpReply | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const r = await this.readOrEnd(left);
      if (!r) return undefined;
      if (codes.includes(r.code)) return r;
    }
  }

  /** USER + PASS; returns the PASS reply (or the USER reply when it is not 331). */
  async login(user: string, pass: string): Promise<FtpReply> {
    const u = await this.send(`USER ${user}`);
    if (u.code !== 331) return u;
    return this.send(`PASS ${pass}`);
  }

  /**
   * Send PASV and open the data connection it names (host from the 227 reply), optionally from `localAddress`.
   * @throws (from {@link parsePasv}, the reply attached) if the reply is not 227
   */
  async pasv(opts: { localAddress?: string; byteAtATime?: boolean } = {}): Promise<net.Socket> {
    const r = opts.byteAtATime ? await this.sendByteAtATime('PASV') : await this.send('PASV');
    const { host, port } = parsePasv(r);
    return connectData(host, port, opts.localAddress);
  }

  /**
   * Send `command` (RETR, LIST, NLST, MLSD …) for the connected data socket `sock` and collect `sock` to its end.
   * A command refused outright (not 125/150) gives its reply as `first`, no `final`, and whatever bytes came.
   */
  async transferOn(sock: net.Socket, command: string): Promise<DataResult> {
    const got = collect(sock);
    const first = await this.send(command);
    if (first.code !== 150 && first.code !== 125) {
      sock.destroy();
      return { first, data: await got };
    }
    const [final, data] = await Promise.all([this.read(), got]);
    return { first, final, data };
  }

  /**
   * PASV, then {@link transferOn} over the data connection it names.
   * @throws if PASV is not answered 227
   */
  async pasvTransfer(command: string): Promise<DataResult> {
    return this.transferOn(await this.pasv(), command);
  }

  /**
   * A whole session on a fresh connection to 127.0.0.1:`port`: login, TYPE I, PASV, RETR `name`, QUIT.
   * @returns the bytes received, for a byte-exact comparison
   * @throws unless the login is 230, TYPE 200, RETR 150 then 226
   */
  static async download(port: number, name: string): Promise<Buffer> {
    const ftp = await RawFtp.login(port);
    try {
      const type = await ftp.send('TYPE I');
      if (type.code !== 200) throw new Error(`TYPE I: ${type.code} ${type.text}`);
      const { first, final, data } = await ftp.pasvTransfer(`RETR ${name}`);
      if (first.code !== 150 || final?.code !== 226) throw new Error(`RETR ${name}: ${first.code} ${first.text}; final ${final?.code} ${final?.text}`);
      return data;
    } finally {
      await ftp.quit();
    }
  }

  /** Resolves when the connection has closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return within(timeoutMs, 'control connection still open', this.closed);
  }

  /** Send QUIT (best effort) and destroy the socket. Safe to call twice. */
  async quit(): Promise<void> {
    if (!this.closedFlag) {
      await this.write('QUIT\r\n');
      await Promise.race([this.closed, new Promise((r) => setTimeout(r, 500))]);
    }
    this.destroy();
  }

  /** Destroy the socket at once (a client vanishing). */
  destroy(): void { this.socket.destroy(); }

  /** The same as {@link destroy}, under the name basic-ftp's Client uses (one cleanup list holds both). */
  close(): void { this.destroy(); }

  private onData(chunk: string): void {
    this.transcript += chunk;
    this.pending += chunk;
    const { replies, rest } = parseReplies(this.pending);
    this.pending = rest;
    for (const r of replies) {
      this.history.push(r);
      const w = this.waiters.shift();
      if (w) { clearTimeout(w.timer); w.resolve(r); } else this.queue.push(r);
    }
  }

  private onClose(): void {
    this.closedFlag = true;
    for (const w of this.waiters.splice(0)) { clearTimeout(w.timer); w.reject(new FtpClosedError(this.pending)); }
  }
}

/**
 * Host and port from a 227 reply (`227 … (h1,h2,h3,h4,p1,p2)`).
 * @throws if the reply is not a well-formed 227
 */
export function parsePasv(r: FtpReply): { host: string; port: number } {
  const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text);
  if (r.code !== 227 || !m) throw Object.assign(new Error(`expected 227 with an address, got ${r.code} ${r.text}`), { reply: r });
  return { host: `${m[1]}.${m[2]}.${m[3]}.${m[4]}`, port: Number(m[5]) * 256 + Number(m[6]) };
}

/** The PORT argument `h1,h2,h3,h4,p1,p2` for `host:port` (RFC 959 §4.1.2: port = p1 × 256 + p2). */
export function portArg(port: number, host = HOST): string {
  return `${host.replace(/\./g, ',')},${port >> 8},${port & 255}`;
}

/** Open a data connection to `host:port` (from `localAddress` if given); the socket is returned connected. */
export function connectData(host: string, port: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress });
    s.once('connect', () => { s.off('error', reject); s.on('error', () => { /* shows as close */ }); resolve(s); });
    s.once('error', reject);
  });
}

/** Read a data socket to its end; resolves with every byte received (also when the server cut it short). */
export function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}
