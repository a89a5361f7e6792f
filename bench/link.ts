/**
 * Client-side emulation of a slow cellular link for the bench, per simulated device.
 *
 * This is deliberately simple (client-sim/net's fault proxy is the accurate one): it throttles only the download
 * direction, at the reading end, and models latency and loss as delays the device waits:
 *  - bandwidth: received bytes are released to the sink no faster than `downKbps` (token bucket with no burst);
 *    the sink's back-pressure pauses the data socket, the TCP window fills, and the server's send stalls as it would
 *    behind a slow radio link;
 *  - latency: each command waits one round trip `rttMs` before it is sent (the reply's trip is folded in);
 *    connecting waits one round trip too;
 *  - loss: every command, and every 1460-byte segment of data, is lost with probability `loss`; each loss costs one
 *    retransmission timeout of max(200 ms, 2 × rttMs) (Linux's minimum RTO is 200 ms).
 */
import { Writable } from 'node:stream';

/** A cellular link as the bench emulates it. Units: kbit/s (1000 bit/s), ms, probability 0..1. */
export interface LinkProfile { name: string; downKbps: number; rttMs: number; loss: number }

/**
 * Named profiles (typical figures, not measurements): GPRS class 10 ≈ 40 kbit/s down with ~600 ms RTT
 * (issue 5 uses 40 kbit/s as "GPRS speed"); NB-IoT ≈ 25 kbit/s with ~1.5 s RTT; LTE-M ≈ 300 kbit/s with ~150 ms RTT.
 */
export const LINK_PROFILES: Readonly<Record<string, LinkProfile>> = {
  gprs: { name: 'gprs', downKbps: 40, rttMs: 600, loss: 0.01 },
  nbiot: { name: 'nbiot', downKbps: 25, rttMs: 1500, loss: 0.01 },
  ltem: { name: 'ltem', downKbps: 300, rttMs: 150, loss: 0.005 },
};

/**
 * Parses `--profile`: a name from LINK_PROFILES, or `custom:<kbit/s>,<rtt ms>,<loss>` (e.g. `custom:40,600,0.01`).
 * Throws a one-line Error naming the bad value.
 */
export function parseLinkProfile(text: string): LinkProfile {
  const named = LINK_PROFILES[text];
  if (named) return named;
  const m = /^custom:([\d.]+),([\d.]+),([\d.]+)$/.exec(text);
  if (m) {
    const [downKbps, rttMs, loss] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (downKbps > 0 && rttMs >= 0 && loss >= 0 && loss < 1) return { name: text, downKbps, rttMs, loss };
  }
  throw new Error(`unknown link profile "${text}": use ${Object.keys(LINK_PROFILES).join(', ')} or custom:<kbit/s>,<rtt ms>,<loss 0..1>`);
}

/** Retransmission timeout in ms charged per lost packet on this profile. */
function rtoMs(p: LinkProfile): number { return Math.max(200, 2 * p.rttMs); }

/** Resolves after `ms` milliseconds, or rejects at once with `signal.reason` when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Delay in ms a device waits before sending one command (or opening a connection): one RTT plus any loss. */
export function commandDelayMs(p: LinkProfile, random: () => number = Math.random): number {
  return p.rttMs + (random() < p.loss ? rtoMs(p) : 0);
}

/**
 * A Writable that counts and discards what it receives (`.bytes`, keeping the first `keepBytes`), releasing each chunk no faster than the
 * profile's bandwidth when a profile is given (plus loss delays); without a profile it accepts at once.
 * Aborting `signal` makes pending and later writes fail with the signal's reason.
 */
export class DeviceSink extends Writable {
  /** Bytes received so far. */
  bytes = 0;
  /** The first `keepBytes` bytes received (for the manifest). */
  private keptChunks: Buffer[] = [];
  private keptLength = 0;
  private readyAt = 0;
  /** @param keepBytes how many leading bytes to keep for `kept()` (default 0). */
  constructor(private readonly profile?: LinkProfile, private readonly signal?: AbortSignal,
              private readonly keepBytes = 0, private readonly random: () => number = Math.random) {
    super({ highWaterMark: 16 * 1024 });
  }
  /** The leading bytes kept (at most `keepBytes`). */
  kept(): Buffer { return Buffer.concat(this.keptChunks).subarray(0, this.keepBytes); }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.keptLength < this.keepBytes) { this.keptChunks.push(chunk); this.keptLength += chunk.length; }
    const p = this.profile;
    if (!p) return done();
    const now = Date.now();
    let cost = (chunk.length * 8) / p.downKbps;           // bits / (kbit/s) = ms
    for (let seg = 0; seg < Math.ceil(chunk.length / 1460) && p.loss > 0; seg++) {
      if (this.random() < p.loss) cost += rtoMs(p);
    }
    this.readyAt = Math.max(this.readyAt, now) + cost;
    sleep(this.readyAt - now, this.signal).then(() => done(), (err) => done(err instanceof Error ? err : new Error(String(err))));
  }
}
