/**
 * `AT+QFTPCFG`: the Quectel FTP configuration parameters (UC15 and EC2x/BG96 FTP AT Commands Manuals; ranges as
 * listed there; the read form masks the password with `*`, EG800K test report). Pure parsing and validation: the
 * dialect (quectel.ts) writes the lines and applies the changes to a running session.
 */
import { intArg, splitArgs } from './at-modem.ts';

/** The configuration of one module (defaults: context 1, binary, active, 90 s, plain FTP). */
export interface QuectelFtpConfig {
  contextid: number; user: string; pass: string; filetype: number; transmode: number; rsptimeout: number; ssltype: number; sslctxid: number;
}

/** A new configuration with the defaults. */
export function defaultQuectelConfig(): QuectelFtpConfig {
  return { contextid: 1, user: '', pass: '', filetype: 0, transmode: 0, rsptimeout: 90, ssltype: 0, sslctxid: 0 };
}

const RANGES: Record<string, [number, number]> = {
  contextid: [1, 16], filetype: [0, 1], transmode: [0, 1], rsptimeout: [20, 180], ssltype: [0, 2], sslctxid: [0, 5],
};

/**
 * Runs `AT+QFTPCFG<args>` against `c` (changed in place). Returns the information lines to write before `OK` and the
 * name of the parameter that was set (if any), or undefined for a malformed command or a value out of range (→ ERROR).
 */
export function qftpcfg(args: string, c: QuectelFtpConfig): { lines: string[]; set?: string } | undefined {
  if (args === '=?') {
    return { lines: ['"contextid",(1-16)', '"account",<username>,<password>', '"filetype",(0,1)', '"transmode",(0,1)',
      '"rsptimeout",(20-180)', '"ssltype",(0-2)', '"sslctxid",(0-5)'].map((l) => `+QFTPCFG: ${l}`) };
  }
  const p = args.startsWith('=') ? splitArgs(args.slice(1)) : undefined;
  if (!p || !p[0]) return undefined;
  const name = p[0].toLowerCase();
  if (p.length === 1) {
    const v: Record<string, string> = {
      contextid: `${c.contextid}`, account: `"${c.user}","${'*'.repeat(c.pass.length)}"`, filetype: `${c.filetype}`,
      transmode: `${c.transmode}`, rsptimeout: `${c.rsptimeout}`, ssltype: `${c.ssltype}`, sslctxid: `${c.sslctxid}`,
    };
    return v[name] === undefined ? undefined : { lines: [`+QFTPCFG: "${name}",${v[name]}`] };
  }
  if (name === 'account') {
    if (p.length < 3) return undefined;
    c.user = p[1]!;
    c.pass = p[2]!;
    return { lines: [], set: name };
  }
  const n = intArg(p[1]);
  const r = RANGES[name];
  if (!r || n === undefined || n < r[0] || n > r[1]) return undefined;
  (c as unknown as Record<string, number>)[name] = n;
  return { lines: [], set: name };
}
