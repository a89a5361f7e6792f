/** The shape of one entry of the command table (commands.ts), in the manner of pyftpdlib's `proto_cmds`. */
import type { Session } from './control.ts';

/** One FTP command: its policy (checked once, before the handler, by commands.ts dispatch()) and its handler. */
export interface CommandSpec {
  /** The verb, upper case (`RETR`). */
  name: string;
  /** Refused with 530 before login (RFC 959 §5.4: 530 "Not logged in"). */
  needsLogin: boolean;
  /** `required`: 501 without one; `none`: 501 with one; `optional`: either (RFC 959 §5.4: 501 "Syntax error in parameters"). */
  argument: 'required' | 'optional' | 'none';
  /** Syntax and purpose for HELP (RFC 959 §4.1.3), e.g. `RETR <path>: download a file`. */
  help: string;
  /** The argument is a path: double quotes are removed, and a hidden path (`.firmdrop/…`) gets 550 before the handler. */
  path?: boolean;
  /** Leading `-x` words of the argument are options (`LIST -la`), dropped before the handler sees it. */
  flags?: boolean;
  /** The line FEAT lists for this command (RFC 2389 §3.2), if any. */
  feat?: string;
  /** Only offered when TLS is configured (FEAT lists it only then). */
  tlsOnly?: boolean;
  /** A write command of a read-only server: 550 "Permission denied" once logged in; HELP does not list it. */
  refused?: boolean;
  /** Uses the data channel: a failure before the handler also clears REST and closes the channel (RFC 959 §4.1.3). */
  usesData?: boolean;
  /**
   * Runs the command: sends its replies through `s.send()` or throws ReplyError (→ its reply). `arg` is what follows
   * the verb and one space ('' when nothing), after the `path`/`flags` treatment.
   */
  handler(s: Session, arg: string): void | Promise<void>;
}
