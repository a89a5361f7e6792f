// server/login-throttle.ts: per-address brute-force throttle for FTP logins (RFC 2577 §5). Pure policy object:
// an injected clock, no real waiting, no timing assertions. Cases: free allowance, doubling and cap, forgetting
// after forgetAfterMs, per-address isolation, mapped IPv6 = IPv4, IPv6 per /64, maxTracked under 50,000 addresses,
// success policy (default keeps failures: carrier NAT; resetOnSuccess forgets), bad input, option checks, and a
// fast-check property (delay monotone in failures within the window, never above maxDelayMs).
import { expect } from 'chai';
import fc from 'fast-check';
import { LOGIN_THROTTLE_DEFAULTS, LoginThrottle, addressKey, type LoginThrottleOptions } from '../server/login-throttle.ts';

/** A throttle on a hand-driven clock (ms). */
function throttle(opts: LoginThrottleOptions = {}): { t: LoginThrottle; advance(ms: number): void } {
  let now = 1_000_000;
  const t = new LoginThrottle({ now: () => now, ...opts });
  return { t, advance: (ms) => { now += ms; } };
}

/** The delays of `n` failures in a row from `address`. */
function failures(t: LoginThrottle, address: string, n: number): number[] {
  return Array.from({ length: n }, () => t.failed(address));
}

describe('login-throttle', () => {
  it('the free allowance waits baseDelayMs (defaults: 5 failures, 500 ms, as ftp.ts today)', () => {
    const { t } = throttle();
    expect(LOGIN_THROTTLE_DEFAULTS).to.include({ freeFailures: 5, baseDelayMs: 500 });
    expect(failures(t, '10.0.0.1', 5)).to.deep.equal([500, 500, 500, 500, 500]);
    expect(t.failures('10.0.0.1')).to.equal(5);
  });

  it('after the allowance the delay doubles, then stays at maxDelayMs', () => {
    const { t } = throttle();
    expect(failures(t, '10.0.0.1', 13)).to.deep.equal(
      [500, 500, 500, 500, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
    );
    const custom = throttle({ freeFailures: 1, baseDelayMs: 100, maxDelayMs: 350 }).t;
    expect(failures(custom, 'a', 5)).to.deep.equal([100, 200, 350, 350, 350]);
  });

  it('a very long run of failures stays at the cap (no overflow to Infinity or NaN)', () => {
    const { t } = throttle({ freeFailures: 0, baseDelayMs: 1, maxDelayMs: 60_000 });
    const last = failures(t, '10.0.0.1', 5_000).at(-1);
    expect(last).to.equal(60_000);
    expect(t.delayFor(Number.MAX_SAFE_INTEGER)).to.equal(60_000);
  });

  it('forgets an address forgetAfterMs after its last failure, not after its first', () => {
    const { t, advance } = throttle({ freeFailures: 1, forgetAfterMs: 60_000 });
    expect(failures(t, '10.0.0.1', 3)).to.deep.equal([500, 1_000, 2_000]);
    advance(59_999);
    expect(t.failed('10.0.0.1'), 'still inside the window: growth goes on').to.equal(4_000);
    advance(59_999); // 2 min after the first failure, but < 1 min after the last one
    expect(t.size).to.equal(1);
    expect(t.failed('10.0.0.1')).to.equal(8_000);
    advance(60_000);
    expect(t.failures('10.0.0.1')).to.equal(0);
    expect(t.size, 'pruned when read').to.equal(0);
    expect(t.failed('10.0.0.1'), 'free again').to.equal(500);
  });

  it('an entry past forgetAfterMs is forgotten even when a clock step back left it behind a younger one', () => {
    const { t, advance } = throttle({ freeFailures: 1, forgetAfterMs: 1_000 });
    t.failed('10.0.0.1');
    advance(-500); // an injected clock may step back; the map order is then no longer by time
    t.failed('10.0.0.2');
    t.failed('10.0.0.2');
    advance(1_400); // 10.0.0.1: 900 ms since its failure; 10.0.0.2: 1,400 ms, past the window
    expect(t.failures('10.0.0.2')).to.equal(0);
    expect(t.failed('10.0.0.2'), 'a new window').to.equal(500);
    expect(t.failed('10.0.0.1'), 'still in its window').to.equal(1_000);
  });

  it('counts each address on its own', () => {
    const { t } = throttle({ freeFailures: 2 });
    expect(failures(t, '10.0.0.1', 4)).to.deep.equal([500, 500, 1_000, 2_000]);
    expect(t.failed('10.0.0.2')).to.equal(500);
    expect(t.failures('10.0.0.1')).to.equal(4);
    expect(t.failures('10.0.0.2')).to.equal(1);
    expect(t.failures('10.0.0.3')).to.equal(0);
    expect(t.size).to.equal(2);
  });

  it('an IPv4-mapped IPv6 address is the same address as its IPv4 form', () => {
    const { t } = throttle({ freeFailures: 1 });
    expect(t.failed('1.2.3.4')).to.equal(500);
    expect(t.failed('::ffff:1.2.3.4')).to.equal(1_000);
    expect(t.failed('::FFFF:0102:0304')).to.equal(2_000); // hex form of the same mapped address
    expect(t.failures('0:0:0:0:0:ffff:1.2.3.4')).to.equal(3);
    expect(t.size).to.equal(1);
    expect(addressKey('::ffff:1.2.3.4')).to.equal('1.2.3.4');
  });

  it('counts other IPv6 addresses per /64 (one cellular PDN connection, TS 23.401 §5.3.1.2.2)', () => {
    const { t } = throttle({ freeFailures: 1 });
    expect(t.failed('2001:db8:1:2::1')).to.equal(500);
    expect(t.failed('2001:0DB8:0001:0002:ffff:1:2:3'), 'same /64, other host bits').to.equal(1_000);
    expect(t.failed('fe80::1%eth0'), 'zone id dropped').to.equal(500);
    expect(t.failed('2001:db8:1:3::1'), 'next /64').to.equal(500);
    expect(t.size).to.equal(3);
    expect(addressKey('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64');
    expect(addressKey('::1')).to.equal('0:0:0:0::/64');
    expect(addressKey('2001:db8::1.2.3.4')).to.equal('2001:db8:0:0::/64');
  });

  it('with the defaults, 50,000 distinct addresses leave 10,000 remembered', () => {
    const { t } = throttle();
    for (let i = 0; i < 50_000; i++) t.failed(`2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::1`);
    expect(t.size).to.equal(LOGIN_THROTTLE_DEFAULTS.maxTracked);
  });

  it('remembers at most maxTracked addresses under 50,000 distinct ones, and forgets the oldest first', () => {
    const { t, advance } = throttle({ maxTracked: 1_000, freeFailures: 0 });
    t.failed('10.0.0.1');
    t.failed('10.0.0.1'); // 2 failures: its delay would be 4 × base if still remembered
    let biggest = 0;
    for (let i = 0; i < 50_000; i++) {
      advance(1);
      expect(t.failed(`11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)).to.equal(1_000); // each one's first
      if (i % 997 === 0) biggest = Math.max(biggest, t.size);
      if (i === 500) expect(t.failures('10.0.0.1'), 'not yet evicted').to.equal(2);
    }
    expect(biggest).to.be.at.most(1_000);
    expect(t.size).to.equal(1_000);
    expect(t.failures('10.0.0.1'), 'oldest evicted').to.equal(0);
    expect(t.failures('11.0.195.79'), 'most recent kept (i = 49,999)').to.equal(1);
    expect(t.failures('11.0.191.103'), 'i = 48,999 evicted').to.equal(0);
    expect(t.failures('11.0.191.104'), 'i = 49,000 kept').to.equal(1);
  });

  it('a failure moves its address to the young end, so a persistent guesser outlives one-off addresses', () => {
    const { t, advance } = throttle({ maxTracked: 3, freeFailures: 0 });
    t.failed('10.0.0.1');
    advance(1); t.failed('10.0.0.2');
    advance(1); t.failed('10.0.0.3');
    advance(1); t.failed('10.0.0.1'); // 10.0.0.1 is now the most recent
    advance(1); t.failed('10.0.0.4'); // evicts 10.0.0.2, the oldest last failure
    expect(t.failures('10.0.0.1')).to.equal(2);
    expect(t.failures('10.0.0.2')).to.equal(0);
    expect(t.size).to.equal(3);
  });

  it('by default a success does not wipe the failures (an attacker behind the same NAT as good devices)', () => {
    const { t } = throttle({ freeFailures: 2 });
    failures(t, '100.64.0.1', 4);
    t.succeeded('100.64.0.1'); // a good device behind the same carrier NAT logs in
    t.succeeded('::ffff:100.64.0.1');
    expect(t.failures('100.64.0.1')).to.equal(4);
    expect(t.failed('100.64.0.1'), 'growth goes on').to.equal(4_000);
    t.succeeded('10.9.9.9'); // never failed: nothing is remembered for it
    expect(t.size).to.equal(1);
  });

  it('with resetOnSuccess a success forgets the failures of that address only', () => {
    const { t } = throttle({ freeFailures: 2, resetOnSuccess: true });
    failures(t, '10.0.0.1', 4);
    failures(t, '10.0.0.2', 3);
    t.succeeded('::ffff:10.0.0.1');
    expect(t.failures('10.0.0.1')).to.equal(0);
    expect(t.failed('10.0.0.1'), 'free again').to.equal(500);
    expect(t.failures('10.0.0.2')).to.equal(3);
  });

  it('never throws on odd addresses; empty and non-IP strings are keys of their own', () => {
    const { t } = throttle({ freeFailures: 1 });
    expect(t.failed('')).to.equal(500);
    expect(t.failed('  ')).to.equal(1_000); // trimmed: the same unknown-address key as ''
    expect(t.failed(undefined as unknown as string)).to.equal(2_000);
    expect(() => t.succeeded('')).not.to.throw();
    for (const odd of ['not an ip', '1.2.3.4.5', ':::', '::ffff:999.1.1.1', 'x'.repeat(10_000), '\u0000%']) {
      expect(t.failed(odd), odd.slice(0, 20)).to.equal(500);
    }
    expect(addressKey('x'.repeat(10_000))).to.have.length(64);
    expect(t.size).to.equal(7);
  });

  it('refuses out-of-range options with a RangeError naming the option', () => {
    expect(() => new LoginThrottle({ freeFailures: -1 })).to.throw(RangeError, /freeFailures/);
    expect(() => new LoginThrottle({ freeFailures: 1.5 })).to.throw(RangeError, /freeFailures/);
    expect(() => new LoginThrottle({ baseDelayMs: Number.NaN })).to.throw(RangeError, /baseDelayMs/);
    expect(() => new LoginThrottle({ maxDelayMs: Infinity })).to.throw(RangeError, /maxDelayMs/);
    expect(() => new LoginThrottle({ forgetAfterMs: 0 })).to.throw(RangeError, /forgetAfterMs/);
    expect(() => new LoginThrottle({ maxTracked: 0 })).to.throw(RangeError, /maxTracked/);
    // a base above the cap is lowered to it, which keeps the delays monotone
    expect(failures(new LoginThrottle({ baseDelayMs: 5_000, maxDelayMs: 1_000, freeFailures: 1 }), 'a', 3))
      .to.deep.equal([1_000, 1_000, 1_000]);
  });

  it('property: within the window the delay never decreases with more failures and never exceeds maxDelayMs', () => {
    fc.assert(
      fc.property(
        fc.record({
          freeFailures: fc.integer({ min: 0, max: 10 }),
          baseDelayMs: fc.integer({ min: 0, max: 10_000 }),
          maxDelayMs: fc.integer({ min: 0, max: 120_000 }),
          forgetAfterMs: fc.integer({ min: 1, max: 1_000_000 }),
        }),
        fc.array(fc.tuple(fc.constantFrom('1.1.1.1', '::ffff:1.1.1.1', '2.2.2.2'), fc.nat(2_000_000)), { maxLength: 80 }),
        (opts, steps) => {
          const { t, advance } = throttle(opts);
          const last = new Map<string, { delay: number; at: number }>();
          let clock = 0;
          for (const [address, gap] of steps) {
            advance(gap);
            clock += gap;
            const key = addressKey(address);
            const delay = t.failed(address);
            expect(delay).to.be.within(0, opts.maxDelayMs);
            const prev = last.get(key);
            if (prev && clock - prev.at < opts.forgetAfterMs) expect(delay).to.be.at.least(prev.delay);
            const first = Math.min(opts.baseDelayMs * (opts.freeFailures > 0 ? 1 : 2), opts.maxDelayMs);
            if (!prev || clock - prev.at >= opts.forgetAfterMs) expect(delay, 'first failure in a window').to.equal(first);
            last.set(key, { delay, at: clock });
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
