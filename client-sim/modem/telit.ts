/**
 * Telit LE910 / xE910 FTP dialect (Waspmote 4G): Telit AT Commands Reference Guide (80000ST10025a; the
 * MultiTech HSPA+ guide p.249 repeats #FTPREST/#FTPRECV), Libelium's Wasp4G.cpp (ftpOpenSession, ftpFileSize,
 * ftpDownload).
 *
 * Commands: `#FTPTO`, `#FTPCFG`, `#FTPOPEN` (blocks until login), `#FTPTYPE`, `#FTPCWD`, `#FTPPWD`,
 * `#FTPFSIZE`, `#FTPREST` (next GET/GETPKT only, then back to 0 — HSPA+ guide p.249), `#FTPGETPKT`
 * (+ `?`), `#FTPRECV=<1..3000>` (+ `?`), `#FTPGET` (CONNECT … raw … NO CARRIER), `#FTPCLOSE`, `#FTPMSG`,
 * and the network helpers the Waspmote flow touches: `+CREG?`, `+CGREG?`, `#SGACT`.
 *
 * Reply shapes (exact): `#FTPPWD: <server reply line>` (e.g. `#FTPPWD: 257 "/"`), `#FTPFSIZE: <n>`,
 * `#FTPGETPKT: <file>,<viewMode>,<eof>`, `\r\n#FTPRECV: <n>\r\n<n bytes>\r\n\r\nOK\r\n` (n = 0 while the
 * buffer is empty and the transfer is still running), `#FTPRECV: <available>` for the query.
 * View mode 1 sends the n bytes as 2·n hex characters (a public Telit driver with viewMode=1).
 *
 * Errors (`+CME ERROR: <n>` with CMEE=1; Telit ME310G1 AT guide rev. 9 §3.2.2.1 table): dns 603, connect 605, login 634,
 * notFound 632, dataConnection 642, timeout 643 (633 once the data transfer ran), dropped 616 (621
 * "read data closed" in the data phase), busy 613 (data socket already open), notConnected 607,
 * unexpected 638; `#FTPRECV` with no data port open (none started, or finished and drained) → 614.
 * `#FTPOPEN` while open → 608.
 *
 * Choices no source settles (parameters or documented here):
 * - `<eof>` of `#FTPGETPKT?` is 1 only when the whole file arrived AND the buffer is drained (the guide:
 *   "0 = transfer still in progress or data still buffered").
 * - `#FTPRECV` after a failed transfer first returns the buffered bytes, then the failure's code
 *   (621 dropped / 633 timeout), never a short success.
 * - `#FTPGET` that fails after CONNECT ends with the failure's `+CME ERROR: <n>` instead of
 *   `NO CARRIER` (inference; a real module's online mode has no other way to tell).
 * - `#FTPMSG` answers `#FTPMSG: <last server reply line>` (format unconfirmed).
 * - Active mode (`<mode>` 0) is accepted; the wire is always passive (ftp-session.ts).
 */
import { AtModem, type AtModemOptions } from './at-modem.ts';
import { splitArgs, intArg } from './at-modem.ts';
import type { ErrorCodeTable, FtpFailure } from './errors.ts';
import type { Download, FtpSession } from './ftp-session.ts';
import { registerFamily } from './registry.ts';

const CRLF = Buffer.from('\r\n', 'latin1');

/** Telit FTP-related CME codes and texts (Telit ME310G1 AT guide rev. 9 §3.2.2.1). */
export const TELIT_CME_TEXT: Record<number, string> = {
  600: 'generic undocumented error', 601: 'wrong state', 602: 'can not activate', 603: 'can not resolve name',
  604: 'can not allocate control socket', 605: 'can not connect control socket', 606: 'bad or no response from server',
  607: 'not connected', 608: 'already connected', 609: 'context down', 612: 'resource used by other instance',
  613: 'data socket already opened in cmdmode', 614: 'FTP cmdmode data socket closed', 615: 'FTP not connected',
  616: 'FTP disconnected', 617: 'FTP read command closed', 618: 'FTP read command error', 619: 'FTP write command closed',
  620: 'FTP write command error', 621: 'FTP read data closed', 622: 'FTP read data error', 623: 'FTP write data closed',
  624: 'FTP write data error', 625: 'FTP host not found', 626: 'FTP accept failure', 627: 'FTP listen failure',
  628: 'FTP bind failure', 629: 'FTP file create failure', 630: 'FTP file get failure', 631: 'FTP file put failure',
  632: 'FTP file not found', 633: 'FTP timed out', 634: 'FTP login incorrect', 635: 'FTP close error',
  636: 'FTP server not ready', 637: 'FTP server shutdown', 638: 'FTP unexpected reply', 639: "user ID and password don't match",
  641: 'user already logged in', 642: 'open channel timeout', 643: 'communication timeout', 644: 'unknown',
};

/** The Telit code table (see module docstring). */
export const TELIT_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 603, connect: 605, login: 634, notFound: 632, dataConnection: 642,
    timeout: 643, dropped: 616, busy: 613, notConnected: 607, unexpected: 638,
  },
  dataCodes: { dropped: 621, timeout: 633 },
};

/** Telit-specific options. */
export interface TelitOptions extends AtModemOptions {
  /** `#FTPRECV` maximum block size (HSPA+ guide: 3000). */
  maxRecv?: number;
  /** The module's IP address reported by `#SGACT` (made up; default 10.0.0.2). */
  localIp?: string;
}

/** Telit LE910 emulator. */
export class TelitModem extends AtModem {
  protected readonly errorTable = TELIT_ERRORS;
  /** `#FTPTYPE` sends TYPE at once; without it the module leaves the server's default type (inferred). */
  protected override ftpTransferType: 'I' | 'A' | undefined = undefined;
  private session?: FtpSession;
  private dl?: Download;
  private dlFile = '';
  private viewMode = 0;
  private rest = 0;
  private typeCode = 0;
  private lastMsg = '';
  private secure = false;
  private epsv = false;
  private contextUp = false;
  private readonly maxRecv: number;
  private readonly localIp: string;

  constructor(options: TelitOptions = {}) {
    super('telit', options);
    this.maxRecv = options.maxRecv ?? 3000;
    this.localIp = options.localIp ?? '10.0.0.2';
    this.register('+CREG', (a) => this.regQuery('+CREG', a));
    this.register('+CGREG', (a) => this.regQuery('+CGREG', a));
    this.register('#SGACT', (a) => this.sgact(a));
    this.register('#FTPTO', (a) => this.ftpTo(a));
    this.register('#FTPCFG', (a) => this.ftpCfg(a));
    this.register('#FTPOPEN', (a) => this.ftpOpen(a));
    this.register('#FTPCLOSE', () => this.ftpClose());
    this.register('#FTPTYPE', (a) => this.ftpType(a));
    this.register('#FTPCWD', (a) => this.ftpCwd(a));
    this.register('#FTPPWD', () => this.ftpPwd());
    this.register('#FTPFSIZE', (a) => this.ftpFsize(a));
    this.register('#FTPREST', (a) => this.ftpRest(a));
    this.register('#FTPGETPKT', (a) => this.ftpGetPkt(a));
    this.register('#FTPRECV', (a) => this.ftpRecv(a));
    this.register('#FTPGET', (a) => this.ftpGet(a));
    this.register('#FTPMSG', () => this.ftpMsg());
  }

  protected override errorText(code: number): string {
    return TELIT_CME_TEXT[code] ?? `error ${code}`;
  }

  protected override identity(): string[] {
    return ['Telit', 'LE910 (firmdrop emulator)'];
  }

  protected override async shutdown(): Promise<void> {
    this.session?.destroy();
    this.session = undefined;
  }

  private fail(f: FtpFailure): void {
    if (f.serverText) this.lastMsg = f.serverText;
    this.cmeError(this.errorCode(f));
  }

  /** The open session, or answers 607 and returns undefined. A session the network killed is dropped. */
  private live(): FtpSession | undefined {
    if (this.session && !this.session.isOpen) this.session = undefined;
    if (!this.session) { this.cmeError(TELIT_ERRORS.codes.notConnected); return undefined; }
    return this.session;
  }

  private regQuery(name: string, a: string): void {
    if (a === '?') this.info(`${name}: 0,1`);
    else if (!/^=\d$/.test(a)) return this.syntaxError();
    this.ok();
  }

  private sgact(a: string): void {
    if (a === '?') { this.info(`#SGACT: 1,${this.contextUp ? 1 : 0}`); return this.ok(); }
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p || p.length < 2) return this.syntaxError();
    if (p[1] === '1') {
      if (this.contextUp) return this.cmeError(555);
      this.contextUp = true;
      this.info(`#SGACT: ${this.localIp}`);
    } else this.contextUp = false;
    this.ok();
  }

  private ftpTo(a: string): void {
    if (a === '?') { this.info(`#FTPTO: ${Math.round(this.timing.ftpTimeoutMs / 100)}`); return this.ok(); }
    if (a === '=?') { this.info('#FTPTO: (100-5000)'); return this.ok(); }
    const n = intArg(a.slice(1));
    if (!a.startsWith('=') || n === undefined || n < 1 || n > 5000) return this.syntaxError();
    this.timing.ftpTimeoutMs = n * 100;
    this.session?.setTimeout(this.timing.ftpTimeoutMs);
    this.ok();
  }

  private ftpCfg(a: string): void {
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p) return this.syntaxError();
    const [tout, , ssl] = p.map(intArg);
    if (tout !== undefined) this.timing.ftpTimeoutMs = tout * 100;
    this.secure = ssl === 1;
    // <FTPext> (PORT/PASV vs EPRT/EPSV) is accepted and ignored: the wire uses PASV (ftp-session.ts).
    this.ok();
  }

  private async ftpOpen(a: string): Promise<void> {
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p || p.length < 3) return this.syntaxError();
    if (this.session?.isOpen) return this.cmeError(608);
    const [hostPort, user, pass, modeS] = p as [string, string, string, string | undefined];
    const m = /^(.*?)(?::(\d+))?$/.exec(hostPort)!;
    const mode = modeS === undefined || modeS === '' ? 0 : intArg(modeS);
    if (mode === undefined || mode > 1 || !m[1]) return this.syntaxError();
    try {
      this.session = await this.ftpLogin({ host: m[1], port: m[2] ? Number(m[2]) : 21, user, pass, passive: mode === 1, secure: this.secure, epsv: this.epsv });
      this.lastMsg = this.session.lastReply;
      this.rest = 0;
      this.dl = undefined;
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async ftpClose(): Promise<void> {
    if (!this.session) return this.cmeError(TELIT_ERRORS.codes.notConnected);
    const s = this.session;
    this.session = undefined;
    this.dl = undefined;
    await s.close();
    this.lastMsg = s.lastReply;
    this.ok();
  }

  private async ftpType(a: string): Promise<void> {
    if (a === '?') { this.info(`#FTPTYPE: ${this.typeCode}`); return this.ok(); }
    const n = intArg(a.slice(1));
    if (!a.startsWith('=') || (n !== 0 && n !== 1)) return this.syntaxError();
    const s = this.live();
    if (!s) return;
    try {
      await s.type(n === 0);
      this.typeCode = n;
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async ftpCwd(a: string): Promise<void> {
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p || p[0] === undefined) return this.syntaxError();
    const s = this.live();
    if (!s) return;
    try {
      await s.cwd(p[0]);
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async ftpPwd(): Promise<void> {
    const s = this.live();
    if (!s) return;
    try {
      const r = await s.pwd();
      this.info(`#FTPPWD: ${r.reply}`);
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async ftpFsize(a: string): Promise<void> {
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p || !p[0]) return this.syntaxError();
    const s = this.live();
    if (!s) return;
    if (s.transferring) return this.cmeError(TELIT_ERRORS.codes.busy);
    try {
      const n = await s.size(p[0]);
      this.info(`#FTPFSIZE: ${n}`);
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private ftpRest(a: string): void {
    if (a === '?') { this.info(`#FTPREST: ${this.rest}`); return this.ok(); }
    const n = intArg(a.slice(1));
    if (!a.startsWith('=') || n === undefined) return this.syntaxError();
    this.rest = n;
    this.ok();
  }

  /** Start a download at the pending REST offset (which then resets to 0); answers the error itself. */
  private async begin(s: FtpSession, file: string): Promise<Download | undefined> {
    const offset = this.rest;
    this.rest = 0;
    try {
      const dl = await s.startDownload(file, { offset, capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.started;
      return dl;
    } catch (err) {
      this.fail(err as FtpFailure);
      return undefined;
    }
  }

  private async ftpGetPkt(a: string): Promise<void> {
    if (a === '?') {
      const eof = this.dl?.drained ? 1 : 0;
      this.info(`#FTPGETPKT: ${this.dlFile},${this.viewMode},${eof}`);
      return this.ok();
    }
    const p = splitArgs(a.slice(1));
    const view = p?.[1] === undefined ? 0 : intArg(p[1]);
    if (!a.startsWith('=') || !p || !p[0] || view === undefined || view > 2) return this.syntaxError();
    const s = this.live();
    if (!s) return;
    if (s.transferring) return this.cmeError(TELIT_ERRORS.codes.busy);
    const dl = await this.begin(s, p[0]);
    if (!dl) return;
    this.dl = dl;
    this.dlFile = p[0];
    this.viewMode = view;
    this.ok();
  }

  private async ftpRecv(a: string): Promise<void> {
    if (a === '?') { this.info(`#FTPRECV: ${this.dl?.available ?? 0}`); return this.ok(); }
    if (a === '=?') { this.info(`#FTPRECV: (1-${this.maxRecv})`); return this.ok(); }
    const n = intArg(a.slice(1));
    if (!a.startsWith('=') || n === undefined || n < 1 || n > this.maxRecv) return this.syntaxError();
    const dl = this.dl;
    if (!dl) return this.cmeError(614);
    if (dl.available === 0) {
      if (dl.failure) return this.fail(dl.failure);
      if (dl.complete) return this.cmeError(614);
      this.info('#FTPRECV: 0');
      await this.raw(CRLF, '<0 bytes>');
      return this.ok();
    }
    // `\r\n#FTPRECV: <n>\r\n<n bytes>\r\n\r\nOK\r\n` (Wasp4G.cpp readBuffer; GL865 driver)
    const bytes = dl.read(n);
    this.info(`#FTPRECV: ${bytes.length}`);
    const body = this.viewMode === 1 ? Buffer.from(bytes.toString('hex').toUpperCase(), 'latin1') : bytes;
    await this.raw(Buffer.concat([body, CRLF]), `<${bytes.length} bytes${this.viewMode === 1 ? ' as hex' : ''}>`);
    this.ok();
  }

  private async ftpGet(a: string): Promise<void> {
    const p = splitArgs(a.slice(1));
    if (!a.startsWith('=') || !p || !p[0]) return this.syntaxError();
    const s = this.live();
    if (!s) return;
    if (s.transferring) return this.cmeError(TELIT_ERRORS.codes.busy);
    const dl = await this.begin(s, p[0]);
    if (!dl) return;
    this.dl = undefined;
    this.info('CONNECT');
    await dl.drain((b) => this.raw(b));
    if (dl.failure) this.fail(dl.failure);
    else this.info('NO CARRIER');
  }

  private ftpMsg(): void {
    this.info(`#FTPMSG: ${this.session?.lastReply || this.lastMsg}`);
    this.ok();
  }
}

registerFamily('telit', (o) => new TelitModem(o as TelitOptions));
