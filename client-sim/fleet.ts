/**
 * Fleet mode: N simulated devices run their OTA at once against one server, and the codes are tallied. This is
 * what `--devices N` of `client-sim ota` and `client-sim scenario` runs, and what the benchmark can build on.
 * Bounded in count ({@link MAX_FLEET_DEVICES}) and time (`deadlineMs`: devices still running then are reported
 * as `TIMEOUT`: their AT links and modems are closed, and the fleet waits at most 5 s more for them to unwind).
 */
import { setMaxListeners } from 'node:events';
import { runOta, type OtaResult, type RunOtaOptions } from './waspmote/run-ota.ts';

/** Largest fleet accepted. */
export const MAX_FLEET_DEVICES = 500;

/** Fleet options. */
export interface FleetOptions {
  /** Number of devices, 1..MAX_FLEET_DEVICES. */
  devices: number;
  /** Devices running at the same time (default: all). */
  concurrency?: number;
  /** Stop waiting after this many ms (default 120 000). */
  deadlineMs?: number;
  /** Options of device i (0-based). */
  make: (i: number) => RunOtaOptions;
  /** Called when a device finishes. */
  onResult?: (i: number, r: OtaResult) => void;
  /** The FTP login of device i (0-based), when each device has its own (client-sim/identities.ts). */
  logins?: readonly string[];
}

/** One row of the summary: a code and how many devices reported it. */
export interface FleetRow { code: number | null; name: string; count: number }

/** One device's outcome under its own login: the code (null when it did not finish), its name, bytes written. */
export interface DeviceOutcome { login: string; code: number | null; name: string; bytes: number }

/** Fleet outcome. */
export interface FleetSummary {
  devices: number;
  finished: number;
  /** Devices that did not finish before the deadline. */
  timedOut: number;
  rows: FleetRow[];
  durationMs: number;
  /** Bytes all devices wrote to their SD cards. */
  bytes: number;
  results: (OtaResult | undefined)[];
  /** Per login, in device order (only when FleetOptions.logins is given). */
  perLogin?: DeviceOutcome[];
}

/** Runs the fleet. Throws RangeError for a device count out of bounds. */
export async function runFleet(opts: FleetOptions): Promise<FleetSummary> {
  const n = opts.devices;
  if (!Number.isInteger(n) || n < 1 || n > MAX_FLEET_DEVICES) throw new RangeError(`--devices must be 1..${MAX_FLEET_DEVICES}, got ${n}`);
  const conc = Math.max(1, Math.min(n, opts.concurrency ?? n));
  const t0 = Date.now();
  const results: (OtaResult | undefined)[] = new Array(n).fill(undefined);
  const abort = new AbortController();
  setMaxListeners(n + 10, abort.signal);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n && !abort.signal.aborted) {
      const i = next++;
      try {
        const { result } = await runOta({ ...opts.make(i), signal: abort.signal });
        if (abort.signal.aborted) continue;
        results[i] = result;
        opts.onResult?.(i, result);
      } catch (err) {
        results[i] = undefined;
        opts.onResult?.(i, { ...failed(opts.make(i).module), notes: [(err as Error).message] });
      }
    }
  };
  const all = Promise.all(Array.from({ length: conc }, worker));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => { timer = setTimeout(r, opts.deadlineMs ?? 120_000); });
  await Promise.race([all, deadline]);
  clearTimeout(timer);
  if (!abort.signal.aborted) abort.abort();
  await Promise.race([all, new Promise((r) => setTimeout(r, 5_000).unref())]);
  const counts = new Map<string, FleetRow>();
  for (const r of results) {
    const key = r ? `${r.code}:${r.name}` : 'TIMEOUT';
    const row = counts.get(key) ?? { code: r ? r.code : null, name: r ? r.name : 'TIMEOUT', count: 0 };
    row.count++;
    counts.set(key, row);
  }
  const finished = results.filter((r) => r !== undefined).length;
  return {
    devices: n, finished, timedOut: n - finished,
    rows: [...counts.values()].sort((a, b) => b.count - a.count),
    durationMs: Date.now() - t0,
    bytes: results.reduce((s, r) => s + (r?.bytes ?? 0), 0),
    results,
    ...(opts.logins ? { perLogin: results.map((r, i) => ({ login: opts.logins![i] ?? `#${i + 1}`, code: r ? r.code : null, name: r ? r.name : 'TIMEOUT', bytes: r?.bytes ?? 0 })) } : {}),
  };
}

function failed(module: RunOtaOptions['module']): OtaResult {
  return { module, code: null, ok: false, name: 'ERROR', description: 'the simulator failed', bytes: 0, sessions: 0, durationMs: 0,
    programId: '', version: 0, atFaultHits: 0, netFaultEvents: 0, notes: [] };
}

/** The summary as a text table: count, code, name. */
export function formatFleet(s: FleetSummary): string {
  const lines = [`${s.devices} devices, ${s.finished} finished, ${s.timedOut} timed out, ${s.bytes} bytes, ${s.durationMs} ms`, 'count  code  name'];
  for (const r of s.rows) lines.push(`${String(r.count).padStart(5)}  ${String(r.code ?? '-').padStart(4)}  ${r.name}`);
  if (s.perLogin) {
    const width = Math.max(5, ...s.perLogin.map((d) => d.login.length));
    lines.push('', `${'login'.padEnd(width)}  code  name${' '.repeat(12)}bytes`);
    for (const d of s.perLogin) lines.push(`${d.login.padEnd(width)}  ${String(d.code ?? '-').padStart(4)}  ${d.name.padEnd(16)}${d.bytes}`);
  }
  return lines.join('\n');
}
