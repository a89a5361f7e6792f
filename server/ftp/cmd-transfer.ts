/**
 * Transfer commands (RFC 959 §4.1.2, §4.1.3; RFC 3659 §5, §7): RETR, LIST, NLST, MLSD, REST, ABOR, and the
 * transfer parameters TYPE, MODE, STRU, ALLO. Every transfer is sent as RFC 959 orders it: 150, the bytes, the
 * data connection closed, then 226, the order vsftpd uses, so a modem that waits for the data socket's close sees
 * every byte first. A data connection that closes or fails first, or ABOR, gives 426; a local read error 451.
 */
import type net from 'node:net';
import { finished } from 'node:stream/promises';
import type { CommandSpec } from './command-spec.ts';
import { endData } from './cmd-data-channel.ts';
import type { Session } from './control.ts';
import { DataWaitError } from './data-wait.ts';
import { ReplyError } from './errors.ts';
import { MANIFEST_PATH, type Opened, type RetrSource } from './files.ts';
import { formatFacts, formatListLine } from './list-format.ts';
import { replyLine } from './reply.ts';
import { sendBytes, TransferError, type TransferSource } from './transfer.ts';

const REPLY_150 = replyLine(150, 'File status okay; about to open data connection');
const REPLY_426 = replyLine(426, 'Connection closed; transfer aborted');
const REPLY_451 = replyLine(451, 'Requested action aborted: local error in processing');

/**
 * Waits for the data connection (passiveWaitMs at most). Undefined after answering: 426 when ABOR gave up the
 * wait, 425 when it never came or failed. @throws ReplyError 425 when no PASV/EPSV/PORT/EPRT came first
 */
async function dataConnection(s: Session): Promise<net.Socket | undefined> {
  const channel = s.data;
  if (!channel) throw new ReplyError(425, 'Use PASV, EPSV, PORT or EPRT first');
  try {
    return await channel.connection(s.ctx.opts.passiveWaitMs);
  } catch (err) {
    endData(s);
    if (s.aborting || (err instanceof DataWaitError && err.aborted)) s.send(REPLY_426);
    else s.send(replyLine(425, 'No connection established'));
    return undefined;
  }
}

/**
 * Sends `src` on `data` (150 … 226 `okText`). On success the data connection is closed first (FIN handed to the
 * kernel) and 226 follows, as vsftpd and pyftpdlib order it (RFC 959 §4.2: 226 "Closing data connection"); on a
 * failure 426 or 451 follows the data connection's destruction. `onEnd(bytes, failure)` runs right after that final
 * reply (the session log and the hooks' bookkeeping do not delay it). The idle timer is refreshed as bytes move: a
 * slow device is never idle while its transfer progresses.
 */
async function sendOnData(s: Session, data: net.Socket, src: TransferSource, okText: string,
                          onEnd?: (bytes: number, failure?: TransferError) => void, onBytes?: (n: number) => void): Promise<void> {
  s.trackDataSocket(data);
  s.send(REPLY_150); // before the first byte (RFC 959 §5.4: the preliminary reply precedes the transfer)
  let bytes = 0;
  const transfer = sendBytes(data, src, (n) => {
    bytes += n;
    onBytes?.(n);
    s.touch();
  });
  s.transfer = transfer;
  s.ctx.counters.transfers++;
  let failure: TransferError | undefined;
  try {
    await transfer.done;
  } catch (err) {
    failure = err instanceof TransferError ? err : new TransferError(String((err as Error)?.message ?? err), false);
  } finally {
    if (s.transfer === transfer) s.transfer = undefined;
    s.ctx.counters.transfers--;
  }
  if (failure) {
    transfer.destroy();
    data.destroy();
    endData(s);
    s.send(failure.local ? REPLY_451 : REPLY_426);
    onEnd?.(bytes, failure);
    return;
  }
  // FIN sent ('finish'), or the socket gone first (then finished() rejects: the bytes were already handed over).
  const closed = finished(data, { readable: false }).catch(() => undefined);
  endData(s); // data.end(): FIN once every byte is flushed
  if (!data.writableEnded && !data.destroyed) data.end(() => data.destroy()); // a channel already let go of it
  await closed;
  s.send(replyLine(226, okText));
  onEnd?.(bytes);
}

/** A RETR's name in events: as UPGRADE.TXT's FILE: names it (no leading `/`). */
function fetchName(src: RetrSource): string {
  return src.release?.name ?? src.file.replace(/^\//, '');
}

/**
 * Records a binary's RETR in FtpOptions.transfers while it runs (UPGRADE.TXT, a few hundred bytes in one write, is
 * not); returns what counts its bytes and ends the record, or undefined when nothing records.
 */
function recordRunning(s: Session, src: RetrSource): { add(n: number): void; end(): void } | undefined {
  const recorder = s.ctx.transfers;
  if (!recorder || src.file === MANIFEST_PATH) return undefined;
  let sent = 0;
  recorder.start(s.id, {
    login: s.identity?.login ?? '', name: fetchName(src), version: src.release?.version, offset: src.offset, size: src.size,
    sent: () => sent,
  });
  return { add: (n) => { sent += n; }, end: () => recorder.end(s.id) };
}

/** Emits fetch-start now and returns the once-only fetch-end (also used by Session.detach() to cut it short). */
function trackFetch(s: Session, src: RetrSource): (bytes: number, outcome: 'completed' | 'cut-short' | 'failed', reason?: string) => void {
  // `version` only when a published snapshot is served.
  const name = fetchName(src);
  const base = { sessionId: s.id, address: s.address, login: s.identity?.login ?? '', name, version: src.release?.version, offset: src.offset, size: src.size };
  const startedAt = Date.now();
  const logged = { path: src.file, logOnly: src.file === MANIFEST_PATH };
  s.emit({ type: 'fetch-start', ...base, at: startedAt }, logged);
  let sent = 0;
  let ended = false;
  const end = (bytes: number, outcome: 'completed' | 'cut-short' | 'failed', reason?: string) => {
    if (ended) return;
    ended = true;
    if (s.cutFetch === cut) s.cutFetch = undefined;
    const at = Date.now();
    s.emit({ type: 'fetch-end', ...base, bytes, outcome, ms: at - startedAt, at }, { ...logged, reason });
  };
  const cut = (reason: string) => end(sent, 'cut-short', reason);
  s.cutFetch = cut;
  return (bytes, outcome, reason) => {
    sent = bytes;
    end(bytes, outcome, reason);
  };
}

/**
 * RETR <path> (RFC 959 §4.1.3) from the REST offset. A missing file is answered 550 before any data connection is
 * used; the file opened then is the one sent (no second lookup, no window for a swap).
 */
async function retr(s: Session, arg: string): Promise<void> {
  const files = s.files!;
  const rest = s.rest;
  s.rest = 0;
  let opened: Opened;
  try {
    opened = await files.open(arg);
  } catch (e) {
    s.noteRefusal('RETR', arg, e);
    endData(s);
    throw new ReplyError(550, 'No such file or directory');
  }
  let data: net.Socket | undefined;
  try {
    data = await dataConnection(s);
  } finally {
    if (!data) files.close(opened);
  }
  if (!data) return;
  const src = files.source(opened, rest);
  const fetchEnd = trackFetch(s, src);
  const running = recordRunning(s, src);
  await sendOnData(s, data, src, src.file, (bytes, failure) => {
    running?.end();
    if (!failure) fetchEnd(bytes, 'completed');
    else fetchEnd(bytes, failure.local ? 'failed' : 'cut-short', failure.message);
    if (!failure && 'manifest' in opened && opened.manifest) {
      s.emit({
        type: 'manifest-read', sessionId: s.id, address: s.address, login: s.identity?.login ?? '',
        file: opened.names?.name ?? 'NO_FILE', version: opened.names?.version ?? 0, at: Date.now(),
      });
    }
  }, running?.add);
}

/**
 * LIST, NLST (RFC 959 §4.1.3) and MLSD (RFC 3659 §7): the entries of a folder (or the one entry of a file) as
 * `ls -l` lines devices parse (the 5th field is the size), bare names, or RFC 3659 facts. A path that cannot be
 * listed gives 451 (LIST, NLST) or 550 (MLSD), with a generic message.
 */
async function listing(s: Session, arg: string, form: 'LIST' | 'NLST' | 'MLSD'): Promise<void> {
  const data = await dataConnection(s);
  if (!data) return;
  let text = '';
  try {
    const files = s.files!;
    if (form === 'MLSD') {
      const dir = await files.stat(arg);
      if (!dir.stat.isDirectory()) throw new ReplyError(501, 'Not a directory: use MLST');
    }
    const now = new Date();
    for (const e of await files.list(arg)) {
      const entry = { name: e.name, size: e.stat.size, mtime: e.stat.mtime, isDirectory: () => e.stat.isDirectory() };
      text += `${form === 'NLST' ? e.name : form === 'MLSD' ? formatFacts(entry) : formatListLine(entry, now)}\r\n`;
    }
  } catch (err) {
    endData(s);
    if (err instanceof ReplyError) throw err;
    throw new ReplyError(form === 'MLSD' ? 550 : 451, 'No such file or directory');
  }
  const bytes = Buffer.from(text, 'utf8');
  await sendOnData(s, data, { offset: 0, size: bytes.length, buffer: bytes }, 'Transfer complete');
}

/** REST <offset> (RFC 3659 §5): digits only (`REST 1.5`, `REST 12abc` refused), up to 2^53 - 1. */
function rest(s: Session, arg: string): void {
  const text = arg.trim();
  const offset = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(offset)) {
    s.rest = 0;
    throw new ReplyError(501, 'Byte count must be a whole number from 0 to 9007199254740991');
  }
  s.rest = offset;
  s.send(replyLine(350, `Restarting next transfer at ${offset}`));
}

/**
 * ABOR (RFC 959 §4.1.3): a running transfer (or its wait for the data connection) was stopped when the line
 * arrived (control.ts); its command answered 426, ABOR answers 226. Otherwise 225.
 */
function abor(s: Session): void {
  endData(s);
  if (s.aborting) {
    s.aborting = false;
    return s.send(replyLine(226, 'Abort successful'));
  }
  s.send(replyLine(225, 'No transfer to abort'));
}

/** TYPE A|I|L8 (RFC 959 §4.1.2): accepted; RETR never converts (the bytes sent are the file's). */
function type(s: Session, arg: string): void {
  const t = arg.trim().toUpperCase();
  if (/^A( N)?[0-9]?$/.test(t)) return s.send(replyLine(200, 'Switch to "ascii" transfer mode.'));
  if (/^(L ?[0-9]?|I)$/.test(t)) return s.send(replyLine(200, 'Switch to "binary" transfer mode.'));
  throw new ReplyError(501, 'Unknown TYPE: use A or I');
}

/** MODE S and STRU F only (RFC 959 §4.1.2, §5.1 minimum implementation). */
function only(want: string) {
  return (s: Session, arg: string): void => {
    if (arg.trim().toUpperCase() !== want) throw new ReplyError(504, 'Command not implemented for that parameter');
    s.send(replyLine(200, `${want} ok`));
  };
}

/** RETR, LIST, NLST, MLSD, REST, ABOR, TYPE, MODE, STRU, ALLO. */
export const TRANSFER_COMMANDS: readonly CommandSpec[] = [
  { name: 'RETR', needsLogin: true, argument: 'required', path: true, usesData: true, help: 'RETR <path>: download a file', handler: retr },
  { name: 'LIST', needsLogin: true, argument: 'optional', path: true, flags: true, usesData: true, help: 'LIST [<path>]: list a folder (ls -l)', handler: (s, a) => listing(s, a, 'LIST') },
  { name: 'NLST', needsLogin: true, argument: 'optional', path: true, flags: true, usesData: true, help: 'NLST [<path>]: list names', handler: (s, a) => listing(s, a, 'NLST') },
  { name: 'MLSD', needsLogin: true, argument: 'optional', path: true, usesData: true, help: 'MLSD [<path>]: list a folder (RFC 3659 facts)', handler: (s, a) => listing(s, a, 'MLSD') },
  { name: 'REST', needsLogin: true, argument: 'required', feat: 'REST STREAM', help: 'REST <offset>: restart the next RETR at a byte offset', handler: rest },
  { name: 'ABOR', needsLogin: true, argument: 'none', help: 'ABOR: abort the transfer', handler: abor },
  { name: 'TYPE', needsLogin: true, argument: 'required', help: 'TYPE A|I: transfer type', handler: type },
  { name: 'MODE', needsLogin: true, argument: 'required', help: 'MODE S: stream mode', handler: only('S') },
  { name: 'STRU', needsLogin: true, argument: 'required', help: 'STRU F: file structure', handler: only('F') },
  { name: 'ALLO', needsLogin: true, argument: 'optional', help: 'ALLO <bytes>: nothing to allocate', handler: (s) => s.send(replyLine(202, 'No storage allocation necessary')) },
];
