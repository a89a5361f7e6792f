/**
 * Device passwords: salted scrypt hashes (RFC 7914) through node:crypto, compared with crypto.timingSafeEqual, and
 * a short-lived in-memory cache of verification results.
 *
 * Cost: one scrypt with N=16384, r=8, p=1 (node's defaults, RFC 7914 §2 parameters) uses 16 MiB and 75 ms of
 * CPU on an idle core here (12 verifications a second on this 2-core machine shared with other work); it runs on
 * libuv's thread pool (async scrypt), not the event loop, so FTP sessions keep being served, but 5,000 devices
 * logging in for the first time at once wait their turn for minutes. The cache keeps the
 * result of a successful check for VERIFY_CACHE_MS, keyed by a SHA-256 of login, password and the stored hash (so a
 * changed password or a removed device never matches a stale entry, and no password is kept in memory in clear).
 * A device that logs in twice per update (Waspmote 4G: one session for UPGRADE.TXT, one for the binary) pays once.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** scrypt output length, bytes. */
const KEY_BYTES = 32;
/** Salt length, bytes. */
const SALT_BYTES = 16;
/** How long a successful verification is remembered, ms. */
export const VERIFY_CACHE_MS = 10 * 60 * 1000;
/** Most entries in the cache (oldest dropped first). */
const CACHE_MAX = 20_000;

/** scrypt cost N (RFC 7914 §2; node's default): 2^14, 16 MiB of memory with r=8. */
export const SCRYPT_N = 16384;

/**
 * A stored password: hex salt, and the hash as `scrypt$N$r$p$<hex>` (the parameters travel with the hash, so a
 * later firmdrop can change the cost without breaking stored logins).
 */
export interface PasswordHash { salt: string; hash: string }

/** Hashes `password` with a fresh random salt and cost `n` (synchronous: for the CLI). */
export function hashPassword(password: string, n = SCRYPT_N): PasswordHash {
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(password, salt, KEY_BYTES, { N: n, r: 8, p: 1 });
  return { salt: salt.toString('hex'), hash: `scrypt$${n}$8$1$${key.toString('hex')}` };
}

/** True when `password` matches `stored` (scrypt on the thread pool, constant-time compare). Never throws. */
export function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]+)$/.exec(stored.hash);
  if (!m) return Promise.resolve(false);
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return new Promise((resolve) => {
    scrypt(password, Buffer.from(stored.salt, 'hex'), KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => {
      if (err) return resolve(false);
      const want = Buffer.from(m[4]!, 'hex');
      resolve(want.length === key.length && timingSafeEqual(key, want));
    });
  });
}

/** Remembers successful verifications for VERIFY_CACHE_MS (see the module comment). */
export class VerifyCache {
  private readonly ok = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  /** @param ttlMs how long a success is remembered (default VERIFY_CACHE_MS); @param now clock (ms) */
  constructor(private readonly ttlMs = VERIFY_CACHE_MS, private readonly now: () => number = Date.now) {}

  /** Verifies `password` for `login` against `stored`, from the cache when a fresh success is there. */
  async verify(login: string, password: string, stored: PasswordHash): Promise<boolean> {
    const key = createHash('sha256').update(`${login}\0${password}\0${stored.salt}\0${stored.hash}`).digest('base64');
    const at = this.ok.get(key);
    const t = this.now();
    if (at !== undefined && t - at < this.ttlMs) {
      this.hits++;
      return true;
    }
    this.misses++;
    const good = await verifyPassword(password, stored);
    if (good) {
      this.ok.delete(key);
      this.ok.set(key, t);
      if (this.ok.size > CACHE_MAX) this.ok.delete(this.ok.keys().next().value!);
    }
    return good;
  }

  /** Cache hits and misses so far (for tests and metrics). */
  stats(): { hits: number; misses: number; size: number } {
    return { hits: this.hits, misses: this.misses, size: this.ok.size };
  }
}
