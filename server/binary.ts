/**
 * A firmware binary as the publisher sees it: the checks a binary must pass to be offered, and its checksums
 * (CRC-32 and MD5 computed in one read), written once for the publisher, the snapshot writer and `firmdrop status`.
 *
 * Rules (Libelium's Waspmote API, `Wasp4G.cpp` / `WaspWIFI_PRO.cpp` requestOTA): a device compares the file it
 * downloaded with UPGRADE.TXT's SIZE (4G code 11, WiFi PRO 0029) and fails on a 0-byte file (4G code 12); SIZE is
 * read as at most 9 digits, so a binary is 1..999999999 bytes. CRC32 is the unsigned CRC-32 of ISO 3309 / ITU-T V.42
 * (the zlib polynomial, `crc-32` package), as 8 lowercase hex digits; MD5 is RFC 1321, 32 lowercase hex digits.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import CRC32 from 'crc-32';
import { CodedError } from './errors.ts';
import { MAX_SIZE } from './manifest.ts';

/** Why a binary was not published. */
export type PublishErrorCode = 'bad-name' | 'not-found' | 'not-regular' | 'empty' | 'too-large' | 'unstable' | 'busy';

/** A binary refused by the publisher; `message` is one line naming the file and the rule. Nothing was changed. */
export class PublishError extends CodedError<PublishErrorCode> {}

/** The bytes of a binary: `size` in bytes, `crc32` 8 lowercase hex digits (unsigned), `md5` 32 lowercase hex digits. */
export interface BinaryContent { size: number; crc32: string; md5: string }

/** What the publisher knows about a binary: its content and the stat it was read at (`mtimeMs`, inode). */
export interface BinaryInfo extends BinaryContent { mtimeMs: number; ino: number }

/** True when two contents have the same bytes (same size, CRC-32 and MD5). */
export function sameContent(a: BinaryContent, b: BinaryContent): boolean {
  return a.size === b.size && a.crc32 === b.crc32 && a.md5 === b.md5;
}

/** CRC-32 and MD5 of a stream of chunks, computed together: feed every chunk to `update`, then call `digest` once. */
export class ContentHasher {
  private crc = 0;
  private size = 0;
  private readonly md5: Hash = createHash('md5');

  /** Adds the next chunk of the binary. */
  update(chunk: Buffer): void {
    this.crc = CRC32.buf(chunk, this.crc);
    this.md5.update(chunk);
    this.size += chunk.length;
  }

  /** The content of every chunk given so far (size in bytes). Call once. */
  digest(): BinaryContent {
    return { size: this.size, crc32: (this.crc >>> 0).toString(16).padStart(8, '0'), md5: this.md5.digest('hex') };
  }
}

/** The one-line PublishError for a binary that changed while it was read (still being written). */
export function unstable(label: string, detail: string): PublishError {
  return new PublishError('unstable', `${label}: changed while it was being checked (${detail}); still being written? not published`);
}

/**
 * lstat of `file` with the binary checks: a regular file (not a symlink), 1..MAX_SIZE bytes.
 * @param label how to name the file in messages (a name relative to the root, never an absolute path)
 * @throws PublishError 'not-found' | 'not-regular' | 'empty' | 'too-large'; other file-system errors
 */
export async function statBinary(file: string, label: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await fsp.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PublishError('not-found', `${label}: no such file in the root`);
    throw e;
  }
  if (st.isSymbolicLink()) throw new PublishError('not-regular', `${label}: is a symbolic link; copy the binary in as a regular file`);
  if (!st.isFile()) throw new PublishError('not-regular', `${label}: is not a regular file`);
  if (st.size === 0) throw new PublishError('empty', `${label}: is empty (0 bytes); a 4G device fails with code 12`);
  if (st.size > MAX_SIZE) throw new PublishError('too-large', `${label}: is ${st.size} bytes; SIZE has at most 9 digits (${MAX_SIZE})`);
  return st;
}

/**
 * Reads `file` once and returns its size, CRC-32 and MD5, after the checks of statBinary; refuses a file whose size,
 * mtime or inode changed while it was read (still being written).
 * @param label how to name the file in messages (default: its base name)
 * @throws PublishError 'not-found' | 'not-regular' | 'empty' | 'too-large' | 'unstable'
 */
export async function hashBinary(file: string, label = path.basename(file)): Promise<BinaryInfo> {
  const before = await statBinary(file, label);
  const hasher = new ContentHasher();
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) hasher.update(chunk);
  } finally {
    await fh.close();
  }
  const content = hasher.digest();
  if (content.size !== before.size) throw unstable(label, `read ${content.size} bytes of ${before.size}`);
  const info: BinaryInfo = { ...content, mtimeMs: before.mtimeMs, ino: before.ino };
  await assertUnchanged(file, info, label);
  return info;
}

/**
 * Throws PublishError 'unstable' when `file` no longer has the size, mtime and inode recorded in `info`.
 * @throws PublishError 'unstable'; other file-system errors
 */
export async function assertUnchanged(file: string, info: Pick<BinaryInfo, 'size' | 'mtimeMs' | 'ino'>, label: string): Promise<void> {
  let st: Stats;
  try {
    st = await fsp.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw unstable(label, 'it disappeared');
    throw e;
  }
  if (st.size !== info.size) throw unstable(label, `size ${info.size} → ${st.size} bytes`);
  if (st.mtimeMs !== info.mtimeMs || st.ino !== info.ino) throw unstable(label, 'modified or replaced');
}
