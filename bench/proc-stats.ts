/**
 * What a server process costs, read from Linux /proc: CPU time (own + reaped children) and resident memory.
 * Used by the bench when the server is a local process whose pid we know (firmdrop, ftp-srv, vsftpd, pyftpdlib
 * started by `--server`). vsftpd forks per connection, so memory is the sum over the process tree, sampled.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks: number | undefined;
/** Kernel clock ticks per second (USER_HZ, `getconf CLK_TCK`, almost always 100); /proc/<pid>/stat counts in these. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try { clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; }
    catch { clockTicks = 100; }
  }
  return clockTicks;
}

/** Fields of /proc/<pid>/stat after the command name; `field(n)` is the stat(5) field number n (1-based). */
function statFields(pid: number): (n: number) => string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');   // rest[0] is field 3 (state)
  return (n: number) => rest[n - 3];
}

/**
 * CPU time of process `pid` in ms: utime + stime, plus cutime + cstime (children that exited and were waited for,
 * which is how vsftpd's per-connection processes are counted). Resolution is one clock tick (10 ms).
 * Throws if the process does not exist.
 */
export function readCpuMs(pid: number): number {
  const f = statFields(pid);
  const ticks = Number(f(14)) + Number(f(15)) + Number(f(16)) + Number(f(17));
  return (ticks * 1000) / clockTicksPerSecond();
}

/** VmRSS and VmHWM (peak RSS) of one process in KiB, from /proc/<pid>/status; undefined if it has gone. */
export function readMemoryKb(pid: number): { rssKb: number; hwmKb: number } | undefined {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return undefined; }
  const num = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: num('VmRSS'), hwmKb: num('VmHWM') };
}

/** `pid` and all its live descendants, by scanning /proc/<n>/stat parent pids once. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(statFields(Number(name))(4));
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch { /* exited while scanning */ }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length && out.length < 100_000) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Proportional set size of one process in KiB (/proc/<pid>/smaps_rollup `Pss`: each shared page divided among the
 * processes that map it), falling back to VmRSS where smaps_rollup is unavailable; 0 if the process has gone.
 * `anonKb` is its anonymous part (`Pss_Anon`: heap, stacks, copy-on-write pages; not the executable's and libraries'
 * file-backed pages), 0 where the kernel does not report it.
 */
export function readPssKb(pid: number): { pssKb: number; anonKb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+)/m.exec(text);
    if (m) return { pssKb: Number(m[1]), anonKb: Number(/^Pss_Anon:\s+(\d+)/m.exec(text)?.[1] ?? 0) };
  } catch { /* no smaps_rollup, or gone */ }
  return { pssKb: readMemoryKb(pid)?.rssKb ?? 0, anonKb: 0 };
}

/**
 * Memory of `pid` and its descendants in KiB: the sum of their PSS, so that pages a forking server's processes share
 * (binary, libc) are counted once, not once per connection; `anonKb` the same sum of their anonymous pages.
 */
export function treePssKb(pid: number): { pssKb: number; anonKb: number } {
  const sum = { pssKb: 0, anonKb: 0 };
  for (const p of processTree(pid)) {
    const one = readPssKb(p);
    sum.pssKb += one.pssKb;
    sum.anonKb += one.anonKb;
  }
  return sum;
}

/**
 * Samples a server's memory while a run is in progress. `peakKb()` is the larger of the main process's VmHWM
 * (exact, kernel-kept peak RSS) and the largest sampled sum of PSS over its process tree (for forking servers such
 * as vsftpd, whose per-connection processes come and go between samples: their figure is a lower bound).
 * `peakPrivateKb()` is the largest sampled sum of anonymous PSS: the memory the server itself allocated, without the
 * executable's and libraries' file-backed pages (42 MB of an idle `node`, a few MB of `python3`), which the kernel
 * shares between processes and can drop and reread.
 */
export class MemorySampler {
  private peakTreeKb = 0;
  private peakAnonKb = 0;
  private timer: NodeJS.Timeout | undefined;
  /** @param pid server process; @param intervalMs sampling period in ms (default 100). */
  constructor(private readonly pid: number, private readonly intervalMs = 100) {}
  /** Starts sampling (idempotent). */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }
  /** Stops sampling after one last sample. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }
  private sample(): void {
    try {
      const now = treePssKb(this.pid);
      this.peakTreeKb = Math.max(this.peakTreeKb, now.pssKb);
      this.peakAnonKb = Math.max(this.peakAnonKb, now.anonKb);
    } catch { /* gone */ }
  }
  /** Peak resident memory in KiB seen so far (see class doc). */
  peakKb(): number {
    return Math.max(this.peakTreeKb, readMemoryKb(this.pid)?.hwmKb ?? 0);
  }
  /** Peak anonymous (private) memory in KiB over the samples (see class doc); 0 where the kernel does not report it. */
  peakPrivateKb(): number {
    return this.peakAnonKb;
  }
}

/** Soft limit on open files of this process ("Max open files" in /proc/self/limits); Infinity if unlimited. */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!m || m[1] === 'unlimited') return Infinity;
  return Number(m[1]);
}

/**
 * True when a TCP socket listening on `port` (IPv4 or IPv6, /proc/net/tcp{,6} state 0A) is open in `pid` or one of
 * its descendants (their /proc/<pid>/fd links `socket:[inode]`). Used to make sure the server that answered on a
 * port is the one the bench started, not another process that took the port between probe and bind.
 */
export function holdsListeningPort(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return false;
  for (const p of processTree(pid)) {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m && inodes.has(m[1])) return true;
      } catch { /* closed meanwhile */ }
    }
  }
  return false;
}
