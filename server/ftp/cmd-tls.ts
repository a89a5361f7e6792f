/**
 * Explicit FTPS (RFC 4217): AUTH TLS swaps the control socket for a TLS socket (node:tls), PBSZ and PROT set up
 * protected data connections. Passive data connections of a secured session are TLS (passive.ts); PORT/EPRT are
 * refused over TLS (cmd-data-channel.ts).
 */
import tls from 'node:tls';
import type { CommandSpec } from './command-spec.ts';
import type { Session } from './control.ts';
import { ReplyError } from './errors.ts';
import { replyLine } from './reply.ts';

/**
 * AUTH TLS (RFC 4217 §4): `234`, then the TLS handshake on the same connection. The plain socket is paused before
 * the reply so that the ClientHello is read by TLS, never as a command line; what was queued in the clear is
 * dropped (§4). 502 when TLS is not configured, 504 for another mechanism, 503 when already secured.
 */
async function auth(s: Session, arg: string): Promise<void> {
  const mech = arg.trim().toUpperCase();
  if (!s.ctx.secureContext) throw new ReplyError(502, 'TLS is not configured');
  if (mech !== 'TLS' && mech !== 'TLS-C') throw new ReplyError(504, 'Only AUTH TLS is supported');
  if (s.secure) throw new ReplyError(503, 'Already using TLS');
  const plain = s.socket;
  plain.pause();
  await s.sendAndFlush(replyLine(234, 'Honored'));
  if (plain.destroyed) return;
  const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: s.ctx.secureContext });
  s.secure = true;
  s.swapSocket(secure);
}

/** PBSZ 0 (RFC 4217 §8): only after AUTH TLS; any other size is answered with the one we use. */
function pbsz(s: Session, arg: string): void {
  requireSecure(s);
  const n = Number.parseInt(arg, 10);
  s.pbsz = Number.isNaN(n) ? 0 : n;
  s.send(replyLine(200, s.pbsz === 0 ? 'PBSZ=0' : 'Buffer too large: PBSZ=0'));
}

/** PROT P (RFC 4217 §9): only after PBSZ; C, S and E are not offered (536), anything else 504. */
function prot(s: Session, arg: string): void {
  requireSecure(s);
  if (s.pbsz === undefined) throw new ReplyError(503, 'PBSZ first');
  const level = arg.trim().toUpperCase();
  if (level === 'P') return s.send(replyLine(200, 'Protection level set to P'));
  if (level === 'C' || level === 'S' || level === 'E') throw new ReplyError(536, 'Only PROT P is supported');
  throw new ReplyError(504, 'Unknown protection level');
}

/** PBSZ and PROT need a secured control connection (RFC 4217 §8, §9). */
function requireSecure(s: Session): void {
  if (s.secure) return;
  throw s.ctx.secureContext ? new ReplyError(503, 'Use AUTH TLS first') : new ReplyError(502, 'TLS is not configured');
}

/** AUTH, PBSZ, PROT (listed in FEAT only when TLS is configured). */
export const TLS_COMMANDS: readonly CommandSpec[] = [
  { name: 'AUTH', needsLogin: false, argument: 'required', tlsOnly: true, feat: 'AUTH TLS', help: 'AUTH TLS: secure the control connection', handler: auth },
  { name: 'PBSZ', needsLogin: false, argument: 'required', tlsOnly: true, feat: 'PBSZ', help: 'PBSZ 0: protection buffer size', handler: pbsz },
  { name: 'PROT', needsLogin: false, argument: 'required', tlsOnly: true, feat: 'PROT', help: 'PROT P: protected data connections', handler: prot },
];
