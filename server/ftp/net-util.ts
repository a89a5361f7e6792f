/** Small socket helpers shared by the FTP layer's modules. */
import type net from 'node:net';

/**
 * TCP keep-alive delay of control connections, ms: a device that vanished (coverage lost) is found within minutes,
 * not hours (RFC 1122 §4.2.3.6). The listener sets it with TCP_NODELAY on every accepted control connection.
 */
export const KEEPALIVE_MS = 60_000;
/** How long a socket we closed may take to finish its FIN handshake before it is destroyed, ms. */
export const CLOSE_GRACE_MS = 2_000;

/** An IP without the IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4` → `1.2.3.4`); '' when unknown. */
export function plainIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}

/** True for a loopback client (127.0.0.0/8, ::1). */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/** Ends a socket politely (with a last line, if any), then destroys it if the peer does not close within CLOSE_GRACE_MS. */
export function endSocket(socket: net.Socket, lastLine?: string): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume(); // read (and drop) what the peer still sends, so its FIN is seen
  try {
    if (lastLine !== undefined) socket.end(`${lastLine}\r\n`);
    else socket.end();
  } catch {
    socket.destroy();
  }
}
