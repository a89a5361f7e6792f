/**
 * SIMCom SIM800 / SIM900 FTP dialect (Waspmote GPRS_Pro / GPRS+GPS), SIM900 AT Commands Manual V1.07 and the SIM800 FTP application note and
 * WaspGPRS_Pro_core.cpp.
 *
 * Bearer: `+SAPBR=3,1,"CONTYPE"|"APN"|"USER"|"PWD",...`, `=5,1` (save), `=1,1` (open, `timing.bearerDelayMs`),
 * `=2,1` (`+SAPBR: 1,<1 open|3 closed>,"<ip>"` WITH a space after the colon, SIM900 AT Commands Manual V1.07
 * p. 211; the IP is made up, it is the module's own), `=0,1` (close). `+CGREG?` → `+CGREG: 0,1` (registered).
 * Profile (local, OK at once; `?` reads back): `+FTPCID +FTPSERV +FTPPORT +FTPUN +FTPPW +FTPMODE
 * +FTPTYPE +FTPGETNAME +FTPGETPATH +FTPREST`.
 * Operations — each a separate FTP session (log in, operate, log out; the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).1, §6.1):
 * - `+FTPSIZE` → `OK`, then `+FTPSIZE: 1,0,<bytes>` or `+FTPSIZE: 1,<err>,0`.
 * - `+FTPGET=1` → `OK`, then `+FTPGET: 1,1` once data is buffered (or `+FTPGET: 1,<err>`).
 *   `+FTPGET=2,<1..1460>` → `+FTPGET: 2,<cnf>\r\n<cnf bytes>\r\nOK` (cnf 0 while nothing is buffered).
 *   A further `+FTPGET: 1,1` announces new data after the host found the buffer empty. When the whole
 *   file was received and taken: `+FTPGET: 1,0` and the session logs out. A failed transfer raises
 *   `+FTPGET: 1,<err>` at once (bytes already buffered stay readable). After either URC, with the buffer
 *   empty, `FTPGET=2` answers `+FTPGET: 2,0` once (a host may race the URC with one more read), then
 *   `+CME ERROR: 3` (no GET session; inferred); with no GET since power-up or after `+FTPQUIT` likewise.
 * - `+FTPSTATE` → `+FTPSTATE: <0 idle | 1 session active>` WITH a space (manual V1.07 p. 234; only `+FTPGET`,
 *   `+FTPPUT`, `+FTPSIZE` lack it); `+FTPQUIT` ends a running GET.
 * - SIM800 only: `+FTPGETTOFS=0,"<file>"` → `OK`, then `+FTPGETTOFS: 0,<size>` once the file named by
 *   FTPGETPATH/FTPGETNAME is stored in the module file system as `<file>` (SIM800 FTP application note);
 *   a failure → `+FTPGETTOFS: <err>,0` (the failure form is inferred).
 * Paths: how the firmware turns FTPGETPATH and FTPGETNAME into FTP commands is not public; the `pathMapping`
 * option chooses (see {@link GprsPathMapping}). Both values are used exactly as given (Libelium sends
 * `.gprs` paths and `/NAME` names, WaspGPRS_Pro_core.cpp:1604-1630). The binary TYPE is sent after login,
 * before the first SIZE/RETR (inferred: the order a client honouring `+FTPTYPE` would use).
 *
 * Codes (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).1 table, §6.4): dns 62, connect 63, login 72, notFound 77 (inference there:
 * 65/77), dataConnection 75, timeout 64, dropped 79, busy 66, notConnected 66, unexpected 70; no
 * bearer → 61. Busy operations (a GET running) answer `+CME ERROR: 3`/ERROR synchronously.
 *
 * Options: `colonSpace` — SIM800/808 firmware writes `+FTPGET: 1,1`, the SIM900 firmware Libelium used
 * writes `+FTPGET:1,1` (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts).1). Family `simcom900` defaults to false, `simcom800` to true.
 * `restSticky` (default false): `+FTPREST` applies to the next GET only, then resets to 0 — the closest
 * documented behaviour (Telit `#FTPREST`), since SIMCom's manuals leave it open.
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';
import type { ErrorCodeTable, FtpFailure } from './errors.ts';
import type { Download, FtpSession } from './ftp-session.ts';
import { registerFamily } from './registry.ts';
import { sleep } from './timing.ts';

/** SIMCom `+FTPGET`/`+FTPSIZE` error codes per failure kind (see module docstring). */
export const SIMCOM900_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 62, connect: 63, login: 72, notFound: 77, dataConnection: 75,
    timeout: 64, dropped: 79, busy: 66, notConnected: 66, unexpected: 70,
  },
};

/** Net error: FTP attempted with no open bearer. */
const NET_ERROR = 61;

/**
 * How the module turns `AT+FTPGETPATH` and `AT+FTPGETNAME` into FTP commands (not documented by SIMCom):
 * - `cwd-then-retr` (default): `CWD <path>` (skipped when the path is empty or `/`), then `SIZE`/`RETR <name>`.
 *   The likeliest: SIMCom's FTP application notes present FTPGETPATH as the folder and FTPGETNAME as the file in
 *   it, which is what a CWD followed by a RETR of the bare name does, and every SIMCom FTP command takes the
 *   path and the name as separate settings.
 *   Libelium's names start with `/` (`/UPGRADE.TXT`, `/<FILE>`), so under this mapping SIZE/RETR are absolute and
 *   the PATH only decides whether the CWD succeeds: the binary must be in the login folder.
 * - `joined`: no CWD; `SIZE`/`RETR <path><name>` (a `/` added between them when the name has none).
 */
export type GprsPathMapping = 'cwd-then-retr' | 'joined';
/** All path mappings. */
export const GPRS_PATH_MAPPINGS: readonly GprsPathMapping[] = ['cwd-then-retr', 'joined'];

/** SIM800/SIM900 options. */
export interface Simcom900Options extends AtModemOptions {
  /** See {@link GprsPathMapping}; default `cwd-then-retr`. */
  pathMapping?: GprsPathMapping;
  /** Space after the colon in `+FTPGET:` etc. Default false (SIM900); `simcom800` family: true. */
  colonSpace?: boolean;
  /** Keep the `+FTPREST` offset after a GET (default false: reset like Telit #FTPREST). */
  restSticky?: boolean;
  /** The bearer's IP address shown by `+SAPBR=2,1` (default 10.0.0.2). */
  localIp?: string;
  /** Model name for ATI. */
  model?: string;
}

/** SIM800/SIM900 emulator. */
export class Simcom900Modem extends AtModem {
  protected readonly errorTable = SIMCOM900_ERRORS;
  private bearer = false;
  private readonly localIp: string;
  private readonly restSticky: boolean;
  private readonly model: string;
  private readonly pathMapping: GprsPathMapping;
  private cfg = { cid: 1, serv: '', port: 21, un: '', pw: '', mode: 0, type: 'I', name: '', path: '', rest: 0 };
  private active = false;
  private session?: FtpSession;
  private dl?: Download;
  private announce = false;
  private ended = false;
  private readsAfterEnd = 0;

  constructor(options: Simcom900Options = {}, family = 'simcom900') {
    super(family, options);
    this.colonSpace = options.colonSpace ?? family === 'simcom800';
    this.restSticky = options.restSticky ?? false;
    this.localIp = options.localIp ?? '10.0.0.2';
    this.model = options.model ?? (family === 'simcom800' ? 'SIM800' : 'SIM900');
    this.pathMapping = options.pathMapping ?? 'cwd-then-retr';
    if (!GPRS_PATH_MAPPINGS.includes(this.pathMapping)) throw new Error(`pathMapping must be one of ${GPRS_PATH_MAPPINGS.join(', ')}`);
    this.register('+SAPBR', (a) => this.sapbr(a));
    this.register('+CGREG', (a) => (a === '?' ? (this.info('+CGREG: 0,1'), this.ok()) : this.syntaxError()));
    if (family === 'simcom800') this.register('+FTPGETTOFS', (a) => this.getToFs(a));
    const str = (k: 'serv' | 'un' | 'pw' | 'name' | 'path') => ({ get: () => this.cfg[k], set: (v: string) => { this.cfg[k] = v; return true; } });
    const int = (k: 'cid' | 'port' | 'mode' | 'rest', max: number) => ({
      get: () => this.cfg[k],
      set: (v: string) => { const n = intArg(v); if (n === undefined || n > max) return false; this.cfg[k] = n; return true; },
    });
    this.registerParam('+FTPCID', int('cid', 16));
    this.registerParam('+FTPSERV', str('serv'));
    this.registerParam('+FTPPORT', int('port', 65535));
    this.registerParam('+FTPUN', str('un'));
    this.registerParam('+FTPPW', str('pw'));
    this.registerParam('+FTPMODE', int('mode', 1));
    this.registerParam('+FTPTYPE', { get: () => this.cfg.type, set: (v) => { const t = v.toUpperCase(); if (t !== 'I' && t !== 'A') return false; this.cfg.type = t; return true; } });
    this.registerParam('+FTPGETNAME', str('name'));
    this.registerParam('+FTPGETPATH', str('path'));
    this.registerParam('+FTPREST', int('rest', Number.MAX_SAFE_INTEGER));
    this.register('+FTPSTATE', () => { this.info(`+FTPSTATE: ${this.active ? 1 : 0}`); this.ok(); });
    this.register('+FTPSIZE', (a) => this.ftpSize(a));
    this.register('+FTPGET', (a) => this.ftpGet(a));
    this.register('+FTPQUIT', () => this.ftpQuit());
  }

  protected override identity(): string[] {
    return ['SIMCOM_Ltd', `SIMCOM_${this.model} (firmdrop emulator)`];
  }

  protected override async shutdown(): Promise<void> {
    this.session?.destroy();
    this.session = undefined;
  }

  private async sapbr(a: string): Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const cmd = intArg(p?.[0]);
    if (!p || cmd === undefined || p.length < 2) return this.syntaxError();
    switch (cmd) {
      case 3: return p.length >= 4 ? this.ok() : this.syntaxError();
      case 4: case 5: return this.ok();
      case 1:
        if (this.bearer) return this.syntaxError();
        await sleep(this.timing.bearerDelayMs);
        this.bearer = true;
        return this.ok();
      case 2:
        this.info(`+SAPBR: ${p[1]},${this.bearer ? 1 : 3},"${this.bearer ? this.localIp : '0.0.0.0'}"`);
        return this.ok();
      case 0:
        if (!this.bearer) return this.syntaxError();
        this.bearer = false;
        return this.ok();
      default: return this.syntaxError();
    }
  }

  /** The file argument of SIZE/RETR for the configured path and name under {@link pathMapping}. */
  private remoteName(): string {
    const { path, name } = this.cfg;
    if (this.pathMapping === 'cwd-then-retr' || path === '') return name;
    return name.startsWith('/') || path.endsWith('/') ? `${path}${name}` : `${path}/${name}`;
  }

  /** Log in, set TYPE, CWD to FTPGETPATH (cwd-then-retr). Rejects with FtpFailure (session closed on failure). */
  private async openOp(): Promise<FtpSession> {
    const s = await this.ftpLogin({ host: this.cfg.serv, port: this.cfg.port, user: this.cfg.un, pass: this.cfg.pw, passive: this.cfg.mode === 1 });
    try {
      await s.type(this.cfg.type === 'I');
      if (this.pathMapping === 'cwd-then-retr' && this.cfg.path !== '' && this.cfg.path !== '/') await s.cwd(this.cfg.path);
      return s;
    } catch (err) {
      s.destroy();
      throw err;
    }
  }

  private ftpSize(a: string): void {
    if (a !== '') return this.syntaxError();
    if (this.active) return this.cmeError(3);
    this.ok();
    if (!this.bearer) { this.urc(this.kv('+FTPSIZE', `1,${NET_ERROR},0`)); return; }
    this.active = true;
    void (async () => {
      let s: FtpSession | undefined;
      let result: string;
      try {
        s = await this.openOp();
        result = `1,0,${await s.size(this.remoteName())}`;
      } catch (err) {
        result = `1,${this.errorCode(err as FtpFailure)},0`;
      }
      // log out first, so that the session is over (FTPSTATE 0) when the host sees the result
      await s?.close();
      this.active = false;
      this.urc(this.kv('+FTPSIZE', result));
    })();
  }

  private async ftpGet(a: string): Promise<void> {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    const mode = intArg(p?.[0]);
    if (mode === 1 && p!.length === 1) return this.getOpen();
    if (mode === 2 && p!.length === 2) {
      const n = intArg(p![1]);
      if (n === undefined || n < 1 || n > 1460) return this.syntaxError();
      return this.getRead(n);
    }
    this.syntaxError();
  }

  private getOpen(): void {
    if (this.active) return this.cmeError(3);
    this.ok();
    if (!this.bearer) { this.urc(this.kv('+FTPGET', `1,${NET_ERROR}`)); return; }
    this.active = true;
    this.ended = false;
    this.readsAfterEnd = 0;
    this.announce = false;
    const offset = this.cfg.rest;
    if (!this.restSticky) this.cfg.rest = 0;
    void (async () => {
      try {
        const s = await this.openOp();
        this.session = s;
        const dl = await s.startDownload(this.remoteName(), { offset, capacity: this.bufferBytes, verifySize: this.verifySize });
        this.dl = dl;
        dl.on('change', () => this.onChange());
        await dl.started.catch(() => undefined);
        if (this.dl === dl && !this.ended && !dl.failure) this.urc(this.kv('+FTPGET', '1,1'));
        this.onChange();
      } catch (err) {
        this.finishGet(err as FtpFailure);
      }
    })();
  }

  /** React to download progress: announce data, report the end or the failure (once). */
  private onChange(): void {
    const dl = this.dl;
    if (!dl || this.ended) return;
    if (dl.failure) return this.finishGet(dl.failure);
    if (dl.drained) return this.finishGet();
    if (this.announce && dl.available > 0) {
      this.announce = false;
      this.urc(this.kv('+FTPGET', '1,1'));
    }
  }

  /** End of a GET: `+FTPGET: 1,0` or `+FTPGET: 1,<err>`; the session logs out. */
  private finishGet(f?: FtpFailure): void {
    if (this.ended) return;
    this.ended = true;
    const s = this.session;
    this.session = undefined;
    this.active = false;
    void s?.close();
    this.urc(this.kv('+FTPGET', `1,${f ? this.errorCode(f) : 0}`));
  }

  private async getRead(n: number): Promise<void> {
    const dl = this.dl;
    // No GET since power-up (or after +FTPQUIT) → error. After the end/failure URC, once the buffer is empty, one
    // more read answers `+FTPGET: 2,0` (a host may race the URC with one more read); later reads find no GET
    // session: +CME ERROR: 3 (inferred: SIMCom documents FTPGET=2 only inside a GET session).
    if (!dl) return this.cmeError(3);
    if (this.ended && dl.available === 0 && this.readsAfterEnd++ > 0) return this.cmeError(3);
    const bytes = dl.read(n);
    this.info(this.kv('+FTPGET', `2,${bytes.length}`));
    if (bytes.length > 0) await this.raw(bytes);
    this.ok();
    if (dl.available === 0) this.announce = true;
    this.onChange();
  }

  /** SIM800 `AT+FTPGETTOFS=0,"<file>"`: the whole file into the module file system (see module docstring). */
  private getToFs(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    if (!p || p.length !== 2 || intArg(p[0]) !== 0 || !p[1]) return this.syntaxError();
    if (this.active) return this.cmeError(3);
    this.ok();
    if (!this.bearer) { this.urc(`+FTPGETTOFS: ${NET_ERROR},0`); return; }
    this.active = true;
    const local = p[1];
    void (async () => {
      let s: FtpSession | undefined;
      let result: string;
      try {
        s = await this.openOp();
        this.fs.write(local, Buffer.alloc(0));
        const dl = await s.startDownload(this.remoteName(), { offset: 0, capacity: this.bufferBytes, verifySize: this.verifySize });
        await dl.drain((b) => this.fs.append(local, b));
        if (dl.failure) throw dl.failure;
        result = `0,${this.fs.size(local)}`;
      } catch (err) {
        result = `${this.errorCode(err as FtpFailure)},0`;
      }
      await s?.close();
      this.active = false;
      this.urc(`+FTPGETTOFS: ${result}`);
    })();
  }

  private async ftpQuit(): Promise<void> {
    if (!this.active) return this.cmeError(3);
    this.ended = true;
    this.dl = undefined;
    const s = this.session;
    this.session = undefined;
    await s?.close();
    this.active = false;
    this.ok();
  }
}

registerFamily('simcom900', (o) => new Simcom900Modem(o as Simcom900Options, 'simcom900'));
registerFamily('simcom800', (o) => new Simcom900Modem(o as Simcom900Options, 'simcom800'));
