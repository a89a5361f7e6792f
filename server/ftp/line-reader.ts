/**
 * The control connection's line reader (RFC 959 §4.1: commands are lines ended by CRLF; a bare LF is accepted as
 * well, as vsftpd and pyftpdlib do). A command split across TCP segments (`SI` + `ZE f\r\n`) is one command; a
 * line longer than `maxLine` bytes is never buffered whole: it becomes one TOO_LONG item and the rest of it, up to
 * its LF, is dropped. Telnet commands (RFC 854 IAC sequences) are removed, `IAC IAC` stays one 0xFF byte.
 * Pure: no sockets, no timers.
 */

/** The item a line over `maxLine` bytes becomes (the caller answers it `500`). */
export const TOO_LONG = Symbol('too long');
/** What the reader yields: a command line without its CRLF (UTF-8 decoded), or TOO_LONG. */
export type LineItem = string | typeof TOO_LONG;

/** Longest command line by default, bytes (pyftpdlib's max_cmd_size is 2048; device lines are under 300). */
export const MAX_COMMAND_BYTES = 4096;

/**
 * Removes telnet commands (RFC 854 IAC sequences, e.g. the `IAC IP IAC DM` some clients send before ABOR, RFC
 * 959 §4.1.3) from a command line; `IAC IAC` stays as one 0xFF byte. Returns `line` itself when it has no 0xFF.
 */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(0xff)) return line;
  const out: number[] = [];
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== 0xff) {
      out.push(b);
      continue;
    }
    const cmd = line[i + 1];
    if (cmd === 0xff) out.push(0xff);
    i += cmd !== undefined && cmd >= 0xfb && cmd <= 0xfe ? 2 : 1; // WILL/WONT/DO/DONT carry an option byte
  }
  return Buffer.from(out);
}

/**
 * Splits received bytes into command lines. Holds at most `maxLine` bytes of an unfinished line between calls
 * (usually nothing: `partial` is undefined between complete lines, so an idle connection holds no buffer).
 */
export class LineReader {
  #partial: Buffer | undefined;
  #discarding = false;

  /** @param maxLine longest line accepted, bytes (without its line end) */
  constructor(private readonly maxLine: number = MAX_COMMAND_BYTES) {}

  /** Bytes of an unfinished line held now (for tests and memory figures). */
  get pendingBytes(): number {
    return this.#partial?.length ?? 0;
  }

  /** Forgets an unfinished line (after AUTH TLS, RFC 4217 §4: what was sent in the clear is dropped). */
  reset(): void {
    this.#partial = undefined;
    this.#discarding = false;
  }

  /** Feeds one chunk; calls `onLine` for each complete line (empty lines are skipped) or TOO_LONG, in order. */
  push(chunk: Buffer, onLine: (item: LineItem) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) {
        this.#keep(chunk.subarray(start), onLine);
        return;
      }
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      const raw = this.#partial ? Buffer.concat([this.#partial, piece]) : piece;
      this.#partial = undefined;
      if (raw.length > this.maxLine + 1) {
        onLine(TOO_LONG);
        continue;
      }
      let end = raw.length;
      if (end > 0 && raw[end - 1] === 0x0d) end--;
      if (end > this.maxLine) {
        onLine(TOO_LONG);
        continue;
      }
      const line = stripTelnet(raw.subarray(0, end)).toString('utf8');
      if (line.trim() !== '') onLine(line);
    }
  }

  /** Keeps the start of an unfinished line, or turns it into TOO_LONG once it passes maxLine. */
  #keep(piece: Buffer, onLine: (item: LineItem) => void): void {
    if (this.#discarding || piece.length === 0) return;
    // A copy: the socket's chunk must not be held alive by a few bytes of it.
    this.#partial = this.#partial ? Buffer.concat([this.#partial, piece]) : Buffer.from(piece);
    if (this.#partial.length > this.maxLine + 1) {
      // Never buffer without bound: answer 500 now, drop the rest of the line up to its LF.
      this.#partial = undefined;
      this.#discarding = true;
      onLine(TOO_LONG);
    }
  }
}
