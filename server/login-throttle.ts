/**
 * Per-address brute-force throttle for FTP logins (RFC 2577 §5: "the server SHOULD … delay … after failed logins").
 *
 * server/ftp/ already slows guessing per connection (a fixed pause before each 530, and the connection closed
 * after MAX_LOGIN_FAILURES). An attacker simply reconnects, so this module remembers failed logins per client
 * address and makes the pause before each 530 grow with the number of recent failures from that address.
 *
 * The policy, and why:
 * - Only FAILED logins are ever delayed, and a delay holds back the 530 reply of the failing connection only: it never
 *   blocks or slows other connections from the same address. Thousands of devices may share one carrier-NAT address
 *   (devices behind carrier-grade NAT, RFC 6888, share an address), and their successful logins cost nothing.
 * - Growth: the first `freeFailures` failures from an address wait `baseDelayMs` each (today's fixed 500 ms); the
 *   failure after that waits 2 × base, the next 4 × base, doubling, capped at `maxDelayMs`. With the defaults:
 *   failures 1–5 wait 0.5 s, then 1, 2, 4, 8, 16 s, then 30 s each.
 * - Forgetting: an address with no failure for `forgetAfterMs` (default 15 min, fail2ban's `findtime` idea) is
 *   forgotten entirely, so its next failure is again a free one. A steady attacker never gets a quiet period.
 * - Success does NOT wipe the failures by default: an attacker behind the same NAT as a fleet of good devices would
 *   otherwise have its count reset by every device that logs in. Set `resetOnSuccess` when each address is one device
 *   (e.g. a private APN with a static IP per SIM), where a success does show that the guesser is gone.
 * - IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as `1.2.3.4`. Other IPv6 addresses count per /64 prefix: one host
 *   can use any address in its /64, and cellular networks give each PDP context its own /64 (3GPP TS 23.401 §5.3.1.2.2),
 *   so a /64 is one device there, never a NAT fleet.
 * - Memory is bounded: at most `maxTracked` addresses are remembered (measured on Node 20: 125 bytes per IPv4 key,
 *   160 per IPv6 /64, so about 1.6 MB at the default 10 000); when full, the address whose last failure is oldest is
 *   forgotten first. Expired entries are pruned lazily on each call; no timer runs, so nothing keeps the process
 *   alive and there is nothing to close.
 *
 * Known limit: the delay bounds the guess rate per connection. An attacker running N parallel connections from one
 * address still gets about N guesses per `maxDelayMs` once at the cap; N is bounded by server/ftp/server.ts's `maxPerAddress`
 * (unlimited by default, for NAT fleets) and `maxConnections`.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Options of a LoginThrottle. All durations in ms; every field is optional. */
export interface LoginThrottleOptions {
  /** Failures from one address (within the forgetting window) that wait only `baseDelayMs`. Integer ≥ 0, default 5. */
  freeFailures?: number;
  /** Delay for a failure within the free allowance, ms. Default 500 (server/ftp/'s fixed delay). 0 = no delays. */
  baseDelayMs?: number;
  /** Cap of the growing delay, ms. Default 30 000. A `baseDelayMs` above it is lowered to it. */
  maxDelayMs?: number;
  /** An address with no failure for this long is forgotten, ms. Default 900 000 (15 min). Must be > 0. */
  forgetAfterMs?: number;
  /** Most addresses remembered at once (memory bound); the one with the oldest last failure goes first. Default 10 000. */
  maxTracked?: number;
  /** A successful login forgets the address's failures. Default false (carrier NAT: see the module comment). */
  resetOnSuccess?: boolean;
  /** Clock in ms, for tests. Default `performance.now()` (monotonic: wall-clock jumps do not forget or revive entries). */
  now?: () => number;
}

/** Defaults of LoginThrottleOptions (the clock aside). */
export const LOGIN_THROTTLE_DEFAULTS = {
  freeFailures: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  forgetAfterMs: 15 * 60_000,
  maxTracked: 10_000,
  resetOnSuccess: false,
} as const;

/** Longest address string kept as a key when it is not an IP address (it never should be: socket.remoteAddress). */
const MAX_KEY_CHARS = 64;
/** Doubling stops here; 2^40 × any sane base is far above any sane cap, and the count stays a small number. */
const MAX_DOUBLINGS = 40;

/** What is remembered of one address. */
interface Entry {
  /** Failures since the address was last forgotten. */
  failures: number;
  /** Clock time of the latest failure, ms. */
  lastFailureAt: number;
}

/**
 * Remembers failed FTP logins per client address and says how long to hold back each 530 reply.
 * Synchronous, never throws on an address (any string, even empty, is accepted), and starts no timer.
 */
export class LoginThrottle {
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #maxTracked: number;
  readonly #resetOnSuccess: boolean;
  readonly #now: () => number;
  /** address key → entry, in order of last failure (oldest first): a failure moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();

  /** @throws RangeError naming the option when a number is out of range (negative, not finite, not an integer). */
  constructor(opts: LoginThrottleOptions = {}) {
    const d = LOGIN_THROTTLE_DEFAULTS;
    this.#free = checked('freeFailures', opts.freeFailures ?? d.freeFailures, 0, true);
    this.#max = checked('maxDelayMs', opts.maxDelayMs ?? d.maxDelayMs, 0, false);
    this.#base = Math.min(checked('baseDelayMs', opts.baseDelayMs ?? d.baseDelayMs, 0, false), this.#max);
    this.#forget = checked('forgetAfterMs', opts.forgetAfterMs ?? d.forgetAfterMs, 1, false);
    this.#maxTracked = checked('maxTracked', opts.maxTracked ?? d.maxTracked, 1, true);
    this.#resetOnSuccess = opts.resetOnSuccess ?? d.resetOnSuccess;
    this.#now = opts.now ?? (() => performance.now());
  }

  /**
   * Records a failed login from `address` (as socket.remoteAddress gives it) and returns how long to wait before
   * answering 530 on that connection, ms: `baseDelayMs` for failures 1..freeFailures within the window, then
   * base × 2, × 4, … capped at `maxDelayMs`. Holds back this connection's reply only.
   */
  failed(address: string): number {
    const now = this.#now();
    this.#prune(now);
    const key = addressKey(address);
    const old = this.#entries.get(key);
    const failures = old && !this.#expired(old, now) ? old.failures + 1 : 1;
    this.#entries.delete(key); // re-inserted at the end: the map stays ordered by last failure
    this.#entries.set(key, { failures, lastFailureAt: now });
    while (this.#entries.size > this.#maxTracked) this.#entries.delete(this.#entries.keys().next().value as string);
    return this.delayFor(failures);
  }

  /**
   * A successful login from `address`. Forgets the address's failures only with `resetOnSuccess`; by default it
   * changes nothing, because on a carrier-NAT address the success may be another device's (module comment).
   * Call it on every success either way, so the option alone decides.
   */
  succeeded(address: string): void {
    if (this.#resetOnSuccess) this.#entries.delete(addressKey(address));
  }

  /** Failures remembered for `address` now (0 when unknown or forgotten): for log lines and status. */
  failures(address: string): number {
    const e = this.#entries.get(addressKey(address));
    return e && !this.#expired(e, this.#now()) ? e.failures : 0;
  }

  /** The delay for the `failures`-th failure within the window, ms (pure; `failures` < 1 counts as 1). */
  delayFor(failures: number): number {
    const over = Math.min(Math.floor(failures) - this.#free, MAX_DOUBLINGS);
    if (!(over > 0)) return this.#base;
    return Math.min(this.#max, this.#base * 2 ** over);
  }

  /** How many addresses are remembered now (expired ones are pruned first). Never more than `maxTracked`. */
  get size(): number {
    this.#prune(this.#now());
    return this.#entries.size;
  }

  #expired(e: Entry, now: number): boolean {
    return now - e.lastFailureAt >= this.#forget;
  }

  /** Drops expired entries from the old end of the map; stops at the first live one (amortised O(1) per call). */
  #prune(now: number): void {
    for (const [key, e] of this.#entries) {
      if (!this.#expired(e, now)) return;
      this.#entries.delete(key);
    }
  }
}

/**
 * The key an address is counted under: IPv4 as is (`1.2.3.4`, also from `::ffff:1.2.3.4` or `::ffff:102:304`);
 * other IPv6 as its /64 prefix, expanded and lower case (`2001:db8:0:1::/64`), zone id dropped; anything else
 * trimmed, lower-cased and cut to 64 characters (the empty string stays one shared key). Never throws.
 */
export function addressKey(address: string): string {
  const s = String(address ?? '').trim().toLowerCase();
  if (net.isIPv4(s)) return s;
  const noZone = s.replace(/%.*$/, '');
  const h = net.isIPv6(noZone) ? ipv6Hextets(noZone) : undefined;
  if (!h) return s.slice(0, MAX_KEY_CHARS);
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
    return [h[6]! >> 8, h[6]! & 0xff, h[7]! >> 8, h[7]! & 0xff].join('.');
  }
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address that net.isIPv6 accepted (an embedded dotted quad becomes two). */
function ipv6Hextets(s: string): number[] | undefined {
  let text = s;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const zeros = halves.length > 1 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(zeros).fill('0'), ...tail].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** Checks one numeric option. @throws RangeError "LoginThrottle: <name> must be …". */
function checked(name: string, value: number, min: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`LoginThrottle: ${name} must be a finite ${integer ? 'integer' : 'number'} >= ${min}, got ${value}`);
  }
  return value;
}
