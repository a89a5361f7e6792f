/**
 * Access control commands (RFC 959 §4.1.1): USER, PASS, QUIT. Logins are decided by FtpHooks.authenticate when
 * set, else by the configured accounts (../users.ts); every failure counts in the per-address login throttle
 * (../login-throttle.ts) and a connection is closed after MAX_LOGIN_FAILURES.
 */
import { checkLogin } from '../users.ts';
import type { CommandSpec } from './command-spec.ts';
import { LoginState, type Session } from './control.ts';
import { SessionFiles } from './files.ts';
import type { SessionIdentity } from './hooks.ts';
import { replyLine } from './reply.ts';

/** Failed logins on one connection before it is closed (421), as vsftpd's max_login_fails (default 3). */
export const MAX_LOGIN_FAILURES = 3;

/**
 * USER <name> (RFC 959 §4.1.1). A new USER replaces the previous one until a login succeeds; after it,
 * `230` (already logged in).
 */
function user(s: Session, arg: string): void {
  if (s.login === LoginState.LoggedIn) {
    s.send(replyLine(230, 'User logged in, proceed'));
    return;
  }
  s.user = arg;
  s.login = LoginState.NeedPass;
  s.send(replyLine(331, 'Username okay, awaiting password'));
}

/** The identity for a USER/PASS pair, or null: FtpHooks.authenticate when set, else the configured accounts. */
async function decide(s: Session, name: string, pass: string): Promise<{ identity: SessionIdentity; anonymous: boolean } | null> {
  const { hooks, opts } = s.ctx;
  if (hooks.authenticate) {
    const identity = await hooks.authenticate(name, pass, s.address);
    return identity ? { identity, anonymous: false } : null;
  }
  const who = checkLogin({ users: opts.users, anonymous: opts.anonymous }, name, pass);
  return who ? { identity: { login: who.user, kind: 'shared' }, anonymous: who.anonymous } : null;
}

/**
 * PASS <password> (RFC 959 §4.1.1): 230 and the session's view of the root, or 530 after the throttle's delay
 * (0.5 s for an address's first failures, then doubling: only the failing connection waits, devices behind the
 * same carrier NAT log in at full speed). 503 without USER, 202 when already logged in.
 */
async function pass(s: Session, arg: string): Promise<void> {
  if (s.login === LoginState.LoggedIn) return s.send(replyLine(202, 'Already logged in'));
  const name = s.user;
  if (s.login !== LoginState.NeedPass || name === undefined) return s.send(replyLine(503, 'Login with USER first'));
  if (!arg) return s.send(replyLine(501, 'Must provide password'));
  const { ctx } = s;
  let who: Awaited<ReturnType<typeof decide>> = null;
  try {
    who = await decide(s, name, arg);
  } catch (err) {
    ctx.log.error({ err: (err as Error)?.message }, 'FtpHooks.authenticate failed');
  }
  if (who) {
    ctx.throttle.succeeded(s.address);
    const { identity } = who;
    const offerFor = ctx.hooks.offerFor;
    const files = new SessionFiles(ctx.files, s.address, offerFor ? () => offerFor(identity) : undefined);
    s.loggedIn(identity, files);
    s.send(replyLine(230, 'User logged in, proceed')); // first: the log line and the hooks' bookkeeping follow it
    s.emit({ type: 'login', sessionId: s.id, address: s.address, login: identity.login, kind: identity.kind, at: Date.now() },
      { anonymous: who.anonymous });
    return;
  }
  s.failedLogins++; // USER stays: the client may send PASS again (as vsftpd allows)
  const delayMs = ctx.throttle.failed(s.address);
  s.emit({ type: 'login-failed', sessionId: s.id, address: s.address, user: name, at: Date.now() },
    { throttle: { failures: ctx.throttle.failures(s.address), delayMs } });
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
  s.send(replyLine(530, 'Login incorrect'));
  if (s.failedLogins >= MAX_LOGIN_FAILURES) {
    s.endReason = 'too many failed logins';
    s.close('421 Too many failed logins');
  }
}

/**
 * QUIT (RFC 959 §4.1.1): 221, then the control connection is closed. The socket is closed outright once the 221 is
 * flushed (FIN right behind it, as vsftpd does), not half-closed: the client need not answer with its own FIN
 * before it sees the end, which saves it a round trip.
 */
function quit(s: Session): void {
  s.endReason = 'quit';
  s.close(undefined, replyLine(221, 'Goodbye'));
}

/** USER, PASS, QUIT. */
export const LOGIN_COMMANDS: readonly CommandSpec[] = [
  { name: 'USER', needsLogin: false, argument: 'required', help: 'USER <name>: user name', handler: user },
  { name: 'PASS', needsLogin: false, argument: 'optional', help: 'PASS <password>: password', handler: pass },
  { name: 'QUIT', needsLogin: false, argument: 'optional', help: 'QUIT: log out and close the connection', handler: quit },
];
