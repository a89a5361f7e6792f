/**
 * Connect One iChip (`AT+i`) FTP dialect — the Waspmote WiFi PRO module, WaspWIFI_PRO.cpp and Connect One's AT+i Programmer's Manual v8.32 §11 (stored pages corpus, manualshelf /
 * 38.142.81.21 copies of pages 59–68).
 *
 * Framing: replies are `<text>\r\n` (no leading CR LF); success `I/OK`, errors `I/ERROR (<code>)` — the
 * form Libelium's `getErrorCode` parses (`"I/ERROR (%u)"`, WaspWIFI_PRO.cpp). Malformed commands answer
 * a bare `I/ERROR`.
 *
 * Commands:
 * - `AT+i` → `I/OK`.
 * - `AT+iFOPN:<server>[,<port>]:<user>,<pass>[,<accnt>]` (and `AT+i@FOPN:` = force PASV) → `I/<handle>`
 *   after login (manual §11.1). Handles start at 0; at most `maxSessions` (default 2) at once, else 505.
 * - `AT+iFSZ:<h>,<path>` → `I/<size>` then `I/OK` (Libelium ftpFileSize parses `I/<sz>` and then waits up to
 *   5 s for `I/OK\r\n`, WaspWIFI_PRO.cpp:3026-3060; `fszTrailingOk: false` leaves it out).
 * - `AT+iBDRA` → `I/OK` (baud rate auto-detect; Libelium's changeBaudRate sends it, WaspWIFI_PRO.cpp:3902).
 * - `AT+iFRCV:<h>,<path>` (manual §11.7, read by Libelium `ftpDownload`): `I/OK` (command accepted), then
 *   `I/<sz>\r\n` and exactly `<sz>` raw bytes, then `I/ONLINE`. If the size cannot be determined
 *   (`verifySize: false`) `I/0` is sent and the stream ends with `I/ONLINE`. A failure before the stream
 *   → `I/ERROR (<code>)` after `I/OK`; a transfer that stops short → `I/ERROR (<code>)` after a
 *   `timing.silenceErrorMs` silence (manual: "after a 5 seconds non-transmission period") — never
 *   `I/ONLINE`.
 * - After login the session sends `TYPE I` (inferred; see fopn).
 * - `AT+iFCWD:<h>,<path>` → `I/OK` (Libelium `ftpChangeCWD`), `AT+iFCLS:<h>` → `I/OK` (QUIT).
 *
 * Codes (Libelium WaspWIFI_PRO error table, ERROR_CODE_0505–0513): 505 all FTP handles in use (busy),
 * 506 not an FTP session handle (notConnected), 507 server not found (dns), 508 timeout connecting
 * (connect, timeout), 509 login failed, 510 FTP command could not be completed (notFound, unexpected,
 * timeout during the data stream), 511 data socket could not be opened (dataConnection), 513 FTP shutdown
 * by remote server (dropped).
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';
import type { ErrorCodeTable, FtpFailure } from './errors.ts';
import type { FtpSession } from './ftp-session.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';

/** iChip FTP error codes per failure kind (see module docstring). */
export const ICHIP_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 507, connect: 508, login: 509, notFound: 510, dataConnection: 511,
    timeout: 508, dropped: 513, busy: 505, notConnected: 506, unexpected: 510,
  },
  dataCodes: { timeout: 510 },
};

/** iChip options. */
export interface IchipOptions extends AtModemOptions {
  /** Concurrent FTP sessions (handles); default 2. */
  maxSessions?: number;
  /** Send `I/OK` after the `I/<size>` of AT+iFSZ (default true, see module docstring). */
  fszTrailingOk?: boolean;
}

/** iChip (WiFi PRO) emulator. */
export class IchipModem extends AtModem {
  protected readonly errorTable = ICHIP_ERRORS;
  private sessions = new Map<number, FtpSession>();
  private readonly maxSessions: number;
  private readonly fszTrailingOk: boolean;

  constructor(options: IchipOptions = {}) {
    super('ichip', options);
    this.maxSessions = options.maxSessions ?? 2;
    this.fszTrailingOk = options.fszTrailingOk ?? true;
    this.register('+I', (a) => (a === '' ? this.ok() : this.syntaxError()));
    this.register('+IFOPN', (a) => this.fopn(a, false));
    this.register('+I@FOPN', (a) => this.fopn(a, true));
    this.register('+IFSZ', (a) => this.fsz(a));
    this.register('+IBDRA', (a) => (a === '' ? this.ok() : this.syntaxError()));
    this.register('+IFRCV', (a) => this.frcv(a));
    this.register('+IFCWD', (a) => this.fcwd(a));
    this.register('+IFCLS', (a) => this.fcls(a));
  }

  protected override frame(text: string): string {
    return `${text}\r\n`;
  }

  protected override ok(): void {
    this.info('I/OK');
  }

  protected override cmeError(code: number): void {
    this.info(`I/ERROR (${code})`);
  }

  protected override syntaxError(): void {
    this.info('I/ERROR');
  }

  protected override identity(): string[] {
    return ['I/Connect One iChip (firmdrop emulator)'];
  }

  protected override async shutdown(): Promise<void> {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private fail(f: FtpFailure): void {
    this.cmeError(this.errorCode(f));
  }

  /** `:<h>,<rest...>` → [handle, rest]; undefined when malformed. */
  private handleArgs(a: string): [number, string[]] | undefined {
    if (!a.startsWith(':')) return undefined;
    const p = splitArgs(a.slice(1));
    const h = intArg(p?.[0]);
    return p && h !== undefined ? [h, p.slice(1)] : undefined;
  }

  /** The session for handle `h`, or answers 506 and returns undefined (a dead session is forgotten). */
  private session(h: number): FtpSession | undefined {
    const s = this.sessions.get(h);
    if (s && s.isOpen) return s;
    this.sessions.delete(h);
    this.cmeError(ICHIP_ERRORS.codes.notConnected);
    return undefined;
  }

  private async fopn(a: string, forcePasv: boolean): Promise<void> {
    if (!a.startsWith(':')) return this.syntaxError();
    const rest = a.slice(1);
    const colon = rest.indexOf(':');
    if (colon <= 0) return this.syntaxError();
    const [server, portS] = rest.slice(0, colon).split(',');
    const cred = splitArgs(rest.slice(colon + 1));
    const port = portS === undefined ? 21 : intArg(portS);
    if (!server || port === undefined || port > 65535 || !cred || cred.length < 2) return this.syntaxError();
    let h = 0;
    while (this.sessions.has(h)) h++;
    if (h >= this.maxSessions) return this.cmeError(ICHIP_ERRORS.codes.busy);
    try {
      const s = await this.ftpLogin({ host: server.trim(), port, user: cred[0]!, pass: cred[1]!, passive: forcePasv || undefined });
      // TYPE I right after login, before any SIZE/RETR (inferred: the module transfers files as binary, and
      // servers such as pyftpdlib and ProFTPD refuse SIZE in ASCII mode)
      try { await s.type(true); } catch (err) { s.destroy(); throw err; }
      this.sessions.set(h, s);
      this.info(`I/${h}`);
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async fsz(a: string): Promise<void> {
    const p = this.handleArgs(a);
    if (!p || !p[1][0]) return this.syntaxError();
    const s = this.session(p[0]);
    if (!s) return;
    try {
      const n = await s.size(p[1][0]);
      this.info(`I/${n}`);
      if (this.fszTrailingOk) this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async frcv(a: string): Promise<void> {
    const p = this.handleArgs(a);
    if (!p || !p[1][0]) return this.syntaxError();
    const s = this.session(p[0]);
    if (!s) return;
    this.ok();
    let dl;
    try {
      dl = await s.startDownload(p[1][0], { capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.started;
    } catch (err) {
      return this.fail(err as FtpFailure);
    }
    this.info(`I/${dl.expected ?? 0}`);
    await dl.drain((b) => this.raw(b));
    if (dl.failure) {
      if (this.timing.silenceErrorMs > 0) await sleep(this.timing.silenceErrorMs);
      return this.fail(dl.failure);
    }
    this.info('I/ONLINE');
  }

  private async fcwd(a: string): Promise<void> {
    const p = this.handleArgs(a);
    if (!p || p[1][0] === undefined) return this.syntaxError();
    const s = this.session(p[0]);
    if (!s) return;
    try {
      await s.cwd(p[1][0]);
      this.ok();
    } catch (err) {
      this.fail(err as FtpFailure);
    }
  }

  private async fcls(a: string): Promise<void> {
    const p = this.handleArgs(a);
    if (!p || p[1].length) return this.syntaxError();
    const s = this.sessions.get(p[0]);
    if (!s) return this.cmeError(ICHIP_ERRORS.codes.notConnected);
    this.sessions.delete(p[0]);
    await s.close();
    this.ok();
  }
}

registerFamily('ichip', (o) => new IchipModem(o as IchipOptions));
