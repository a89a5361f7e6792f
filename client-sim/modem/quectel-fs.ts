/**
 * The Quectel module file system commands (Quectel FILE AT Commands Manual; the read loop of Libelium's
 * WaspBG96.cpp): `+QFLST="<name>"` (`+QFLST: "<name>",<size>`; `"*"` lists all), `+QFOPEN="<name>"`
 * (`+QFOPEN: <handle>`), `+QFSEEK=<h>,<off>[,<0|1|2>]`, `+QFREAD=<h>[,<len>]` (`CONNECT <n>\r\n<n bytes>\r\nOK`),
 * `+QFPOSITION=<h>`, `+QFCLOSE=<h>`, `+QFDEL="<name>"`. `UFS:x` and `x` are the same file; `RAM:x` is another one.
 * A missing file → `+CME ERROR: <fileNotFoundCme>` (default 405, "file not found" in the FILE manual's error
 * table; unverified against a device). The FTP dialect (quectel.ts) extends this class.
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';

/** Options of the Quectel file-system commands. */
export interface QuectelFsOptions extends AtModemOptions {
  /** +CME code for a missing module file (default 405). */
  fileNotFoundCme?: number;
}

/** The `+QF*` file commands on the module file system (see the module docstring). */
export abstract class QuectelFsModem extends AtModem {
  private readonly handles = new Map<number, { name: string; pos: number }>();
  private nextHandle = 1;
  private readonly notFoundCme: number;

  constructor(family: string, options: QuectelFsOptions = {}) {
    super(family, options);
    this.notFoundCme = options.fileNotFoundCme ?? 405;
    this.register('+QFLST', (a) => this.qflst(a));
    this.register('+QFOPEN', (a) => this.qfopen(a));
    this.register('+QFSEEK', (a) => this.qfseek(a));
    this.register('+QFREAD', (a) => this.qfread(a));
    this.register('+QFPOSITION', (a) => this.qfposition(a));
    this.register('+QFCLOSE', (a) => this.qfclose(a));
    this.register('+QFDEL', (a) => this.qfdel(a));
  }

  /** The +CME code of a missing module file. */
  protected get fileNotFound(): number {
    return this.notFoundCme;
  }

  /** "UFS:x" and "x" name the same file; "RAM:x" keeps its prefix. */
  protected localName(spec: string): string {
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
