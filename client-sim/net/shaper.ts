import { Transform, type TransformCallback } from 'node:stream';

/** Shaping of one direction of one connection. All zero = pass-through. */
export interface ShapeOptions {
  /** Token-bucket rate in bytes per ms (kbit/s / 8); 0 = unlimited. */
  bytesPerMs: number;
  /** One-way delay in ms added to every byte; 0 = none. */
  latencyMs: number;
  /** Loss approximated by stalls: pause `stallMs` after every `everyBytes` bytes (see profiles.ts). */
  loss?: { everyBytes: number; stallMs: number };
  /** Called when a loss stall starts (for the proxy's event log). */
  onLossStall?: (afterBytes: number, ms: number) => void;
}

/** Smallest bucket: one Ethernet-sized TCP segment, so slow links still move whole segments. */
const MIN_BUCKET_BYTES = 1460;
/** The bucket holds this many ms of traffic at the configured rate (burst size). */
const BUCKET_MS = 50;

/**
 * A Transform that shapes one direction of one connection: a token bucket limits the rate (bytes leave in pieces
 * no bigger than the bucket), a delay line adds one-way latency while keeping order, and an optional loss model
 * inserts deterministic stalls. The transform callback is held while tokens are missing, so backpressure reaches
 * the sending socket; at most rate × latency bytes sit in the delay line. `_flush` waits for the delay line to
 * empty, so an end is never delivered ahead of data. Every timer is cleared on destroy.
 */
export class ShapeStream extends Transform {
  private tokens: number;
  private lastRefill = Date.now();
  private readonly bucket: number;
  private sinceLoss = 0;
  private forwarded = 0;
  private readonly delayLine: Array<{ due: number; data: Buffer }> = [];
  private pace: NodeJS.Timeout | undefined;
  private delivery: NodeJS.Timeout | undefined;
  private flushCallback: TransformCallback | undefined;

  /** @param opts see {@link ShapeOptions}. */
  constructor(private readonly opts: ShapeOptions) {
    super();
    this.bucket = Math.max(MIN_BUCKET_BYTES, Math.ceil(opts.bytesPerMs * BUCKET_MS));
    this.tokens = this.bucket;
  }

  /** True when this stream changes nothing (no rate, no latency, no loss). */
  get passThrough(): boolean {
    return this.opts.bytesPerMs <= 0 && this.opts.latencyMs <= 0 && !this.opts.loss;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.passThrough) {
      callback(null, chunk);
      return;
    }
    this.step(chunk, 0, callback);
  }

  private step(chunk: Buffer, offset: number, callback: TransformCallback): void {
    const { bytesPerMs, loss } = this.opts;
    while (offset < chunk.length) {
      let len = chunk.length - offset;
      if (bytesPerMs > 0) len = Math.min(len, this.bucket);
      if (loss && loss.everyBytes > 0) len = Math.min(len, loss.everyBytes - this.sinceLoss);
      if (bytesPerMs > 0) {
        const now = Date.now();
        this.tokens = Math.min(this.bucket, this.tokens + (now - this.lastRefill) * bytesPerMs);
        this.lastRefill = now;
        if (this.tokens < len) {
          const wait = Math.max(1, Math.ceil((len - this.tokens) / bytesPerMs));
          this.pace = setTimeout(() => { this.pace = undefined; this.step(chunk, offset, callback); }, wait);
          return;
        }
        this.tokens -= len;
      }
      this.depart(chunk.subarray(offset, offset + len));
      offset += len;
      if (loss && loss.everyBytes > 0) {
        this.sinceLoss += len;
        if (this.sinceLoss >= loss.everyBytes) {
          this.sinceLoss = 0;
          this.opts.onLossStall?.(this.forwarded, loss.stallMs);
          this.pace = setTimeout(() => { this.pace = undefined; this.step(chunk, offset, callback); }, loss.stallMs);
          return;
        }
      }
    }
    callback();
  }

  private depart(data: Buffer): void {
    this.forwarded += data.length;
    if (this.opts.latencyMs <= 0) {
      this.push(data);
      return;
    }
    this.delayLine.push({ due: Date.now() + this.opts.latencyMs, data });
    this.armDelivery();
  }

  private armDelivery(): void {
    if (this.delivery || this.delayLine.length === 0) return;
    const wait = Math.max(0, this.delayLine[0].due - Date.now());
    this.delivery = setTimeout(() => {
      this.delivery = undefined;
      const now = Date.now();
      while (this.delayLine.length > 0 && this.delayLine[0].due <= now) this.push(this.delayLine.shift()!.data);
      if (this.delayLine.length > 0) this.armDelivery();
      else if (this.flushCallback) { const cb = this.flushCallback; this.flushCallback = undefined; cb(); }
    }, wait);
  }

  override _flush(callback: TransformCallback): void {
    if (this.delayLine.length === 0) callback();
    else this.flushCallback = callback;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.pace) clearTimeout(this.pace);
    if (this.delivery) clearTimeout(this.delivery);
    this.pace = this.delivery = undefined;
    this.delayLine.length = 0;
    callback(err);
  }
}
