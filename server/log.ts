/**
 * Logging: pino setup, and the device-session log lines: one line per event of an FTP session:
 * login (user, client address), a file fetch started (file, full or resumed at a REST offset), the fetch completed
 * or cut short (bytes sent, duration), and the session's end (how long it lasted, why it ended).
 * Passwords are never logged.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** The logger type every server module takes. */
export type Logger = PinoLogger;

/** Options of createLogger. */
export interface LoggerOptions {
  /** pino level (`trace`…`fatal`, `silent`). Default `info`. */
  level?: string;
  /** Human-readable lines (pino-pretty). Default: when stdout is a TTY and no destination is given. */
  pretty?: boolean;
  /** Where lines go. Default stdout. */
  destination?: NodeJS.WritableStream;
}

/** JSON lines to stdout are gathered up to this many characters before one write (one syscall for many lines). */
const STDOUT_BATCH_CHARS = 32 * 1024;
/** Gathered stdout lines are written at most this long after the first of them, ms. */
const STDOUT_FLUSH_MS = 100;

/**
 * Creates the application logger: JSON lines (one object per line, `time` in ms since the epoch), or
 * pino-pretty's human-readable form on a TTY or with `pretty: true`. No worker thread. JSON lines to stdout (the
 * default destination: a server's session log) are gathered, up to STDOUT_BATCH_CHARS or STDOUT_FLUSH_MS, and
 * written in one synchronous write, also when the process exits: at several lines per device session, one write per
 * line (or one thread-pool round trip per batch) was a visible share of the server's CPU in the bench profile
 * (BENCHMARKS.md). A given `destination` or pretty output is written synchronously, line by line.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const usePretty = opts.pretty ?? (!opts.destination && process.stdout.isTTY === true);
  if (usePretty) {
    const stream = pretty({
      destination: opts.destination ?? 1,
      colorize: !opts.destination && process.stdout.isTTY === true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true, // one event, one line: the extra fields follow the message as one JSON object
      sync: true,
    });
    return pino({ level }, stream);
  }
  if (opts.destination) return pino({ level }, opts.destination);
  return pino({ level }, level === 'silent' ? undefined : bufferedStdout());
}

let stdoutBatch: LineBatch | undefined;

/** The one batched stdout destination of this process (one batch, so lines from several loggers never interleave). */
function bufferedStdout(): LineBatch {
  if (stdoutBatch) return stdoutBatch;
  const batch = new LineBatch(pino.destination({ dest: 1, sync: true }));
  process.on('exit', () => batch.flush());
  stdoutBatch = batch;
  return batch;
}

/**
 * Lines gathered for one write: written when they reach STDOUT_BATCH_CHARS, STDOUT_FLUSH_MS after the first of
 * them, or on `flush()`. A timer runs only while lines wait, so an idle server makes no write at all.
 */
class LineBatch {
  #parts: string[] = [];
  #chars = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #flushSoon = () => this.flush();

  constructor(private readonly out: { write(text: string): unknown }) {}

  /** Called by pino with one serialised line (its newline included). */
  write(line: string): void {
    this.#parts.push(line);
    this.#chars += line.length;
    if (this.#chars >= STDOUT_BATCH_CHARS) this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(this.#flushSoon, STDOUT_FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** Writes what is gathered now, in one write. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#chars === 0) return;
    const text = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
    this.#parts = [];
    this.#chars = 0;
    try {
      this.out.write(text);
    } catch {
      // stdout closed (EPIPE): the log has nowhere to go; serving goes on
    }
  }
}

/** How a fetch ended: every byte handed to the data connection and RETR acknowledged, or not. */
export type FetchOutcome = 'completed' | 'cut short';

/** One RETR being logged; `end` logs its final line once (later calls are ignored). */
export interface FetchLog {
  /** Adds bytes handed to the data connection. */
  addBytes(n: number): void;
  /** Bytes handed to the data connection so far. */
  readonly bytes: number;
  /** Logs the end line: outcome, bytes sent, duration in ms, and a short reason when cut short. */
  end(outcome: FetchOutcome, reason?: string): void;
  readonly ended: boolean;
}

/**
 * The log of one device's FTP session (one control connection). Every line carries `session` (an id) and
 * `address` (the client's IP), so one device's lines can be grepped together.
 */
/** Refused commands logged per session; the rest are counted in the session's end line. */
export const MAX_REFUSALS_LOGGED = 20;

export class SessionLog {
  readonly log: Logger;
  readonly startedAt = Date.now();
  #user: string | undefined;
  #fetches = 0;
  #refusals = 0;
  #ended = false;

  /** @param logger parent logger; @param session connection id; @param address client IP */
  constructor(logger: Logger, session: string, address: string) {
    this.log = logger.child({ session, address });
  }

  /** A login was accepted (user name only; the password is never logged). */
  login(user: string, anonymous: boolean): void {
    this.#user = user;
    this.log.info({ event: 'login', user, anonymous }, `login ${user}`);
  }

  /** A login was refused (530). */
  loginRefused(user: string, throttle?: { failures: number; delayMs: number }): void {
    this.log.warn({ event: 'login-refused', user, ...throttle }, `login refused for ${JSON.stringify(user)}`);
  }

  /**
   * A command refused with 550: a write command on the read-only server, or a path outside the root or hidden
   * (`reason`). The client's argument is logged JSON-quoted, at most 200 characters. After
   * {@link MAX_REFUSALS_LOGGED} refusals in one session the rest are counted, not logged, so a hostile client
   * cannot flood the log: the session's end line carries the count.
   */
  refused(command: string, arg: string, reason: string): void {
    this.#refusals++;
    if (this.#refusals > MAX_REFUSALS_LOGGED) return;
    const shown = arg.length > 200 ? `${arg.slice(0, 200)}…` : arg;
    this.log.info({ event: 'refused', user: this.#user, command, arg: shown, reason },
      `refused ${command} ${JSON.stringify(shown)}: ${reason}` +
      (this.#refusals === MAX_REFUSALS_LOGGED ? ` (further refusals in this session are only counted)` : ''));
  }

  /**
   * A RETR started: `file` is the virtual path, `offset` the REST offset in bytes (0 = a full fetch, otherwise
   * "resumed"), `size` the file size in bytes.
   */
  fetch(file: string, offset: number, size: number): FetchLog {
    this.#fetches++;
    const mode = offset > 0 ? 'resumed' : 'full';
    const startedAt = Date.now();
    const log = this.log;
    const user = this.#user;
    log.info({ event: 'fetch', user, file, mode, offset, size }, `fetch ${file} ${mode}${offset > 0 ? ` at ${offset}` : ''}`);
    let bytes = 0;
    let ended = false;
    return {
      addBytes(n: number) {
        bytes += n;
      },
      get bytes() {
        return bytes;
      },
      get ended() {
        return ended;
      },
      end(outcome: FetchOutcome, reason?: string) {
        if (ended) return;
        ended = true;
        const durationMs = Date.now() - startedAt;
        const line = { event: 'fetch-end', user, file, mode, offset, size, outcome, bytes, durationMs, ...(reason ? { reason } : {}) };
        const msg = `${file} ${outcome}: ${bytes} bytes in ${durationMs} ms`;
        if (outcome === 'completed') log.info(line, msg);
        else log.warn(line, msg);
      },
    };
  }

  /** The control connection closed; `reason` says why (quit, client closed, idle timeout, shutdown...). */
  end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const durationMs = Date.now() - this.startedAt;
    this.log.info(
      { event: 'logout', user: this.#user, reason, fetches: this.#fetches, ...(this.#refusals ? { refusals: this.#refusals } : {}), durationMs },
      `session ended (${reason}) after ${durationMs} ms`,
    );
  }
}
