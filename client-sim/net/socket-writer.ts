import type { Socket } from 'node:net';
import { Writable } from 'node:stream';

/** How a {@link SocketWriter} splits writes (the 'split' fault). */
export interface SplitOptions {
  /** Largest piece in bytes; each piece is 1..maxSegment bytes. */
  maxSegment: number;
  /** Seed of the piece-size generator (same seed, same pieces). */
  seed: number;
  /** Pause in ms between pieces (default 1; 0 = next event-loop turn), so each piece leaves as its own segment. */
  gapMs?: number;
}

/** Callbacks from a {@link SocketWriter}. */
export interface SocketWriterHooks {
  /** Bytes handed to the destination socket. */
  onForwarded(n: number): void;
  /** The upstream stages ended: decide how to end the destination (normally `dest.end()`). */
  onEnd(): void;
}

/** mulberry32: a tiny deterministic PRNG, values in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The last stage of a relay direction: writes into the destination socket with backpressure (waits for 'drain').
 * With `split`, every chunk goes out as pieces of 1..maxSegment bytes, each its own write with TCP_NODELAY set,
 * waiting for the write to complete and `gapMs` before the next: the receiver sees the data across many segments.
 * Timers are cleared on destroy.
 */
export class SocketWriter extends Writable {
  private readonly next: (() => number) | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** @param dest destination socket; @param split optional splitting; @param hooks see {@link SocketWriterHooks}. */
  constructor(private readonly dest: Socket, private readonly split: SplitOptions | undefined,
    private readonly hooks: SocketWriterHooks) {
    super();
    if (split) {
      dest.setNoDelay(true);
      this.next = prng(split.seed);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.dest.destroyed) { callback(); return; }
    if (!this.split || !this.next) {
      this.hooks.onForwarded(chunk.length);
      if (this.dest.write(chunk)) callback();
      else this.dest.once('drain', () => callback());
      return;
    }
    const next = this.next;
    const { maxSegment, gapMs = 1 } = this.split;
    let offset = 0;
    const writePiece = (): void => {
      if (offset >= chunk.length || this.dest.destroyed) { callback(); return; }
      const len = Math.min(chunk.length - offset, 1 + Math.floor(next() * maxSegment));
      const piece = chunk.subarray(offset, offset + len);
      offset += len;
      this.hooks.onForwarded(len);
      this.dest.write(piece, (err) => {
        if (err) { callback(); return; } // the socket's own 'error' handler tears the connection down
        if (gapMs <= 0) { setImmediate(writePiece); return; }
        this.timer = setTimeout(() => { this.timer = undefined; writePiece(); }, gapMs);
      });
    };
    writePiece();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.hooks.onEnd();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    callback(err);
  }
}
