/**
 * Named cellular link profiles for the fault proxy's shaping (bandwidth, latency, loss approximated by stalls).
 *
 * The figures are TYPICAL public figures for each radio access technology, not measurements of any network:
 * real throughput depends on coverage, load, operator configuration and module category. They exist so that a
 * test or a demo can choose "a link that behaves roughly like GPRS" by name. Sources, per profile, in `source`:
 * - GPRS: about 40 kbit/s sustained; multislot class 10 (4 down + 1 up timeslots, CS-2 at 13.4 kbit/s
 *   per slot) peaks at 53.6/13.4 kbit/s (3GPP TS 45.002 annex B, TS 45.003 coding schemes); round trips of
 *   500–1000 ms are the commonly quoted GPRS figure.
 * - 3G: UMTS/HSPA as typically seen by a Cat-class IoT module (e.g. SIM5215: HSDPA 3.6 Mbit/s peak down,
 *   384 kbit/s up per its datasheet); ~1 Mbit/s down is a typical sustained figure, RTT ~150 ms.
 * - LTE Cat-M1: u-blox SARA-R4 datasheet figures (300 kbit/s down, 375 kbit/s up, half-duplex FDD);
 *   GSMA "LTE-M Deployment Guide" quotes latencies of 10–15 ms radio, typical end-to-end RTT ~150–200 ms.
 * - NB-IoT (Cat-NB1): SARA-R4/N2 datasheets 27.2 kbit/s down, 62.5 kbit/s up (multi-tone); 3GPP TR 45.820 targets
 *   latency under 10 s, typical RTTs of 1.5–2 s in GSMA deployment guidance.
 * - LTE Cat-1: 3GPP TS 36.306 UE category 1 peaks at 10.3/5.2 Mbit/s; ~5/2 Mbit/s typical, RTT ~70 ms.
 *
 * Loss model: the proxy relays TCP, so radio loss shows up at the application as TCP retransmission pauses,
 * not as missing bytes. A profile's `loss` therefore approximates loss as a stall of `stallMs` after every
 * `everyBytes` bytes forwarded in a direction (deterministic, so tests stay reproducible).
 */
export interface LinkProfile {
  /** Profile name, e.g. "gprs". */
  name: string;
  /** Server → device bandwidth in kbit/s (1 kbit = 1000 bits). 0 or undefined = unshaped. */
  downKbps?: number;
  /** Device → server bandwidth in kbit/s. 0 or undefined = unshaped. */
  upKbps?: number;
  /** Round-trip time in ms; each direction gets half unless `downLatencyMs`/`upLatencyMs` are given. */
  rttMs?: number;
  /** One-way latency server → device in ms (overrides rttMs / 2). */
  downLatencyMs?: number;
  /** One-way latency device → server in ms (overrides rttMs / 2). */
  upLatencyMs?: number;
  /** Loss approximated by stalls: pause `stallMs` after every `everyBytes` bytes, in each direction. */
  loss?: { everyBytes: number; stallMs: number };
  /** Where the figures come from (typical public figures, not measured). */
  source?: string;
}

/** The named profiles. Typical figures, see the module docstring for sources. */
export const LINK_PROFILES: Readonly<Record<string, LinkProfile>> = Object.freeze({
  gprs: {
    name: 'gprs', downKbps: 40, upKbps: 13.4, rttMs: 700,
    loss: { everyBytes: 256 * 1024, stallMs: 2000 },
    source: '~40 kbit/s sustained; 3GPP TS 45.002/45.003 class 10 CS-2 peak 53.6/13.4 kbit/s; typical RTT 500-1000 ms',
  },
  '3g': {
    name: '3g', downKbps: 1000, upKbps: 384, rttMs: 150,
    loss: { everyBytes: 4 * 1024 * 1024, stallMs: 500 },
    source: 'UMTS/HSPA IoT module typical sustained rates (SIM5215 datasheet: 3.6 Mbit/s peak down, 384 kbit/s up)',
  },
  catm1: {
    name: 'catm1', downKbps: 300, upKbps: 375, rttMs: 180,
    loss: { everyBytes: 1024 * 1024, stallMs: 1000 },
    source: 'u-blox SARA-R4 datasheet LTE Cat-M1 300/375 kbit/s; GSMA LTE-M deployment guide latency',
  },
  nbiot: {
    name: 'nbiot', downKbps: 27.2, upKbps: 62.5, rttMs: 1600,
    loss: { everyBytes: 128 * 1024, stallMs: 4000 },
    source: 'u-blox SARA-R4/N2 datasheets NB1 27.2/62.5 kbit/s; 3GPP TR 45.820 latency target < 10 s',
  },
  cat1: {
    name: 'cat1', downKbps: 5000, upKbps: 2000, rttMs: 70,
    loss: { everyBytes: 8 * 1024 * 1024, stallMs: 300 },
    source: '3GPP TS 36.306 UE category 1 peak 10.3/5.2 Mbit/s; about half as typical sustained rate',
  },
});

/** Names accepted by {@link getLinkProfile}. */
export type LinkProfileName = 'gprs' | '3g' | 'catm1' | 'nbiot' | 'cat1';

/**
 * Resolves a profile by name (case-insensitive) or passes a custom profile object through.
 * @throws Error naming the unknown profile and listing the known ones.
 */
export function getLinkProfile(profile: string | LinkProfile): LinkProfile {
  if (typeof profile !== 'string') return profile;
  const found = LINK_PROFILES[profile.toLowerCase()];
  if (!found) {
    throw new Error(`unknown link profile "${profile}" (known: ${Object.keys(LINK_PROFILES).join(', ')})`);
  }
  return found;
}

/** One-way latency in ms for a direction of a profile ('down' = server → device). */
export function oneWayLatencyMs(p: LinkProfile, direction: 'up' | 'down'): number {
  const explicit = direction === 'down' ? p.downLatencyMs : p.upLatencyMs;
  if (explicit !== undefined) return Math.max(0, explicit);
  return Math.max(0, (p.rttMs ?? 0) / 2);
}

/** Bandwidth in bytes per millisecond for a direction, or 0 when unshaped. kbit/s / 8 = bytes/ms. */
export function bytesPerMs(p: LinkProfile, direction: 'up' | 'down'): number {
  const kbps = direction === 'down' ? p.downKbps : p.upKbps;
  return kbps && kbps > 0 ? kbps / 8 : 0;
}
