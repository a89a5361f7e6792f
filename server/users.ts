/**
 * Who may log in to the FTP server: the configured user/password pairs (the default `ota` / `libelium`, Meshlium's
 * default in Libelium's guide, comes from server/config.ts, not from here), and anonymous users only when enabled.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** One FTP account. */
export interface FtpUser {
  user: string;
  pass: string;
}

/** The login policy: accounts, and whether anonymous login is allowed. */
export interface LoginPolicy {
  users: FtpUser[];
  /** Allow `anonymous` / `ftp` with any password (RFC 1635). Default false. */
  anonymous?: boolean;
}

/** The result of an accepted login. */
export interface LoginResult {
  /** The account name as configured (or as sent, for an anonymous login). */
  user: string;
  anonymous: boolean;
}

/** User names that mean an anonymous login (RFC 1635), compared case-insensitively. */
export const ANONYMOUS_NAMES: readonly string[] = ['anonymous', 'ftp'];

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** SHA-256 digests of each configured account's user and password, computed once per account object. */
const accountDigests = new WeakMap<FtpUser, { user: Buffer; pass: Buffer }>();

function digestsOf(u: FtpUser): { user: Buffer; pass: Buffer } {
  let d = accountDigests.get(u);
  if (!d) accountDigests.set(u, (d = { user: digest(u.user), pass: digest(u.pass) }));
  return d;
}

/**
 * Checks one login. Returns the accepted identity, or undefined when refused (the FTP layer answers 530).
 * A configured account with an anonymous name (e.g. user `ftp`) is checked as an account first.
 * Never throws; never logs (and so never logs a password).
 */
export function checkLogin(policy: LoginPolicy, user: string, pass: string): LoginResult | undefined {
  let match: FtpUser | undefined;
  // Digests of equal length compared with timingSafeEqual: time independent of where the strings differ.
  const sentUser = digest(user);
  const sentPass = digest(pass);
  for (const u of policy.users) {
    // Every account is compared (no early exit), so timing does not tell which user names exist.
    const d = digestsOf(u);
    if (timingSafeEqual(d.user, sentUser) && timingSafeEqual(d.pass, sentPass) && !match) match = u;
  }
  if (match) return { user: match.user, anonymous: false };
  if (policy.anonymous && ANONYMOUS_NAMES.includes(user.toLowerCase())) return { user, anonymous: true };
  return undefined;
}
