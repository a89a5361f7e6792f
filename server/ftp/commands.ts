/**
 * The command table and its one pre-dispatch step, in the manner of pyftpdlib's `proto_cmds` and
 * `pre_process_command()` (pyftpdlib/handlers.py): every command line goes through dispatch(), which answers
 * - 500 for a line over the length limit, with control characters (a CR or NUL could forge reply lines), or with a
 *   verb the table does not have (RFC 959 §5.4: 500 "Syntax error, command unrecognized");
 * - 530 before login for a command that needs it (RFC 959 §5.4);
 * - 501 for a missing or unexpected argument (RFC 959 §5.4);
 * - 550 "Permission denied" for the write commands of a read-only server (the reply vsftpd gives with
 *   write_enable=NO), and 550 "No such file or directory" for a path the jail hides (`.firmdrop/…`);
 * and only then calls the handler. A handler answers with Session.send() or throws ReplyError; any other throw is
 * answered 451 and logged, so every command gets exactly one reply. FEAT and HELP are built from the table.
 */
import { Jail, JailError, MSG_DENIED, MSG_NOT_FOUND } from '../jail.ts';
import type { CommandSpec } from './command-spec.ts';
import { DATA_CHANNEL_COMMANDS, endData } from './cmd-data-channel.ts';
import { featReply, helpReply, INFO_COMMANDS } from './cmd-info.ts';
import { LOGIN_COMMANDS } from './cmd-login.ts';
import { TLS_COMMANDS } from './cmd-tls.ts';
import { TRANSFER_COMMANDS } from './cmd-transfer.ts';
import { LoginState, type Session } from './control.ts';
import { ReplyError } from './errors.ts';
import { TOO_LONG, type LineItem } from './line-reader.ts';
import { replyLine } from './reply.ts';

/** Commands that would change the root (RFC 959 §4.1.3, RFC 775): refused with 550 once logged in. */
export const WRITE_COMMANDS: readonly string[] = ['STOR', 'APPE', 'STOU', 'DELE', 'RNFR', 'RNTO', 'MKD', 'XMKD', 'RMD', 'XRMD', 'SITE'];

const refuse = (): never => {
  throw new ReplyError(550, MSG_DENIED);
};

/** Every command firmdrop knows, by verb. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = (() => {
  const table = new Map<string, CommandSpec>();
  const add = (c: CommandSpec) => table.set(c.name, c);
  for (const list of [LOGIN_COMMANDS, DATA_CHANNEL_COMMANDS, TRANSFER_COMMANDS, INFO_COMMANDS, TLS_COMMANDS]) list.forEach(add);
  for (const name of WRITE_COMMANDS) {
    add({ name, needsLogin: true, argument: 'optional', refused: true, help: `${name}: refused (read-only server)`, handler: refuse });
  }
  add({ name: 'FEAT', needsLogin: false, argument: 'none', help: 'FEAT: list the extensions', handler: (s) => s.send(featReply(table.values(), s.ctx.opts.tls)) });
  add({ name: 'HELP', needsLogin: false, argument: 'optional', help: 'HELP [<command>]: list commands, or one command\'s syntax', handler: (s, a) => s.send(helpReply(table, a)) });
  return table;
})();

/** Control characters have no place in a command line (RFC 959 §4.1: Telnet strings); HT is tolerated as a space. */
const CONTROL_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/;
const FLAG_WORDS = /^(?:-\w+\s*)+/;

/** The argument a handler sees: `path` drops double quotes (some clients quote names with spaces), `flags` `-x` words. */
function cleanArg(c: CommandSpec, arg: string): string {
  let a = arg;
  if (c.flags) a = a.replace(FLAG_WORDS, '');
  if (c.path && a.includes('"')) a = a.replace(/"/g, '');
  return a;
}

/**
 * Checks the table's rules for `c` with argument `arg`; throws ReplyError with the reply when one is broken.
 * Order: 530 (login), 550 (refused write command), 501 (argument), 550 (hidden path).
 */
export function preDispatch(s: Session, c: CommandSpec, arg: string): void {
  if (c.needsLogin && s.login !== LoginState.LoggedIn) throw new ReplyError(530, 'Please login with USER and PASS');
  if (c.refused) {
    s.log.refused(c.name, arg, 'read-only server');
    throw new ReplyError(550, MSG_DENIED);
  }
  const has = arg.trim() !== '';
  if (c.argument === 'required' && !has) throw new ReplyError(501, `Syntax error: ${c.name} needs an argument`);
  if (c.argument === 'none' && has) throw new ReplyError(501, `Syntax error: ${c.name} takes no argument`);
  if (c.path && s.files && Jail.isHiddenPath(s.files.virtualPath(arg))) {
    s.log.refused(c.name, arg, 'hidden path');
    throw new ReplyError(550, MSG_NOT_FOUND);
  }
}

/** Runs one command line on session `s` (see the module comment). Never rejects. */
export async function dispatch(s: Session, item: LineItem): Promise<void> {
  if (item === TOO_LONG) return s.send(replyLine(500, 'Command line too long'));
  // Never echo client bytes that could break reply framing.
  if (CONTROL_CHARS.test(item)) return s.send(replyLine(500, 'Syntax error in command line'));
  const line = item.charCodeAt(0) === 0x20 ? item.trimStart() : item;
  const sp = line.indexOf(' ');
  const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  const c = COMMANDS.get(verb);
  if (!c) return s.send(replyLine(500, 'Command not understood'));
  try {
    const arg = cleanArg(c, sp < 0 ? '' : line.slice(sp + 1));
    preDispatch(s, c, arg);
    await c.handler(s, arg);
  } catch (err) {
    if (c.usesData) {
      s.rest = 0;
      endData(s);
    }
    if (err instanceof ReplyError) s.send(replyLine(err.code, err.text));
    else if (err instanceof JailError) {
      s.noteRefusal(verb, line.slice(sp + 1), err);
      s.send(replyLine(550, err.message));
    }
    else {
      s.log.log.warn({ command: verb, err: (err as Error)?.message }, 'command failed');
      s.send(replyLine(451, 'Requested action aborted: local error in processing'));
    }
  }
}
