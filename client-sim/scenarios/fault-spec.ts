/**
 * The `--fault` mini-language of `client-sim ota` and `client-sim scenario`: one string per fault, sorted into
 * network faults (fault proxy, client-sim/net/faults.ts), serial-line faults (at-fault-tap.ts) and SD faults
 * (waspmote/sd.ts).
 *
 * Network (default target: data connections; add `@control`, `@all` or `@data<N>` for the N-th data connection):
 *   refuse            cut:<bytes>[:reset]      stall:<afterBytes>[:<ms>]
 *   flip:<offset>[:<mask>]   drop:<offset>[:<length>]   split:<maxSegment>
 * Serial line (the tap answers the command instead of the modem; `@<from>[+<times>]` picks occurrences):
 *   at:<COMMAND>=error | at:<COMMAND>=cme<N> | at:<COMMAND>=silence        e.g. at:#FTPRECV=cme621@2+1
 * SD card:
 *   sd:<detect|create|open|seek|write>[:<NAME>[:<afterBytes>]]              e.g. sd:write:SENSAPP:1000
 */
import type { Fault, FaultTarget } from '../net/faults.ts';
import type { AtFault } from './at-fault-tap.ts';
import type { SdFault, SdOp } from '../waspmote/sd.ts';

/** Parsed faults by layer. */
export interface FaultSet { net: Fault[]; at: AtFault[]; sd: SdFault[] }

function int(s: string | undefined, what: string, spec: string): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new Error(`--fault "${spec}": ${what} must be a non-negative integer`);
  return Number(s);
}

function target(s: string | undefined, spec: string): FaultTarget | undefined {
  if (s === undefined) return undefined;
  if (s === 'control' || s === 'data' || s === 'all') return s;
  const m = /^data(\d+)$/.exec(s);
  if (m && Number(m[1]) >= 1) return { data: Number(m[1]) };
  throw new Error(`--fault "${spec}": target must be control, data, all or data<N>`);
}

/** Parses fault strings; throws Error with a one-line message naming the bad string. */
export function parseFaults(specs: readonly string[]): FaultSet {
  const out: FaultSet = { net: [], at: [], sd: [] };
  for (const spec of specs) {
    if (spec.startsWith('at:')) {
      const m = /^at:([^=]+)=(error|silence|cme(\d+))(?:@(\d+)(?:\+(\d+))?)?$/i.exec(spec);
      if (!m) throw new Error(`--fault "${spec}": expected at:<COMMAND>=error|cme<N>|silence[@<from>[+<times>]]`);
      const reply = m[2]!.toLowerCase() === 'error' ? 'error' as const : m[2]!.toLowerCase() === 'silence' ? 'silence' as const : { cme: Number(m[3]) };
      out.at.push({ command: m[1]!.replace(/^AT/i, ''), reply, ...(m[4] ? { from: Number(m[4]) } : {}), ...(m[5] ? { times: Number(m[5]) } : {}) });
      continue;
    }
    if (spec.startsWith('sd:')) {
      const [, op, name, after] = spec.split(':');
      if (!['detect', 'create', 'open', 'seek', 'write'].includes(op ?? '')) throw new Error(`--fault "${spec}": SD operation must be detect, create, open, seek or write`);
      out.sd.push({ op: op as SdOp, ...(name ? { name } : {}), ...(after !== undefined ? { afterBytes: int(after, 'afterBytes', spec) } : {}) });
      continue;
    }
    const [body, at] = spec.split('@');
    const on = target(at, spec);
    const [kind, a, b] = (body ?? '').split(':');
    const base = on === undefined ? {} : { on };
    switch (kind) {
      case 'refuse': out.net.push({ kind, ...base }); break;
      case 'cut': out.net.push({ kind, afterBytes: int(a, 'bytes', spec), ...(b === 'reset' ? { mode: 'reset' as const } : {}), ...base }); break;
      case 'stall': out.net.push({ kind, afterBytes: int(a, 'afterBytes', spec), ...(b !== undefined ? { ms: int(b, 'ms', spec) } : {}), ...base }); break;
      case 'flip': out.net.push({ kind, offset: int(a, 'offset', spec), ...(b !== undefined ? { mask: int(b, 'mask', spec) } : {}), ...base }); break;
      case 'drop': out.net.push({ kind, offset: int(a, 'offset', spec), ...(b !== undefined ? { length: int(b, 'length', spec) } : {}), ...base }); break;
      case 'split': out.net.push({ kind, maxSegment: int(a, 'maxSegment', spec), ...base }); break;
      default: throw new Error(`--fault "${spec}": unknown fault (refuse, cut, stall, flip, drop, split, at:..., sd:...)`);
    }
  }
  return out;
}
