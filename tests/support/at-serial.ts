/**
 * A byte-level view of an AT link for modem specs that must check exact framing (counted payloads inside a line
 * such as u-blox `+URDBLOCK: "f",n,"<bytes>"`, the SARA-R4 bare-`\n` quirk, Quectel `CONNECT <n>`): everything the
 * modem sends is kept in one buffer and consumed in order with {@link AtSerial.until} (a RegExp over the latin1
 * text) and {@link AtSerial.take} (exactly n raw bytes). Tests only.
 */
import type { Duplex } from 'node:stream';

/** See the module docstring. */
export class AtSerial {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(private readonly port: Duplex) {
    port.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    port.on('close', () => { this.ended = true; this.wake(); });
    port.on('end', () => { this.ended = true; this.wake(); });
  }

  /** Write `cmd` followed by `\r`. */
  send(cmd: string): void {
    this.port.write(`${cmd}\r`);
  }

  /** Everything received and not consumed yet, as latin1 text. */
  pending(): string {
    return this.buf.toString('latin1', this.pos);
  }

  /** Waits until `re` matches the unconsumed text; consumes up to the end of the match. Rejects after `timeoutMs`. */
  async until(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.pending());
      if (m) {
        this.pos += Buffer.byteLength(this.pending().slice(0, m.index + m[0].length), 'latin1');
        return m;
      }
      if (this.ended) throw new Error(`link closed while waiting for ${re} (pending ${JSON.stringify(this.pending().slice(0, 200))})`);
      if (!(await this.wait(deadline - Date.now()))) {
        throw new Error(`timeout waiting for ${re}; pending ${JSON.stringify(this.pending().slice(0, 300))}`);
      }
    }
  }

  /** Takes exactly `n` raw bytes. */
  async take(n: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length - this.pos < n) {
      if (this.ended || !(await this.wait(deadline - Date.now()))) throw new Error(`wanted ${n} bytes, have ${this.buf.length - this.pos}`);
    }
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** Sends `cmd` and waits for its final result (OK / ERROR / NO CARRIER / +CME ERROR); returns the raw text before it, its non-empty lines, and the final. */
  async command(cmd: string, timeoutMs = 10_000): Promise<{ body: string; lines: string[]; final: string }> {
    this.send(cmd);
    const m = await this.until(/^([\s\S]*?)\r\n(OK|ERROR|NO CARRIER|\+CME ERROR: [^\r\n]*)\r\n/, timeoutMs);
    return { body: m[1]!, lines: m[1]!.split(/\r?\n/).filter((l) => l !== ''), final: m[2]! };
  }

  private wait(ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== on); resolve(false); }, ms);
      const on = () => { clearTimeout(t); resolve(true); };
      this.waiters.push(on);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
