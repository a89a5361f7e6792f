/**
 * Quectel EC2x / EG9x / EC200U / BG96 FTP dialect (research/modem-at-ftp.md §3), a thin layer on the shared core.
 *
 * Model (§3.1): almost every `+QFTPxxx` answers `OK` (or `+CME ERROR: <err>`) at once and the result follows as the
 * URC `+QFTPxxx: <err>,<value|server reply>`: `<err>` 0 = success (the second field is then the value), otherwise
 * a 6xx code (table {@link QUECTEL_FTP_ERRORS}) with the server's reply code as the second field (0 when none).
 *
 * Commands:
 * - `+QIACT=1` / `+QIACT?` / `+QIDEACT=1`: the PDP context (the emulator starts with it active unless
 *   `pdpActive: false`; `+QFTPOPEN` with the context down → `+QFTPOPEN: 605,0`).
 * - `+QFTPCFG="contextid",<1-16>` / `"account","<u>","<p>"` / `"filetype",<0|1>` / `"transmode",<0|1>` /
 *   `"rsptimeout",<20-180>` / `"ssltype",<0-2>` / `"sslctxid",<0-5>`; `+QFTPCFG="<name>"` reads one back (the
 *   password masked with `*`, EG800K obs). `rsptimeout` (s) becomes the FTP timeout (reply, data-connection open
 *   and data-gap bound, §3.1). transmode defaults to 0 (active, "believed", §3.2); the wire is always passive.
 * - `+QFTPOPEN="<host>"[,<port>]` → `+QFTPOPEN: 0,0`; `+QFTPCWD="<dir>"` → `+QFTPCWD: 0,0`; `+QFTPPWD` →
 *   `+QFTPPWD: 0,"<dir>"`; `+QFTPSIZE="<f>"` → `+QFTPSIZE: 0,<bytes>` (missing: `+QFTPSIZE: 627,550`, EG800K).
 * - `+QFTPGET="<f>","COM:"[,<startpos>[,<downloadlen>]]` → `CONNECT`, the raw bytes (exactly `<downloadlen>` when
 *   given, UC15 manual), `OK`, `+QFTPGET: 0,<transferlen>`. With `<downloadlen>` the rest of the server's transfer
 *   is drained and discarded in the background; FTP commands that follow wait for that drain (state 2 meanwhile).
 *   A transfer that fails after CONNECT leaves data mode with `OK` and `+QFTPGET: <err>,<proto>` (inference).
 *   A GET that cannot start (missing file) answers `OK` then `+QFTPGET: 627,550`.
 * - `+QFTPGET="<f>","UFS:<name>"|"RAM:<name>"|"<name>"[,<startpos>]` → `OK`, then `+QFTPGET: 0,<transferlen>`;
 *   the bytes go to the module file system as they arrive (a failed transfer keeps its prefix; `<startpos>` keeps
 *   the first startpos bytes of the local file and appends from there). Read back with `+QFLST="<name>"`
 *   (`+QFLST: "<name>",<size>`; `"*"` lists all), `+QFOPEN="<name>"` (`+QFOPEN: <handle>`), `+QFSEEK=<h>,<off>[,<0|1|2>]`,
 *   `+QFREAD=<h>[,<len>]` (`CONNECT <n>\r\n<n bytes>\r\nOK`), `+QFPOSITION=<h>`, `+QFCLOSE=<h>`, `+QFDEL="<name>"`.
 *   `UFS:x` and `x` are the same file; `RAM:x` is a different one. A missing file → `+CME ERROR: <fileNotFoundCme>`
 *   (default 405, Quectel FILE AT error "file not found", from the FILE command manual, unverified here).
 * - `+QFTPSTAT` → `+QFTPSTAT: 0,<state>` then `OK` (EG800K order; `statAfterOk: true` gives BG96's order, §3.2).
 *   States: 0 opening, 1 idle (logged in), 2 transferring, 3 closing, 4 closed (0 is inferred, research §3.2).
 * - `+QFTPCLOSE` → `OK`, then after `closeLatencyMs` `+QFTPCLOSE: 0,0`. Meanwhile every other FTP command gets
 *   `+CME ERROR: 603` (§3.1, EG800K obs). An FTP command while another one runs also gets 603 ("busy").
 *
 * Error mapping: a server reply code maps to its mirror (421→614, 425→615, 426→616, 450→617, 451→618, 452→619,
 * 500→620, 501→621, 502→622, 503→623, 504→624, 530→625, 532→626, 550→627, 551→628, 552→629, 553→630; §3.4,
 * order as in Quectel's own driver, partly inference). Without a reply code: DNS 604, TCP connect 605, login 625,
 * data connection 615, timeout 609, connection lost 606 (607 in the data phase), busy 603, no session 625, other 601.
 * The EG800K quirk "after a 615 every command answers 603 until the close completes" is NOT emulated.
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';
import { FtpFailure, type ErrorCodeTable } from './errors.ts';
import { downloadToModuleFs } from './fs-download.ts';
import type { Download, FtpSession } from './ftp-session.ts';
import { ModuleFsError } from './module-fs.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';

/** Quectel FTP error codes and meanings (research §3.4, [QERR]). */
export const QUECTEL_FTP_ERRORS: Record<number, string> = {
  0: 'success', 601: 'unknown error', 602: 'FTP(S) server blocked', 603: 'FTP(S) server busy', 604: 'DNS parse failed',
  605: 'network error', 606: 'control connection closed', 607: 'data connection closed', 608: 'socket closed by peer',
  609: 'timeout error', 610: 'invalid parameter', 611: 'failed to open file', 612: 'file position invalid',
  613: 'file error', 614: 'service not available, closing control connection', 615: 'open data connection failed',
  616: 'connection closed; transfer aborted', 617: 'requested file action not taken', 618: 'requested action aborted: local error',
  619: 'requested action not taken: insufficient system storage', 620: 'syntax error, command unrecognized',
  621: 'syntax error in parameters or arguments', 622: 'command not implemented', 623: 'bad sequence of commands',
  624: 'command parameter not implemented', 625: 'not logged in', 626: 'need account for storing files',
  627: 'requested action not taken', 628: 'requested action aborted: page type unknown',
  629: 'requested file action aborted', 630: 'requested file name invalid', 631: 'SSL authentication failed',
};

/** Server reply code → Quectel error (research §3.4). */
export const QUECTEL_REPLY_MAP: Record<number, number> = {
  421: 614, 425: 615, 426: 616, 450: 617, 451: 618, 452: 619, 500: 620, 501: 621, 502: 622, 503: 623, 504: 624,
  530: 625, 532: 626, 550: 627, 551: 628, 552: 629, 553: 630,
};

/** Codes for failures without a server reply (see the module docstring). */
export const QUECTEL_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 604, connect: 605, login: 625, notFound: 627, dataConnection: 615,
    timeout: 609, dropped: 606, busy: 603, notConnected: 625, unexpected: 601,
  },
  dataCodes: { dropped: 607 },
};

const BUSY = 603;

/** Quectel options. */
export interface QuectelOptions extends AtModemOptions {
  /** PDP context active at start (default true). */
  pdpActive?: boolean;
  /** Delay in ms between `+QFTPCLOSE`'s OK and its URC (default 0; 2000 with the 'realistic' timing preset). */
  closeLatencyMs?: number;
  /** `+QFTPSTAT` answers OK first and the state as a URC after it (BG96); default false (EG800K). */
  statAfterOk?: boolean;
  /** +CME code for a missing module file (default 405). */
  fileNotFoundCme?: number;
}

interface Cfg { contextid: number; user: string; pass: string; filetype: number; transmode: number; rsptimeout: number; ssltype: number; sslctxid: number }

/** Quectel EC2x/BG96 emulator. */
export class QuectelModem extends AtModem {
  protected readonly errorTable = QUECTEL_ERRORS;
  private cfg: Cfg = { contextid: 1, user: '', pass: '', filetype: 0, transmode: 0, rsptimeout: 90, ssltype: 0, sslctxid: 0 };
  private pdpActive: boolean;
  private session?: FtpSession;
  private opening = false;
  private busy = false;
  private closing = false;
  private draining?: Promise<void>;
  private readonly handles = new Map<number, { name: string; pos: number }>();
  private nextHandle = 1;
  private readonly opts: QuectelOptions;

  constructor(options: QuectelOptions = {}) {
    super('quectel', options);
    this.opts = options;
    this.pdpActive = options.pdpActive ?? true;
    // 'realistic' timing: the FTP timeout is rsptimeout's default, 90 s (UC15 manual via research §3.1), unless set.
    if (this.realistic && !(typeof options.timing === 'object' && options.timing.ftpTimeoutMs !== undefined)) {
      this.timing.ftpTimeoutMs = this.cfg.rsptimeout * 1000;
    }
    this.register('+QIACT', (a) => this.qiact(a));
    this.register('+QIDEACT', (a) => { if (!/^=\d+$/.test(a)) return this.syntaxError(); this.pdpActive = false; this.ok(); });
    this.register('+QFTPCFG', (a) => this.qftpcfg(a));
    this.register('+QFTPOPEN', (a) => this.qftpopen(a));
    this.register('+QFTPCWD', (a) => this.withFile(a, (dir) => this.op('+QFTPCWD', async (s) => { await s.cwd(dir); return '0'; })));
    this.register('+QFTPPWD', (a) => (a !== '' ? this.syntaxError() : this.op('+QFTPPWD', async (s) => `"${(await s.pwd()).path}"`)));
    this.register('+QFTPSIZE', (a) => this.withFile(a, (f) => this.op('+QFTPSIZE', async (s) => String(await s.size(f)))));
    this.register('+QFTPGET', (a) => this.qftpget(a));
    this.register('+QFTPSTAT', (a) => this.qftpstat(a));
    this.register('+QFTPCLOSE', (a) => this.qftpclose(a));
    this.register('+QFLST', (a) => this.qflst(a));
    this.register('+QFOPEN', (a) => this.qfopen(a));
    this.register('+QFSEEK', (a) => this.qfseek(a));
    this.register('+QFREAD', (a) => this.qfread(a));
    this.register('+QFPOSITION', (a) => this.qfposition(a));
    this.register('+QFCLOSE', (a) => this.qfclose(a));
    this.register('+QFDEL', (a) => this.qfdel(a));
  }

  protected override identity(): string[] {
    return ['Quectel', 'EC21 (firmdrop emulator)'];
  }

  protected override errorText(code: number): string {
    if (code === this.fileNotFound) return 'file not found';
    return QUECTEL_FTP_ERRORS[code] ?? `error ${code}`;
  }

  protected override async shutdown(): Promise<void> {
    this.session?.destroy();
    this.session = undefined;
  }

  /** True with the 'realistic' timing preset. */
  private get realistic(): boolean {
    const t = this.opts.timing;
    return t === 'realistic' || (typeof t === 'object' && t.preset === 'realistic');
  }

  private get fileNotFound(): number {
    return this.opts.fileNotFoundCme ?? 405;
  }

  /** `<err>,<proto>` for a failure (research §3.4). */
  private codes(err: unknown): [number, number] {
    if (err instanceof FtpFailure) {
      const mapped = err.ftpCode !== undefined ? QUECTEL_REPLY_MAP[err.ftpCode] : undefined;
      return [mapped ?? this.errorCode(err), err.ftpCode ?? 0];
    }
    if (err instanceof ModuleFsError) return [err.reason === 'full' ? 619 : 613, 0];
    return [601, 0];
  }

  /** +QFTPSTAT state (see the module docstring). */
  private get state(): number {
    if (this.closing) return 3;
    if (this.opening) return 0;
    if (this.busy || this.draining || this.session?.transferring) return 2;
    if (this.session?.isOpen) return 1;
    return 4;
  }

  /** The logged-in session after any background drain; throws FtpFailure notConnected. */
  private async live(): Promise<FtpSession> {
    if (this.draining) await this.draining;
    if (this.session && !this.session.isOpen) this.session = undefined;
    if (!this.session) throw new FtpFailure('notConnected', 'command', 'no FTP session (AT+QFTPOPEN first)');
    return this.session;
  }

  /** Parses `="<name>"` and runs `fn(name)`; ERROR when malformed. */
  private withFile(a: string, fn: (name: string) => void | Promise<void>): void | Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    return fn(p[0]);
  }

  /** `OK` now; `work` in the background; then `<name>: 0,<value>` or `<name>: <err>,<proto>`. 603 when busy/closing. */
  private op(name: string, work: (s: FtpSession) => Promise<string>): void {
    if (this.closing || this.busy) return this.cmeError(BUSY);
    this.busy = true;
    this.ok();
    void (async () => {
      let text: string;
      try {
        text = `0,${await work(await this.live())}`;
      } catch (err) {
        text = this.codes(err).join(',');
      } finally {
        this.busy = false;
      }
      if (!this.isShutDown) this.urc(`${name}: ${text}`);
    })();
  }

  // ---- PDP context and configuration -------------------------------------------------------------

  private qiact(a: string): void {
    if (a === '?') {
      if (this.pdpActive) this.info(`+QIACT: ${this.cfg.contextid},1,1,"10.0.0.3"`);
      return this.ok();
    }
    if (!/^=\d+$/.test(a)) return this.syntaxError();
    this.pdpActive = true;
    this.ok();
  }

  private qftpcfg(a: string): void {
    if (a === '=?') {
      for (const l of ['"contextid",(1-16)', '"account",<username>,<password>', '"filetype",(0,1)', '"transmode",(0,1)',
        '"rsptimeout",(20-180)', '"ssltype",(0-2)', '"sslctxid",(0-5)']) this.info(`+QFTPCFG: ${l}`);
      return this.ok();
    }
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    const name = p[0].toLowerCase();
    const c = this.cfg;
    if (p.length === 1) { // read one parameter
      const v: Record<string, string> = {
        contextid: `${c.contextid}`, account: `"${c.user}","${'*'.repeat(c.pass.length)}"`, filetype: `${c.filetype}`,
        transmode: `${c.transmode}`, rsptimeout: `${c.rsptimeout}`, ssltype: `${c.ssltype}`, sslctxid: `${c.sslctxid}`,
      };
      if (v[name] === undefined) return this.syntaxError();
      this.info(`+QFTPCFG: "${name}",${v[name]}`);
      return this.ok();
    }
    if (name === 'account') {
      if (p.length < 3) return this.syntaxError();
      c.user = p[1]!;
      c.pass = p[2]!;
      return this.ok();
    }
    const ranges: Record<string, [number, number]> = {
      contextid: [1, 16], filetype: [0, 1], transmode: [0, 1], rsptimeout: [20, 180], ssltype: [0, 2], sslctxid: [0, 5],
    };
    const n = intArg(p[1]);
    const r = ranges[name];
    if (!r || n === undefined || n < r[0] || n > r[1]) return this.syntaxError();
    (c as unknown as Record<string, number>)[name] = n;
    if (name === 'filetype') this.session?.setTransferType(n === 1 ? 'A' : 'I');
    if (name === 'rsptimeout') {
      this.timing.ftpTimeoutMs = n * 1000;
      this.session?.setTimeout(this.timing.ftpTimeoutMs);
    }
    this.ok();
  }

  // ---- FTP session ---------------------------------------------------------------------------------

  private qftpopen(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const port = p?.[1] === undefined || p[1] === '' ? 21 : intArg(p[1]);
    if (!p || !p[0] || port === undefined || port < 1 || port > 65535) return this.syntaxError();
    if (this.closing || this.busy || this.opening || this.session?.isOpen) return this.cmeError(BUSY);
    const host = p[0];
    this.opening = true;
    this.ok();
    void (async () => {
      let text = '0,0';
      try {
        if (!this.pdpActive) throw new FtpFailure('connect', 'connect', 'PDP context not active (AT+QIACT=1)');
        const c = this.cfg;
        this.session = await this.ftpLogin({ host, port, user: c.user, pass: c.pass, passive: c.transmode === 1, secure: c.ssltype > 0,
          transferType: c.filetype === 1 ? 'A' : 'I' });
      } catch (err) {
        text = this.codes(err).join(',');
      } finally {
        this.opening = false;
      }
      if (!this.isShutDown) this.urc(`+QFTPOPEN: ${text}`);
    })();
  }

  private async qftpclose(a: string): Promise<void> {
    if (a !== '') return this.syntaxError();
    if (this.closing) return this.cmeError(BUSY);
    const latency = this.opts.closeLatencyMs ?? (this.realistic ? 2000 : 0);
    this.closing = true;
    this.ok();
    const s = this.session;
    this.session = undefined;
    void (async () => {
      await s?.close();
      if (latency > 0) await sleep(latency);
      this.closing = false;
      if (!this.isShutDown) this.urc('+QFTPCLOSE: 0,0');
    })();
  }

  private qftpstat(a: string): void {
    if (a !== '') return this.syntaxError();
    const line = `+QFTPSTAT: 0,${this.state}`;
    if (this.opts.statAfterOk) { this.ok(); this.urc(line); return; }
    this.info(line);
    this.ok();
  }

  private async qftpget(a: string): Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const startpos = p?.[2] === undefined ? 0 : intArg(p[2]);
    const downloadlen = p?.[3] === undefined ? undefined : intArg(p[3]);
    if (!p || !p[0] || !p[1] || startpos === undefined || (p[3] !== undefined && (downloadlen === undefined || downloadlen < 1))) {
      return this.syntaxError();
    }
    if (this.closing || this.busy) return this.cmeError(BUSY);
    const [remote, local] = [p[0], p[1]];
    if (local.toUpperCase() === 'COM:') return this.getToCom(remote, startpos, downloadlen);
    const name = this.localName(local);
    this.op('+QFTPGET', async (s) => {
      if (startpos > 0) this.fs.truncate(name, startpos);
      else this.fs.write(name, Buffer.alloc(0));
      const dl = await s.startDownload(remote, { offset: startpos, capacity: this.bufferBytes, verifySize: this.verifySize });
      return String(await downloadToModuleFs(dl, this.fs, name));
    });
  }

  /** `COM:` GET: CONNECT, raw bytes, OK, `+QFTPGET: 0,<len>` (or `<err>,<proto>`). Holds the command queue (data mode). */
  private async getToCom(remote: string, startpos: number, downloadlen: number | undefined): Promise<void> {
    this.busy = true;
    let dl: Download;
    try {
      const s = await this.live();
      dl = await s.startDownload(remote, { offset: startpos, capacity: this.bufferBytes, verifySize: this.verifySize });
      await dl.started;
    } catch (err) {
      this.busy = false;
      this.ok();
      this.urc(`+QFTPGET: ${this.codes(err).join(',')}`);
      return;
    }
    this.info('CONNECT');
    let sent = 0;
    const limit = downloadlen ?? Number.MAX_SAFE_INTEGER;
    while (sent < limit) {
      if (dl.available > 0) {
        const chunk = dl.read(Math.min(dl.available, limit - sent));
        sent += chunk.length;
        await this.raw(chunk);
      } else if (dl.settled) break;
      else await dl.waitChange(1000);
    }
    this.busy = false;
    const failed = sent < limit && dl.failure;
    this.info('OK');
    this.urc(`+QFTPGET: ${failed ? this.codes(dl.failure).join(',') : `0,${sent}`}`);
    if (!dl.settled) { // downloadlen reached: drain the rest of the server's transfer, keep the session
      this.draining = (async () => {
        while (!dl.settled || dl.available > 0) {
          if (dl.available > 0) dl.read(dl.available);
          else await dl.waitChange(1000);
        }
      })().finally(() => { this.draining = undefined; });
    }
  }

  // ---- module file system (+QFLST, +QFOPEN, +QFSEEK, +QFREAD, +QFCLOSE, +QFDEL) -------------------------

  /** "UFS:x" and "x" name the same file; "RAM:x" keeps its prefix. */
  private localName(spec: string): string {
    return /^UFS:/i.test(spec) ? spec.slice(4) : /^RAM:/i.test(spec) ? `RAM:${spec.slice(4)}` : spec;
  }

  private qflst(a: string): void {
    const p = a === '' ? ['*'] : a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    if (p[0] === '*') {
      for (const n of this.fs.list()) this.info(`+QFLST: "${n.startsWith('RAM:') ? n : `UFS:${n}`}",${this.fs.size(n)}`);
      return this.ok();
    }
    const name = this.localName(p[0]);
    if (!this.fs.has(name)) return this.cmeError(this.fileNotFound);
    this.info(`+QFLST: "${p[0]}",${this.fs.size(name)}`);
    this.ok();
  }

  private qfopen(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    const name = this.localName(p[0]);
    if (!this.fs.has(name)) return this.cmeError(this.fileNotFound);
    const h = this.nextHandle++;
    this.handles.set(h, { name, pos: 0 });
    this.info(`+QFOPEN: ${h}`);
    this.ok();
  }

  private handle(a: string): { h: number; f: { name: string; pos: number }; args: string[] } | undefined {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const h = intArg(p?.[0]);
    const f = h === undefined ? undefined : this.handles.get(h);
    return p && h !== undefined && f ? { h, f, args: p.slice(1) } : undefined;
  }

  private qfseek(a: string): void {
    const x = this.handle(a);
    const off = intArg(x?.args[0]);
    const origin = x?.args[1] === undefined ? 0 : intArg(x.args[1]);
    if (!x || off === undefined || origin === undefined || origin > 2) return this.syntaxError();
    const base = origin === 0 ? 0 : origin === 1 ? x.f.pos : this.fs.size(x.f.name);
    x.f.pos = Math.min(base + off, this.fs.size(x.f.name));
    this.ok();
  }

  private async qfread(a: string): Promise<void> {
    const x = this.handle(a);
    const len = x?.args[0] === undefined ? Number.MAX_SAFE_INTEGER : intArg(x.args[0]);
    if (!x || len === undefined) return this.syntaxError();
    const bytes = this.fs.read(x.f.name, x.f.pos, len);
    x.f.pos += bytes.length;
    this.info(`CONNECT ${bytes.length}`);
    await this.raw(bytes);
    this.ok();
  }

  private qfposition(a: string): void {
    const x = this.handle(a);
    if (!x) return this.syntaxError();
    this.info(`+QFPOSITION: ${x.f.pos}`);
    this.ok();
  }

  private qfclose(a: string): void {
    const x = this.handle(a);
    if (!x) return this.syntaxError();
    this.handles.delete(x.h);
    this.ok();
  }

  private qfdel(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || !p[0]) return this.syntaxError();
    const name = this.localName(p[0]);
    if (p[0] === '*') { for (const n of this.fs.list()) this.fs.delete(n); return this.ok(); }
    if (!this.fs.has(name)) return this.cmeError(this.fileNotFound);
    this.fs.delete(name);
    this.ok();
  }
}

registerFamily('quectel', (o) => new QuectelModem(o as QuectelOptions));
