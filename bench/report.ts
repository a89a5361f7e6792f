/**
 * Human-readable output of the bench: one block per configuration, and the comparison table in Markdown.
 */
import type { RepeatedFigures } from './measure.ts';
import os from 'node:os';
import { readFileSync } from 'node:fs';

/** One line describing where and when figures were measured: date (UTC), CPU model and count, memory, kernel, Node. */
export function machineLine(now = new Date()): string {
  let loadavg = '';
  try { loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '); } catch { /* not Linux */ }
  const cpus = os.cpus();
  return `${now.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}` +
    (loadavg ? `, load average before the table ${loadavg}` : '');
}

const f1 = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));

/** Multi-line text summary of one configuration (medians over its runs, failures summed over runs). */
export function formatFigures(r: RepeatedFigures): string {
  const m = r.median;
  const lines = [
    `${r.server}  N=${r.n} C=${r.c}  (${r.runs > 1 ? `medians of ${r.runs} runs` : '1 run'})`,
    `  sessions/s ${f1(m.sessionsPerSec)}   MB/s ${f1(m.mbPerSec)}   ok ${m.ok}   failed ${m.failed}   wall ${f1(m.wallMs / 1000, 2)} s` +
      (r.hitDurationLimit ? '   (duration limit hit)' : ''),
    `  latency ms p50 ${f1(m.p50)}  p90 ${f1(m.p90)}  p99 ${f1(m.p99)}   binary RETR p50 ${f1(m.retrP50)} ms`,
    `  server CPU ${m.serverCpuMs === undefined ? 'n/a (pid unknown)' : `${f1(m.serverCpuMs, 0)} ms = ${f1(m.cpuMsPerSession, 2)} ms/session`}` +
      `   peak RSS ${m.peakRssMB === undefined ? 'n/a' : `${f1(m.peakRssMB)} MB`}` +
      `${m.peakPrivateMB ? ` (private ${f1(m.peakPrivateMB)} MB)` : ''}   load generator CPU ${f1(m.clientCpuMs, 0)} ms`,
  ];
  const reasons = Object.entries(r.failuresAllRuns).sort((a, b) => b[1] - a[1]);
  if (reasons.length) {
    lines.push(`  failures by reason (all runs):`);
    for (const [reason, count] of reasons.slice(0, 12)) lines.push(`    ${String(count).padStart(6)}  ${reason}`);
    if (reasons.length > 12) lines.push(`    … ${reasons.length - 12} more reasons`);
  }
  return lines.join('\n');
}

/** The figures of one server for the comparison table. */
export interface TableRow {
  server: string;
  c1?: RepeatedFigures; c50?: RepeatedFigures; c1000?: RepeatedFigures; retr3MiB?: RepeatedFigures;
  error?: string;
}

/** Markdown table in the comparison layout (plus the 3 MiB RETR column). */
export function formatTable(rows: TableRow[]): string {
  const out = [
    '| server | C=1 p50 latency | C=50 sessions/s | C=1000 sessions/s (failed of N) | CPU ms/session (C=1 / 50 / 1000) | peak RSS MB, private in brackets (C=1 / 50 / 1000) | 3 MiB RETR p50 |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    if (r.error) { out.push(`| ${r.server} | ${r.error} | | | | | |`); continue; }
    const cpu = [r.c1, r.c50, r.c1000].map((x) => f1(x?.median.cpuMsPerSession, 2)).join(' / ');
    const rss = [r.c1, r.c50, r.c1000].map((x) => f1(x?.median.peakRssMB, 0) +
      (x?.median.peakPrivateMB ? ` (${f1(x.median.peakPrivateMB, 0)})` : '')).join(' / ');
    const big = r.c1000 ? `${f1(r.c1000.median.sessionsPerSec, 0)} (${r.c1000.median.failed} of ${r.c1000.n})` : '–';
    out.push(`| ${r.server} | ${f1(r.c1?.median.p50)} ms | ${f1(r.c50?.median.sessionsPerSec, 0)} | ${big} | ${cpu} | ${rss} | ${f1(r.retr3MiB?.median.retrP50)} ms |`);
  }
  return out.join('\n');
}
