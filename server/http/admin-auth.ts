/**
 * The operator's login: one admin password, kept only as a scrypt hash (RFC 7914; Node's crypto.scrypt with
 * N=2^15, r=8, p=1, a 16-byte random salt) in memory; sessions in memory (a restart logs everyone out), each with
 * its own CSRF token (the synchronizer token pattern, OWASP CSRF Prevention Cheat Sheet): every request that changes
 * something must send it in `X-CSRF-Token`, and a page from another origin can neither read it nor, with the
 * SameSite=Strict cookie (RFC 6265bis §5.4.7), send the cookie.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Name of the session cookie (HttpOnly, SameSite=Strict, Path=/; Secure when the request came over HTTPS). */
export const SESSION_COOKIE = 'firmdrop_session';
/** Header carrying the CSRF token on every change. */
export const CSRF_HEADER = 'x-csrf-token';
/** A session unused this long is forgotten, ms (1 hour). */
export const SESSION_IDLE_MS = 60 * 60 * 1000;
/** A session is forgotten this long after login whatever its use, ms (12 hours). */
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;
/** Most sessions held at once; the oldest is dropped beyond it (a bound against login floods). */
export const MAX_SESSIONS = 1000;

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

function scryptHash(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** One logged-in operator. Times in ms since the epoch. */
export interface AdminSession { id: string; csrf: string; createdAt: number; usedAt: number }

/** The admin password check and the session store. */
export class AdminAuth {
  readonly #salt: Buffer;
  readonly #hash: Buffer;
  readonly #sessions = new Map<string, AdminSession>();

  private constructor(salt: Buffer, hash: Buffer) {
    this.#salt = salt;
    this.#hash = hash;
  }

  /**
   * Hashes `password` (the plain text is not kept).
   * @throws Error when the password is empty
   */
  static async create(password: string): Promise<AdminAuth> {
    if (password === '') throw new Error('the admin password is empty');
    const salt = randomBytes(16);
    return new AdminAuth(salt, await scryptHash(password, salt));
  }

  /** True when `password` is the admin password (constant-time comparison of the scrypt hashes). */
  async verify(password: string): Promise<boolean> {
    const h = await scryptHash(password, this.#salt);
    return timingSafeEqual(h, this.#hash);
  }

  /** Starts a session: a random 32-byte id (the cookie) and CSRF token, both base64url. */
  open(now = Date.now()): AdminSession {
    const s: AdminSession = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), createdAt: now, usedAt: now };
    this.#sessions.set(s.id, s);
    while (this.#sessions.size > MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value as string);
    return s;
  }

  /** The live session with this cookie value (marking it used), or undefined (unknown, idle or too old). */
  get(id: string | undefined, now = Date.now()): AdminSession | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (now - s.usedAt > SESSION_IDLE_MS || now - s.createdAt > SESSION_MAX_MS) {
      this.#sessions.delete(id);
      return undefined;
    }
    s.usedAt = now;
    return s;
  }

  /** True when the session with this id is still live, without marking it used (for long-lived event streams). */
  alive(id: string, now = Date.now()): boolean {
    const s = this.#sessions.get(id);
    return s !== undefined && now - s.usedAt <= SESSION_IDLE_MS && now - s.createdAt <= SESSION_MAX_MS;
  }

  /** True when `token` is this session's CSRF token (constant time). */
  static csrfMatches(s: AdminSession, token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const a = Buffer.from(token);
    const b = Buffer.from(s.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Ends a session (logout). */
  close(id: string): void {
    this.#sessions.delete(id);
  }
}
