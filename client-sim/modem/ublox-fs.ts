/**
 * The u-blox module file system commands (u-blox SARA-R4 AT Commands Manual UBX-17003787, "File System" chapter):
 * `+ULSTFILE=0` (names), `=1` (free bytes), `=2,"<f>"` → `+ULSTFILE: <size>`; `+URDFILE="<f>"` →
 * `+URDFILE: "<f>",<size>,"<raw bytes>"`; `+URDBLOCK="<f>",<offset>,<len>` → `+URDBLOCK: "<f>",<n>,"<raw n bytes>"`;
 * `+UDELFILE="<f>"`. Raw bytes are never escaped; hosts count them. SARA-R4 sends only `\n`, no `\r`, before
 * `+URDFILE:`/`+URDBLOCK:` (u-blox ubxlib cell/src/u_cell_file.c matches `"\n+URDFILE:"`; `r4NewlineQuirk`, default
 * on for SARA-R4 models). A missing file → `+CME ERROR: <fsNotFoundCme>`, text form `FILE NOT FOUND` (what the
 * Sodaq and mbed u-blox drivers match); the numeric default 1612 is unverified. The FTP dialect (ublox.ts) extends
 * this class.
 */
import { AtModem, intArg, splitArgs, type AtModemOptions } from './at-modem.ts';

/** Options of the u-blox file-system commands. */
export interface UbloxFsOptions extends AtModemOptions {
  /** Only `\n` before `+URDFILE:`/`+URDBLOCK:` (default: true on SARA-R4 models). */
  r4NewlineQuirk?: boolean;
  /** +CME code for a missing module file (default 1612, unverified; text form "FILE NOT FOUND"). */
  fsNotFoundCme?: number;
}

/** The `+ULSTFILE`/`+URDFILE`/`+URDBLOCK`/`+UDELFILE` commands (see the module docstring). */
export abstract class UbloxFsModem extends AtModem {
  private readonly fsOpts: UbloxFsOptions;

  constructor(family: string, options: UbloxFsOptions = {}) {
    super(family, options);
    this.fsOpts = options;
    this.register('+ULSTFILE', (a) => this.ulstfile(a));
    this.register('+URDFILE', (a) => this.urdfile(a));
    this.register('+URDBLOCK', (a) => this.urdblock(a));
    this.register('+UDELFILE', (a) => this.udelfile(a));
  }

  /** True for SARA-R4 models (the bare-`\n` quirk's default). */
  protected abstract get isR4(): boolean;

  /** The +CME code of a missing module file. */
  protected get fsNotFound(): number {
    return this.fsOpts.fsNotFoundCme ?? 1612;
  }

  private get r4Quirk(): boolean {
    return this.fsOpts.r4NewlineQuirk ?? this.isR4;
  }

  private fileArg(a: string, n: number): string[] | undefined {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : undefined;
    return p && p.length >= n && p[0] ? p : undefined;
  }

  private ulstfile(a: string): void {
    const p = a.startsWith('=') ? splitArgs(a.slice(1)) : a === '' ? ['0'] : undefined;
    const op = intArg(p?.[0]);
    if (!p || op === undefined || op > 2) return this.syntaxError();
    if (op === 0) this.info(`+ULSTFILE: ${this.fs.list().map((n) => `"${n}"`).join(',')}`);
    else if (op === 1) this.info(`+ULSTFILE: ${this.fs.capacity - this.fs.used()}`);
    else {
      if (!p[1]) return this.syntaxError();
      if (!this.fs.has(p[1])) return this.cmeError(this.fsNotFound);
      this.info(`+ULSTFILE: ${this.fs.size(p[1])}`);
    }
    this.ok();
  }

  /** Writes `<prefix>+CMD: "<name>",<n>,"<bytes>"\r\n` then OK; prefix is `\n` on SARA-R4 (quirk), else `\r\n`. */
  private async fileData(cmd: string, name: string, bytes: Buffer): Promise<void> {
    const quirk = this.r4Quirk;
    const head = `${cmd}: "${name}",${bytes.length},"`;
    await this.raw(Buffer.concat([Buffer.from(`${quirk ? '\n' : '\r\n'}${head}`, 'latin1'), bytes, Buffer.from('"\r\n', 'latin1')]),
      `${head}<${bytes.length} bytes>"`);
    this.ok();
  }

  private async urdfile(a: string): Promise<void> {
    const p = this.fileArg(a, 1);
    if (!p) return this.syntaxError();
    if (!this.fs.has(p[0]!)) return this.cmeError(this.fsNotFound);
    await this.fileData('+URDFILE', p[0]!, this.fs.read(p[0]!));
  }

  private async urdblock(a: string): Promise<void> {
    const p = this.fileArg(a, 3);
    const offset = intArg(p?.[1]);
    const len = intArg(p?.[2]);
    if (!p || offset === undefined || len === undefined) return this.syntaxError();
    if (!this.fs.has(p[0]!)) return this.cmeError(this.fsNotFound);
    await this.fileData('+URDBLOCK', p[0]!, this.fs.read(p[0]!, offset, len));
  }

  private udelfile(a: string): void {
    const p = this.fileArg(a, 1);
    if (!p) return this.syntaxError();
    if (!this.fs.has(p[0]!)) return this.cmeError(this.fsNotFound);
    this.fs.delete(p[0]!);
    this.ok();
  }
}
