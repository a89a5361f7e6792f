/**
 * The Waspmote's SD card, as the OTA code sees it: present or missing, a flat root folder of 8.3 files, and the
 * handful of operations `requestOTA` uses (isSD, isFile, del, create, open, seek, write, getFileSize, cat).
 * Faults can be injected per operation and per file so that every SD-related error code of
 * the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts) (4G 1, 14–17, 22; WiFi PRO 0010–0014) can be reproduced on a desk.
 *
 * Names: the card stores 8.3 names in upper case (WaspUtils.cpp loadOTA/checkNewProgram); the OTA code asks for `UPGRADE.TXT` and the
 * 7-character program name, so lookups are case-insensitive and names are normalised to upper case.
 * A name that is not a valid 8.3 name (printable ASCII except `| < > ^ + = ? / [ ] ; , * " \`, base 1–8
 * characters, extension 0–3) cannot be created: `create` returns false, as the FAT library would.
 */

/** An SD operation a fault can target. `detect` is the card-presence check (`SD.isSD()`) made for one file. */
export type SdOp = 'detect' | 'create' | 'open' | 'seek' | 'write';

/**
 * One injected SD fault. `name` (8.3, any case) limits it to one file; without it the fault applies to every file.
 * For `write`, `afterBytes` lets the first writes succeed: the write that would take the file past that many
 * bytes fails (default 0: the first write fails).
 */
export interface SdFault { op: SdOp; name?: string; afterBytes?: number }

/** Options of a simulated card: `present` false = no card in the slot (4G code 1, WiFi PRO 0010). */
export interface SdCardOptions { present?: boolean; faults?: SdFault[] }

/** DOS_BUFFER_SIZE of WaspSD: `SD.cat` never returns more than this many bytes (the requestOTA tag parses, e.g. Wasp4G.cpp:7319-7497). */
export const SD_CAT_BUFFER = 256;

const FORBIDDEN = new Set('|<>^+=?/[];,*"\\'.split(''));

/**
 * Normalises a file name the way the card stores it (upper case). Returns undefined when the name is not a valid
 * 8.3 name (WaspUtils.cpp loadOTA/checkNewProgram), e.g. a FILE value carrying a `\r`.
 */
export function sdName(name: string): string | undefined {
  const upper = name.toUpperCase();
  for (const ch of upper) {
    const c = ch.charCodeAt(0);
    if (c < 0x21 || c > 0x7e || FORBIDDEN.has(ch)) return undefined;
  }
  const dot = upper.indexOf('.');
  const base = dot < 0 ? upper : upper.slice(0, dot);
  const ext = dot < 0 ? '' : upper.slice(dot + 1);
  if (base.length < 1 || base.length > 8 || ext.length > 3 || ext.includes('.')) return undefined;
  return upper;
}

/** An open file on the card: `seek` to an absolute byte offset, `write` at the current position. */
export interface SdFile {
  /** Moves the write position; false when a `seek` fault applies or the offset is past the end. */
  seek(offset: number): boolean;
  /** Writes bytes at the current position; false when a `write` fault applies (nothing is written then). */
  write(data: Uint8Array): boolean;
}

/** The simulated card. All sizes in bytes. */
export class SdCard {
  /** Whether a card is in the slot. */
  present: boolean;
  /** Injected faults, consulted on every operation. */
  faults: SdFault[];
  private readonly files = new Map<string, Buffer>();

  constructor(opts: SdCardOptions = {}) {
    this.present = opts.present ?? true;
    this.faults = [...(opts.faults ?? [])];
  }

  private fault(op: SdOp, name: string): SdFault | undefined {
    const upper = name.toUpperCase();
    return this.faults.find((f) => f.op === op && (f.name === undefined || f.name.toUpperCase() === upper));
  }

  /** `SD.isSD()`: is the card there? `forFile` names the file the caller is about to handle (for `detect` faults). */
  isPresent(forFile = ''): boolean {
    if (!this.present) return false;
    return this.fault('detect', forFile) === undefined;
  }

  /** `SD.isFile(name)`. */
  exists(name: string): boolean {
    return this.present && this.files.has(name.toUpperCase());
  }

  /** `SD.del(name)`: true when a file was removed. */
  del(name: string): boolean {
    return this.present && this.files.delete(name.toUpperCase());
  }

  /** `SD.create(name)` (O_CREAT|O_EXCL): false when missing card, fault, invalid 8.3 name or existing file. */
  create(name: string): boolean {
    const n = sdName(name);
    if (!this.present || n === undefined || this.files.has(n) || this.fault('create', n)) return false;
    this.files.set(n, Buffer.alloc(0));
    return true;
  }

  /** `SD.openFile(name, O_WRITE)`: undefined when missing card, missing file or an `open` fault. */
  open(name: string): SdFile | undefined {
    const n = name.toUpperCase();
    if (!this.present || !this.files.has(n) || this.fault('open', n)) return undefined;
    let pos = 0;
    return {
      seek: (offset: number) => {
        const cur = this.files.get(n);
        if (!this.present || cur === undefined || this.fault('seek', n) || offset > cur.length) return false;
        pos = offset;
        return true;
      },
      write: (data: Uint8Array) => {
        const cur = this.files.get(n);
        if (!this.present || cur === undefined) return false;
        const f = this.fault('write', n);
        if (f && pos + data.length > (f.afterBytes ?? 0)) return false;
        const end = Math.max(cur.length, pos + data.length);
        const next = Buffer.alloc(end);
        cur.copy(next, 0);
        Buffer.from(data).copy(next, pos);
        this.files.set(n, next);
        pos += data.length;
        return true;
      },
    };
  }

  /** `SD.getFileSize(name)`: bytes, or -1 when there is no such file (or no card). */
  size(name: string): number {
    const f = this.present ? this.files.get(name.toUpperCase()) : undefined;
    return f === undefined ? -1 : f.length;
  }

  /** The whole content of a file (a copy), or undefined. */
  read(name: string): Buffer | undefined {
    const f = this.present ? this.files.get(name.toUpperCase()) : undefined;
    return f === undefined ? undefined : Buffer.from(f);
  }

  /** Puts a file on the card directly (test set-up, and the 3G module's XMODEM hand-over); ignores faults. */
  put(name: string, data: Uint8Array): void {
    const n = sdName(name);
    if (n === undefined) throw new Error(`SD: "${name}" is not an 8.3 file name`);
    this.files.set(n, Buffer.from(data));
  }

  /** Names on the card, upper case, sorted. */
  list(): string[] {
    return [...this.files.keys()].sort();
  }

  /**
   * `SD.cat(name, 0, 256)` as WaspSD implements it: copies at most 256 bytes; when 255 or more were copied the
   * buffer is marked truncated and its last four bytes become `>>\n\0` (so the string keeps 252 file bytes and ends
   * in `>>\n`). The result is the C string the OTA code then searches: it stops at the first NUL byte.
   * Returns undefined when the card or the file is missing (the library then searches an "error opening" text,
   * which holds no label, so every module reports its "no FILE" code).
   */
  cat(name: string): { text: Buffer; truncated: boolean } | undefined {
    const f = this.read(name);
    if (f === undefined) return undefined;
    return catBuffer(f);
  }
}

/** The `SD.cat` 256-byte semantics applied to a byte array (see {@link SdCard.cat}); the requestOTA tag parses, e.g. Wasp4G.cpp:7319-7497. */
export function catBuffer(file: Uint8Array): { text: Buffer; truncated: boolean } {
  const copied = Buffer.from(file.subarray(0, SD_CAT_BUFFER));
  let text: Buffer;
  let truncated = false;
  if (copied.length < SD_CAT_BUFFER - 1) {
    text = copied;
  } else {
    truncated = true;
    text = Buffer.concat([copied.subarray(0, SD_CAT_BUFFER - 4), Buffer.from('>>\n', 'latin1')]);
  }
  const nul = text.indexOf(0);
  return { text: nul >= 0 ? text.subarray(0, nul) : text, truncated };
}
