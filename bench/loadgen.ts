/**
 * The load generator: N simulated devices, at most C sessions at once, each one OTA session (session.ts),
 * bounded in count (N) and time (`durationLimitMs`, after which sessions in progress are aborted and counted as
 * failures "aborted (duration limit)").
 */
import { setMaxListeners } from 'node:events';
import { runOtaSession, type SessionResult, type SessionTarget } from './session.ts';
import { summarizeLatency, type LatencySummary } from './stats.ts';
import type { LinkProfile } from './link.ts';

/** Options of one load run. Times in ms. */
export interface LoadOptions {
  target: SessionTarget;
  /** Sessions to run in all (devices). */
  n: number;
  /** Sessions in progress at once. */
  c: number;
  /** Hard cap for the whole run, ms. */
  durationLimitMs: number;
  /** basic-ftp socket idle timeout per session, ms (default 30 000). */
  sessionTimeoutMs?: number;
  profile?: LinkProfile;
  /** Called after each session ends (for progress display). */
  onSession?: (r: SessionResult, done: number) => void;
  /** Credentials of session i (0-based) instead of the target's (device logins: bench/logins.ts). */
  identity?: (i: number) => { user: string; password: string };
}

/** Figures of one load run. Times in ms, sizes in bytes, rates per second of wall time. */
export interface LoadResult {
  n: number; c: number;
  started: number; ok: number; failed: number;
  /** Failures counted by reason (see SessionResult.reason). */
  failures: Record<string, number>;
  /** From the first session's start to the last one's end. */
  wallMs: number;
  /** Successful sessions per second. */
  sessionsPerSec: number;
  /** Payload bytes received per second, in MB/s (10^6 bytes). */
  mbPerSec: number;
  bytes: number;
  /** Latency of successful sessions. */
  latency: LatencySummary;
  /** Time of the binary's RETR in successful sessions. */
  retr: LatencySummary;
  /** True when the duration limit fired: sessions in progress were aborted and the rest never started. */
  hitDurationLimit: boolean;
  /** CPU the load generator itself used (user + system), ms: if it nears wallMs × cores, the client is the bottleneck. */
  clientCpuMs: number;
}

/** Parses `ftp://user:pass@host:port` (user and password URL-decoded; default anonymous, port 21). Throws on other schemes. */
export function parseFtpUrl(url: string): SessionTarget {
  const u = new URL(url);
  if (u.protocol !== 'ftp:') throw new Error(`--url must be ftp://user:pass@host:port, got "${url}"`);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 21,
    user: u.username ? decodeURIComponent(u.username) : 'anonymous',
    password: u.password ? decodeURIComponent(u.password) : 'bench@',
  };
}

/** Runs N sessions with concurrency C; resolves when all have ended or the duration limit has aborted the rest. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  if (!(opts.n >= 1 && opts.c >= 1)) throw new Error(`bench: -n and -c must be ≥ 1 (got n=${opts.n}, c=${opts.c})`);
  const limit = new AbortController();
  setMaxListeners(4 * opts.c + 16, limit.signal);  // a session in progress holds up to 3 abort listeners (removed after)
  const limitTimer = setTimeout(() => limit.abort(new Error('duration limit')), opts.durationLimitMs);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results: SessionResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < opts.n && !limit.signal.aborted) {
      const i = next++;
      const target = opts.identity ? { ...opts.target, ...opts.identity(i) } : opts.target;
      const r = await runOtaSession(target, {
        timeoutMs: opts.sessionTimeoutMs, profile: opts.profile, signal: limit.signal,
      });
      results.push(r);
      opts.onSession?.(r, results.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.c, opts.n) }, worker));
  } finally {
    clearTimeout(limitTimer);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const okResults = results.filter((r) => r.ok);
  const failures: Record<string, number> = {};
  for (const r of results) if (!r.ok) failures[r.reason ?? 'unknown'] = (failures[r.reason ?? 'unknown'] ?? 0) + 1;
  const bytes = results.reduce((s, r) => s + r.bytes, 0);
  return {
    n: opts.n, c: opts.c,
    started: results.length, ok: okResults.length, failed: results.length - okResults.length,
    failures, wallMs,
    sessionsPerSec: okResults.length / (wallMs / 1000),
    mbPerSec: bytes / 1e6 / (wallMs / 1000),
    bytes,
    latency: summarizeLatency(okResults.map((r) => r.ms)),
    retr: summarizeLatency(okResults.flatMap((r) => (r.retrMs === undefined ? [] : [r.retrMs]))),
    hitDurationLimit: limit.signal.aborted,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}
