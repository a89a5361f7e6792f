/**
 * Small statistics for the load generator: percentiles of latencies and medians of repeated runs.
 */

/**
 * The p-th percentile (0–100) of `values` by the nearest-rank method (no interpolation), so a reported
 * p99 is a latency some session actually had. Returns NaN for an empty list. Does not modify `values`.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/**
 * Median of `values` (mean of the two middle values for an even count); NaN for an empty list.
 * Used for `--repeat`: every figure of the summary is the median of that figure over the runs.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Latency summary in milliseconds. */
export interface LatencySummary { p50: number; p90: number; p99: number; max: number }

/** p50/p90/p99/max of a list of latencies (ms); NaN fields for an empty list. */
export function summarizeLatency(ms: readonly number[]): LatencySummary {
  return {
    p50: percentile(ms, 50),
    p90: percentile(ms, 90),
    p99: percentile(ms, 99),
    max: ms.length ? ms.reduce((a, b) => (b > a ? b : a), -Infinity) : NaN,
  };
}
