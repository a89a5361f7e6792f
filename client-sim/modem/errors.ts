/**
 * The abstract FTP failure model shared by every modem dialect.
 *
 * The FTP back end (ftp-session.ts) turns everything that can go wrong on the network — a basic-ftp
 * FTPError carrying a server reply code, a Node socket error code, a basic-ftp timeout, or a short
 * transfer — into one {@link FtpFailure} with a {@link FtpFailureKind}. Each family then looks the kind
 * up in its own code table (Telit 600–644, SIMCom 61–86, SIM5215 213/219, iChip 505–513), so the
 * classification is written once and the dialects stay thin.
 */
import { FTPError } from 'basic-ftp';

/**
 * What went wrong, independent of any modem family (the conditions the vendor error tables distinguish:
 * Telit CME 600-644, Quectel 601-631, SIMCom SIM800 `+FTPGET: 1,<err>`, iChip 505-513):
 * - `dns`: the host name does not resolve (ENOTFOUND / EAI_AGAIN).
 * - `connect`: TCP connect to the control port failed (ECONNREFUSED, unreachable, or the server closed
 *   the control connection before greeting).
 * - `login`: the server refused USER/PASS (530, 331 without PASS acceptance, 332).
 * - `notFound`: the server refused a file/directory command (550 and the other 55x replies).
 * - `dataConnection`: the data connection could not be opened (425, or PASV/connect to the data port failed).
 * - `timeout`: the server stopped answering or a data connection stalled longer than the modem's timeout.
 * - `dropped`: a connection was closed mid-operation (426, 421, ECONNRESET, FIN while waiting, or a
 *   transfer that ended before the announced size — short data is never success).
 * - `busy`: the modem is already doing something that excludes this operation.
 * - `notConnected`: there is no FTP session (not opened, or already closed).
 * - `unexpected`: any other server reply or error.
 */
export type FtpFailureKind =
  | 'dns' | 'connect' | 'login' | 'notFound' | 'dataConnection'
  | 'timeout' | 'dropped' | 'busy' | 'notConnected' | 'unexpected';

/** Every {@link FtpFailureKind}, for tables that must cover them all. */
export const FTP_FAILURE_KINDS: readonly FtpFailureKind[] = [
  'dns', 'connect', 'login', 'notFound', 'dataConnection', 'timeout', 'dropped', 'busy', 'notConnected', 'unexpected',
];

/**
 * Where the failure happened: `connect` (TCP + greeting), `login` (USER/PASS), `command` (a control
 * command such as CWD/SIZE/TYPE), or `data` (while a data connection was open or being opened).
 * Families use it to pick between close codes (e.g. Telit 616 control dropped vs 621 read data closed).
 */
export type FtpPhase = 'connect' | 'login' | 'command' | 'data';

/**
 * One classified FTP failure. `ftpCode` is the server reply code when there was one (e.g. 550),
 * `serverText` the server's reply line, `cause` the original error.
 */
export class FtpFailure extends Error {
  readonly kind: FtpFailureKind;
  readonly phase: FtpPhase;
  readonly ftpCode?: number;
  readonly serverText?: string;
  constructor(kind: FtpFailureKind, phase: FtpPhase, message: string, opts: { ftpCode?: number; serverText?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FtpFailure';
    this.kind = kind;
    this.phase = phase;
    this.ftpCode = opts.ftpCode;
    this.serverText = opts.serverText;
  }
}

/** Map an FTP server reply code to a failure kind, given the phase it was returned in. */
export function kindForReplyCode(code: number, phase: FtpPhase): FtpFailureKind {
  if (code === 530 || code === 332 || code === 532 || (phase === 'login' && code >= 400)) return 'login';
  if (code === 425) return 'dataConnection';
  if (code === 426 || code === 421) return 'dropped';
  if (code >= 550 && code <= 553) return 'notFound';
  if (code === 450 || code === 451) return phase === 'data' ? 'dropped' : 'notFound';
  return 'unexpected';
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNABORTED']);
const DROP_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/**
 * Classify any error thrown by basic-ftp or Node's net module during `phase` into an {@link FtpFailure}.
 * An FtpFailure passes through unchanged. Rules: FTPError → {@link kindForReplyCode}; DNS error codes →
 * `dns`; refused/unreachable → `connect` (or `dataConnection` in the data phase); reset/pipe/"closed
 * unexpectedly"/"FIN" → `connect` while connecting, else `dropped`; messages starting "Timeout" →
 * `timeout` ("Timeout when trying to open data connection" → `dataConnection`); "User closed client"
 * (our own close) → `notConnected`; anything else → `unexpected`.
 */
export function classifyFtpError(err: unknown, phase: FtpPhase): FtpFailure {
  if (err instanceof FtpFailure) return err;
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (err instanceof FTPError) {
    return new FtpFailure(kindForReplyCode(err.code, phase), phase, message, { ftpCode: err.code, serverText: message, cause: err });
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  let kind: FtpFailureKind = 'unexpected';
  if (DNS_CODES.has(code)) kind = 'dns';
  else if (CONNECT_CODES.has(code)) kind = phase === 'data' ? 'dataConnection' : 'connect';
  else if (/open data connection/i.test(message)) kind = 'dataConnection';
  else if (/^Timeout/i.test(message) || code === 'ETIMEDOUT') kind = phase === 'connect' ? 'connect' : 'timeout';
  else if (DROP_CODES.has(code) || /closed connection unexpectedly|FIN packet|Socket closed|socket hang up/i.test(message)) {
    kind = phase === 'connect' ? 'connect' : 'dropped';
  } else if (/User closed client|Client is closed/i.test(message)) kind = 'notConnected';
  return new FtpFailure(kind, phase, message, { cause: err });
}

/**
 * A family's code table: one numeric code per failure kind, optionally a different one when the
 * failure happened in the data phase. Families accept partial overrides (`errorCodes` option) for the
 * codes no public source settles.
 */
export interface ErrorCodeTable {
  codes: Record<FtpFailureKind, number>;
  /** Overrides used when `failure.phase === 'data'`. */
  dataCodes?: Partial<Record<FtpFailureKind, number>>;
}

/** Look up the code for a failure in a table (data-phase override first). */
export function codeFor(table: ErrorCodeTable, failure: Pick<FtpFailure, 'kind' | 'phase'>): number {
  if (failure.phase === 'data') {
    const d = table.dataCodes?.[failure.kind];
    if (d !== undefined) return d;
  }
  return table.codes[failure.kind];
}

/** Merge user overrides (`errorCodes` option of a family) into a default table; returns a new table. */
export function withOverrides(table: ErrorCodeTable, overrides?: Partial<Record<FtpFailureKind, number>>): ErrorCodeTable {
  if (!overrides) return table;
  const dataCodes = { ...table.dataCodes };
  for (const k of Object.keys(overrides) as FtpFailureKind[]) delete dataCodes[k];
  return { codes: { ...table.codes, ...overrides }, dataCodes };
}
