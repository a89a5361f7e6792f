/**
 * Cellular links for the bench, per simulated device. The profiles (names and figures) are client-sim's
 * (client-sim/net/profiles.ts: gprs, 3g, catm1, nbiot, cat1, with sources). Two ways to apply one:
 *  - `client` (default, cheap enough for thousands of devices): emulated at the device's reading end, here.
 *    Bandwidth: received bytes are released to the sink no faster than `downKbps`; the sink's back-pressure pauses
 *    the data socket, the TCP window fills and the server's send stalls as it would behind a slow radio link.
 *    Latency: each command (and the connect) waits one round trip `rttMs` before it is sent. Loss: client-sim's
 *    model, a stall of `loss.stallMs` after every `loss.everyBytes` bytes received. Upload bandwidth is not shaped
 *    (a device sends only short command lines).
 *  - `proxy`: client-sim's FTP-aware fault proxy (client-sim/net/fault-proxy.ts) in front of the server, shaping
 *    every control and data connection in both directions; it runs inside the bench process, so its CPU competes
 *    with the load generator's (see measure.ts).
 */
import { Writable } from 'node:stream';
import { getLinkProfile, LINK_PROFILES, type LinkProfile } from '../client-sim/net/profiles.ts';

export type { LinkProfile };
export { LINK_PROFILES };

/**
 * Parses `--profile`: a client-sim profile name, or `custom:<down kbit/s>,<rtt ms>` (no loss), e.g. `custom:40,600`.
 * Throws a one-line Error naming the bad value.
 */
export function parseLinkProfile(text: string): LinkProfile {
  const m = /^custom:([\d.]+),([\d.]+)$/.exec(text);
  if (m) {
    const [downKbps, rttMs] = [Number(m[1]), Number(m[2])];
    if (downKbps > 0 && rttMs >= 0) return { name: text, downKbps, rttMs };
    throw new Error(`link profile "${text}": bandwidth must be > 0 kbit/s and RTT ≥ 0 ms`);
  }
  try {
    return getLinkProfile(text);
  } catch (err) {
    throw new Error(`${(err as Error).message}; or custom:<down kbit/s>,<rtt ms>`);
  }
}

/** Resolves after `ms` milliseconds, or rejects at once with `signal.reason` when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Delay in ms a device waits before sending one command (or opening a connection): one round trip. */
export function commandDelayMs(p: LinkProfile): number {
  return Math.max(0, p.rttMs ?? 0);
}

/**
 * A Writable that counts and discards what it receives (`.bytes`, keeping the first `keepBytes`), releasing each
 * chunk no faster than the profile's download bandwidth, with its loss stalls, when a profile is given; without
 * one it accepts at once. Aborting `signal` makes pending and later writes fail with the signal's reason.
 */
export class DeviceSink extends Writable {
  /** Bytes received so far. */
  bytes = 0;
  private keptChunks: Buffer[] = [];
  private keptLength = 0;
  private readyAt = 0;
  private sinceStall = 0;
  /** @param keepBytes how many leading bytes to keep for `kept()` (default 0). */
  constructor(private readonly profile?: LinkProfile, private readonly signal?: AbortSignal,
              private readonly keepBytes = 0) {
    super({ highWaterMark: 16 * 1024 });
  }
  /** The leading bytes kept (at most `keepBytes`). */
  kept(): Buffer { return Buffer.concat(this.keptChunks).subarray(0, this.keepBytes); }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.keptLength < this.keepBytes) { this.keptChunks.push(chunk); this.keptLength += chunk.length; }
    const p = this.profile;
    if (!p || !(p.downKbps && p.downKbps > 0)) return done();
    const now = Date.now();
    let cost = (chunk.length * 8) / p.downKbps;           // bits / (kbit/s) = ms
    if (p.loss && p.loss.everyBytes > 0) {
      this.sinceStall += chunk.length;
      while (this.sinceStall >= p.loss.everyBytes) { this.sinceStall -= p.loss.everyBytes; cost += p.loss.stallMs; }
    }
    this.readyAt = Math.max(this.readyAt, now) + cost;
    sleep(this.readyAt - now, this.signal).then(() => done(), (err) => done(err instanceof Error ? err : new Error(String(err))));
  }
}
