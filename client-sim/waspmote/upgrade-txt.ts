/**
 * The device-side reading of UPGRADE.TXT, per Waspmote module, quirks and all (the requestOTA tag parses, e.g. Wasp4G.cpp:7319-7497).
 *
 * Why this is not `server/manifest.ts`: the server's parser is strict and refuses anything that some device would
 * misread; this one reproduces how each device actually reads the file (C `strstr`/`strchr` over the buffer that
 * `SD.cat` filled), so that a desk test yields the code a real device would return. The two share nothing but the
 * label names, on purpose (ARCHITECTURE.md); the server side never imports client-sim.
 *
 * Quirks reproduced exactly:
 * - The buffer is `SD.cat`'s: at most 256 bytes, marked truncated from 255 bytes on (last bytes become `>>\n`),
 *   and a C string (ends at the first NUL). See `catBuffer` in ./sd.ts.
 * - Labels are found by a case-sensitive substring search over the whole buffer, first occurrence, order free.
 * - 4G / WiFi PRO: a value runs from the first `:` after the label start to the next `\n`; its length is
 *   pos(`\n`) − pos(`:`) − 1, so a `\r` is part of the value. FILE must be exactly 7 bytes (4G 4, WiFi 0022).
 *   SIZE and VERSION keep at most 9 characters (`aux_str[10]`); PATH is not capped.
 * - 3G / GPRS: the label must exist, but the FILE value is the 7 bytes after the FIRST `:` of the whole buffer,
 *   unchecked (so `FILE:` must be the first line). PATH and VERSION as above (a `\r` stays). SIZE is not parsed.
 * - No trimming anywhere (`FILE: ABCDEFG` is 8 bytes).
 * - VERSION goes through `atoi` (16-bit `int` on the AVR, wraps) and then a byte: unsigned on 4G/WiFi PRO/3G
 *   (256 → 0, 300 → 44, −1 → 255), signed on GPRS (128..255 become negative). SIZE goes through `atol` (32-bit).
 * - NO_FILE is an exact comparison of the 7-byte name. 4G/WiFi PRO check it right after FILE (before PATH);
 *   3G/GPRS after PATH and VERSION, so a NO_FILE file lacking them reports "no PATH"/"no VERSION".
 * - Version rule (only when FILE equals the stored program ID): 4G rejects current ≥ new unless current = 255;
 *   WiFi PRO rejects current ≥ new; 3G rejects unless new > current; GPRS rejects unless (signed new) > current.
 *   A different name is always accepted.
 *
 * Undefined behaviour is an outcome, not a guess: where the library's tag copy overruns its buffer, the parse stops
 * there with `overrun: { source, why }` (and `ok: false`, outcome 'OVERRUN'); the caller reports it instead of a
 * code. The checks run in the library's order, so a missing label that the library reports first still wins:
 * - a value with no `\n` after it: `strchr(…, '\n')` is NULL and the copy length negative, so `strncpy` writes
 *   far past the buffer (4G/WiFi PATH, SIZE, VERSION; 3G/GPRS PATH, VERSION). FILE on 4G/WiFi is only measured
 *   (length ≠ 7 → code 4 / 0022, no copy), and FILE on 3G/GPRS is a fixed 7-byte copy: neither overruns.
 * - 4G/WiFi `path[100]`: a PATH value of 100+ bytes (Wasp4G.cpp:7388, WaspWIFI_PRO.cpp:6348).
 * - 3G `path[60]`: value + `\n` copied, then FILE appended (Wasp3G.cpp:9803, :9812); GPRS `str_aux3[70]`: value +
 *   `\n`, then `/` and FILE appended (WaspGPRS_Pro_core.cpp:7080, :7088-7089).
 * - 3G/GPRS `aux_ver[4]`: the VERSION value and its `\n` must fit 4 bytes, so a value of 4+ bytes (a `\r`
 *   counts) overruns it (Wasp3G.cpp:9819, WaspGPRS_Pro_core.cpp:7097).
 * The GPRS `FTP_file[70]` copy of `.gprs<PATH>/<FILE>` happens later (after the version check) and is checked
 * by ota-gprs.ts.
 */
import { catBuffer } from './sd.ts';

/** The four Waspmote OTA modules the simulator models. */
export type WaspModule = '4g' | 'wifi-pro' | '3g' | 'gprs';
/** All modules, in a stable order. */
export const WASP_MODULES: readonly WaspModule[] = ['4g', 'wifi-pro', '3g', 'gprs'];

/** Why a device stops after reading UPGRADE.TXT; codes.ts maps each to the module's number. */
export type TagOutcome =
  | 'FILE_LENGTH'   // FILE value length ≠ 7 (4G 4, WiFi PRO 0022)
  | 'NO_FILE_LABEL' // no `FILE:` (4G 5, WiFi 0023, 3G −23, GPRS −66)
  | 'NO_FILE'       // FILE is NO_FILE (4G 6, WiFi 0024, 3G −26, GPRS −69)
  | 'NO_PATH'       // (4G 7, WiFi 0025, 3G −24, GPRS −67)
  | 'NO_SIZE'       // (4G 8, WiFi 0026; not checked on 3G/GPRS)
  | 'NO_VERSION'    // (4G 9, WiFi 0027, 3G −25, GPRS −68)
  | 'NOT_NEWER';    // same name, version not newer (4G 10, WiFi 0028, 3G −27, GPRS −70)

/** What the device took from the file. `size` is absent on 3G/GPRS (never parsed). Strings are latin1. */
export interface DeviceManifest {
  /** Program name as the device holds it (7 bytes on 4G/WiFi; up to 7 on 3G/GPRS, may hold `\r`/`\n`). */
  file: string;
  /** PATH value, `\r` kept. */
  path: string;
  /** SIZE after `atol` (4G/WiFi PRO only). */
  size?: number;
  /** VERSION after the module's byte conversion: 0..255, or −128..127 on GPRS. */
  version: number;
}

/** The state of the device the version rule compares with. */
export interface RunningProgram { programId: string; version: number }

/** Where and why the library would overrun memory (see the module docstring). */
export interface Overrun { source: string; why: string }

/**
 * Result of reading UPGRADE.TXT: a manifest to act on, or the outcome that stops the OTA. 'OVERRUN' (with
 * `overrun` set) means the library's copy overruns a buffer there: undefined behaviour, no code.
 * `undefinedBehaviour` is true exactly when `overrun` is set.
 */
export type DeviceParseResult =
  | { ok: true; manifest: DeviceManifest; truncated: boolean; undefinedBehaviour: false; overrun?: undefined }
  | { ok: false; outcome: TagOutcome | 'OVERRUN'; partial: Partial<DeviceManifest>; truncated: boolean; undefinedBehaviour: boolean; overrun?: Overrun };

/** C `atoi`/`atol` over a latin1 string: leading whitespace, optional sign, digits; wraps to `bits`. */
export function cAtoi(s: string, bits: 16 | 32): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s)!;
  let v = 0n;
  for (const d of m[2]) v = v * 10n + BigInt(d.charCodeAt(0) - 48);
  if (m[1] === '-') v = -v;
  return Number(BigInt.asIntN(bits, v));
}

/** Unsigned byte of an int (C `(uint8_t)`). */
export function toUint8(v: number): number { return v & 0xff; }
/** Signed byte of an int (C `(int8_t)`). */
export function toInt8(v: number): number { return ((v & 0xff) ^ 0x80) - 0x80; }

interface Value { text: string; length: number; ub: boolean }

/** Value after `label` found at `at`: from the first ':' from `at` to the next '\n' (C strchr semantics). */
function valueAt(buf: string, at: number): Value {
  const colon = buf.indexOf(':', at);
  const nl = buf.indexOf('\n', at);
  if (nl < 0) {
    // strchr(...,'\n') == NULL: negative length; see the module docstring.
    return { text: buf.slice(colon + 1), length: -1 - colon - 1, ub: true };
  }
  const length = nl - 1 - colon;
  return { text: length > 0 ? buf.slice(colon + 1, nl) : '', length, ub: false };
}

/** `strstr(buffer, label)` then its value (see {@link valueAt}); undefined when the label is absent. */
function labelValue(buf: string, label: string): Value | undefined {
  const at = buf.indexOf(label);
  return at < 0 ? undefined : valueAt(buf, at);
}

/** Cut to the `aux_str[10]` capacity (9 characters) as 4G/WiFi PRO do for SIZE and VERSION. */
function capped(v: Value): string { return v.text.slice(0, 9); }

/**
 * Reads UPGRADE.TXT as `module` does and applies its tag checks and version rule, in the module's order.
 * `file` is the whole file as downloaded to the SD card; the `SD.cat` cap is applied here.
 * Never throws. Research: waspmote-ota.md §3 and §4.
 */
export function readUpgradeTxt(module: WaspModule, file: Uint8Array, running: RunningProgram): DeviceParseResult {
  const { text, truncated } = catBuffer(file);
  const buf = text.toString('latin1');
  return module === '4g' || module === 'wifi-pro'
    ? readSubstring(module, buf, running, truncated)
    : readFirstColon(module, buf, running, truncated);
}

function stop(outcome: TagOutcome, partial: Partial<DeviceManifest>, truncated: boolean): DeviceParseResult {
  return { ok: false, outcome, partial, truncated, undefinedBehaviour: false };
}

function overrun(source: string, why: string, partial: Partial<DeviceManifest>, truncated: boolean): DeviceParseResult {
  return { ok: false, outcome: 'OVERRUN', partial, truncated, undefinedBehaviour: true, overrun: { source, why } };
}

const NO_LF = (label: string, buf: string) => `the ${label} value has no \\n after it: strchr returns NULL and strncpy copies a negative length into \`${buf}\``;

/** Library lines of each tag copy, per module. */
const LINES = {
  '4g': { file: 'Wasp4G.cpp', path: 7388, size: 7420, version: 7452 },
  'wifi-pro': { file: 'WaspWIFI_PRO.cpp', path: 6348, size: 6376, version: 6404 },
  '3g': { file: 'Wasp3G.cpp', path: 9803, cat: 9812, version: 9819, pathBuf: 60, pathName: 'path[60]' },
  gprs: { file: 'WaspGPRS_Pro_core.cpp', path: 7080, cat: 7089, version: 7097, pathBuf: 70, pathName: 'str_aux3[70]' },
} as const;

function readSubstring(module: '4g' | 'wifi-pro', buf: string, running: RunningProgram, truncated: boolean): DeviceParseResult {
  const L = LINES[module];
  const partial: Partial<DeviceManifest> = {};
  const fileAt = buf.indexOf('FILE:');
  if (fileAt < 0) return stop('NO_FILE_LABEL', partial, truncated);
  const fv = valueAt(buf, fileAt);
  if (fv.length !== 7) return stop('FILE_LENGTH', partial, truncated);
  partial.file = fv.text.slice(0, 7);
  if (partial.file === 'NO_FILE') return stop('NO_FILE', partial, truncated);

  const pv = labelValue(buf, 'PATH:');
  if (!pv) return stop('NO_PATH', partial, truncated);
  if (pv.ub) return overrun(`${L.file}:${L.path}`, NO_LF('PATH', 'path[100]'), partial, truncated);
  if (pv.length >= 100) return overrun(`${L.file}:${L.path}`, `the PATH value is ${pv.length} bytes: \`path[100]\` holds 99 and its NUL`, partial, truncated);
  partial.path = pv.text;

  const sizeAt = buf.indexOf('SIZE:');
  if (sizeAt < 0) return stop('NO_SIZE', partial, truncated);
  const sv = valueAt(buf, sizeAt);
  if (sv.ub) return overrun(`${L.file}:${L.size}`, NO_LF('SIZE', 'aux_str[10]'), partial, truncated);
  partial.size = cAtoi(capped(sv), 32);

  const vv = labelValue(buf, 'VERSION:');
  if (!vv) return stop('NO_VERSION', partial, truncated);
  if (vv.ub) return overrun(`${L.file}:${L.version}`, NO_LF('VERSION', 'aux_str[10]'), partial, truncated);
  partial.version = toUint8(cAtoi(capped(vv), 16));

  if (running.programId === partial.file) {
    const cur = running.version;
    const rejected = module === '4g'
      ? cur >= partial.version && cur !== 255
      : cur >= partial.version;
    if (rejected) return stop('NOT_NEWER', partial, truncated);
  }
  return { ok: true, manifest: partial as DeviceManifest, truncated, undefinedBehaviour: false };
}

function readFirstColon(module: '3g' | 'gprs', buf: string, running: RunningProgram, truncated: boolean): DeviceParseResult {
  const L = LINES[module];
  const partial: Partial<DeviceManifest> = {};
  if (buf.indexOf('FILE:') < 0) return stop('NO_FILE_LABEL', partial, truncated);
  // strncpy(aux_name, strchr(buffer, ':') + 1, 7): the first ':' of the whole buffer, 7 bytes, stops at the NUL.
  const firstColon = buf.indexOf(':');
  partial.file = buf.slice(firstColon + 1, firstColon + 8);

  const pv = labelValue(buf, 'PATH:');
  if (!pv) return stop('NO_PATH', partial, truncated);
  if (pv.ub) return overrun(`${L.file}:${L.path}`, NO_LF('PATH', L.pathName), partial, truncated);
  // strncpy copies the value and its '\n' (length + 1 bytes)
  if (pv.length + 1 > L.pathBuf) {
    return overrun(`${L.file}:${L.path}`, `the PATH value and its \\n are ${pv.length + 1} bytes: \`${L.pathName}\` holds ${L.pathBuf}`, partial, truncated);
  }
  const joined = pv.length + (module === 'gprs' ? 1 : 0) + partial.file.length + 1;
  if (joined > L.pathBuf) {
    return overrun(`${L.file}:${L.cat}`, `strcat of ${module === 'gprs' ? '"/" and ' : ''}FILE makes ${joined} bytes with the NUL: \`${L.pathName}\` holds ${L.pathBuf}`, partial, truncated);
  }
  partial.path = pv.text;

  const vv = labelValue(buf, 'VERSION:');
  if (!vv) return stop('NO_VERSION', partial, truncated);
  if (vv.ub) return overrun(`${L.file}:${L.version}`, NO_LF('VERSION', 'aux_ver[4]'), partial, truncated);
  if (vv.length + 1 > 4) {
    return overrun(`${L.file}:${L.version}`, `the VERSION value ${JSON.stringify(vv.text)} and its \\n are ${vv.length + 1} bytes: \`aux_ver[4]\` holds 4`, partial, truncated);
  }
  const raw = cAtoi(vv.text, 16);
  partial.version = module === 'gprs' ? toInt8(raw) : toUint8(raw);

  if (partial.file === 'NO_FILE') return stop('NO_FILE', partial, truncated);
  if (running.programId === partial.file && !(partial.version > running.version)) {
    return stop('NOT_NEWER', partial, truncated);
  }
  return { ok: true, manifest: partial as DeviceManifest, truncated, undefinedBehaviour: false };
}
