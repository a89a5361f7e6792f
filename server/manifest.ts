/**
 * UPGRADE.TXT, server side: types, the strict writer, the linter and the strict parser. Pure: no I/O.
 *
 * The server writes only the one form every Waspmote module accepts (the requestOTA functions of Wasp4G.cpp, WaspWIFI_PRO.cpp, Wasp3G.cpp and WaspGPRS_Pro_core.cpp):
 * LF-only lines `FILE:`, `PATH:/`, `SIZE:`, `VERSION:` in that order, no spaces, whole file under 255 bytes,
 * optionally followed by integrity lines `CRC32:` and `MD5:` that old devices ignore (their substring search only
 * looks for the four labels). The linter reports every rule a file breaks, naming the label, the rule and which
 * devices misread it; `firmdrop check` and the publisher use it.
 *
 * The device-side parser (client-sim/waspmote/upgrade-txt.ts) is separate on purpose: it reproduces the devices'
 * quirks; this one refuses anything some device would misread.
 */
import { NO_FILE, isProgramName, show } from './program-name.ts';

export { NO_FILE, PROGRAM_NAME_RE, explainProgramName, isProgramName, suggestProgramName } from './program-name.ts';

/** Name of the manifest file in the FTP root, fetched by devices as a relative or absolute path (requestOTA of each Waspmote module). */
export const MANIFEST_NAME = 'UPGRADE.TXT';
/** Largest manifest the server writes, in bytes: devices read ≤ 256 bytes and flag ≥ 255 as truncated (Wasp4G.cpp requestOTA). */
export const MAX_MANIFEST_BYTES = 254;
/** Largest SIZE value: devices read at most 9 characters of SIZE into a long (Wasp4G.cpp requestOTA). */
export const MAX_SIZE = 999_999_999;
/** Highest VERSION: 4G/WiFi PRO store it in one unsigned byte, so 256 reads as 0 (Wasp4G.cpp requestOTA). */
export const MAX_VERSION = 255;
/** The four labels every device looks for, in the order the server writes them (Wasp4G.cpp requestOTA). */
export const REQUIRED_LABELS = ['FILE', 'PATH', 'SIZE', 'VERSION'] as const;
/** Integrity labels firmdrop adds after the four required ones; devices ignore them (Wasp4G.cpp requestOTA searches only the four labels). */
export const CHECKSUM_LABELS = ['CRC32', 'MD5'] as const;

/**
 * A manifest: what devices are offered. `size` in bytes, `version` 1..255 for a release (0 with NO_FILE),
 * `crc32` 8 lowercase hex digits (unsigned CRC-32 of the whole binary), `md5` 32 lowercase hex digits.
 */
export interface Manifest { file: string; path: string; size: number; version: number; crc32?: string; md5?: string }

/**
 * One broken rule. `rule` is one of the ids in MANIFEST_RULES; `line` is 1-based when the issue belongs to a line;
 * `message` is one clear line naming the label and the rule. `severity` (added to the contract): 'warning' for
 * rules some devices survive (a PATH other than '/'), 'error' otherwise. parseManifest refuses both.
 */
export interface ManifestIssue { rule: string; line?: number; message: string; severity?: 'error' | 'warning' }

/**
 * Every rule lintManifest checks, by id, with the reason behind it (Libelium Waspmote API requestOTA of Wasp4G.cpp, WaspWIFI_PRO.cpp, Wasp3G.cpp, WaspGPRS_Pro_core.cpp, unless noted).
 */
export const MANIFEST_RULES = {
  'crlf': 'lines end in LF only: 4G/WiFi PRO keep a CR in the value (FILE fails the 7-character check, code 4)',
  'space': 'no spaces or tabs: devices never trim, `FILE: ABCDEFG` is 8 characters',
  'final-lf': 'the last line ends in LF: a value without a following LF has a negative length on 4G/WiFi PRO',
  'syntax': 'every line is LABEL:VALUE (no empty lines, no text without a colon)',
  'missing-label': 'FILE, PATH, SIZE and VERSION are all present (4G codes 5, 7, 8, 9)',
  'duplicate-label': 'each label once: substring parsers read the first occurrence only',
  'file-first': 'FILE is the first line: 3G and GPRS take the FILE value from the first colon in the file',
  'file-length': 'FILE is exactly 7 characters (4G code 4, WiFi PRO 0022; 3G/GPRS copy 7 bytes unchecked)',
  'file-charset': 'FILE uses letters, digits and _ only (SD 8.3 names, Waspmote IDE export; Waspmote IDE OTA export)',
  'no-file-form': 'NO_FILE comes with PATH:/, SIZE:0, VERSION:0 and no checksum lines, as Meshlium writes it (Meshlium OTA manager)',
  'path': "PATH is '/': 4G ignores PATH, WiFi PRO joins PATH/FILE, 3G joins PATH+FILE without a separator",
  'size-format': 'SIZE is a decimal number of at most 9 digits without sign or leading zeros',
  'size-range': 'SIZE is at least 1 for a release (4G code 12 for a 0-byte file) and at most 999999999',
  'version-format': 'VERSION is a decimal number without sign or leading zeros',
  'version-range': 'VERSION is 1..255 for a release (one byte on 4G/WiFi PRO: 256 reads as 0); 0 only with NO_FILE',
  'label-substring': 'no other line contains FILE:, PATH:, SIZE: or VERSION: (substring search would find it)',
  'crc32-format': 'CRC32 is 8 lowercase hex digits (unsigned)',
  'md5-format': 'MD5 is 32 lowercase hex digits',
  'too-long': 'the whole file is at most 254 bytes: devices read 256 and mark 255 or more as truncated',
  'size-mismatch': 'SIZE equals the binary size: 4G code 11 and WiFi PRO 0029 compare the SD file with it',
  'crc32-mismatch': 'CRC32 equals the CRC-32 of the binary',
  'md5-mismatch': 'MD5 equals the MD5 of the binary',
} as const;

/** Id of one rule in MANIFEST_RULES. */
export type ManifestRule = keyof typeof MANIFEST_RULES;

/** Thrown by formatManifest (bad manifest object) and parseManifest (bad text); `.issues` lists every rule broken. */
export class ManifestError extends Error {
  readonly issues: ManifestIssue[];
  /** @param issues every broken rule; the message joins their messages (at least one issue expected). */
  constructor(issues: ManifestIssue[]) {
    super(issues.length ? issues.map((i) => i.message).join('; ') : `${MANIFEST_NAME}: invalid manifest`);
    this.name = 'ManifestError';
    this.issues = issues;
  }
}

/** The NO_FILE manifest, exactly as Meshlium writes it: FILE:NO_FILE, PATH:/, SIZE:0, VERSION:0 (Meshlium OTA manager). */
export function noFileManifest(): Manifest {
  return { file: NO_FILE, path: '/', size: 0, version: 0 };
}

/**
 * UPGRADE.TXT text for `m`: LF-only lines FILE, PATH, SIZE, VERSION, then (unless `opts.checksums === false`)
 * `CRC32:` and `MD5:` for the checksums `m` carries. NO_FILE never gets checksum lines. Sources: Wasp4G.cpp requestOTA, the Meshlium OTA manager.
 * @throws ManifestError listing every problem with `m` (FILE not a program name, PATH not '/', SIZE not
 *   1..999999999, VERSION not 1..255, NO_FILE not with SIZE 0 / VERSION 0, checksum not lowercase hex, result over
 *   254 bytes).
 */
export function formatManifest(m: Manifest, opts: { checksums?: boolean } = {}): string {
  const issues = manifestObjectIssues(m);
  if (issues.length) throw new ManifestError(issues);
  const lines = [`FILE:${m.file}`, `PATH:${m.path}`, `SIZE:${m.size}`, `VERSION:${m.version}`];
  if (opts.checksums !== false && m.file !== NO_FILE) {
    if (m.crc32 !== undefined) lines.push(`CRC32:${m.crc32}`);
    if (m.md5 !== undefined) lines.push(`MD5:${m.md5}`);
  }
  const text = lines.map((l) => `${l}\n`).join('');
  // Final guard: what we write must pass our own linter (this also enforces the 254-byte cap).
  const textIssues = lintManifest(text);
  if (textIssues.length) throw new ManifestError(textIssues);
  return text;
}

/** Problems with a manifest object, before it becomes text (used by formatManifest). */
function manifestObjectIssues(m: Manifest): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const err = (rule: ManifestRule, message: string) => issues.push({ rule, message: `${MANIFEST_NAME}: ${message}`, severity: 'error' });
  if (typeof m.file !== 'string') {
    err('file-length', 'FILE must be a string');
    return issues;
  }
  if (m.path !== '/') err('path', `PATH must be '/', got '${show(String(m.path))}' (the binary is served from the root)`);
  if (m.file === NO_FILE) {
    if (m.size !== 0 || m.version !== 0 || m.crc32 !== undefined || m.md5 !== undefined) {
      err('no-file-form', `FILE:${NO_FILE} must come with SIZE:0, VERSION:0 and no checksums (as Meshlium)`);
    }
    return issues;
  }
  for (const i of fileValueIssues(m.file)) issues.push(i);
  if (!Number.isSafeInteger(m.size) || m.size < 1 || m.size > MAX_SIZE) {
    err('size-range', `SIZE must be an integer 1..${MAX_SIZE} (bytes), got ${m.size}`);
  }
  if (!Number.isSafeInteger(m.version) || m.version < 1 || m.version > MAX_VERSION) {
    err('version-range', `VERSION must be an integer 1..${MAX_VERSION} for a release, got ${m.version}`);
  }
  if (m.crc32 !== undefined && !/^[0-9a-f]{8}$/.test(m.crc32)) {
    err('crc32-format', `CRC32 must be 8 lowercase hex digits, got '${show(String(m.crc32))}'`);
  }
  if (m.md5 !== undefined && !/^[0-9a-f]{32}$/.test(m.md5)) {
    err('md5-format', `MD5 must be 32 lowercase hex digits, got '${show(String(m.md5))}'`);
  }
  return issues;
}

/** FILE value checks shared by the writer and the linter: length (as a 4G sees it, CR included) and characters. */
function fileValueIssues(raw: string, line?: number): ManifestIssue[] {
  if (raw === NO_FILE) return [];
  const at = line ? ` line ${line}` : '';
  const issues: ManifestIssue[] = [];
  const chars = [...raw];
  if (chars.length !== 7) {
    issues.push({
      rule: 'file-length', line, severity: 'error',
      message: `${MANIFEST_NAME}${at}: FILE must be 7 characters, got ${chars.length} ('${show(raw)}'); 4G fails with code 4, WiFi PRO with 0022`,
    });
  }
  const bad = [...new Set(raw.replace(/\r$/, '').split('').filter((c) => !/[A-Za-z0-9_]/.test(c)))];
  if (bad.length) {
    issues.push({
      rule: 'file-charset', line, severity: 'error',
      message: `${MANIFEST_NAME}${at}: FILE must use letters, digits and _ only, got ${bad.map((c) => `'${show(c)}'`).join(', ')} in '${show(raw)}'`,
    });
  }
  return issues;
}

/** One parsed line of a manifest: label (trimmed of spaces/tabs/CR), raw value (as a device would read it). */
interface Line { n: number; text: string; label?: string; raw?: string }

/**
 * Every rule `text` breaks (see MANIFEST_RULES), in file order where a line is concerned. With `binary`
 * (size in bytes, checksums as lowercase hex) also checks SIZE, CRC32 and MD5 against it. Empty array = valid.
 * Never throws. Sources: the requestOTA functions of the Waspmote API.
 */
export function lintManifest(text: string | Buffer, binary?: { size: number; crc32?: string; md5?: string }): ManifestIssue[] {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.length;
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const issues: ManifestIssue[] = [];
  const add = (rule: ManifestRule, message: string, line?: number, severity: 'error' | 'warning' = 'error') => {
    issues.push({ rule, line, severity, message: `${MANIFEST_NAME}${line ? ` line ${line}` : ''}: ${message}` });
  };

  const parts = s === '' ? [] : s.split('\n');
  const endsWithLf = s.endsWith('\n');
  if (endsWithLf) parts.pop();
  const lines: Line[] = parts.map((t, i) => {
    const colon = t.indexOf(':');
    if (colon < 0) return { n: i + 1, text: t };
    return { n: i + 1, text: t, label: t.slice(0, colon).replace(/[ \t\r]/g, ''), raw: t.slice(colon + 1) };
  });

  if (s.length > 0 && !endsWithLf) {
    add('final-lf', `the last line ('${show(parts[parts.length - 1])}') must end in LF; 4G/WiFi PRO read a negative value length`, parts.length);
  }
  for (const l of lines) {
    if (l.text.includes('\r')) {
      add('crlf', `line ends in CR${l.text.endsWith('\r') ? ' (CRLF)' : ''}; use LF only: 4G/WiFi PRO keep the CR in the value`, l.n);
    }
    if (/[ \t]/.test(l.text)) {
      add('space', `'${show(l.text)}' contains a space or tab; devices never trim, so the value is read with it`, l.n);
    }
    if (l.label === undefined) {
      add('syntax', l.text.replace(/\r/g, '') === '' ? 'empty line' : `'${show(l.text)}' is not LABEL:VALUE`, l.n);
    }
  }

  // Labels: first occurrence per label, duplicates reported.
  const first = new Map<string, Line>();
  for (const l of lines) {
    if (l.label === undefined) continue;
    if ((REQUIRED_LABELS as readonly string[]).includes(l.label) || (CHECKSUM_LABELS as readonly string[]).includes(l.label)) {
      const seen = first.get(l.label);
      if (seen) add('duplicate-label', `${l.label} appears again (first on line ${seen.n}); devices read the first only`, l.n);
      else first.set(l.label, l);
    }
  }
  for (const label of REQUIRED_LABELS) {
    if (!first.has(label)) add('missing-label', `${label}: is missing (4G codes 5/7/8/9, 3G −23/−24/−25)`);
  }
  // Substring search: a label string anywhere but at the start of its own line is found by 4G/WiFi PRO.
  for (const l of lines) {
    for (const label of REQUIRED_LABELS) {
      const key = `${label}:`;
      let from = 0;
      for (let at = l.text.indexOf(key, from); at >= 0; at = l.text.indexOf(key, from)) {
        const own = l.label === label && l.text.slice(0, at).replace(/[ \t]/g, '') === '';
        if (!own) add('label-substring', `'${show(l.text)}' contains '${key}'; devices search labels as substrings and may read this line`, l.n);
        from = at + key.length;
      }
    }
  }

  const fileLine = first.get('FILE');
  if (fileLine && !s.startsWith('FILE:')) {
    add('file-first', 'FILE must be the first line: 3G and GPRS take the FILE value from the first colon in the file', fileLine.n);
  }
  const fileRaw = fileLine?.raw;
  const isNoFile = fileRaw === NO_FILE;
  if (fileLine && fileRaw !== undefined) {
    for (const i of fileValueIssues(fileRaw, fileLine.n)) issues.push(i);
  }
  const clean = (l?: Line) => (l?.raw === undefined ? undefined : l.raw.replace(/[ \t\r]/g, ''));
  const numeric = (v: string) => /^(0|[1-9][0-9]*)$/.test(v);

  const pathLine = first.get('PATH');
  const path = clean(pathLine);
  if (pathLine && path !== '/') {
    add('path', `PATH should be '/', got '${show(pathLine.raw ?? '')}': 4G ignores PATH and fetches /FILE; WiFi PRO fetches PATH/FILE; ` +
      `3G fetches PATH+FILE without a separator (e.g. '${path}${fileRaw ?? 'ABCDEFG'}'); only '/' works on every module`, pathLine.n, 'warning');
  }

  const sizeLine = first.get('SIZE');
  const sizeText = clean(sizeLine);
  let size: number | undefined;
  if (sizeLine && sizeText !== undefined) {
    if (!numeric(sizeText) || sizeText.length > 9) {
      add('size-format', `SIZE must be a decimal number of at most 9 digits, got '${show(sizeLine.raw ?? '')}'`, sizeLine.n);
    } else {
      size = Number(sizeText);
      if (!isNoFile && size < 1) add('size-range', 'SIZE must be at least 1 for a release (4G reports a 0-byte file as code 12)', sizeLine.n);
    }
  }

  const versionLine = first.get('VERSION');
  const versionText = clean(versionLine);
  if (versionLine && versionText !== undefined) {
    if (!numeric(versionText) || versionText.length > 9) {
      add('version-format', `VERSION must be a decimal number 0..255, got '${show(versionLine.raw ?? '')}'`, versionLine.n);
    } else {
      const v = Number(versionText);
      if (v > MAX_VERSION) {
        add('version-range', `VERSION must be at most 255, got ${v}; 4G/WiFi PRO keep one byte (${v} reads as ${v % 256})`, versionLine.n);
      } else if (v === 0 && !isNoFile) {
        add('version-range', 'VERSION 0 is only for NO_FILE; a release needs 1..255', versionLine.n);
      }
    }
  }

  const crcLine = first.get('CRC32');
  const crc = clean(crcLine);
  if (crcLine && crc !== undefined && !/^[0-9a-f]{8}$/.test(crc)) {
    add('crc32-format', `CRC32 must be 8 lowercase hex digits, got '${show(crcLine.raw ?? '')}'`, crcLine.n);
  }
  const md5Line = first.get('MD5');
  const md5 = clean(md5Line);
  if (md5Line && md5 !== undefined && !/^[0-9a-f]{32}$/.test(md5)) {
    add('md5-format', `MD5 must be 32 lowercase hex digits, got '${show(md5Line.raw ?? '')}'`, md5Line.n);
  }

  if (isNoFile && ((sizeText !== undefined && sizeText !== '0') || (versionText !== undefined && versionText !== '0') || crcLine || md5Line)) {
    add('no-file-form', `FILE:${NO_FILE} must come with SIZE:0, VERSION:0 and no checksum lines (as Meshlium writes it)`, fileLine?.n);
  }

  if (bytes > MAX_MANIFEST_BYTES) {
    add('too-long', `file is ${bytes} bytes, at most ${MAX_MANIFEST_BYTES} allowed: devices read 256 bytes and mark 255 or more as truncated`);
  }

  if (binary && fileRaw !== undefined && !isNoFile) {
    if (size !== undefined && size !== binary.size) {
      add('size-mismatch', `SIZE is ${size} but the binary '${show(fileRaw)}' is ${binary.size} bytes (4G code 11, WiFi PRO 0029)`, sizeLine?.n);
    }
    if (binary.crc32 !== undefined && crc !== undefined && /^[0-9a-f]{8}$/.test(crc) && crc !== binary.crc32.toLowerCase()) {
      add('crc32-mismatch', `CRC32 is ${crc} but the binary's CRC-32 is ${binary.crc32.toLowerCase()}`, crcLine?.n);
    }
    if (binary.md5 !== undefined && md5 !== undefined && /^[0-9a-f]{32}$/.test(md5) && md5 !== binary.md5.toLowerCase()) {
      add('md5-mismatch', `MD5 is ${md5} but the binary's MD5 is ${binary.md5.toLowerCase()}`, md5Line?.n);
    }
  }
  return issues;
}

/**
 * Strict parse: the Manifest in `text`, or a ManifestError listing every rule broken (warnings included; the
 * binary checks are not run). Sources: the requestOTA functions of the Waspmote API.
 * @throws ManifestError
 */
export function parseManifest(text: string | Buffer): Manifest {
  const issues = lintManifest(text);
  if (issues.length) throw new ManifestError(issues);
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const values = new Map<string, string>();
  for (const line of s.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !values.has(line.slice(0, colon))) values.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const m: Manifest = {
    file: values.get('FILE') as string,
    path: values.get('PATH') as string,
    size: Number(values.get('SIZE')),
    version: Number(values.get('VERSION')),
  };
  if (values.has('CRC32')) m.crc32 = values.get('CRC32');
  if (values.has('MD5')) m.md5 = values.get('MD5');
  return m;
}

/**
 * Tolerant read: the values an UPGRADE.TXT names, read the way the most forgiving device reads them, for deciding
 * what a hand-edited or foreign (Meshlium, vsftpd) file offers: the first line starting with each label (spaces,
 * tabs and CR trimmed from label and value, so CRLF files and `FILE: NAME` are read), SIZE and VERSION as decimal
 * numbers of at most 9 digits, CRC32/MD5 when they are well-formed hex (lowercased). A value that cannot be read is
 * left out. Never throws. Use parseManifest to decide whether a file may be served as it is; this one only says
 * what it meant. The label set and the first-occurrence rule are lintManifest's (Wasp4G.cpp requestOTA: substring
 * search for each label, first match).
 */
export function readManifest(text: string | Buffer): Partial<Manifest> {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const values = new Map<string, string>();
  for (const raw of s.split('\n')) {
    const colon = raw.indexOf(':');
    if (colon < 0) continue;
    const label = raw.slice(0, colon).replace(/[ \t\r]/g, '').toUpperCase();
    if (!values.has(label)) values.set(label, raw.slice(colon + 1).replace(/[ \t\r]/g, ''));
  }
  const out: Partial<Manifest> = {};
  const num = (v?: string) => (v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined);
  const file = values.get('FILE');
  if (file) out.file = file;
  const p = values.get('PATH');
  if (p) out.path = p;
  const size = num(values.get('SIZE'));
  if (size !== undefined) out.size = size;
  const version = num(values.get('VERSION'));
  if (version !== undefined) out.version = version;
  const crc = values.get('CRC32')?.toLowerCase();
  if (crc && /^[0-9a-f]{8}$/.test(crc)) out.crc32 = crc;
  const md5 = values.get('MD5')?.toLowerCase();
  if (md5 && /^[0-9a-f]{32}$/.test(md5)) out.md5 = md5;
  return out;
}

/**
 * The release a tolerantly read manifest (readManifest) means, in the strict form firmdrop writes (PATH '/'):
 * FILE a program name, VERSION 1..255 and SIZE 1..MAX_SIZE; NO_FILE gives noFileManifest(). Undefined otherwise.
 */
export function strictForm(read: Partial<Manifest>): Manifest | undefined {
  if (read.file === NO_FILE) return noFileManifest();
  if (!read.file || !isProgramName(read.file)) return undefined;
  if (read.version === undefined || read.version < 1 || read.version > MAX_VERSION) return undefined;
  if (read.size === undefined || read.size < 1 || read.size > MAX_SIZE) return undefined;
  const m: Manifest = { file: read.file, path: '/', size: read.size, version: read.version };
  if (read.crc32) m.crc32 = read.crc32;
  if (read.md5) m.md5 = read.md5;
  return m;
}

/** `NAME vVERSION` or `NO_FILE` for log lines about what a manifest offers; `nothing` for undefined. */
export function describeOffer(m: Partial<Manifest> | undefined): string {
  if (!m || m.file === undefined) return 'nothing';
  if (m.file === NO_FILE) return NO_FILE;
  return `${m.file} v${m.version ?? '?'}`;
}
