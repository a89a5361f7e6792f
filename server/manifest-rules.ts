/**
 * UPGRADE.TXT's rules, server side: the limits, labels and rule ids every writer and linter check, the manifest
 * and issue types, and the FILE value check. Pure: no I/O. Sources: the requestOTA functions of the Waspmote API
 * (Wasp4G.cpp, WaspWIFI_PRO.cpp, Wasp3G.cpp, WaspGPRS_Pro_core.cpp) and Meshlium's OTA manager.
 */
import { NO_FILE, show } from './program-name.ts';

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

/**
 * FILE value checks shared by the writer and the linter: exactly 7 characters as a 4G counts them (a CR kept in the
 * value counts: Wasp4G.cpp requestOTA, code 4; WiFi PRO 0022) and letters, digits and `_` only (SD 8.3 names).
 * `raw` is the value as read after `FILE:`; `line` (1-based) goes into the messages. Returns the issues, empty when
 * the value is fine or is NO_FILE. Never throws.
 */
export function fileValueIssues(raw: string, line?: number): ManifestIssue[] {
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
