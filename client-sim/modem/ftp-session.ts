/**
 * The control dialogue of the one FTP client model behind every emulated modem.
 *
 * `FtpSession` wraps a basic-ftp `Client` with what a modem's built-in FTP client does: connect + log in
 * (phase-aware error classification), TYPE, CWD, PWD, SIZE (falling back to parsing `LIST <file>`), raw `LIST`,
 * and `startDownload`, which hands the data connection to a {@link Download} (ftp-download.ts).
 *
 * **The FTP commands on the wire are inferred, not observed.** No vendor publishes what its module sends to the
 * server, and no public capture of modem-to-server traffic is known; the order below is derived from the AT
 * configuration each family exposes (Telit `#FTPTYPE`/`#FTPREST`, Quectel `+QFTPCFG="filetype"`, SIMCom
 * `+FTPTYPE`/`+CFTPTYPE`, u-blox `+UFTP`, iChip `AT+iF*`) and from what standard servers require:
 * - Login sends `USER`/`PASS` only (no FEAT/OPTS).
 * - **TYPE before SIZE and RETR.** A session has a configured representation type (`transferType`: `I` binary, `A`
 *   ASCII, or none). Before its first `SIZE` or `REST`/`RETR`, and whenever the configuration changed since, the
 *   session sends `TYPE <t>` unless the server is already in that type. The server starts in ASCII (RFC 959
 *   §3.1.1.1, §5.1), so a binary modem always sends `TYPE I` first. This matters on the wire: pyftpdlib and
 *   ProFTPD answer `550 SIZE not allowed in ASCII mode` (SIZE's result depends on the type, RFC 3659 §4), while
 *   vsftpd answers SIZE in either. `type()` sends TYPE at once (Telit `#FTPTYPE` is bounded by `#FTPTO`, so it is a
 *   server round trip: Telit AT Commands Reference Guide, response-time table). With no configured type the
 *   session never sends TYPE by itself.
 * - Data connections always use PASV (`enterPassiveModeIPv4`), or EPSV-then-PASV with `epsv: true`.
 *   **Active mode is accepted by every dialect but never used on the wire**: basic-ftp has no PORT
 *   support; `activeRequested` records what the host asked for.
 * - Resume is `REST <n>` then `RETR` (RFC 3659 §5; basic-ftp `downloadTo(..., startAt)`).
 * - Before each RETR the session knows the file's size (unless `verifySize: false`), so that a transfer
 *   the server ends early with a `226` (e.g. a proxy cut the data connection after the server had
 *   written everything) is reported as `dropped`, never as short success. The size comes from an earlier
 *   `SIZE` of the same path in the same session and directory (Telit `#FTPFSIZE` before `#FTPGETPKT`, as
 *   Wasp4G.cpp `requestOTA` does), else the session sends `SIZE` itself: an extra command real modems may not
 *   send; it is the emulator's guard.
 * - Timeouts: `timeoutMs` bounds every server reply, the opening of the data connection and any gap
 *   in data (basic-ftp's transfer watchdog; our own back-pressure does not count as a stall).
 *
 * Errors: every method rejects with `FtpFailure` (errors.ts), never with a raw basic-ftp error.
 * After a `connect`/`dropped`/`timeout` failure basic-ftp has closed the client: `isOpen` turns false.
 */
import { Client, FTPError, enterPassiveModeIPv4, type FileInfo } from 'basic-ftp';
import { FtpFailure, classifyFtpError, type FtpPhase } from './errors.ts';
import { Download, type DownloadOptions } from './ftp-download.ts';

export { Download, type DownloadOptions } from './ftp-download.ts';

/** How to reach and log in to the FTP server. */
export interface FtpConnectOptions {
  host: string;
  /** Control port (default 21). */
  port?: number;
  user: string;
  pass: string;
  /** The host's data-connection mode request. true = passive. Recorded only: the wire is always passive. */
  passive?: boolean;
  /** Explicit FTPS (AUTH TLS); certificates are not verified (emulator). Default false. */
  secure?: boolean;
  /** Try EPSV before PASV (Telit `#FTPCFG` FTPext). Default false: PASV only. */
  epsv?: boolean;
  /** Server reply / data gap / data-connection timeout in ms (the modem's FTP timeout). */
  timeoutMs: number;
  /**
   * The representation type the modem is configured for: `'I'` (binary) or `'A'` (ASCII), sent as `TYPE` before
   * the first SIZE/RETR (module docstring); undefined: never sent unless `type()` is called. Default undefined.
   */
  transferType?: 'I' | 'A';
  /** Receives every FTP control line sent (`> USER x`) and received (`< 230 ...`), for tracing. */
  wireTrace?: (line: string) => void;
}

/** An open, logged-in FTP session. Create with {@link FtpSession.open}. One operation at a time. */
export class FtpSession {
  readonly client: Client;
  readonly host: string;
  readonly port: number;
  /** True when the host asked for active mode (never used on the wire, see module docstring). */
  readonly activeRequested: boolean;
  /** Last reply line received from the server (Telit `#FTPMSG`). */
  lastReply = '';
  /** The running download, if any. */
  download?: Download;
  private quitting = false;
  /** The type the modem is configured for (see FtpConnectOptions.transferType). */
  private configuredType?: 'I' | 'A';
  /** The type the server is in: ASCII until a TYPE command succeeded (RFC 959 §5.1 default TYPE A N). */
  private wireType: 'I' | 'A' = 'A';
  /** Sizes learnt by size() in this session and working directory (so RETR does not repeat SIZE). */
  private sizes = new Map<string, number>();

  private constructor(client: Client, opts: FtpConnectOptions) {
    this.client = client;
    this.host = opts.host;
    this.port = opts.port ?? 21;
    this.activeRequested = opts.passive === false;
    this.configuredType = opts.transferType;
  }

  /**
   * Connect, optionally AUTH TLS, log in. Rejects with FtpFailure of kind dns/connect (phase connect),
   * login (phase login) or timeout.
   */
  static async open(opts: FtpConnectOptions): Promise<FtpSession> {
    const client = new Client(opts.timeoutMs);
    holdPartialReplyLines(client);
    const session = new FtpSession(client, opts);
    client.ftp.verbose = true;
    client.ftp.log = (m: string) => {
      if (m.startsWith('< ')) session.lastReply = m.slice(2).split(/\r?\n/).filter(Boolean).pop() ?? '';
      // A send on a destroyed control socket never reaches the wire (basic-ftp's close() after our QUIT).
      if (m.startsWith('> ') && client.ftp.socket.destroyed) return;
      if (opts.wireTrace && (m.startsWith('< ') || m.startsWith('> '))) opts.wireTrace(m.trimEnd());
    };
    if (!opts.epsv) client.prepareTransfer = enterPassiveModeIPv4;
    client.availableListCommands = ['LIST'];
    let phase: FtpPhase = 'connect';
    try {
      await client.connect(opts.host, opts.port ?? 21);
      if (opts.secure) await client.useTLS({ rejectUnauthorized: false });
      phase = 'login';
      await client.login(opts.user, opts.pass);
      return session;
    } catch (err) {
      client.close();
      throw classifyFtpError(err, phase);
    }
  }

  /** False once closed by us or by a network failure. */
  get isOpen(): boolean {
    return !this.client.closed && !this.quitting;
  }

  /** True while a download is neither complete nor failed (the control connection is busy). */
  get transferring(): boolean {
    return this.download !== undefined && !this.download.settled;
  }

  /** Change the FTP timeout (ms) for later operations (Telit `#FTPTO`). */
  setTimeout(ms: number): void {
    (this.client.ftp as unknown as { timeout: number }).timeout = ms;
  }

  /** Send `TYPE I` (binary) or `TYPE A` now, and make it the configured type. Rejects with FtpFailure. */
  async type(binary: boolean): Promise<void> {
    const t = binary ? 'I' : 'A';
    this.configuredType = t;
    await this.run('command', () => this.client.send(`TYPE ${t}`));
    this.wireType = t;
  }

  /**
   * Configure the representation type without a server round trip (Quectel `+QFTPCFG="filetype"`): the next SIZE
   * or RETR sends `TYPE` first when the server is not in it. undefined: send no TYPE by itself.
   */
  setTransferType(t: 'I' | 'A' | undefined): void {
    this.configuredType = t;
  }

  /** The configured representation type (undefined: none). */
  get transferType(): 'I' | 'A' | undefined {
    return this.configuredType;
  }

  /** `TYPE <configured>` when the server is not in the configured type (the rule in the module docstring). */
  private async ensureType(): Promise<void> {
    const t = this.configuredType;
    if (t === undefined || t === this.wireType) return;
    await this.run('command', () => this.client.send(`TYPE ${t}`));
    this.wireType = t;
  }

  /** `CWD <dir>`. 550 → notFound. */
  async cwd(dir: string): Promise<void> {
    this.sizes.clear();
    await this.run('command', () => this.client.cd(dir));
  }

  /** `PWD`: the path and the raw server reply line (e.g. `257 "/" is current directory`). */
  async pwd(): Promise<{ path: string; reply: string }> {
    const res = await this.run('command', () => this.client.send('PWD'));
    const m = /"((?:[^"]|"")*)"/.exec(res.message);
    return { path: m ? m[1]!.replace(/""/g, '"') : '', reply: res.message.split(/\r?\n/)[0] ?? res.message };
  }

  /**
   * Size of a remote file in bytes: `SIZE <path>`; if the server does not implement SIZE (500–504),
   * `LIST <path>` and the entry's size. Missing file → notFound.
   */
  async size(path: string): Promise<number> {
    await this.ensureType();
    try {
      const n = await this.run('command', () => this.client.size(path));
      this.sizes.set(path, n);
      return n;
    } catch (err) {
      if (!(err instanceof FtpFailure) || err.ftpCode === undefined || err.ftpCode < 500 || err.ftpCode > 504) throw err;
    }
    const entries = await this.list(path);
    const base = path.split('/').pop();
    const hit = entries.find((e) => e.isFile && (e.name === base || e.name === path)) ?? (entries.length === 1 ? entries[0] : undefined);
    if (!hit) throw new FtpFailure('notFound', 'command', `no such file: ${path}`);
    return hit.size;
  }

  /** `LIST <path>` parsed by basic-ftp. */
  async list(path = ''): Promise<FileInfo[]> {
    return (await this.listing(path)).entries;
  }

  /** `LIST <path>`: the raw listing bytes as the server sent them (SIM5215 `+CFTPLIST`, u-blox op 13). */
  async listRaw(path = ''): Promise<Buffer> {
    return (await this.listing(path)).raw;
  }

  /**
   * Start downloading `path` into a module buffer: `TYPE` when due, `SIZE` when `verifySize` and the size is not
   * known yet, then `PASV`, `REST <offset>` (offset > 0) and `RETR`. Resolves once set up; transfer errors surface
   * on the returned {@link Download}. Rejects (FtpFailure) when TYPE or SIZE fails (notFound, dropped, timeout), or
   * `busy` when another transfer runs.
   */
  async startDownload(path: string, opts: DownloadOptions = {}): Promise<Download> {
    if (this.transferring) throw new FtpFailure('busy', 'command', 'a transfer is already running on this session');
    const offset = opts.offset ?? 0;
    const dl = new Download(path, offset, opts.capacity ?? 64 * 1024);
    await this.ensureType();
    if (opts.verifySize ?? true) {
      try {
        const total = this.sizes.get(path) ?? await this.size(path);
        dl.expected = Math.max(0, total - offset);
      } catch (err) {
        const f = err as FtpFailure;
        if (f.kind === 'notFound' || f.kind === 'dropped' || f.kind === 'timeout' || f.kind === 'connect') throw f;
        // other SIZE refusals: continue without a size check
      }
    }
    this.download = dl;
    dl.setAbort(() => this.client.close());
    this.client.downloadTo(dl.sink(), path, offset).then(
      () => dl.finish(),
      (err: unknown) => {
        const f = classifyFtpError(err, 'data');
        // ftp-srv answers 551 for any read error, also after bytes flowed: once data arrived it is a drop.
        dl.fail(f.kind === 'notFound' && dl.received > 0
          ? new FtpFailure('dropped', 'data', `transfer of ${path} aborted after ${dl.received} bytes: ${f.message}`, { ftpCode: f.ftpCode, serverText: f.serverText, cause: f })
          : f);
      },
    );
    return dl;
  }

  /** Download a whole file (from `offset`) into memory; rejects with FtpFailure (short data → dropped). */
  async getBuffer(path: string, opts: DownloadOptions = {}): Promise<Buffer> {
    const dl = await this.startDownload(path, { ...opts, capacity: Number.MAX_SAFE_INTEGER });
    await dl.done;
    return dl.read(dl.available);
  }

  /**
   * `QUIT` and close. Never throws; waits at most the FTP timeout. Aborts a running download first.
   * Returns false when the session was already gone (useful for "not connected" errors).
   */
  async close(): Promise<boolean> {
    if (this.client.closed || this.quitting) return false;
    this.quitting = true;
    if (this.transferring) {
      this.download!.abort('session closed');
      return true;
    }
    try {
      await this.client.send('QUIT');
    } catch {
      // server already gone or replied oddly: closing anyway
    }
    // A module sends QUIT once (RFC 959 §4.1.1: 221, then the server closes); basic-ftp's close() would send its own
    // QUIT again, so the control socket is closed first.
    this.client.ftp.socket.destroy();
    this.client.close();
    return true;
  }

  /** Close the sockets without QUIT. */
  destroy(): void {
    this.quitting = true;
    this.download?.abort('session destroyed');
    this.client.close();
  }

  private async listing(path: string): Promise<{ raw: Buffer; entries: FileInfo[] }> {
    let raw = Buffer.alloc(0);
    const parse = this.client.parseList;
    this.client.parseList = (text: string) => {
      raw = Buffer.from(text, 'utf8');
      return parse(text);
    };
    try {
      const entries = await this.run('data', () => this.client.list(path));
      return { raw, entries };
    } finally {
      this.client.parseList = parse;
    }
  }

  private async run<T>(phase: FtpPhase, fn: () => Promise<T>): Promise<T> {
    if (this.client.closed || this.quitting) throw new FtpFailure('notConnected', phase, 'FTP session is not open');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FTPError || err instanceof Error) {
        if (/still running/i.test((err as Error).message)) throw new FtpFailure('busy', phase, (err as Error).message, { cause: err });
      }
      throw classifyFtpError(err, phase);
    }
  }
}

/**
 * Open a session, run `fn`, QUIT: the per-operation session model of SIM800/SIM900 and SIM5215 (each FTP AT
 * operation logs in and out; SIM800 Series FTP Application Note, `+FTPGET: 1,0` after the transfer). The session is closed whatever `fn` does; `fn`'s result or FtpFailure is returned.
 */
export async function withSession<T>(opts: FtpConnectOptions, fn: (s: FtpSession) => Promise<T>): Promise<T> {
  const s = await FtpSession.open(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * Make basic-ftp wait for a whole reply line before parsing it, as a modem's FTP client does.
 *
 * basic-ftp 6.2.3 parses every chunk of the control connection on its own: a TCP segment holding only `220`
 * (no `\n` yet) matches its single-line reply pattern and is taken as a complete reply, so a reply split by the
 * network right after its code is misread (seen behind the fault proxy's `split` fault; slow cellular links split
 * segments like that). This wrapper feeds the library whole lines only and keeps the unterminated tail for the next
 * chunk. It relies on `client.ftp._onControlSocketData(chunk: string)`, which the library's socket handler calls
 * by name; tests/modem-core.spec.ts fails if that hook point disappears.
 * @throws Error when the installed basic-ftp no longer has the hook point.
 */
export function holdPartialReplyLines(client: Client): void {
  const ctx = client.ftp as unknown as { _onControlSocketData?: (chunk: string) => void };
  const original = ctx._onControlSocketData;
  if (typeof original !== 'function') throw new Error('basic-ftp: FtpContext._onControlSocketData is gone; update holdPartialReplyLines');
  let tail = '';
  ctx._onControlSocketData = function (this: unknown, chunk: string | Buffer) {
    const text = tail + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      // Bounded like the library's own limit (64 KiB) so a server that never sends LF cannot grow this forever.
      if (text.length > 65536) { tail = ''; original.call(this, text); } else tail = text;
      return;
    }
    tail = text.slice(end + 1);
    original.call(this, text.slice(0, end + 1));
  };
}
