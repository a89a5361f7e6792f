/**
 * The files every benchmarked server serves: a binary of a given size and a valid UPGRADE.TXT naming it.
 */
import { writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';

/** Program name of the bench binary: 7 characters [A-Za-z0-9_] as devices require (docs/waspmote-ota.md, "How the devices parse UPGRADE.TXT"). */
export const BENCH_PROGRAM = 'BENCHFW';
/** VERSION label of the bench manifest (1..255). */
export const BENCH_VERSION = 2;
/** Default binary size: 200 KiB, the session shape of the comparison table. */
export const DEFAULT_BINARY_BYTES = 200 * 1024;

/**
 * Deterministic pseudo-random bytes (xorshift32 from `seed`): incompressible like a real firmware image, and the
 * same for every server so runs are comparable.
 */
export function benchBinary(size: number, seed = 0x9e3779b9): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** UPGRADE.TXT text for the bench binary, LF lines in the order FILE, PATH, SIZE, VERSION (Libelium's generator). */
export function benchManifest(size: number): string {
  return `FILE:${BENCH_PROGRAM}\nPATH:/\nSIZE:${size}\nVERSION:${BENCH_VERSION}\n`;
}

/**
 * Writes the bench binary (`BENCH_PROGRAM`, `size` bytes) into `root` and, unless `manifest` is false, the
 * UPGRADE.TXT naming it. Makes root world-readable (0755, files 0644) so vsftpd's unprivileged `ftp` user can read it.
 */
export async function writeBenchRoot(root: string, size: number, opts: { manifest?: boolean } = {}): Promise<void> {
  await writeFile(path.join(root, BENCH_PROGRAM), benchBinary(size), { mode: 0o644 });
  if (opts.manifest !== false) await writeFile(path.join(root, 'UPGRADE.TXT'), benchManifest(size), { mode: 0o644 });
  await chmod(root, 0o755);
}

/** The password of every bench device login (bench/logins.ts). */
export const BENCH_DEVICE_PASSWORD = 'bench-device';

/** FTP credentials of session `i` (0-based) with `logins` device logins dev1..devN (bench/logins.ts). */
export function benchIdentity(i: number, logins: number): { user: string; password: string } {
  return { user: `dev${(i % logins) + 1}`, password: BENCH_DEVICE_PASSWORD };
}
