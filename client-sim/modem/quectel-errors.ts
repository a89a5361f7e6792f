/**
 * Quectel FTP error codes and how the emulator maps failures to them.
 *
 * The `<err>` table is the one Quectel's own BG95 FTP driver prints, which the N58 FTP manual (appendix G) and an
 * EC20 driver repeat. A server reply code maps to its mirror (421→614 … 553→630, in the order those tables list
 * them; the pairing itself is inferred). Failures without a reply code: DNS 604, TCP connect 605, login 625, data
 * connection 615, timeout 609, connection lost 606 (607 in the data phase), busy 603, no session 625, other 601.
 */
import { FtpFailure, type ErrorCodeTable } from './errors.ts';
import { ModuleFsError } from './module-fs.ts';

/** Quectel FTP error codes and meanings (Quectel BG95 FTP driver; N58 FTP manual appendix G). */
export const QUECTEL_FTP_ERRORS: Record<number, string> = {
  0: 'success', 601: 'unknown error', 602: 'FTP(S) server blocked', 603: 'FTP(S) server busy', 604: 'DNS parse failed',
  605: 'network error', 606: 'control connection closed', 607: 'data connection closed', 608: 'socket closed by peer',
  609: 'timeout error', 610: 'invalid parameter', 611: 'failed to open file', 612: 'file position invalid',
  613: 'file error', 614: 'service not available, closing control connection', 615: 'open data connection failed',
  616: 'connection closed; transfer aborted', 617: 'requested file action not taken', 618: 'requested action aborted: local error',
  619: 'requested action not taken: insufficient system storage', 620: 'syntax error, command unrecognized',
  621: 'syntax error in parameters or arguments', 622: 'command not implemented', 623: 'bad sequence of commands',
  624: 'command parameter not implemented', 625: 'not logged in', 626: 'need account for storing files',
  627: 'requested action not taken', 628: 'requested action aborted: page type unknown',
  629: 'requested file action aborted', 630: 'requested file name invalid', 631: 'SSL authentication failed',
};

/** Server reply code → Quectel error (see the module docstring). */
export const QUECTEL_REPLY_MAP: Record<number, number> = {
  421: 614, 425: 615, 426: 616, 450: 617, 451: 618, 452: 619, 500: 620, 501: 621, 502: 622, 503: 623, 504: 624,
  530: 625, 532: 626, 550: 627, 551: 628, 552: 629, 553: 630,
};

/** Codes for failures without a server reply (see the module docstring). */
export const QUECTEL_ERRORS: ErrorCodeTable = {
  codes: {
    dns: 604, connect: 605, login: 625, notFound: 627, dataConnection: 615,
    timeout: 609, dropped: 606, busy: 603, notConnected: 625, unexpected: 601,
  },
  dataCodes: { dropped: 607 },
};

/** Quectel "server busy", also the answer while a close is pending (EG800K test report). */
export const QUECTEL_BUSY = 603;

/**
 * `<err>,<proto>` for a failure: the mirror of the server's reply code when there is one, else `code(err)` (the
 * family table after the user's `errorCodes` overrides); module file-system errors are 619 (full) or 613.
 */
export function quectelCodes(err: unknown, code: (f: FtpFailure) => number): [number, number] {
  if (err instanceof FtpFailure) {
    const mapped = err.ftpCode !== undefined ? QUECTEL_REPLY_MAP[err.ftpCode] : undefined;
    return [mapped ?? code(err), err.ftpCode ?? 0];
  }
  if (err instanceof ModuleFsError) return [err.reason === 'full' ? 619 : 613, 0];
  return [601, 0];
}
