/** What every control connection of one FTP server shares (built once by server.ts startFtp). */
import type tls from 'node:tls';
import type { Logger } from '../log.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import type { FtpUser } from '../users.ts';
import type { FilesShared } from './files.ts';
import type { FtpHooks, TransferRecorder } from './hooks.ts';
import type { PassivePortPool } from './passive.ts';

/** The server's options with every default applied (server.ts FtpOptions documents each). Times in ms. */
export interface ResolvedOptions {
  host: string;
  users: FtpUser[];
  anonymous: boolean;
  idleMs: number;
  loginMs: number;
  maxLine: number;
  passiveWaitMs: number;
  pasvUrl?: string | ((clientIp: string) => string);
  /** FTPS configured (AUTH TLS offered). */
  tls: boolean;
}

/** Live counters behind FtpHandle.stats(). */
export interface Counters {
  /** RETR/LIST/NLST/MLSD transfers running now. */
  transfers: number;
}

/** Shared state of one server. */
export interface ServerContext {
  opts: ResolvedOptions;
  /** The `component: ftp` logger. */
  log: Logger;
  /** The logger session logs are children of. */
  rootLogger: Logger;
  pool: PassivePortPool;
  files: FilesShared;
  throttle: LoginThrottle;
  hooks: FtpHooks;
  /** FtpOptions.transfers: running RETRs of binaries, for live progress. */
  transfers?: TransferRecorder;
  /** TLS context of the control connection after AUTH TLS, and of TLS data connections (RFC 4217). */
  secureContext?: tls.SecureContext;
  counters: Counters;
  /** close() has started: idle sessions get 421, busy ones when their command ends. */
  closing: boolean;
  /** Called by each session when it is gone (close() waits on it). */
  onSessionGone(): void;
}
