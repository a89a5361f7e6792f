/**
 * `AtHost`: the host MCU's side of a serial AT link, over any Duplex (an emulated `AtModem`, a TCP
 * socket to `client-sim modem --listen`, a real serial port stream).
 *
 * Parsing model. Received bytes are split into lines at `\n` (trailing `\r`s dropped, empty lines
 * skipped). A line after which the modem sends a counted binary payload is recognised by a *framing*
 * function (`(line) => byteCount | undefined`): the per-command one (`command(..., { payload })`), a
 * pending waiter's, or the host-wide `payload` option, in that order. Exactly that many bytes are then
 * taken raw and attached to the line as `payload` — payload bytes are counted, never scanned, so a
 * firmware image containing `\r\nOK\r\n` or `+FTPGET: 1,0` cannot end a reply early.
 *
 * Routing of each parsed line: (1) the oldest pending `waitFor` whose pattern matches; else (2) the
 * running `command` (an info line, or its final line: OK / ERROR / +CME ERROR: / +CMS ERROR: /
 * NO CARRIER / I/OK / I/ERROR..., or one of its `expect` patterns) unless the line matches a host-wide
 * `urcs` pattern; else (3) the URC backlog (bounded, newest 512 kept) and every `onUrc` listener.
 * `waitFor` looks in the backlog first, so a URC that arrived early is not lost.
 *
 * Raw streams of unannounced length (Telit `#FTPGET` after `CONNECT`, iChip after `I/<size>`):
 * `command(cmd, { rawAfter: true })` stops line parsing right after the final/expected line; the next
 * `readBytes(n)` takes raw bytes and line parsing resumes after it. `hold()`/`release()` do the same
 * by hand. String patterns match a line that equals or starts with them; RegExps are tested.
 *
 * Commands end with option `eol` (default `\r`; Libelium's 3G/GPRS libraries write `\r\n`). Patterns may be functions
 * (substring matching as Libelium's `waitForData`); `takeAvailable(n)` takes buffered raw bytes while held (XMODEM).
 *
 * Commands are serialised: a `command()` issued while another runs waits its turn. Every wait has a
 * timeout and rejects with {@link AtTimeoutError}; a closed link rejects with {@link AtClosedError}.
 */
import type { Duplex } from 'node:stream';

/** One received line, with the counted binary payload that followed it, if any. */
export interface AtEvent {
  line: string;
  payload?: Buffer;
}

/** Returns the number of raw bytes that follow `line`, or undefined when none do. */
export type PayloadFraming = (line: string) => number | undefined;

/** A line pattern: a string matches a line equal to or starting with it; a RegExp is tested; a function is called. */
export type LinePattern = string | RegExp | ((line: string) => boolean);

/** Options of one command. */
export interface CommandOptions {
  /** Extra lines that end the command (besides the standard final results), e.g. 'CONNECT', /^I\/\d+$/. */
  expect?: LinePattern[];
  /**
   * Replace the standard final results (OK, ERROR, +CME ERROR:, +CMS ERROR:, NO CARRIER, I/OK, I/ERROR...)
   * with these, e.g. iChip `AT+iFRCV` whose `I/OK` comes first: `finals: [/^I\/ONLINE$/, /^I\/ERROR/]`.
   */
  finals?: LinePattern[];
  /** Timeout in ms for the final line (default: host `defaultTimeoutMs`, 10 000). */
  timeoutMs?: number;
  /** Framing for lines of this command's response (e.g. `#FTPRECV: n`). */
  payload?: PayloadFraming;
  /** Stop line parsing after the final line so `readBytes()` can take a raw stream (see module doc). */
  rawAfter?: boolean;
}

/** The outcome of a command: info lines, the final (or expected) line, payloads. */
export interface CommandResult {
  /** Info lines before the final line (echo removed), in order. */
  lines: string[];
  /** The final result or matched `expect` line. */
  final: string;
  /** All counted payloads of this response, concatenated (empty when none). */
  data: Buffer;
  /** Each line that carried a payload, with it. */
  frames: AtEvent[];
}

/** Trace record of the host side: `tx` = written to the modem, `rx` = line or payload received. */
export interface AtHostTraceEvent {
  time: Date;
  dir: 'tx' | 'rx';
  text: string;
  bytes?: number;
}

/** Options of an AtHost. */
export interface AtHostOptions {
  /** Host-wide payload framing (e.g. SIM5215 `+CFTPGET: DATA,<n>`). */
  payload?: PayloadFraming;
  /** Lines that are URCs even while a command runs (they go to the backlog, not to the command). */
  urcs?: LinePattern[];
  /** Default command timeout in ms (10 000). */
  defaultTimeoutMs?: number;
  /** Command line terminator (default `\r`; the GPRS library writes `\r\n`, WaspGPRS_Pro_core.cpp:843). */
  eol?: string;
  /** Trace hook. */
  trace?: (ev: AtHostTraceEvent) => void;
}

/** A wait ran out. `waitingFor` names what was awaited; `partial` holds lines collected so far. */
export class AtTimeoutError extends Error {
  readonly waitingFor: string;
  readonly timeoutMs: number;
  readonly partial: string[];
  constructor(waitingFor: string, timeoutMs: number, partial: string[] = []) {
    super(`AT timeout after ${timeoutMs} ms waiting for ${waitingFor}${partial.length ? ` (got: ${partial.map((l) => JSON.stringify(l)).join(', ')})` : ''}`);
    this.name = 'AtTimeoutError';
    this.waitingFor = waitingFor;
    this.timeoutMs = timeoutMs;
    this.partial = partial;
  }
}

/** The link closed while something was awaited. */
export class AtClosedError extends Error {
  constructor(what: string) {
    super(`AT link closed while waiting for ${what}`);
    this.name = 'AtClosedError';
  }
}

const FINALS: RegExp[] = [/^OK$/, /^ERROR$/, /^\+CME ERROR:/, /^\+CMS ERROR:/, /^NO CARRIER$/, /^I\/OK$/, /^I\/ERROR/];

/** True when `line` matches `p` (string: equal or prefix; RegExp: test; function: its result). */
export function matchLine(line: string, p: LinePattern): boolean {
  if (typeof p === 'string') return line.startsWith(p);
  return typeof p === 'function' ? p(line) : p.test(line);
}

interface ActiveCommand {
  text: string;
  opts: CommandOptions;
  lines: string[];
  frames: AtEvent[];
  echoSeen: boolean;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

interface Waiter {
  pattern: LinePattern;
  payload?: PayloadFraming;
  resolve: (e: AtEvent) => void;
  reject: (e: Error) => void;
}

interface ByteReader {
  n: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** Host side of an AT link. See the module docstring. */
export class AtHost {
  private readonly port: Duplex;
  private readonly opts: AtHostOptions;
  private rx: Buffer = Buffer.alloc(0);
  private pendingFrame?: { line: string; n: number; parts: Buffer[]; got: number };
  private active?: ActiveCommand;
  private waiters: Waiter[] = [];
  private reader?: ByteReader;
  private held = false;
  private holdOnce = false;
  private backlogList: AtEvent[] = [];
  private listeners = new Set<(e: AtEvent) => void>();
  private chain: Promise<unknown> = Promise.resolve();
  private isClosed = false;

  constructor(port: Duplex, opts: AtHostOptions = {}) {
    this.port = port;
    this.opts = opts;
    port.on('data', (chunk: Buffer) => {
      this.rx = this.rx.length ? Buffer.concat([this.rx, chunk]) : Buffer.from(chunk);
      this.pump();
    });
    const onClose = () => this.closeAll();
    port.on('end', onClose);
    port.on('close', onClose);
    port.on('error', onClose);
  }

  /** Write `cmd` followed by the line terminator (option `eol`, default `\r`). */
  send(cmd: string): void {
    this.trace('tx', cmd);
    this.port.write(Buffer.from(`${cmd}${this.opts.eol ?? '\r'}`, 'latin1'));
  }

  /** Takes up to `max` received, unparsed bytes (while {@link hold} is on), as Wasp3G.cpp getXModemFile's serialRead loop. */
  takeAvailable(max = Infinity): Buffer {
    const n = Math.min(max, this.rx.length);
    const b = Buffer.from(this.rx.subarray(0, n));
    this.rx = this.rx.subarray(n);
    if (n > 0) this.trace('rx', `<${n} bytes>`, n);
    return b;
  }

  /** Write raw bytes (no `\r` appended). */
  sendRaw(buf: Buffer): void {
    this.trace('tx', `<${buf.length} bytes>`, buf.length);
    this.port.write(buf);
  }

  /**
   * Send `cmd` and collect its response until a final line or an `expect` match.
   * Rejects with AtTimeoutError (after `timeoutMs`) or AtClosedError. An `ERROR` final is a normal
   * result (check `final`), not a rejection.
   */
  command(cmd: string, opts: CommandOptions = {}): Promise<CommandResult> {
    const run = () => new Promise<CommandResult>((resolve, reject) => {
      if (this.isClosed) { reject(new AtClosedError(cmd)); return; }
      const timeoutMs = opts.timeoutMs ?? this.opts.defaultTimeoutMs ?? 10_000;
      const t = setTimeout(() => {
        if (this.active === ac) this.active = undefined;
        reject(new AtTimeoutError(`the reply to ${cmd}`, timeoutMs, ac.lines));
      }, timeoutMs);
      const ac: ActiveCommand = {
        text: cmd, opts, lines: [], frames: [], echoSeen: false,
        resolve: (r) => { clearTimeout(t); resolve(r); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      this.active = ac;
      this.send(cmd);
      this.pump();
    });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Wait for a line matching `pattern` (a URC, or a line after `OK`), looking in the backlog first.
   * `payload` frames the awaited line if it carries bytes. Rejects with AtTimeoutError / AtClosedError.
   */
  waitFor(pattern: LinePattern, timeoutMs: number, opts: { payload?: PayloadFraming } = {}): Promise<AtEvent> {
    const i = this.backlogList.findIndex((e) => matchLine(e.line, pattern));
    if (i >= 0) return Promise.resolve(this.backlogList.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      if (this.isClosed) { reject(new AtClosedError(String(pattern))); return; }
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new AtTimeoutError(String(pattern), timeoutMs));
      }, timeoutMs);
      const w: Waiter = {
        pattern, payload: opts.payload,
        resolve: (e) => { clearTimeout(t); resolve(e); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      this.waiters.push(w);
      this.pump();
    });
  }

  /**
   * Read exactly `n` raw bytes from the link (line parsing is suspended meanwhile). Rejects with
   * AtTimeoutError when fewer arrived within `timeoutMs` (the bytes stay unread), or AtClosedError.
   */
  readBytes(n: number, timeoutMs: number): Promise<Buffer> {
    if (this.reader) return Promise.reject(new Error('readBytes already pending'));
    return new Promise((resolve, reject) => {
      if (this.isClosed && this.rx.length < n) { reject(new AtClosedError(`${n} bytes`)); return; }
      const t = setTimeout(() => {
        if (this.reader === r) this.reader = undefined;
        reject(new AtTimeoutError(`${n} raw bytes (have ${this.rx.length})`, timeoutMs));
      }, timeoutMs);
      const r: ByteReader = {
        n,
        resolve: (b) => { clearTimeout(t); resolve(b); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      this.reader = r;
      this.pump();
    });
  }

  /** Stop line parsing (bytes accumulate for readBytes) until release(). */
  hold(): void {
    this.held = true;
  }

  /** Resume line parsing. */
  release(): void {
    this.held = false;
    this.holdOnce = false;
    this.pump();
  }

  /** Subscribe to lines routed as URCs; returns the unsubscribe function. */
  onUrc(cb: (e: AtEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Lines received outside any command and not yet taken by waitFor (oldest first). */
  backlog(): AtEvent[] {
    return [...this.backlogList];
  }

  /** Forget the backlog. */
  clearBacklog(): void {
    this.backlogList = [];
  }

  /** Bytes received but not parsed yet (e.g. a raw stream nobody has read). */
  get pendingBytes(): number {
    return this.rx.length;
  }

  /** End the link (ends the underlying stream) and reject all waits. */
  close(): void {
    this.port.end();
    this.closeAll();
  }

  private trace(dir: 'tx' | 'rx', text: string, bytes?: number): void {
    this.opts.trace?.({ time: new Date(), dir, text, bytes });
  }

  private closeAll(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = (what: string) => new AtClosedError(what);
    if (this.active) { this.active.reject(err(this.active.text)); this.active = undefined; }
    for (const w of this.waiters) w.reject(err(String(w.pattern)));
    this.waiters = [];
    if (this.reader && this.rx.length < this.reader.n) { this.reader.reject(err(`${this.reader.n} bytes`)); this.reader = undefined; }
  }

  private framingFor(line: string): number | undefined {
    const fns: (PayloadFraming | undefined)[] = [this.active?.opts.payload, ...this.waiters.map((w) => w.payload), this.opts.payload];
    for (const f of fns) {
      const n = f?.(line);
      if (n !== undefined) return n;
    }
    return undefined;
  }

  private pump(): void {
    for (;;) {
      if (this.pendingFrame) {
        const f = this.pendingFrame;
        const take = Math.min(f.n - f.got, this.rx.length);
        if (take > 0) {
          f.parts.push(this.rx.subarray(0, take));
          f.got += take;
          this.rx = this.rx.subarray(take);
        }
        if (f.got < f.n) return;
        this.pendingFrame = undefined;
        const payload = Buffer.concat(f.parts);
        this.trace('rx', `<${payload.length} bytes>`, payload.length);
        this.route({ line: f.line, payload });
        continue;
      }
      if (this.reader) {
        if (this.rx.length < this.reader.n) return;
        const r = this.reader;
        this.reader = undefined;
        const b = Buffer.from(this.rx.subarray(0, r.n));
        this.rx = this.rx.subarray(r.n);
        this.trace('rx', `<${b.length} bytes>`, b.length);
        if (this.holdOnce) { this.holdOnce = false; this.held = false; }
        r.resolve(b);
        continue;
      }
      if (this.held || this.holdOnce) return;
      const nl = this.rx.indexOf(0x0a);
      if (nl < 0) return;
      const line = this.rx.subarray(0, nl).toString('latin1').replace(/\r+/g, '');
      this.rx = this.rx.subarray(nl + 1);
      if (line === '') continue;
      const ac = this.active;
      if (ac && !ac.echoSeen && line === ac.text) { ac.echoSeen = true; continue; }
      this.trace('rx', line);
      const n = this.framingFor(line);
      if (n !== undefined && n > 0) {
        this.pendingFrame = { line, n, parts: [], got: 0 };
        continue;
      }
      this.route(n === 0 ? { line, payload: Buffer.alloc(0) } : { line });
    }
  }

  private route(ev: AtEvent): void {
    const wi = this.waiters.findIndex((w) => matchLine(ev.line, w.pattern));
    if (wi >= 0) {
      const [w] = this.waiters.splice(wi, 1);
      w!.resolve(ev);
      return;
    }
    const ac = this.active;
    const isUrc = (this.opts.urcs ?? []).some((p) => matchLine(ev.line, p));
    if (ac && !isUrc) {
      const finals: LinePattern[] = ac.opts.finals ?? FINALS;
      const done = finals.some((p) => matchLine(ev.line, p)) || (ac.opts.expect ?? []).some((p) => matchLine(ev.line, p));
      if (ev.payload) ac.frames.push(ev);
      if (!done) { ac.lines.push(ev.line); return; }
      this.active = undefined;
      if (ac.opts.rawAfter) this.holdOnce = true;
      ac.resolve({ lines: ac.lines, final: ev.line, data: Buffer.concat(ac.frames.map((f) => f.payload!)), frames: ac.frames });
      return;
    }
    this.backlogList.push(ev);
    if (this.backlogList.length > 512) this.backlogList.shift();
    for (const l of this.listeners) l(ev);
  }
}
