/**
 * The UPGRADE.TXT linter: every rule of MANIFEST_RULES a text breaks, in stages (lines, labels, values, the binary
 * it names). Pure: no I/O. `firmdrop check`, the publisher and the strict parser (manifest.ts) use it.
 */
import { NO_FILE, show } from './program-name.ts';
import {
  CHECKSUM_LABELS, MANIFEST_NAME, MAX_MANIFEST_BYTES, MAX_VERSION, REQUIRED_LABELS, fileValueIssues,
  type ManifestIssue, type ManifestRule,
} from './manifest-rules.ts';

/** One parsed line of a manifest: label (trimmed of spaces/tabs/CR), raw value (as a device would read it). */
interface Line { n: number; text: string; label?: string; raw?: string }

/** Records one issue: `rule`, a message (prefixed with UPGRADE.TXT and the line), the line, the severity. */
type Add = (rule: ManifestRule, message: string, line?: number, severity?: 'error' | 'warning') => void;

/** The value of a line without spaces, tabs and CRs (undefined when the line has no value). */
function clean(l?: Line): string | undefined {
  return l?.raw === undefined ? undefined : l.raw.replace(/[ \t\r]/g, '');
}

/** A decimal number without sign or leading zeros. */
function numeric(v: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(v);
}

/** Splits `s` into lines (1-based), each with its label and raw value when it has a colon. */
function splitLines(s: string): { lines: Line[]; parts: string[]; endsWithLf: boolean } {
  const parts = s === '' ? [] : s.split('\n');
  const endsWithLf = s.endsWith('\n');
  if (endsWithLf) parts.pop();
  const lines: Line[] = parts.map((t, i) => {
    const colon = t.indexOf(':');
    if (colon < 0) return { n: i + 1, text: t };
    return { n: i + 1, text: t, label: t.slice(0, colon).replace(/[ \t\r]/g, ''), raw: t.slice(colon + 1) };
  });
  return { lines, parts, endsWithLf };
}

/** Rules of each line on its own: CR, spaces or tabs, LABEL:VALUE syntax. */
function lineIssues(lines: Line[], add: Add): void {
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
}

/**
 * Label rules: each label once (devices read the first occurrence), the four required ones present, and no label
 * string inside another line (4G/WiFi PRO search labels as substrings). Returns the first line of each label.
 */
function labelIssues(lines: Line[], add: Add): Map<string, Line> {
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
  return first;
}

/** SIZE: a decimal of at most 9 digits, at least 1 for a release. Returns the value when it is well formed. */
function sizeIssues(sizeLine: Line | undefined, isNoFile: boolean, add: Add): number | undefined {
  const sizeText = clean(sizeLine);
  if (!sizeLine || sizeText === undefined) return undefined;
  if (!numeric(sizeText) || sizeText.length > 9) {
    add('size-format', `SIZE must be a decimal number of at most 9 digits, got '${show(sizeLine.raw ?? '')}'`, sizeLine.n);
    return undefined;
  }
  const size = Number(sizeText);
  if (!isNoFile && size < 1) add('size-range', 'SIZE must be at least 1 for a release (4G reports a 0-byte file as code 12)', sizeLine.n);
  return size;
}

/** VERSION: a decimal 0..255, 0 only with NO_FILE (one byte on 4G/WiFi PRO). */
function versionIssues(versionLine: Line | undefined, isNoFile: boolean, add: Add): void {
  const versionText = clean(versionLine);
  if (!versionLine || versionText === undefined) return;
  if (!numeric(versionText) || versionText.length > 9) {
    add('version-format', `VERSION must be a decimal number 0..255, got '${show(versionLine.raw ?? '')}'`, versionLine.n);
    return;
  }
  const v = Number(versionText);
  if (v > MAX_VERSION) {
    add('version-range', `VERSION must be at most 255, got ${v}; 4G/WiFi PRO keep one byte (${v} reads as ${v % 256})`, versionLine.n);
  } else if (v === 0 && !isNoFile) {
    add('version-range', 'VERSION 0 is only for NO_FILE; a release needs 1..255', versionLine.n);
  }
}

/** CRC32 and MD5: lowercase hex of 8 and 32 digits. */
function checksumIssues(first: Map<string, Line>, add: Add): void {
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
}

/** SIZE, CRC32 and MD5 against the binary the manifest names (size in bytes, checksums as hex). */
function binaryIssues(first: Map<string, Line>, fileRaw: string, size: number | undefined,
                      binary: { size: number; crc32?: string; md5?: string }, add: Add): void {
  if (size !== undefined && size !== binary.size) {
    add('size-mismatch', `SIZE is ${size} but the binary '${show(fileRaw)}' is ${binary.size} bytes (4G code 11, WiFi PRO 0029)`, first.get('SIZE')?.n);
  }
  const crc = clean(first.get('CRC32'));
  if (binary.crc32 !== undefined && crc !== undefined && /^[0-9a-f]{8}$/.test(crc) && crc !== binary.crc32.toLowerCase()) {
    add('crc32-mismatch', `CRC32 is ${crc} but the binary's CRC-32 is ${binary.crc32.toLowerCase()}`, first.get('CRC32')?.n);
  }
  const md5 = clean(first.get('MD5'));
  if (binary.md5 !== undefined && md5 !== undefined && /^[0-9a-f]{32}$/.test(md5) && md5 !== binary.md5.toLowerCase()) {
    add('md5-mismatch', `MD5 is ${md5} but the binary's MD5 is ${binary.md5.toLowerCase()}`, first.get('MD5')?.n);
  }
}

/**
 * Every rule `text` breaks (see MANIFEST_RULES), in file order where a line is concerned. With `binary`
 * (size in bytes, checksums as lowercase hex) also checks SIZE, CRC32 and MD5 against it. Empty array = valid.
 * Never throws. Sources: the requestOTA functions of the Waspmote API.
 */
export function lintManifest(text: string | Buffer, binary?: { size: number; crc32?: string; md5?: string }): ManifestIssue[] {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.length;
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const issues: ManifestIssue[] = [];
  const add: Add = (rule, message, line, severity = 'error') => {
    issues.push({ rule, line, severity, message: `${MANIFEST_NAME}${line ? ` line ${line}` : ''}: ${message}` });
  };
  const { lines, parts, endsWithLf } = splitLines(s);
  if (s.length > 0 && !endsWithLf) {
    add('final-lf', `the last line ('${show(parts[parts.length - 1])}') must end in LF; 4G/WiFi PRO read a negative value length`, parts.length);
  }
  lineIssues(lines, add);
  const first = labelIssues(lines, add);

  const fileLine = first.get('FILE');
  if (fileLine && !s.startsWith('FILE:')) {
    add('file-first', 'FILE must be the first line: 3G and GPRS take the FILE value from the first colon in the file', fileLine.n);
  }
  const fileRaw = fileLine?.raw;
  const isNoFile = fileRaw === NO_FILE;
  if (fileLine && fileRaw !== undefined) {
    for (const i of fileValueIssues(fileRaw, fileLine.n)) issues.push(i);
  }
  const pathLine = first.get('PATH');
  const path = clean(pathLine);
  if (pathLine && path !== '/') {
    add('path', `PATH should be '/', got '${show(pathLine.raw ?? '')}': 4G ignores PATH and fetches /FILE; WiFi PRO fetches PATH/FILE; ` +
      `3G fetches PATH+FILE without a separator (e.g. '${path}${fileRaw ?? 'ABCDEFG'}'); only '/' works on every module`, pathLine.n, 'warning');
  }
  const size = sizeIssues(first.get('SIZE'), isNoFile, add);
  versionIssues(first.get('VERSION'), isNoFile, add);
  checksumIssues(first, add);
  const sizeText = clean(first.get('SIZE'));
  const versionText = clean(first.get('VERSION'));
  if (isNoFile && ((sizeText !== undefined && sizeText !== '0') || (versionText !== undefined && versionText !== '0') || first.has('CRC32') || first.has('MD5'))) {
    add('no-file-form', `FILE:${NO_FILE} must come with SIZE:0, VERSION:0 and no checksum lines (as Meshlium writes it)`, fileLine?.n);
  }
  if (bytes > MAX_MANIFEST_BYTES) {
    add('too-long', `file is ${bytes} bytes, at most ${MAX_MANIFEST_BYTES} allowed: devices read 256 and mark 255 or more as truncated`);
  }
  if (binary && fileRaw !== undefined && !isNoFile) binaryIssues(first, fileRaw, size, binary, add);
  return issues;
}
