// Child processes of the end-to-end specs: a server whose JSON log lines are collected, and small helpers.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import net from 'node:net';

/** A server child process, its JSON log lines as they arrive, and the port from its `listening` line. */
export class ServerProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buffer = '';

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          // npm's own banner lines are not JSON
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Waits (bounded) for a log line with `msg`; rejects early if the process exits. */
  async waitFor(msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => { exited = true; });
    for (;;) {
      const hit = this.lines.find((l) => l.msg === msg);
      if (hit) return hit;
      if (exited) throw new Error(`server exited before logging "${msg}": ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no "${msg}" log line within ${timeoutMs} ms: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async port(): Promise<number> {
    const port = (await this.waitFor('listening')).port;
    expect(port).to.be.a('number').above(0);
    return port as number;
  }
}

/** Polls `fn` until it returns a value (not undefined), up to `timeoutMs`. */
export async function poll<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The environment of this process without any FIRMDROP_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FIRMDROP_')) delete env[k];
  return { ...env, ...extra };
}

/** Pids of the processes in process group `pgid` (ps), empty when none is left. */
export function groupPids(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when no process matches
  }
}

/** True when 127.0.0.1:`port` can be bound now (nothing listens there any more). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
