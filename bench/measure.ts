/**
 * One measured run, and medians over repeated runs: the load (loadgen.ts) plus what it cost the server process
 * (proc-stats.ts) when the bench started that server itself.
 */
import { runLoad, parseFtpUrl, type LoadOptions, type LoadResult } from './loadgen.ts';
import { MemorySampler, readCpuMs } from './proc-stats.ts';
import { startBenchServer, type ServerKind } from './servers.ts';
import { benchIdentity } from './fixture.ts';
import { median } from './stats.ts';
import type { LinkProfile } from './link.ts';
import { startFaultProxy, type FaultProxy } from '../client-sim/net/fault-proxy.ts';

/** Figures of one run: the load's, plus server CPU (ms, own + reaped children) and peak RSS (MB = 2^20 bytes). */
export interface RunFigures extends LoadResult {
  server: string;
  serverCpuMs?: number;
  cpuMsPerSession?: number;
  peakRssMB?: number;
  /** Peak anonymous memory of the server (MemorySampler.peakPrivateKb), MB. */
  peakPrivateMB?: number;
}

/** What to run: a server to start (`server`) or one already running (`url`, optionally its `pid`). */
export interface MeasureOptions {
  server?: ServerKind; url?: string; pid?: number;
  n: number; c: number; size: number; durationLimitMs: number; sessionTimeoutMs?: number;
  epsv?: boolean; profile?: LinkProfile;
  /** How the profile is applied (link.ts): at each device's reading end (default) or by client-sim's fault proxy. */
  link?: 'client' | 'proxy';
  pasvMin?: number; pasvMax?: number;
  /** With `server` firmdrop or ftp-srv: write a V8 CPU profile of the server into this folder (servers.ts). */
  cpuProfDir?: string;
  /** Extra `firmdrop serve` arguments (servers.ts). */
  serverArgs?: string[];
  /**
   * Sessions run (at concurrency ≤ 10) before the measured run and not counted, so that figures are those of a warm
   * server (JIT-compiled code, pools filled), as in production. Default 0.
   */
  warmup?: number;
  /** With `server` firmdrop: seed this many device logins and log each session in as one (bench/logins.ts). */
  logins?: number;
  /** scrypt cost N of the seeded device logins (default firmdrop's, 2^14). */
  loginScryptN?: number;
  onSession?: LoadOptions['onSession'];
}

const SETTLE_MS = 300;   // lets forking servers reap their per-connection processes before CPU is read

/**
 * Runs the load once. With `server`, starts it on a fresh temp root first and stops it after; with `url` (+ `pid`),
 * targets a running server. Server figures are present only when a pid is known. With a profile and
 * `link: 'proxy'`, the sessions go through client-sim's fault proxy (in this process). Always stops what it started.
 */
export async function measureOnce(opts: MeasureOptions): Promise<RunFigures> {
  const started = opts.server ? await startBenchServer(opts.server, opts) : undefined;
  let proxy: FaultProxy | undefined;
  try {
    const url = started?.url ?? opts.url;
    if (!url) throw new Error('bench: give --server or --url');
    const pid = started?.pid ?? opts.pid;
    let target = { ...parseFtpUrl(url), epsv: opts.epsv };
    let profile = opts.profile;
    const logins = opts.logins;
    const identity = logins ? (i: number) => benchIdentity(i, logins) : undefined;
    if (profile && opts.link === 'proxy') {
      proxy = await startFaultProxy({ target: { host: target.host, port: target.port }, profile });
      target = { ...target, host: proxy.host, port: proxy.port };
      profile = undefined;     // the proxy shapes; the devices do not add their own delays
    }
    if (opts.warmup && opts.warmup > 0) {
      const w = await runLoad({ target, n: opts.warmup, c: Math.min(10, opts.warmup), durationLimitMs: opts.durationLimitMs,
        sessionTimeoutMs: opts.sessionTimeoutMs, profile, identity });
      if (w.failed > 0) console.error(`warning: ${w.failed} of ${w.n} warm-up sessions failed: ${Object.keys(w.failures).join('; ')}`);
    }
    const sampler = pid ? new MemorySampler(pid) : undefined;
    const cpu0 = pid ? readCpuMs(pid) : 0;
    sampler?.start();
    const load = await runLoad({ target, n: opts.n, c: opts.c, durationLimitMs: opts.durationLimitMs,
      sessionTimeoutMs: opts.sessionTimeoutMs, profile, onSession: opts.onSession, identity });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    sampler?.stop();
    const figures: RunFigures = { ...load, server: opts.server ?? url.replace(/\/\/[^@]*@/, '//') };
    if (pid) {
      figures.serverCpuMs = readCpuMs(pid) - cpu0;
      figures.cpuMsPerSession = load.ok ? figures.serverCpuMs / load.ok : NaN;
      figures.peakRssMB = sampler!.peakKb() / 1024;
      figures.peakPrivateMB = sampler!.peakPrivateKb() / 1024;
    }
    return figures;
  } finally {
    await proxy?.close();
    await started?.stop();
  }
}

/** Medians over repeated runs: each numeric figure is the median of that figure; failures are summed over runs. */
export interface RepeatedFigures {
  server: string; n: number; c: number; runs: number;
  median: {
    sessionsPerSec: number; mbPerSec: number; wallMs: number; ok: number; failed: number;
    p50: number; p90: number; p99: number; retrP50: number;
    serverCpuMs?: number; cpuMsPerSession?: number; peakRssMB?: number; peakPrivateMB?: number; clientCpuMs: number;
  };
  /** Failures by reason, summed over all runs. */
  failuresAllRuns: Record<string, number>;
  hitDurationLimit: boolean;
  each: RunFigures[];
}

/** Folds runs of the same configuration into medians. Throws on an empty list. */
export function foldRuns(runs: RunFigures[]): RepeatedFigures {
  if (runs.length === 0) throw new Error('foldRuns: no runs');
  const m = (f: (r: RunFigures) => number | undefined) => {
    const v = runs.map(f).filter((x): x is number => x !== undefined);
    return v.length ? median(v) : undefined;
  };
  const failuresAllRuns: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.failures)) failuresAllRuns[k] = (failuresAllRuns[k] ?? 0) + v;
  return {
    server: runs[0].server, n: runs[0].n, c: runs[0].c, runs: runs.length,
    median: {
      sessionsPerSec: m((r) => r.sessionsPerSec)!, mbPerSec: m((r) => r.mbPerSec)!, wallMs: m((r) => r.wallMs)!,
      ok: m((r) => r.ok)!, failed: m((r) => r.failed)!,
      p50: m((r) => r.latency.p50)!, p90: m((r) => r.latency.p90)!, p99: m((r) => r.latency.p99)!,
      retrP50: m((r) => r.retr.p50)!,
      serverCpuMs: m((r) => r.serverCpuMs), cpuMsPerSession: m((r) => r.cpuMsPerSession), peakRssMB: m((r) => r.peakRssMB), peakPrivateMB: m((r) => r.peakPrivateMB),
      clientCpuMs: m((r) => r.clientCpuMs)!,
    },
    failuresAllRuns,
    hitDurationLimit: runs.some((r) => r.hitDurationLimit),
    each: runs,
  };
}

/** Runs `measureOnce` `repeat` times (a fresh server each time when `server` is given) and folds the runs. */
export async function measureRepeated(opts: MeasureOptions, repeat: number): Promise<RepeatedFigures> {
  const runs: RunFigures[] = [];
  for (let i = 0; i < Math.max(1, Math.min(repeat, 20)); i++) runs.push(await measureOnce(opts));
  return foldRuns(runs);
}
