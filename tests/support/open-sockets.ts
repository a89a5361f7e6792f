/**
 * Count the TCP sockets this process holds open, from Linux's /proc (no server internals needed): a leak check
 * for tests that start the server and its clients in one process. A socket is "held" while one of our file
 * descriptors refers to it (TIME_WAIT sockets have no descriptor and are not counted).
 */
import fs from 'node:fs';

/** One TCP socket held by this process: ports, and the kernel state (e.g. ESTABLISHED, LISTEN, CLOSE_WAIT). */
export interface HeldSocket { localPort: number; remotePort: number; state: string }

const STATES: Record<string, string> = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT',
  '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING',
};

/** True where /proc exposes what {@link heldTcpSockets} needs (Linux). */
export function canCountSockets(): boolean {
  return fs.existsSync('/proc/self/fd') && fs.existsSync('/proc/net/tcp');
}

/** Every TCP socket (IPv4 and IPv6) this process holds a descriptor for. */
export function heldTcpSockets(): HeldSocket[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* fd closed meanwhile */ }
  }
  const out: HeldSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9])) continue;
      out.push({
        localPort: parseInt(f[1].split(':')[1], 16),
        remotePort: parseInt(f[2].split(':')[1], 16),
        state: STATES[f[3]] ?? f[3],
      });
    }
  }
  return out;
}

/**
 * How many held TCP sockets match `filter` (all by default). With server and clients in one process, callers
 * compare against a baseline taken while no client was connected, or filter on the server's ports (e.g. its
 * control port: `s.localPort === port`).
 */
export function countHeld(filter: (s: HeldSocket) => boolean = () => true): number {
  return heldTcpSockets().filter(filter).length;
}

/**
 * Poll until `count()` is at most `target`, up to `waitMs` (default 15 000 ms, checked every 100 ms).
 * @returns the last count seen (so the caller's assertion shows it)
 */
export async function waitForSockets(count: () => number, target: number, waitMs = 15_000): Promise<number> {
  const deadline = Date.now() + waitMs;
  let n = count();
  while (n > target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    n = count();
  }
  return n;
}

/** Sockets on the server's side of `port` (its control connections); with every client closed this must be 0. */
export function controlSockets(port: number): number {
  return countHeld((s) => s.localPort === port && s.state !== 'LISTEN');
}
