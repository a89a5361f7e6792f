/**
 * The shared core of the modem emulators: one FTP session model, one module file system, one error model, one
 * timing model, one AT interpreter. Each family (telit.ts, simcom900.ts, simcom5215.ts, ichip.ts, ublox.ts,
 * quectel.ts) is a thin dialect on top. docs/modem-emulators.md describes per family what goes on the wire.
 *
 * Design:
 * - at-modem.ts — `AtModem extends stream.Duplex`: command splitting at `\r`, echo (ATE0/ATE1), CMEE,
 *   `\r\n<text>\r\n` framing, URCs, counted binary payloads, one command at a time (later ones queue),
 *   trace events. A dialect calls `register('#FTPOPEN', handler)` and uses `info/ok/cmeError/urc/raw`.
 * - ftp-session.ts — `FtpSession` on basic-ftp: open (connect + USER/PASS), type, cwd, pwd, size
 *   (SIZE, fallback LIST parse), list/listRaw, `startDownload` into a bounded module buffer
 *   (`Download`: pull with `read(n)` — Telit #FTPRECV, SIM900 FTPGET=2 — or `drain(onChunk)` as a
 *   stream — Telit #FTPGET, SIM5215 +CFTPGET/+CFTPGETFILE, iChip AT+iFRCV), REST
 *   offset resume, close (QUIT). `withSession` gives the SIMCom per-operation session model.
 *   The emulator always uses PASV on the wire; an active-mode request is accepted and recorded.
 * - errors.ts — every network/server failure becomes an `FtpFailure` of one `FtpFailureKind`
 *   (dns, connect, login, notFound, dataConnection, timeout, dropped, busy, notConnected, unexpected)
 *   with a phase; each family maps kinds to its own code table (`ErrorCodeTable`, overridable with
 *   the `errorCodes` option). A transfer that ends before SIZE − offset bytes is `dropped`, a stall
 *   longer than the FTP timeout is `timeout`: neither ever looks like success.
 * - module-fs.ts — `ModuleFs`: the module's flash (name → bytes, capacity limit).
 * - timing.ts — `TimingProfile` per family, presets 'fast' (tests) and 'realistic' (sources in timing.ts).
 * - ../at/host.ts — `AtHost`, the MCU side that drives any modem with AT text.
 *
 * This file only re-exports the core so dialects and users import one module.
 */
export { AtModem, formatTrace, splitArgs, intArg, type AtModemOptions, type AtHandler, type TraceEvent } from './at-modem.ts';
export { FtpSession, withSession, type FtpConnectOptions } from './ftp-session.ts';
export { Download, type DownloadOptions } from './ftp-download.ts';
export {
  FtpFailure, classifyFtpError, kindForReplyCode, codeFor, withOverrides, FTP_FAILURE_KINDS,
  type FtpFailureKind, type FtpPhase, type ErrorCodeTable,
} from './errors.ts';
export { ModuleFs, ModuleFsError } from './module-fs.ts';
export { resolveTiming, sleep, type TimingProfile, type TimingOption, type TimingPresetName } from './timing.ts';
