/**
 * One control connection (RFC 959 §2.3, §5.1): the line reader with back-pressure, one command at a time in
 * order, the reply writer (one socket write per reply), the login and idle timers, and the session's protocol
 * state as explicit fields (login state, data channel, REST offset, TLS). Handlers (cmd-*.ts) read and change it;
 * commands.ts dispatch() runs them.
 *
 * Memory of an idle logged-in connection: this object, its socket, one timer, a SessionLog and a SessionFiles;
 * no buffer (the line reader holds bytes only while a line is unfinished), no queue array while nothing is
 * queued, no per-connection closures on the socket (the listeners are shared functions).
 */
import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import { JailError } from '../jail.ts';
import { SessionLog, type FetchLog } from '../log.ts';
import type { ServerContext } from './context.ts';
import type { DataChannel } from './data-wait.ts';
import { notify, type EventSink, type LogDetail } from './events.ts';
import type { SessionFiles } from './files.ts';
import type { SessionEvent, SessionIdentity } from './hooks.ts';
import { LineReader, type LineItem } from './line-reader.ts';
import { endSocket, plainIp } from './net-util.ts';
import type { Transfer } from './transfer.ts';

/** Login state (RFC 959 §4.1.1, §5.4 sequencing of USER/PASS). */
export enum LoginState {
  /** Connected, no USER yet (or a refused PASS). */
  NeedUser,
  /** USER given, PASS awaited. */
  NeedPass,
  LoggedIn,
}

/** Connection state. */
export enum LinkState {
  Open,
  /** The client half-closed (FIN): queued commands are answered, then the connection is closed. */
  PeerEnded,
  /** We are closing it: no further command is read or run. */
  Ending,
  /** The socket closed; everything is released. */
  Gone,
}

/**
 * Commands (and their bytes) queued behind the running one before reading stops until the queue drains (TCP flow
 * control, no disconnect). With the line cap this bounds a connection's command memory to about one socket read
 * (64 KiB) plus these.
 */
const MAX_QUEUED_COMMANDS = 32;
const MAX_QUEUED_BYTES = 16 * 1024;

const SESSION = Symbol('ftp session');
type SessionSocket = net.Socket & { [SESSION]?: Session };

/** Runs one command line (commands.ts dispatch); set once by server.ts, shared by every session. */
export type Dispatcher = (s: Session, item: LineItem) => Promise<void>;

// Shared socket listeners: `this` is the socket, the session hangs off it (no closure per connection).
function onSocketData(this: SessionSocket, chunk: Buffer): void {
  this[SESSION]?.onData(chunk);
}
function onSocketEnd(this: SessionSocket): void {
  this[SESSION]?.onPeerEnd();
}
function onSocketClose(this: SessionSocket): void {
  this[SESSION]?.detach();
}
function onSocketError(): void {
  // resets and timeouts are expected; 'close' follows
}

/** One control connection and its FTP session. */
export class Session implements EventSink {
  readonly id = randomUUID();
  readonly address: string;
  readonly log: SessionLog;
  readonly startedAt = Date.now();
  socket: net.Socket;
  login = LoginState.NeedUser;
  link = LinkState.Open;
  /** The name of the last USER (until the login succeeds). */
  user: string | undefined;
  identity: SessionIdentity | undefined;
  /** Set at login: what this session sees of the root. */
  files: SessionFiles | undefined;
  failedLogins = 0;
  /** REST offset for the next RETR, bytes (RFC 3659 §5). */
  rest = 0;
  /** The data channel PASV/EPSV/PORT/EPRT set up, for the next transfer command. */
  data: DataChannel | undefined;
  /** The transfer running now: ABOR, shutdown and a vanished client stop it. */
  transfer: Transfer | undefined;
  fetchLog: FetchLog | undefined;
  /** Ends the running RETR's fetch as cut short (set by cmd-transfer.ts while a RETR runs; idempotent). */
  cutFetch: ((reason: string) => void) | undefined;
  /** ABOR arrived during a transfer (or its wait for the data connection): its reply is 426, ABOR's 226. */
  aborting = false;
  /** EPSV ALL was sent: PASV, PORT and EPRT are refused from now on (RFC 2428 §4). */
  epsvAll = false;
  /** AUTH TLS done: the control socket is a TLSSocket (RFC 4217 §4). */
  secure = false;
  /** PBSZ given after AUTH TLS (RFC 4217 §8), bytes. */
  pbsz: number | undefined;
  /** Why the session ended, for the log. */
  endReason: string | undefined;
  busy = false;
  readonly #reader: LineReader;
  #queue: LineItem[] | undefined;
  #queuedBytes = 0;
  #throttled = false;
  #timer: NodeJS.Timeout;
  /** Data sockets of this session not yet closed (closed at its end). */
  #dataSockets: Set<net.Socket> | undefined;

  constructor(readonly ctx: ServerContext, socket: net.Socket, private readonly dispatch: Dispatcher) {
    this.socket = socket;
    this.address = plainIp(socket.remoteAddress);
    this.log = new SessionLog(ctx.rootLogger, this.id, this.address);
    this.#reader = new LineReader(ctx.opts.maxLine);
    const { loginMs, idleMs } = ctx.opts;
    this.#timer = setTimeout(() => this.#onTimer(), Math.min(loginMs, idleMs));
    this.#timer.unref();
    this.#attach(socket);
    socket.once('end', onSocketEnd);
    socket.once('close', onSocketClose);
  }

  #attach(socket: net.Socket): void {
    (socket as SessionSocket)[SESSION] = this;
    socket.on('error', onSocketError);
    socket.on('data', onSocketData);
  }

  /** Sends one reply (one write): a line from reply.ts replyLine() or multiLineReply(). */
  send(text: string): void {
    if (this.link === LinkState.Gone || this.socket.destroyed) return;
    this.socket.write(text);
  }

  /** Sends `text` and resolves once it is handed to the kernel (or the socket is gone). */
  sendAndFlush(text: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.link === LinkState.Gone || this.socket.destroyed) resolve();
      else this.socket.write(text, () => resolve());
    });
  }

  /**
   * Logs a path the jail refused for a reason worth a line (a symlink out of the root, a hidden entry: JailError's
   * `refusal`); a plain missing file is not logged. Returns undefined, so a handler can use it in `.catch()`.
   */
  noteRefusal(command: string, arg: string, err: unknown): undefined {
    if (err instanceof JailError && err.refusal) this.log.refused(command, arg, err.refusal);
    return undefined;
  }

  /** Tells the session log and FtpHooks.onEvent (events.ts). */
  emit(e: SessionEvent, detail?: LogDetail): void {
    notify(this, e, detail);
  }

  /** The login succeeded: from now on the idle timer runs (refreshed by commands and transfer progress). */
  loggedIn(identity: SessionIdentity, files: SessionFiles): void {
    this.login = LoginState.LoggedIn;
    this.identity = identity;
    this.files = files;
    this.user = undefined;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#onTimer(), this.ctx.opts.idleMs);
    this.#timer.unref();
  }

  /** Restarts the idle time (a command arrived or ended, a transfer moved bytes). */
  touch(): void {
    if (this.login === LoginState.LoggedIn && this.link !== LinkState.Gone) this.#timer.refresh();
  }

  /**
   * Swaps the control socket for `next` (AUTH TLS): the line reader and the queue start afresh (RFC 4217 §4: what
   * the client sent in the clear after AUTH is dropped); 'close' stays on the plain socket, which closes with it.
   */
  swapSocket(next: net.Socket): void {
    this.socket.off('data', onSocketData);
    this.socket.off('end', onSocketEnd);
    this.#reader.reset();
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.socket = next;
    this.#attach(next);
    next.once('end', onSocketEnd);
  }

  /** Bytes from the client: complete lines are queued and run in order. */
  onData(chunk: Buffer): void {
    if (this.link >= LinkState.Ending) return;
    this.#reader.push(chunk, (item) => this.#onLine(item));
    this.pump();
  }

  #onLine(item: LineItem): void {
    if (this.link >= LinkState.Ending) return;
    // ABOR during a transfer or its wait for the data connection (RFC 959 §4.1.3): stop it now; ABOR is answered
    // right after the command's 426.
    if (this.busy && typeof item === 'string' && item.length < 16 && /^\s*ABOR\s*$/i.test(item)
        && (this.transfer || this.data?.abortWait())) {
      this.aborting = true;
      this.transfer?.destroy(new Error('Transfer aborted'));
      (this.#queue ??= []).unshift(item);
      return;
    }
    // Idle time runs from the last complete command line, not the last byte: a client trickling a line that never
    // ends (slowloris) is idle.
    this.touch();
    (this.#queue ??= []).push(item);
    this.#queuedBytes += typeof item === 'string' ? item.length : 0;
    if (this.#queue.length >= MAX_QUEUED_COMMANDS || this.#queuedBytes >= MAX_QUEUED_BYTES) {
      this.#throttled = true;
      this.socket.pause();
    }
  }

  /** Runs the next queued command if none is running. */
  pump(): void {
    if (this.busy || this.link >= LinkState.Ending) return;
    if (this.ctx.closing) {
      this.endReason ??= 'server shutdown';
      this.close('421 Server shutting down');
      return;
    }
    const item = this.#queue?.shift();
    if (item === undefined) {
      this.#queue = undefined;
      if (this.link === LinkState.PeerEnded) {
        this.endReason ??= 'client closed';
        this.close();
      }
      return;
    }
    if (typeof item === 'string') this.#queuedBytes -= item.length;
    if (this.#throttled && this.#queue!.length < MAX_QUEUED_COMMANDS / 2 && this.#queuedBytes < MAX_QUEUED_BYTES / 2) {
      this.#throttled = false;
      this.socket.resume();
    }
    this.busy = true;
    this.dispatch(this, item).then(this.#afterCommand, this.#afterCommand);
  }

  readonly #afterCommand = (): void => {
    this.busy = false;
    this.touch();
    this.pump();
  };

  /** The client sent FIN: answer what is queued, then close; during a transfer it is a client that left. */
  onPeerEnd(): void {
    if (this.link !== LinkState.Open) return;
    this.link = LinkState.PeerEnded;
    if (this.transfer) {
      this.endReason ??= 'client closed';
      this.transfer.destroy(new Error('control connection closed'));
      this.close();
      return;
    }
    this.pump();
  }

  #onTimer(): void {
    if (this.link === LinkState.Gone) return;
    const { loginMs, idleMs } = this.ctx.opts;
    if (this.login !== LoginState.LoggedIn && loginMs <= idleMs) {
      this.endReason = 'login timeout';
      this.close('421 Login timeout, closing control connection');
      return;
    }
    this.endReason = 'idle timeout';
    this.close('421 Idle timeout, closing control connection');
  }

  /**
   * Sends a last line (if any) and closes the control connection; nothing further is read or run. With
   * `finalReply` (a full reply, e.g. QUIT's 221) the socket is destroyed as soon as that reply is flushed instead
   * of waiting for the client's FIN.
   */
  close(lastLine?: string, finalReply?: string): void {
    if (this.link >= LinkState.Ending) return;
    this.link = LinkState.Ending;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    if (finalReply === undefined) {
      endSocket(this.socket, lastLine);
      return;
    }
    const socket = this.socket;
    socket.end(finalReply, () => socket.destroy());
  }

  /**
   * Tracks a data socket of this session (closed with it) and sets TCP_NODELAY on it (the last short segment of a
   * file leaves at once). No keep-alive on data connections: probes are only sent on a connection with nothing
   * unacknowledged (RFC 1122 §4.2.3.6), which a stalled transfer never is; the control connection's idle timer
   * bounds a transfer that stops moving.
   */
  trackDataSocket(d: net.Socket): void {
    const set = (this.#dataSockets ??= new Set());
    if (set.has(d)) return;
    if (!d.destroyed) d.setNoDelay(true);
    d.on('error', onSocketError);
    set.add(d);
    d.once('close', () => set.delete(d));
  }

  /** Destroys every data socket now (server shutdown deadline). */
  destroyDataSockets(): void {
    for (const d of this.#dataSockets ?? []) d.destroy();
  }

  /** The control connection closed: end the fetch and the log, release everything the session held. */
  detach(): void {
    if (this.link === LinkState.Gone) return;
    this.link = LinkState.Gone;
    clearTimeout(this.#timer);
    this.#queue = undefined;
    const transferring = this.transfer !== undefined;
    this.cutFetch?.('control connection closed');
    this.transfer?.destroy(new Error('control connection closed'));
    this.data?.end();
    this.data = undefined;
    for (const d of this.#dataSockets ?? []) {
      if (transferring) {
        d.destroy(); // the device is gone: stop sending
        continue;
      }
      // A data socket still flushing a completed transfer may finish; one that never drains is destroyed later.
      const t = setTimeout(() => d.destroy(), this.ctx.opts.idleMs);
      t.unref();
      d.once('close', () => clearTimeout(t));
    }
    const reason = this.endReason ?? 'client closed';
    this.emit({ type: 'disconnect', sessionId: this.id, address: this.address, login: this.identity?.login, at: Date.now() }, { reason });
    this.ctx.onSessionGone();
  }
}
