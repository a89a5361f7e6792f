/**
 * A fault tap on the serial line between the host MCU and an emulated modem: it passes every byte through,
 * except that chosen AT commands are answered by the tap itself (ERROR, `+CME ERROR: <n>`, arbitrary bytes, or
 * silence) instead of reaching the modem. This is how scenarios reproduce the codes whose cause is a modem-side
 * failure that no FTP server can provoke: a configuration command refused (3G −3…−8, −13…−18), a `#FTPRECV`
 * answering a CME error (4G 19) or a malformed length (4G 20), a short chunk (4G 21), `#FTPCLOSE` failing (4G 25).
 *
 * It is not a modem: it never interprets a command it lets through, and it holds no FTP state. It exists because
 * the modem emulators (client-sim/modem) have no per-command error injection; if they gain one, the
 * scenarios can move to it. Host → modem bytes are split into command lines at `\r` (the AT contract of
 * ARCHITECTURE.md); modem → host bytes pass untouched, binary payloads included.
 */
import { Duplex } from 'node:stream';

/** What the tap answers instead of the modem. `raw` is written as-is (latin1), e.g. a truncated `#FTPRECV` frame. */
export type AtFaultReply = 'error' | 'silence' | { cme: number } | { raw: string };

/**
 * One injected modem failure. `command` is matched, case-insensitively, as a prefix of the line after `AT`
 * (`'#FTPRECV'`, `'+CFTPSERV'`, `'+FTPGET=1'`); a name ending in a letter or digit must be followed by a
 * non-alphanumeric character or the end of the line (so `+FTPGET` never matches `+FTPGETNAME`). `from` = first matching occurrence affected (1-based, default 1);
 * `times` = how many occurrences from there (default: all). Occurrences are counted per fault, and a line the tap
 * answers counts only for the first fault that takes it (later faults in the list do not see it).
 */
export interface AtFault { command: string; reply: AtFaultReply; from?: number; times?: number }

/** A command the tap answered, for reports. */
export interface AtFaultHit { command: string; line: string; reply: AtFaultReply }

/** The tap: connect the host to `tap` and give it the modem stream. */
export class AtFaultTap extends Duplex {
  /** Commands the tap answered itself, in order. */
  readonly hits: AtFaultHit[] = [];
  private readonly counts = new Map<AtFault, number>();
  private pending = '';

  constructor(private readonly modem: Duplex, private readonly faults: AtFault[]) {
    super({ allowHalfOpen: false });
    modem.on('data', (chunk: Buffer) => { this.push(chunk); });
    modem.on('end', () => this.push(null));
    modem.on('error', (err) => this.destroy(err));
  }

  /** The fault that takes this line, counting the occurrence; undefined to pass it through. */
  private match(line: string): AtFault | undefined {
    const body = line.trim().replace(/^AT/i, '').toUpperCase();
    for (const f of this.faults) {
      const name = f.command.toUpperCase();
      if (!body.startsWith(name)) continue;
      const next = body.charAt(name.length);
      if (/[A-Z0-9]$/.test(name) && next !== '' && /[A-Z0-9]/.test(next)) continue;
      const n = (this.counts.get(f) ?? 0) + 1;
      this.counts.set(f, n);
      const from = f.from ?? 1;
      if (n >= from && (f.times === undefined || n < from + f.times)) return f;
    }
    return undefined;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    // XMODEM control bytes (NAK, ACK, CAN, EOT) between lines pass at once: they are not command lines
    if (/^\n*$/.test(this.pending) && buf.length > 0 && buf.every((b) => b === 0x04 || b === 0x06 || b === 0x15 || b === 0x18)) {
      this.pending = '';
      this.modem.write(buf, cb);
      return;
    }
    this.pending += buf.toString('latin1');
    let out = '';
    let i: number;
    while ((i = this.pending.indexOf('\r')) >= 0) {
      const line = this.pending.slice(0, i + 1);
      this.pending = this.pending.slice(i + 1);
      const f = this.match(line);
      if (!f) { out += line; continue; }
      this.hits.push({ command: f.command, line: line.trim(), reply: f.reply });
      if (out) { this.modem.write(Buffer.from(out, 'latin1')); out = ''; }
      const r = f.reply;
      const text = r === 'silence' ? '' : r === 'error' ? '\r\nERROR\r\n' : 'cme' in r ? `\r\n+CME ERROR: ${r.cme}\r\n` : r.raw;
      if (text) setImmediate(() => this.push(Buffer.from(text, 'latin1')));
    }
    if (out) this.modem.write(Buffer.from(out, 'latin1'), cb);
    else cb();
  }

  override _read(): void {}

  override _final(cb: (err?: Error | null) => void): void {
    this.modem.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.modem.destroy();
    cb(err);
  }
}
