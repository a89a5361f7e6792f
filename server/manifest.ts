/**
 * UPGRADE.TXT, server side: the strict writer and the strict parser, with the rules (./manifest-rules.ts) and the
 * linter (./manifest-lint.ts) re-exported, so that `manifest.ts` is the one import for UPGRADE.TXT. Pure: no I/O.
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
import { lintManifest } from './manifest-lint.ts';
import {
  MANIFEST_NAME, MAX_SIZE, MAX_VERSION, ManifestError, fileValueIssues,
  type Manifest, type ManifestIssue, type ManifestRule,
} from './manifest-rules.ts';
import { NO_FILE, isProgramName, show } from './program-name.ts';

export { NO_FILE, PROGRAM_NAME_RE, explainProgramName, isProgramName, suggestProgramName } from './program-name.ts';
export {
  CHECKSUM_LABELS, MANIFEST_NAME, MANIFEST_RULES, MAX_MANIFEST_BYTES, MAX_SIZE, MAX_VERSION, ManifestError,
  REQUIRED_LABELS, type Manifest, type ManifestIssue, type ManifestRule,
} from './manifest-rules.ts';
export { lintManifest } from './manifest-lint.ts';

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
