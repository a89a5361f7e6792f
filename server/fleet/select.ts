/**
 * Which devices a rollout reaches: pure functions, no I/O.
 *
 * Percent: each login has a bucket 0..9999, the first 32 bits of SHA-256(login) modulo 10000; a device is in P %
 * when its bucket < P × 100. The bucket never changes, so the devices in 10 % are all in 50 % (stable as the
 * rollout grows), and two servers compute the same set. Cohorts given to a rollout are in it whatever the percent.
 * Waves (`--waves 5%,25%,100%`): wave i reaches waves[i] %; with cohorts, wave 0 is the cohorts alone and wave i+1
 * reaches waves[i] % (the test cohort first, as u-blox's FOTA test campaign and hawkBit's deployment groups do).
 */
import { createHash } from 'node:crypto';
import type { RolloutRow } from '../store/store.ts';

/** Buckets per 100 %: a percent has two decimals of resolution. */
export const BUCKETS = 10_000;

/** The bucket 0..9999 of a login (see the module comment). */
export function bucketOf(login: string): number {
  return createHash('sha256').update(login, 'utf8').digest().readUInt32BE(0) % BUCKETS;
}

/** A parsed `HH:MM-HH:MM` window in minutes after midnight UTC; `end < start` spans midnight. */
export interface TimeWindow { start: number; end: number }

/**
 * Parses `HH:MM-HH:MM` (UTC, 24 h).
 * @throws Error with a one-line message naming the value
 */
export function parseWindow(text: string): TimeWindow {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (!m) throw new Error(`--window "${text}": expected HH:MM-HH:MM (UTC, 24 h), e.g. 01:00-05:00`);
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (start === end) throw new Error(`--window "${text}": start and end are the same time`);
  return { start, end };
}

/** True when `at` (ms) is inside the window (start inclusive, end exclusive), or there is no window. */
export function inWindow(window: string | null, at: number): boolean {
  if (!window) return true;
  const w = parseWindow(window);
  const d = new Date(at);
  const t = d.getUTCHours() * 60 + d.getUTCMinutes();
  return w.start < w.end ? t >= w.start && t < w.end : t >= w.start || t < w.end;
}

/**
 * Parses a percent `P` or `P%` (0 < P ≤ 100, up to two decimals).
 * @throws Error naming the flag and the value
 */
export function parsePercent(text: string, flag: string): number {
  const m = /^(\d{1,3}(?:\.\d{1,2})?)%?$/.exec(String(text).trim());
  const p = m ? Number(m[1]) : NaN;
  if (!(p > 0 && p <= 100)) throw new Error(`${flag} "${text}": expected a percent above 0 and at most 100, e.g. 10 or 12.5%`);
  return p;
}

/**
 * Parses `--waves 5%,25%,100%`: increasing percents, the last one 100.
 * @throws Error naming the value
 */
export function parseWaves(text: string): number[] {
  const waves = String(text).split(',').map((w) => parsePercent(w, '--waves'));
  for (let i = 1; i < waves.length; i++) {
    if (waves[i]! <= waves[i - 1]!) throw new Error(`--waves "${text}": each wave must reach more devices than the one before`);
  }
  if (waves[waves.length - 1] !== 100) throw new Error(`--waves "${text}": the last wave must be 100%`);
  return waves;
}

/** The percent a rollout reaches now: its `percent`, raised to the current wave's. */
export function reachPercent(r: Pick<RolloutRow, 'percent' | 'waves' | 'wave' | 'cohorts'>): number {
  if (!r.waves) return r.percent;
  const index = r.cohorts.length ? r.wave - 1 : r.wave;
  const wavePercent = index >= 0 ? r.waves[Math.min(index, r.waves.length - 1)]! : 0;
  return Math.max(r.percent, wavePercent);
}

/** True when a device (cohort, bucket) is among the devices the rollout reaches now. */
export function inRollout(r: Pick<RolloutRow, 'percent' | 'waves' | 'wave' | 'cohorts'>, cohort: string | null, bucket: number): boolean {
  if (cohort !== null && r.cohorts.includes(cohort)) return true;
  return bucket < reachPercent(r) * (BUCKETS / 100);
}

/** The number of waves of a rollout (the cohort wave counts), or 0 without waves. */
export function waveCount(r: Pick<RolloutRow, 'waves' | 'cohorts'>): number {
  return r.waves ? r.waves.length + (r.cohorts.length ? 1 : 0) : 0;
}

/**
 * The error budget: downloads of the release that may end cut short or failed before the rollout pauses itself.
 * max(maxFailures, ceil(maxFailureRate × devices reached)); undefined when neither limit is set. A budget of 0 (a
 * rate with no device reached yet) pauses at the first failure.
 */
export function failureBudget(r: Pick<RolloutRow, 'maxFailures' | 'maxFailureRate'>, reached: number): number | undefined {
  if (r.maxFailures === null && r.maxFailureRate === null) return undefined;
  return Math.max(r.maxFailures ?? 0, r.maxFailureRate === null ? 0 : Math.ceil(r.maxFailureRate * reached));
}
