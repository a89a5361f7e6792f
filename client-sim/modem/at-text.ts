/**
 * Text helpers of the AT interpreter: the trace record and its serial-monitor format, and the argument parsing
 * every dialect uses (quoted/unquoted comma lists as in ITU-T V.250 §5.4.2, decimal integers).
 */

/** One trace record. `kind`: cmd (from host), reply (final/info lines), urc, data (binary), wire (FTP control line). */
export interface TraceEvent {
  time: Date;
  family: string;
  kind: 'cmd' | 'reply' | 'urc' | 'data' | 'wire';
  /** The line without CR/LF; for `data`, a summary such as `<490 bytes>`. */
  text: string;
  /** Payload size in bytes for `data` events. */
  bytes?: number;
}

/** Format a trace event as a serial-monitor line: `HH:MM:SS.mmm -> text` (`<-` for host commands, `ftp` for wire). */
export function formatTrace(ev: TraceEvent): string {
  const t = ev.time;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const ts = `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
  const arrow = ev.kind === 'cmd' ? '<-' : ev.kind === 'wire' ? 'ftp' : '->';
  return `${ts} ${arrow} ${ev.text}`;
}

/** Parsed quoted/unquoted comma list: `"a,b",3,x` → ['a,b', '3', 'x']. Returns undefined on an unterminated quote. */
export function splitArgs(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') {
      out.push(wasQuoted ? cur : cur.trim());
      cur = '';
      wasQuoted = false;
    } else cur += c;
  }
  if (quoted) return undefined;
  out.push(wasQuoted ? cur : cur.trim());
  return out;
}

/** Parse a non-negative decimal integer argument; undefined when not one. */
export function intArg(s: string | undefined): number | undefined {
  if (s === undefined || !/^\s*\d+\s*$/.test(s)) return undefined;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}
