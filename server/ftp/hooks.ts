/**
 * Extension points of the FTP layer, in the manner of pyftpdlib's documented handler hooks (`on_login`,
 * `on_file_sent`, `on_incomplete_file_sent`, pyftpdlib/handlers.py): the fleet (device logins, per-device offers,
 * device status, metrics) plugs in here and never patches the protocol code.
 *
 * Every hook is optional. Without hooks the server behaves as a plain Meshlium-style OTA server: the configured
 * accounts log in and every session reads the root's UPGRADE.TXT.
 */

/** Who a session is, once logged in. */
export interface SessionIdentity {
  /** The login as the device sent it in `USER` (a device login, or a shared account such as `ota`). */
  login: string;
  /**
   * `device`: a login that names one device (its own password, its own offer and status).
   * `shared`: a configured shared account (or anonymous): devices behind it cannot be told apart.
   */
  kind: 'device' | 'shared';
}

/**
 * The UPGRADE.TXT one login reads. `bytes` are served as the file's content (SIZE, RETR, LIST, MDTM, MLST of
 * `UPGRADE.TXT`, also under the GPRS library's `/.gprs/` folder); `file` and `version` pin the binary the session may fetch under that name (the published snapshot
 * of that version), exactly as when the root's UPGRADE.TXT is read. `file` is `NO_FILE` when no update is offered.
 */
export interface OfferedManifest {
  bytes: Buffer;
  file: string;
  version: number;
}

/** What the FTP layer tells observers. `at` is `Date.now()` in ms; `sessionId` is unique per control connection. */
export type SessionEvent =
  | { type: 'connect'; sessionId: string; address: string; at: number }
  | { type: 'login'; sessionId: string; address: string; login: string; kind: SessionIdentity['kind']; at: number }
  | { type: 'login-failed'; sessionId: string; address: string; user: string; at: number }
  /** The session read UPGRADE.TXT (RETR of it completed). `file`/`version` as named in what it read. */
  | { type: 'manifest-read'; sessionId: string; address: string; login: string; file: string; version: number; at: number }
  /**
   * A RETR of a binary started (a RETR of UPGRADE.TXT is told as `manifest-read` only). `name` is the file as
   * UPGRADE.TXT's FILE: names it (`ABCDEFG`, no leading `/`); `version` is the VERSION of the published snapshot
   * served (the one this session's or address's UPGRADE.TXT named), undefined when the file is not a snapshot.
   * `offset` is the REST offset (bytes), `size` the file's full size (bytes).
   */
  | {
      type: 'fetch-start'; sessionId: string; address: string; login: string;
      name: string; version: number | undefined; offset: number; size: number; at: number;
    }
  /**
   * A RETR ended; always after its fetch-start and before the session's disconnect. `bytes` were sent in this
   * transfer (from `offset`); `outcome` is `completed` (226),
   * `cut-short` (data connection lost, ABOR, client gone) or `failed` (local read error, 451).
   */
  | {
      type: 'fetch-end'; sessionId: string; address: string; login: string;
      name: string; version: number | undefined; offset: number; bytes: number; size: number;
      outcome: 'completed' | 'cut-short' | 'failed'; ms: number; at: number;
    }
  | { type: 'disconnect'; sessionId: string; address: string; login: string | undefined; at: number };

/** Hooks a caller of `startFtp` may pass (`FtpOptions.hooks`). */
export interface FtpHooks {
  /**
   * Decide a login attempt (`USER` + `PASS`, RFC 959 §4.1.1). Return the identity to accept it, `null` to refuse
   * it (530). When set it replaces the check of `FtpOptions.users`; the implementation falls back to the shared
   * accounts itself. May be async (a password hash check). Failed logins still count in the login throttle.
   */
  authenticate?(user: string, pass: string, address: string): SessionIdentity | null | Promise<SessionIdentity | null>;
  /**
   * The UPGRADE.TXT this identity reads, or `undefined` for the root's UPGRADE.TXT. Called on each SIZE/RETR/LIST/
   * MDTM/MLST of `UPGRADE.TXT` and when a program name is looked up (which release it means); must be fast
   * (in-memory) and must only name published snapshots that exist. A RETR of it pins `file`/`version` for the
   * session and the client address, as reading the root's file does.
   */
  offerFor?(identity: SessionIdentity): OfferedManifest | undefined;
  /** Observer of session events. Must not throw (a throw is caught and logged once, never reaches the client). */
  onEvent?(event: SessionEvent): void;
}

/** A RETR of a binary while it runs: the file, where it started and its size (bytes), and `sent()` so far (bytes). */
export interface RunningTransfer {
  login: string;
  /** Program name (as UPGRADE.TXT's FILE: names it) or the file's name. */
  name: string;
  /** The published VERSION when a snapshot is served. */
  version: number | undefined;
  /** The REST offset. */
  offset: number;
  size: number;
  /** Bytes handed to the data connection since `offset`. */
  sent(): number;
}

/**
 * Where running RETRs of binaries are recorded while they run (`FtpOptions.transfers`), for live progress; the
 * HTTP server's LiveTransfers (../http/transfers.ts) is one. Keyed by session id; `end` always follows `start`.
 */
export interface TransferRecorder {
  start(sessionId: string, t: RunningTransfer): void;
  end(sessionId: string): void;
}

/** Live figures of a running FTP server, for metrics. */
export interface FtpStats {
  /** Control connections open now. */
  activeSessions: number;
  /** Passive ports held now (listening or waiting for their data connection). */
  passivePortsInUse: number;
  /** RETRs running now. */
  activeTransfers: number;
}
