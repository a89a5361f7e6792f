/**
 * Fault descriptions for the fault proxy (client-sim/net/fault-proxy.ts), and which connection they apply to.
 *
 * These reproduce the cellular failures reported on the Arduino forum for OTA over GPRS ("MKR GSM 1400 - WiFi101 OTA library" thread): stalls, lost tail bytes, corrupted
 * bytes; plus refused connections, commands split across TCP segments, and link shaping (see profiles.ts).
 *
 * Vocabulary:
 * - direction 'down' = server → device (the download direction), 'up' = device → server.
 * - offsets count bytes of one connection in one direction as RECEIVED by the proxy from the sender, from 0.
 * - target ('on'): 'control' (FTP control connections), 'data' (every FTP data connection), 'all', or
 *   `{ data: n }` = only the n-th data connection accepted by this proxy (1-based, counted over its lifetime).
 * - `times`: the fault applies to at most this many matching connections (default: unlimited).
 */
export type FaultTarget = 'control' | 'data' | 'all' | { data: number };
/** 'down' = server → device, 'up' = device → server. */
export type Direction = 'up' | 'down';

interface FaultBase {
  /** Which connections; default per kind: refuse 'all', split 'control', every other kind 'data'. */
  on?: FaultTarget;
  /** Apply to at most this many matching connections. */
  times?: number;
}
interface DirectedFault extends FaultBase {
  /** Default 'down' for every kind except split ('up', so the server sees commands split). */
  direction?: Direction;
}

/** Accept, then reset at once (RST): the client sees ECONNRESET. A closed port cannot be chosen per connection. */
export interface RefuseFault extends FaultBase { kind: 'refuse' }
/** After `afterBytes` bytes (default 0), forward nothing for `ms` ms (undefined or Infinity = forever). Once. */
export interface StallFault extends DirectedFault { kind: 'stall'; afterBytes?: number; ms?: number }
/**
 * Forward only the first `afterBytes` bytes, then close toward the receiver.
 * mode 'fin' (default): graceful close (FIN); the proxy keeps draining and discarding what the sender still
 * writes, so the server believes it sent everything (that thread's lost tail bytes: short data that looks complete).
 * mode 'reset': RST both sides at once (the receiver sees ECONNRESET, the server an aborted transfer).
 */
export interface CutFault extends DirectedFault { kind: 'cut'; afterBytes: number; mode?: 'fin' | 'reset' }
/** XOR the byte at `offset` with `mask` (default 0x01: one flipped bit). */
export interface FlipFault extends DirectedFault { kind: 'flip'; offset: number; mask?: number }
/** Overwrite bytes starting at `offset` with `bytes` (same length; the stream length is unchanged). */
export interface ReplaceFault extends DirectedFault { kind: 'replace'; offset: number; bytes: Uint8Array | number[] }
/** Remove `length` bytes (default 1) starting at `offset`; the stream gets shorter. */
export interface DropFault extends DirectedFault { kind: 'drop'; offset: number; length?: number }
/**
 * Write every chunk as pieces of 1..`maxSegment` bytes (pseudo-random, from `seed`), each its own TCP write with
 * TCP_NODELAY, waiting for each write to reach the kernel (plus `gapMs`, default 1) before the next.
 */
export interface SplitFault extends DirectedFault { kind: 'split'; maxSegment: number; seed?: number; gapMs?: number }

/** Any fault the proxy can inject. */
export type Fault = RefuseFault | StallFault | CutFault | FlipFault | ReplaceFault | DropFault | SplitFault;
/** A fault list, or a single fault. */
export type Faults = Fault | Fault[];

/** The connection a fault is being matched against. */
export interface ConnIdentity { kind: 'control' | 'data'; dataIndex?: number }

/** Default target for a kind (see {@link FaultBase.on}). */
export function defaultTarget(kind: Fault['kind']): FaultTarget {
  if (kind === 'refuse') return 'all';
  if (kind === 'split') return 'control';
  return 'data';
}

/** Default direction for a kind (see {@link DirectedFault.direction}). */
export function defaultDirection(kind: Fault['kind']): Direction {
  return kind === 'split' ? 'up' : 'down';
}

/** True when `target` selects the connection `c`. */
export function targetMatches(target: FaultTarget, c: ConnIdentity): boolean {
  if (target === 'all') return true;
  if (target === 'control' || target === 'data') return c.kind === target;
  return c.kind === 'data' && c.dataIndex === target.data;
}

/**
 * Checks a fault list and returns it as an array.
 * @throws Error naming the fault kind and the field that is wrong (negative offset, empty replace, ...).
 */
export function normalizeFaults(faults: Faults | undefined): Fault[] {
  const list = faults === undefined ? [] : Array.isArray(faults) ? [...faults] : [faults];
  for (const f of list) {
    const bad = (field: string, why: string): never => {
      throw new Error(`fault "${f.kind}": ${field} ${why}`);
    };
    const nonNeg = (field: string, v: unknown): void => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) bad(field, 'must be a non-negative integer');
    };
    if (f.on !== undefined && typeof f.on === 'object') {
      if (!Number.isInteger(f.on.data) || f.on.data < 1) bad('on.data', 'must be a data connection number >= 1');
    }
    if (f.times !== undefined) nonNeg('times', f.times);
    switch (f.kind) {
      case 'refuse': break;
      case 'stall':
        if (f.afterBytes !== undefined) nonNeg('afterBytes', f.afterBytes);
        if (f.ms !== undefined && !(f.ms >= 0)) bad('ms', 'must be >= 0 (or omitted for forever)');
        break;
      case 'cut': nonNeg('afterBytes', f.afterBytes); break;
      case 'flip':
        nonNeg('offset', f.offset);
        if (f.mask !== undefined && (!Number.isInteger(f.mask) || f.mask < 1 || f.mask > 255)) bad('mask', 'must be 1..255');
        break;
      case 'replace':
        nonNeg('offset', f.offset);
        if (!f.bytes || f.bytes.length === 0) bad('bytes', 'must not be empty');
        break;
      case 'drop':
        nonNeg('offset', f.offset);
        if (f.length !== undefined && (!Number.isInteger(f.length) || f.length < 1)) bad('length', 'must be >= 1');
        break;
      case 'split':
        if (!Number.isInteger(f.maxSegment) || f.maxSegment < 1) bad('maxSegment', 'must be >= 1');
        if (f.gapMs !== undefined && !(f.gapMs >= 0)) bad('gapMs', 'must be >= 0');
        break;
      default:
        throw new Error(`unknown fault kind "${(f as { kind: string }).kind}"`);
    }
  }
  return list;
}
