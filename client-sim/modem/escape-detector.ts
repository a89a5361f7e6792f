/**
 * The online-data-mode escape sequence detector (ITU-T V.250 §6.3.11 and the S2/S12 registers: `+++` with at least
 * the escape guard time of silence before and after it; S12 = 50 × 20 ms = 1 s by default on Quectel and u-blox
 * modules). A modem in data mode feeds every host byte to {@link EscapeDetector.input}.
 */

/** Calls `onEscape` once when `+++` arrives framed by `guardMs` of silence. */
export class EscapeDetector {
  private plus = 0;
  private lastAt = Date.now();
  private timer?: NodeJS.Timeout;
  private done = false;

  /** `guardMs`: the guard time in ms; the silence before the first `+` is counted from construction. */
  constructor(private readonly guardMs: number, private readonly onEscape: () => void) {}

  /** Feed host bytes received in data mode. */
  input(bytes: Buffer): void {
    if (this.done) return;
    const now = Date.now();
    clearTimeout(this.timer);
    for (const b of bytes) {
      if (b === 0x2b && (this.plus > 0 ? this.plus < 3 : now - this.lastAt >= this.guardMs)) this.plus++;
      else this.plus = 0;
    }
    this.lastAt = now;
    if (this.plus !== 3) return;
    this.timer = setTimeout(() => {
      if (this.done) return;
      this.done = true;
      this.onEscape();
    }, this.guardMs);
  }

  /** Stop watching (no escape will be reported). */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }
}
