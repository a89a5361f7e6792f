import { Transform, type TransformCallback } from 'node:stream';
import type { CutFault, DropFault, FlipFault, ReplaceFault, StallFault } from './faults.ts';

/** The faults that act on the bytes of one direction of one connection. */
export type ByteFault = StallFault | CutFault | FlipFault | ReplaceFault | DropFault;

/** Callbacks from a {@link ByteFaultStream} to the proxy that owns it. */
export interface ByteFaultHooks {
  /** A fault took effect (`detail` is a short human description: offset, length, ms). */
  onFire(kind: ByteFault['kind'], detail: string): void;
  /** A cut fired. 'fin': the stream has already ended its readable side; 'reset': tear the connection down now. */
  onCut(mode: 'fin' | 'reset'): void;
  /** Bytes received from the sender (before any fault), for the proxy's accounting. */
  onReceived(n: number): void;
}

/**
 * A Transform that applies flips, replaces, drops, stalls and a cut at byte offsets of one direction of one
 * connection. Offsets are in source coordinates (bytes as received from the sender, from 0). Stalls hold the
 * transform callback, so backpressure pauses the source socket (TCP flow control does the rest). Each fault fires
 * at most once. A stall timer is cleared when the stream is destroyed.
 */
export class ByteFaultStream extends Transform {
  private pos = 0;
  private readonly fired = new Set<ByteFault>();
  private cutDone = false;
  private timer: NodeJS.Timeout | undefined;

  /** @param faults the byte faults for this direction; @param hooks see {@link ByteFaultHooks}. */
  constructor(private readonly faults: ByteFault[], private readonly hooks: ByteFaultHooks) {
    super();
  }

  /** Total bytes received from the sender so far (source coordinates). */
  get received(): number {
    return this.pos;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hooks.onReceived(chunk.length);
    if (this.cutDone) { // after a 'fin' cut: drain and discard what the sender still writes
      this.pos += chunk.length;
      callback();
      return;
    }
    if (this.faults.length === 0) {
      this.pos += chunk.length;
      callback(null, chunk);
      return;
    }
    this.run(chunk, 0, callback);
  }

  /** Processes `chunk` from `offset`, pausing at stall points and stopping at a cut. */
  private run(chunk: Buffer, offset: number, callback: TransformCallback): void {
    while (offset < chunk.length) {
      const start = this.pos;
      const end = start + (chunk.length - offset);
      const stop = this.nextStop(start, end);
      const segEnd = stop ? stop.at : end;
      if (segEnd > start) {
        const out = this.alter(chunk.subarray(offset, offset + (segEnd - start)), start);
        if (out.length > 0) this.push(out);
        offset += segEnd - start;
        this.pos = segEnd;
      }
      if (!stop) break;
      this.fired.add(stop.fault);
      if (stop.fault.kind === 'cut') {
        const mode = stop.fault.mode ?? 'fin';
        this.hooks.onFire('cut', `after ${stop.at} bytes (${mode})`);
        this.cutDone = true;
        this.pos += chunk.length - offset; // the rest of this chunk is lost
        if (mode === 'fin') this.push(null);
        callback();
        this.hooks.onCut(mode);
        return;
      }
      const ms = (stop.fault as StallFault).ms;
      this.hooks.onFire('stall', `after ${stop.at} bytes for ${ms === undefined || ms === Infinity ? 'ever' : `${ms} ms`}`);
      if (ms === undefined || ms === Infinity) return; // forever: the callback is never called
      const resumeAt = offset;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.run(chunk, resumeAt, callback);
      }, ms);
      return;
    }
    callback();
  }

  /** The first unfired stall/cut whose stop point lies in [start, end), stall before cut at the same offset. */
  private nextStop(start: number, end: number): { at: number; fault: StallFault | CutFault } | undefined {
    let best: { at: number; fault: StallFault | CutFault } | undefined;
    for (const f of this.faults) {
      if (this.fired.has(f) || (f.kind !== 'stall' && f.kind !== 'cut')) continue;
      const at = f.kind === 'stall' ? (f.afterBytes ?? 0) : f.afterBytes;
      if (at < start || at >= end) continue;
      if (!best || at < best.at || (at === best.at && f.kind === 'stall' && best.fault.kind === 'cut')) best = { at, fault: f };
    }
    return best;
  }

  /** Applies flip/replace/drop to `seg`, whose first byte is at source offset `start`. Returns a new buffer. */
  private alter(seg: Buffer, start: number): Buffer {
    const end = start + seg.length;
    let out: Buffer | undefined;
    const copy = (): Buffer => (out ??= Buffer.from(seg));
    let drops: Array<[number, number]> | undefined;
    for (const f of this.faults) {
      if (f.kind === 'flip' && f.offset >= start && f.offset < end) {
        const b = copy();
        b[f.offset - start] ^= f.mask ?? 0x01;
        this.hooks.onFire('flip', `offset ${f.offset} mask 0x${(f.mask ?? 1).toString(16)}`);
      } else if (f.kind === 'replace') {
        const bytes = f.bytes;
        const lo = Math.max(start, f.offset);
        const hi = Math.min(end, f.offset + bytes.length);
        if (lo < hi) {
          const b = copy();
          for (let p = lo; p < hi; p++) b[p - start] = bytes[p - f.offset];
          if (lo === f.offset) this.hooks.onFire('replace', `offset ${f.offset} length ${bytes.length}`);
        }
      } else if (f.kind === 'drop') {
        const len = f.length ?? 1;
        const lo = Math.max(start, f.offset);
        const hi = Math.min(end, f.offset + len);
        if (lo < hi) {
          (drops ??= []).push([lo - start, hi - start]);
          if (lo === f.offset) this.hooks.onFire('drop', `offset ${f.offset} length ${len}`);
        }
      }
    }
    const base = out ?? seg;
    if (!drops) return base;
    const keep: Buffer[] = [];
    let cursor = 0;
    for (const [lo, hi] of drops.sort((a, b) => a[0] - b[0])) {
      if (lo > cursor) keep.push(base.subarray(cursor, lo));
      cursor = Math.max(cursor, hi);
    }
    if (cursor < base.length) keep.push(base.subarray(cursor));
    return Buffer.concat(keep);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    callback(err);
  }
}
