/**
 * The argument of PORT (RFC 959 §4.1.2) and EPRT (RFC 2428 §2): where the server opens an active-mode data
 * connection, parsed strictly and checked against the client's own address before anything is connected.
 *
 * Why firmdrop parses these itself: ftp-srv 4.6.3 parsed PORT with parseInt (octets over 255, `4x` and empty words
 * accepted), answered a PORT without an argument with no reply at all (`null.split` threw), and compared addresses
 * with the `ip` package, whose IPv6 regular expression takes ~30 s of CPU on a crafted 120-byte EPRT address
 * (catastrophic backtracking: one command froze every device's session). Here every field has a length bound and
 * an exact grammar, and addresses are compared with Node's own parser (net.SocketAddress).
 */
import net from 'node:net';

/** A checked active-mode target. */
export interface ActiveTarget {
  /** IP address to connect to, in the form Node connects with (IPv4 dotted quad, or IPv6). */
  host: string;
  /** TCP port, 1024..65535. */
  port: number;
  family: 4 | 6;
}

/** Why a PORT/EPRT argument was refused: the FTP reply code and text to answer with. */
export class ActiveTargetError extends Error {
  constructor(readonly code: 501 | 522, message: string) {
    super(message);
    this.name = 'ActiveTargetError';
  }
}

/**
 * Lowest data port a client may name. RFC 2577 §3 ("Protecting Against the Bounce Attack"): a server may refuse
 * PORT to privileged ports so it cannot be used to talk to a service (SMTP, …) on the client's host.
 */
export const MIN_ACTIVE_PORT = 1024;

const PORT_ARG = /^(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})$/;
/** Longest address text accepted in EPRT: a full IPv6 address with an embedded IPv4 part is 45 characters. */
const MAX_ADDRESS_CHARS = 45;

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < MIN_ACTIVE_PORT || port > 65535) {
    throw new ActiveTargetError(501, `Data port must be ${MIN_ACTIVE_PORT}..65535`);
  }
  return port;
}

/**
 * Parses `h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2: six decimal numbers 0..255; port = p1*256 + p2).
 * @throws ActiveTargetError 501 for a missing or malformed argument, an octet over 255 or a port below 1024.
 */
export function parsePortArg(arg: string | null | undefined): ActiveTarget {
  const m = PORT_ARG.exec((arg ?? '').trim());
  if (!m) throw new ActiveTargetError(501, 'Syntax error in PORT argument: expected h1,h2,h3,h4,p1,p2');
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) throw new ActiveTargetError(501, 'Syntax error in PORT argument: numbers are 0..255');
  return { host: n.slice(0, 4).join('.'), port: checkPort(n[4]! * 256 + n[5]!), family: 4 };
}

/**
 * Parses `<d><proto><d><address><d><port><d>` (RFC 2428 §2: the delimiter `d` is any printable ASCII character
 * other than a space, usually `|`; proto 1 = IPv4, 2 = IPv6).
 * @throws ActiveTargetError 522 for a protocol other than 1 or 2 (RFC 2428: "522 Network protocol not supported,
 *   use (1,2)"), 501 for anything else malformed.
 */
export function parseEprtArg(arg: string | null | undefined): ActiveTarget {
  const text = (arg ?? '').trim();
  const d = text[0];
  if (!d || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) throw new ActiveTargetError(501, 'Syntax error in EPRT argument');
  const parts = text.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') throw new ActiveTargetError(501, 'Syntax error in EPRT argument');
  const [, proto, address, port] = parts as [string, string, string, string, string];
  if (proto !== '1' && proto !== '2') {
    if (/^\d{1,3}$/.test(proto)) throw new ActiveTargetError(522, 'Network protocol not supported, use (1,2)');
    throw new ActiveTargetError(501, 'Syntax error in EPRT argument');
  }
  const family = proto === '1' ? 4 : 6; // of the address text; the target's own family follows below
  // The length bound comes before any parsing, so no address text can make the check expensive.
  if (address.length > MAX_ADDRESS_CHARS || !(family === 4 ? net.isIPv4(address) : net.isIPv6(address))) {
    throw new ActiveTargetError(501, `Syntax error in EPRT argument: not an IPv${family} address`);
  }
  if (!/^\d{1,5}$/.test(port)) throw new ActiveTargetError(501, 'Syntax error in EPRT argument: bad port');
  // An IPv4-mapped IPv6 address is the IPv4 host: connect to it over IPv4.
  const host = canonicalIp(address);
  return { host, port: checkPort(Number(port)), family: net.isIPv4(host) ? 4 : 6 };
}

/**
 * One spelling per address: IPv6 in Node's canonical form (lower case, zeros compressed), and an IPv4-mapped
 * IPv6 address (`::ffff:1.2.3.4`) as the bare IPv4 address. '' for text that is not an IP address.
 */
export function canonicalIp(address: string | undefined): string {
  if (!address) return '';
  if (net.isIPv4(address)) return address;
  if (address.length > MAX_ADDRESS_CHARS || !net.isIPv6(address)) return '';
  const v6 = new net.SocketAddress({ address, family: 'ipv6' }).address;
  return v6.startsWith('::ffff:') && net.isIPv4(v6.slice(7)) ? v6.slice(7) : v6;
}

/**
 * True when `target` is the host at `controlAddress` (the control connection's peer), however either is spelled.
 * RFC 2577 §3: a server should refuse a data connection to any other host (the FTP bounce attack).
 */
export function isClientHost(target: ActiveTarget, controlAddress: string | undefined): boolean {
  const a = canonicalIp(target.host);
  return a !== '' && a === canonicalIp(controlAddress);
}
