/**
 * How the HTTP device mirror decides who a request is and which UPGRADE.TXT it reads, and what it tells observers.
 * The shapes are the FTP layer's extension points (pyftpdlib's handler hooks `on_login`, `on_file_sent`,
 * `on_incomplete_file_sent`, pyftpdlib/handlers.py): a fleet that implements `authenticate`, `offerFor` and
 * `onEvent` for FTP sessions plugs into the mirror unchanged, and HTTP requests count in device status like FTP
 * sessions. Without hooks the configured shared accounts log in (server/users.ts) and every request reads the root's
 * UPGRADE.TXT.
 */
import { type LoginPolicy, checkLogin } from '../users.ts';

import type { FtpHooks, SessionEvent as FtpSessionEvent, SessionIdentity } from '../ftp/hooks.ts';

export type { OfferedManifest, SessionIdentity } from '../ftp/hooks.ts';

/**
 * What the mirror tells observers: the FTP layer's session events (server/ftp/hooks.ts) less `connect` and
 * `disconnect`, one HTTP request being one session (`sessionId` = the request id). `at` is `Date.now()` in ms;
 * `offset`, `bytes` and `size` are bytes; `ms` the transfer's duration.
 */
export type SessionEvent = Exclude<FtpSessionEvent, { type: 'connect' | 'disconnect' }>;

/** Outcome of one binary transfer: `completed` (every byte of the response), `cut-short` (client gone), `failed` (read error). */
export type FetchOutcome = Extract<SessionEvent, { type: 'fetch-end' }>['outcome'];

/**
 * The hooks of the mirror, with the FTP layer's contract (an `FtpHooks` object is a `MirrorHooks`): `authenticate`
 * decides `Authorization: Basic` credentials (RFC 7617 §2; null → 401), `offerFor` gives a login's UPGRADE.TXT
 * (undefined: the root's), `onEvent` observes requests (a throw is caught and logged once).
 */
export type MirrorHooks = Pick<FtpHooks, 'authenticate' | 'offerFor'> & { onEvent?(event: SessionEvent): void };

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
