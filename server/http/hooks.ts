/**
 * How the HTTP device mirror decides who a request is and which UPGRADE.TXT it reads, and what it tells observers.
 * The shapes are the FTP layer's extension points (pyftpdlib's handler hooks `on_login`, `on_file_sent`,
 * `on_incomplete_file_sent`, pyftpdlib/handlers.py): a fleet that implements `authenticate`, `offerFor` and
 * `onEvent` for FTP sessions plugs into the mirror unchanged, and HTTP requests count in device status like FTP
 * sessions. Without hooks the configured shared accounts log in (server/users.ts) and every request reads the root's
 * UPGRADE.TXT.
 */
import { type LoginPolicy, checkLogin } from '../users.ts';

/** Who a request is, once its HTTP Basic credentials (RFC 7617) are accepted. */
export interface SessionIdentity {
  /** The login as the device sent it (a device login, or a shared account such as `ota`). */
  login: string;
  /** `device`: a login that names one device; `shared`: a configured shared account (or anonymous). */
  kind: 'device' | 'shared';
}

/**
 * The UPGRADE.TXT one login reads: `bytes` served as the file, `file`/`version` the release whose published snapshot
 * that login may fetch under the name `file` (`NO_FILE` and version 0 when no update is offered).
 */
export interface OfferedManifest {
  bytes: Buffer;
  file: string;
  version: number;
}

/** Outcome of one binary transfer: `completed` (every byte of the response), `cut-short` (client gone), `failed` (read error). */
export type FetchOutcome = 'completed' | 'cut-short' | 'failed';

/**
 * What the mirror tells observers, one HTTP request being one session (`sessionId` = the request id). `at` is
 * `Date.now()` in ms; `offset`, `bytes` and `size` are bytes; `ms` the transfer's duration.
 */
export type SessionEvent =
  | { type: 'login'; sessionId: string; address: string; login: string; kind: SessionIdentity['kind']; at: number }
  | { type: 'login-failed'; sessionId: string; address: string; user: string; at: number }
  | { type: 'manifest-read'; sessionId: string; address: string; login: string; file: string; version: number; at: number }
  | {
      type: 'fetch-start'; sessionId: string; address: string; login: string;
      name: string; version: number | undefined; offset: number; size: number; at: number;
    }
  | {
      type: 'fetch-end'; sessionId: string; address: string; login: string;
      name: string; version: number | undefined; offset: number; bytes: number; size: number;
      outcome: FetchOutcome; ms: number; at: number;
    };

/** The hooks of the mirror; every one optional, with the same contract as the FTP layer's. */
export interface MirrorHooks {
  /**
   * Decides a login (user and password from `Authorization: Basic`, RFC 7617 §2). Return the identity, or null to
   * refuse (401). When set it replaces the check of the shared accounts; it falls back to them itself.
   */
  authenticate?(user: string, pass: string, address: string): SessionIdentity | null | Promise<SessionIdentity | null>;
  /** The UPGRADE.TXT this identity reads, or undefined for the root's. Must be fast and name only existing snapshots. */
  offerFor?(identity: SessionIdentity): OfferedManifest | undefined;
  /** Observer of session events. A throw is caught and logged once; it never reaches the client. */
  onEvent?(event: SessionEvent): void;
}

/**
 * The default `authenticate`: the configured shared accounts (server/users.ts checkLogin), identity kind `shared`.
 * Never throws.
 */
export function sharedAccounts(policy: LoginPolicy): (user: string, pass: string) => SessionIdentity | null {
  return (user, pass) => {
    const ok = checkLogin(policy, user, pass);
    return ok ? { login: ok.user, kind: 'shared' } : null;
  };
}
