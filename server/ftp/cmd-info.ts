/**
 * Informational and navigation commands: SIZE, MDTM (RFC 3659 §3, §4), MLST (RFC 3659 §7), STAT, CWD, PWD, CDUP,
 * SYST, NOOP (RFC 959 §4.1), CLNT (sent by ncftp and FileZilla; answered 200 as pure-ftpd and proftpd do), OPTS
 * (RFC 2389 §4), and the FEAT (RFC 2389 §3) and HELP (RFC 959 §4.1.3) replies
 * built from the command table.
 */
import type { CommandSpec } from './command-spec.ts';
import type { Session } from './control.ts';
import { ReplyError } from './errors.ts';
import { formatFacts, formatListLine, MLST_FACTS, timeVal } from './list-format.ts';
import { multiLineReply, quotePath, replyLine } from './reply.ts';
import type { FileInfo } from './files.ts';
import { MSG_NOT_FOUND } from '../jail.ts';

/** A visible regular file's info, or ReplyError 550 (SIZE and MDTM answer only for files: RFC 3659 §4.2). */
async function regularFile(s: Session, arg: string, command: string): Promise<FileInfo> {
  const info = await s.files!.stat(arg).catch((e: unknown) => s.noteRefusal(command, arg, e));
  if (!info?.stat.isFile()) throw new ReplyError(550, MSG_NOT_FOUND);
  return info;
}

/** SIZE <path> (RFC 3659 §4): `213 <bytes>`, the size RETR sends (the offered snapshot's for an offered name). */
async function size(s: Session, arg: string): Promise<void> {
  s.send(replyLine(213, String((await regularFile(s, arg, 'SIZE')).stat.size)));
}

/** MDTM <path> (RFC 3659 §3): `213 YYYYMMDDHHMMSS` in UTC. */
async function mdtm(s: Session, arg: string): Promise<void> {
  s.send(replyLine(213, timeVal((await regularFile(s, arg, 'MDTM')).stat.mtime)));
}

/** MLST [<path>] (RFC 3659 §7.2): the facts of one entry on the control connection, between `250-` and `250 End`. */
async function mlst(s: Session, arg: string): Promise<void> {
  const info = await s.files!.stat(arg).catch((e: unknown) => s.noteRefusal('MLST', arg, e));
  if (!info) throw new ReplyError(550, MSG_NOT_FOUND);
  const entry = { name: info.virtual, size: info.stat.size, mtime: info.stat.mtime, isDirectory: () => info.stat.isDirectory() };
  s.send(multiLineReply(250, `Listing ${info.virtual}`, [` ${formatFacts(entry)}`], 'End'));
}

/**
 * STAT [<path>] (RFC 959 §4.1.3): without a path the session's status (211); with one, its listing on the control
 * connection (213 for a folder, 212 for a file), `ls -l` lines as LIST sends them.
 */
async function stat(s: Session, arg: string): Promise<void> {
  if (!arg) {
    const lines = [`Connected from ${s.address}`, `Logged in as ${s.identity?.login ?? ''}`, 'TYPE: BINARY, STRU: File, MODE: Stream'];
    return s.send(multiLineReply(211, 'FTP server status:', lines, 'End of status'));
  }
  let list: FileInfo[];
  let isDir: boolean;
  try {
    isDir = (await s.files!.stat(arg)).stat.isDirectory();
    list = await s.files!.list(arg);
  } catch {
    throw new ReplyError(450, MSG_NOT_FOUND);
  }
  const now = new Date();
  const lines = list.map((e) => formatListLine({ name: e.name, size: e.stat.size, mtime: e.stat.mtime, isDirectory: () => e.stat.isDirectory() }, now));
  s.send(multiLineReply(isDir ? 213 : 212, 'Status begin', lines, 'Status end'));
}

/** CWD <path> (RFC 959 §4.1.1): `250 "<folder>"`; `/.gprs` is the root under the GPRS library's name. */
async function cwd(s: Session, arg: string): Promise<void> {
  const dir = await s.files!.chdir(arg);
  s.send(replyLine(250, `${quotePath(dir)} is the current directory`));
}

/** PWD (RFC 959 §4.1.3, Appendix II): `257 "<folder>" is the current directory`. */
function pwd(s: Session): void {
  s.send(replyLine(257, `${quotePath(s.files!.cwd)} is the current directory`));
}

/** OPTS UTF8 ON|OFF (RFC 2640 §3.1: names are UTF-8 anyway) and OPTS MLST <facts> (RFC 3659 §7.9: all are sent). */
function opts(s: Session, arg: string): void {
  const [option = '', setting = ''] = arg.trim().split(/\s+/);
  const o = option.toUpperCase();
  if (o === 'UTF8' || o === 'UTF-8') {
    if (!/^(ON|OFF)$/i.test(setting)) throw new ReplyError(501, 'Unknown setting for option');
    return s.send(replyLine(200, `UTF8 encoding ${setting.toLowerCase()}`));
  }
  if (o === 'MLST') return s.send(replyLine(200, `MLST OPTS ${MLST_FACTS.join(';')};`));
  throw new ReplyError(501, 'Unknown option command');
}

/** The FEAT reply (RFC 2389 §3.2): the `feat` line of each table entry, sorted; TLS lines only with TLS. */
export function featReply(table: Iterable<CommandSpec>, withTls: boolean): string {
  const plain: string[] = [];
  const secure: string[] = [];
  for (const c of table) {
    if (!c.feat) continue;
    if (c.tlsOnly) {
      if (withTls) secure.push(c.feat);
    } else plain.push(c.feat);
  }
  return multiLineReply(211, 'Extensions supported', [...plain.sort(), ...secure], 'End');
}

/**
 * The HELP reply (RFC 959 §4.1.3): without a topic the commands the table offers (refused write commands left
 * out), eight per line; with one, its syntax line (214), or 502 for a command not offered.
 */
export function helpReply(table: ReadonlyMap<string, CommandSpec>, topic: string): string {
  const t = topic.trim().toUpperCase();
  // HELP SITE asks which SITE commands exist (ncftp sends it at login): none on a read-only server.
  if (t === 'SITE') return replyLine(214, 'No SITE commands are available');
  if (t) {
    const c = table.get(t);
    return c && !c.refused ? replyLine(214, `Syntax: ${c.help}`) : replyLine(502, 'Command not implemented');
  }
  const names = [...table.values()].filter((c) => !c.refused).map((c) => c.name).sort();
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 8) lines.push(names.slice(i, i + 8).join(' '));
  return multiLineReply(214, 'Commands recognized:', lines, 'Help OK');
}

const cdup = (s: Session) => cwd(s, '..');

/** SIZE, MDTM, MLST, STAT, CWD, XCWD, CDUP, XCUP, PWD, XPWD, SYST, NOOP, CLNT, OPTS (FEAT and HELP: commands.ts). */
export const INFO_COMMANDS: readonly CommandSpec[] = [
  { name: 'SIZE', needsLogin: true, argument: 'required', path: true, feat: 'SIZE', help: 'SIZE <path>: file size in bytes', handler: size },
  { name: 'MDTM', needsLogin: true, argument: 'required', path: true, feat: 'MDTM', help: 'MDTM <path>: modification time (UTC)', handler: mdtm },
  { name: 'MLST', needsLogin: true, argument: 'optional', path: true, feat: `MLST ${MLST_FACTS.map((f) => `${f}*;`).join('')}`, help: 'MLST [<path>]: facts of one entry', handler: mlst },
  { name: 'STAT', needsLogin: true, argument: 'optional', path: true, flags: true, help: 'STAT [<path>]: status, or a listing on the control connection', handler: stat },
  { name: 'CWD', needsLogin: true, argument: 'required', path: true, help: 'CWD <path>: change folder', handler: cwd },
  { name: 'XCWD', needsLogin: true, argument: 'required', path: true, help: 'XCWD <path>: change folder (RFC 775)', handler: cwd },
  { name: 'CDUP', needsLogin: true, argument: 'none', help: 'CDUP: parent folder', handler: cdup },
  { name: 'XCUP', needsLogin: true, argument: 'none', help: 'XCUP: parent folder (RFC 775)', handler: cdup },
  { name: 'PWD', needsLogin: true, argument: 'none', help: 'PWD: current folder', handler: pwd },
  { name: 'XPWD', needsLogin: true, argument: 'none', help: 'XPWD: current folder (RFC 775)', handler: pwd },
  { name: 'SYST', needsLogin: false, argument: 'none', help: 'SYST: system type', handler: (s) => s.send(replyLine(215, 'UNIX Type: L8')) },
  { name: 'NOOP', needsLogin: false, argument: 'none', help: 'NOOP: no operation', handler: (s) => s.send(replyLine(200, 'NOOP ok')) },
  { name: 'CLNT', needsLogin: false, argument: 'optional', help: 'CLNT <client name>: the client says what it is', handler: (s) => s.send(replyLine(200, 'Noted')) },
  { name: 'OPTS', needsLogin: true, argument: 'required', feat: 'UTF8', help: 'OPTS UTF8 ON|OFF, OPTS MLST <facts>', handler: opts },
];
