/**
 * Data channel set-up (RFC 959 §3.2, §4.1.2; RFC 2428): PASV, EPSV (passive.ts), PORT, EPRT (active.ts). One
 * pending data channel per session: a new one ends the previous one.
 */
import net from 'node:net';
import { ActiveChannel } from './active.ts';
import { ActiveTargetError, isClientHost, parseEprtArg, parsePortArg, type ActiveTarget } from './active-target.ts';
import type { CommandSpec } from './command-spec.ts';
import type { Session } from './control.ts';
import { ReplyError } from './errors.ts';
import { isLoopback, plainIp } from './net-util.ts';
import { PassiveChannel } from './passive.ts';
import { replyLine } from './reply.ts';

/**
 * The address for a 227 reply: `pasvUrl` (a bare IPv4 address, or a function of the client's IP), or the local
 * address the client reached; loopback clients always get the local address when a fixed string is configured.
 * Undefined when none can be given (an IPv6 control connection without pasvUrl: RFC 2428 §1, use EPSV).
 */
function pasvAddress(s: Session): string | undefined {
  const local = plainIp(s.socket.localAddress);
  const p = s.ctx.opts.pasvUrl;
  let address: string | undefined;
  if (typeof p === 'function') {
    try {
      address = p(s.address);
    } catch (err) {
      s.ctx.log.error({ err: (err as Error).message }, 'pasvUrl function failed');
    }
  } else if (p && !isLoopback(s.address)) address = p;
  address ??= local;
  return net.isIPv4(address) ? address : undefined;
}

/** Ends the session's pending data channel, if any. */
export function endData(s: Session): void {
  s.data?.end();
  s.data = undefined;
}

/** Opens a passive listener for the session; returns its port. @throws ReplyError 425 when no port is free. */
async function openPassive(s: Session): Promise<number> {
  endData(s);
  const channel = new PassiveChannel({
    pool: s.ctx.pool,
    waitMs: s.ctx.opts.passiveWaitMs,
    clientIp: s.address,
    secureContext: s.secure ? s.ctx.secureContext : undefined,
    onDataSocket: (d) => s.trackDataSocket(d),
    log: s.log.log,
  });
  s.data = channel;
  try {
    return await channel.listen();
  } catch (err) {
    s.log.log.warn({ err: (err as Error).message }, 'no passive port');
    if (s.data === channel) endData(s);
    throw new ReplyError(425, 'Can not open data connection');
  }
}

/** PASV (RFC 959 §4.1.2): `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`, the wording modem firmware parses. */
async function pasv(s: Session): Promise<void> {
  if (s.epsvAll) throw new ReplyError(503, 'EPSV ALL in effect: use EPSV');
  const address = pasvAddress(s);
  if (address === undefined) throw new ReplyError(425, 'Use EPSV');
  const port = await openPassive(s);
  s.send(replyLine(227, `Entering Passive Mode (${address.replace(/\./g, ',')},${port >> 8},${port & 255})`));
}

/**
 * EPSV [<net-prt> | ALL] (RFC 2428 §3, §4): `229 Entering Extended Passive Mode (|||port|)`. The data connection
 * uses the control connection's family, so only that one is offered (522 names it); ALL refuses PASV, PORT and
 * EPRT from then on.
 */
async function epsv(s: Session, arg: string): Promise<void> {
  const a = arg.trim().toUpperCase();
  if (a === 'ALL') {
    s.epsvAll = true;
    return s.send(replyLine(200, 'EPSV ALL ok'));
  }
  if (a !== '') {
    if (!/^\d{1,3}$/.test(a)) throw new ReplyError(501, 'Syntax error in EPSV argument');
    const family = net.isIPv6(plainIp(s.socket.localAddress)) ? '2' : '1';
    if (a !== family) throw new ReplyError(522, `Network protocol not supported, use (${family})`);
  }
  const port = await openPassive(s);
  s.send(replyLine(229, `Entering Extended Passive Mode (|||${port}|)`));
}

/**
 * PORT h1,h2,h3,h4,p1,p2 (RFC 959 §4.1.2) and EPRT |af|addr|port| (RFC 2428 §2): connect to the client's own
 * host (RFC 2577 §3: no FTP bounce), port >= 1024. Refused over TLS (the data connection's TLS handshake would
 * have to be the server's: firmdrop offers passive mode only there) and after EPSV ALL.
 */
function active(s: Session, arg: string, verb: 'PORT' | 'EPRT'): void {
  if (s.secure) throw new ReplyError(502, 'Active mode is not available over TLS; use PASV or EPSV');
  if (s.epsvAll) throw new ReplyError(503, 'EPSV ALL in effect: use EPSV');
  let target: ActiveTarget;
  try {
    target = verb === 'PORT' ? parsePortArg(arg) : parseEprtArg(arg);
  } catch (err) {
    if (err instanceof ActiveTargetError) throw new ReplyError(err.code, err.message);
    throw err;
  }
  endData(s);
  if (!isClientHost(target, s.socket.remoteAddress)) {
    s.log.log.warn({ target: target.host }, 'PORT/EPRT to another host refused');
    throw new ReplyError(500, 'Illegal PORT command: the address is not yours');
  }
  const channel = new ActiveChannel({
    target, waitMs: s.ctx.opts.passiveWaitMs, onDataSocket: (d) => s.trackDataSocket(d), log: s.log.log,
  });
  s.data = channel;
  channel.connect();
  s.send(replyLine(200, `${verb} command successful`));
}

/** PASV, EPSV, PORT, EPRT. */
export const DATA_CHANNEL_COMMANDS: readonly CommandSpec[] = [
  { name: 'PASV', needsLogin: true, argument: 'none', help: 'PASV: passive mode (IPv4)', feat: 'PASV', handler: pasv },
  { name: 'EPSV', needsLogin: true, argument: 'optional', help: 'EPSV [1|2|ALL]: extended passive mode', feat: 'EPSV', handler: epsv },
  { name: 'PORT', needsLogin: true, argument: 'required', help: 'PORT h1,h2,h3,h4,p1,p2: active mode', handler: (s, a) => active(s, a, 'PORT') },
  { name: 'EPRT', needsLogin: true, argument: 'required', help: 'EPRT |af|addr|port|: extended active mode', feat: 'EPRT', handler: (s, a) => active(s, a, 'EPRT') },
];
