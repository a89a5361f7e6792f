/**
 * Checksums as UPGRADE.TXT writes them (docs/upgrade-txt.md): CRC-32 as 8 lowercase hex digits, unsigned (crc-32 returns
 * a signed number: `>>> 0`), and MD5 as 32 lowercase hex digits. For tests that verify served bytes.
 */
import CRC32 from 'crc-32';
import crypto from 'node:crypto';

/** CRC-32 of `b`: 8 lowercase hex digits, unsigned. */
export function crc32hex(b: Buffer): string {
  return (CRC32.buf(b) >>> 0).toString(16).padStart(8, '0');
}

/** MD5 of `b`: 32 lowercase hex digits. */
export function md5hex(b: Buffer): string {
  return crypto.createHash('md5').update(b).digest('hex');
}
