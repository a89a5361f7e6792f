/** Helpers for the publisher and watcher specs: a pino logger that records its lines, and bounded polling. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** One recorded log line: pino level (30 info, 40 warn, 50 error), message, and the other fields. */
export interface LogLine { level: number; msg: string; [k: string]: unknown }

/** A debug-level pino logger writing parsed lines into `lines`. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined/false, and returns that value.
 * @throws Error naming `what` after `timeoutMs` (a generous bound, not a timing assertion)
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
