/**
 * The fleet store: one SQLite database, `<root>/.firmdrop/firmdrop.db`, through libsql (SQLite 3.45 with a
 * better-sqlite3-compatible synchronous API, prebuilt for Linux/macOS/Windows on the npm registry). This module owns
 * every SQL statement firmdrop runs; the rest of the code calls its methods.
 *
 * Settings (SQLite documentation, "Write-Ahead Logging" and "PRAGMA"): `journal_mode=WAL` (the CLI and a running
 * server read and write the same file; readers never block the writer), `busy_timeout=5000` ms (a writer waits for
 * another process's transaction instead of failing), `synchronous=FULL` (a committed transaction survives a power
 * cut, not only a process kill). Every multi-statement change runs in one `BEGIN IMMEDIATE` transaction, so a
 * SIGKILL at any moment leaves the old or the new state, never a mix.
 *
 * SQL is portable to PostgreSQL (the shared store when several instances serve one fleet): `ON CONFLICT ... DO
 * UPDATE` rather than `INSERT OR REPLACE`, ids assigned here, timestamps as ISO 8601 text.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'libsql';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';

/** Folder inside the root holding firmdrop's state (the same as server/catalog.ts's CATALOG_DIR). */
const STATE_DIR = '.firmdrop';
/** The database file's name inside STATE_DIR. */
export const STORE_FILE = 'firmdrop.db';
/** Sessions kept per device (older ones are deleted as new ones are written). */
export const SESSIONS_PER_DEVICE = 100;

/** A store that cannot be used (written by a newer firmdrop, or a bad argument); `message` is one line. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** A device login. `salt`/`hash` hex (scrypt, server/fleet/passwords.ts); `bucket` 0..9999 (server/fleet/select.ts). */
export interface DeviceRow { login: string; salt: string; hash: string; cohort: string | null; bucket: number; createdAt: string }

/** A device's states, defined in docs/fleet.md. */
export type DeviceState = 'never-seen' | 'offered' | 'downloading' | 'downloaded' | 'updated' | 'failed' | 'no-update';

/**
 * What is known of one device from its sessions. Times ISO 8601 UTC; bytes in bytes. `offered*`: the UPGRADE.TXT
 * it last read; `dl*`: its last download of a binary (`dlOffset` the REST offset, `dlBytes` sent in that transfer);
 * `completed*`: the last binary it downloaded completely.
 */
export interface StatusRow {
  login: string; state: DeviceState; lastSeen: string | null; address: string | null;
  offeredFile: string | null; offeredVersion: number | null;
  dlFile: string | null; dlVersion: number | null; dlOutcome: string | null; dlOffset: number | null; dlBytes: number | null; dlSize: number | null;
  completedFile: string | null; completedVersion: number | null;
}

/** One FTP session of a device, as kept (the last SESSIONS_PER_DEVICE per login). */
export interface SessionRow {
  login: string; sessionId: string; address: string; startedAt: string; endedAt: string | null;
  manifestFile: string | null; manifestVersion: number | null;
  fetchName: string | null; fetchVersion: number | null; fetchOffset: number | null; fetchBytes: number | null; fetchOutcome: string | null;
}

/** Rollout states: `active`, `paused` (by the operator or by the error budget: see `reason`), `completed`, `aborted`. */
export type RolloutState = 'active' | 'paused' | 'completed' | 'aborted';

/**
 * One rollout. `percent` 0..100 of devices by login hash; `cohorts` the cohorts included whatever the percent;
 * `window` `HH:MM-HH:MM` (UTC) or null; `waves` the percents of the waves (e.g. [5, 25, 100]) or null; `advanceAt`
 * the share 0..1 of a wave that must be `updated` before the next starts; `wave` the current wave index (wave 0 is
 * the test cohort when cohorts are given); `failures` downloads of the release cut short or failed.
 */
export interface RolloutRow {
  id: number; name: string; version: number; size: number; crc32: string; md5: string; state: RolloutState;
  cohorts: string[]; percent: number; maxFailures: number | null; maxFailureRate: number | null; window: string | null;
  waves: number[] | null; advanceAt: number | null; wave: number; failures: number; reason: string | null;
  startedAt: string; updatedAt: string;
}

/** One audit entry. `offerBefore`/`offerAfter`: the fleet-wide offer and rollout, as one line each. */
export interface AuditRow {
  id: number; at: string; actor: string; action: string; subject: string | null; detail: string | null;
  offerBefore: string | null; offerAfter: string | null;
}

/** A recorded release (the catalogue's shape: server/catalog.ts Release). */
export interface ReleaseRow { name: string; version: number; size: number; crc32: string; md5: string; publishedAt: string }

type Row = Record<string, unknown>;
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Path of the store of `root`. */
export function storePath(root: string): string {
  return path.join(path.resolve(root), STATE_DIR, STORE_FILE);
}

/** The fleet store of one root. Synchronous (SQLite in process); one instance per process and root. */
export class Store {
  /** Absolute path of the database file. */
  readonly file: string;
  private readonly db: Database.Database;
  private localWrites = 0;

  /**
   * Opens (creating when missing) the store of `root` and brings its schema up to date.
   * @throws StoreError when the store was written by a newer firmdrop; SQLite errors (e.g. not a database)
   */
  constructor(root: string) {
    this.file = storePath(root);
    mkdirSync(path.dirname(this.file), { recursive: true });
    this.db = new Database(this.file);
    try {
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA busy_timeout = 5000');
      this.db.exec('PRAGMA synchronous = FULL');
      this.migrate();
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Closes the database (idempotent). */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private migrate(): void {
    this.tx(() => {
      this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as Row;
      const current = num(row.v) ?? 0;
      if (current > SCHEMA_VERSION) {
        throw new StoreError(`${this.file}: schema version ${current} was written by a newer firmdrop (this one knows up to ${SCHEMA_VERSION})`);
      }
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        for (const s of m.statements) this.db.exec(s);
        this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
      }
    });
  }

  /** The schema version of the open store. */
  schemaVersion(): number {
    return num((this.db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as Row).v) ?? 0;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction (nested calls join the outer one): all of it or nothing.
   * `quiet`: do not count it in changeCounter() (status writes, which change no offer).
   * @throws what `fn` throws (after ROLLBACK); SQLITE_BUSY after busy_timeout
   */
  tx<T>(fn: () => T, quiet = false): T {
    if (this.db.inTransaction) return fn();
    if (!quiet) this.localWrites++;
    return this.db.transaction(fn).immediate();
  }

  /**
   * A value that changes whenever the store may have changed, in this process or another: `PRAGMA data_version`
   * (changes on other connections' commits; SQLite documentation) joined with this connection's own write count.
   * One cheap query: poll it instead of reloading.
   */
  changeCounter(): string {
    const v = (this.db.prepare('PRAGMA data_version').get() as Row).data_version;
    return `${String(v)}:${this.localWrites}`;
  }

  // settings ------------------------------------------------------------------------------------------------

  /** A setting's value, or undefined. */
  getSetting(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as Row | undefined;
    return row ? String(row.value) : undefined;
  }

  /** Sets a setting (insert or update). */
  setSetting(key: string, value: string): void {
    this.tx(() => this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value));
  }

  // releases ------------------------------------------------------------------------------------------------

  /** Every recorded release, oldest first. */
  releases(): ReleaseRow[] {
    return (this.db.prepare('SELECT name, version, size, crc32, md5, published_at FROM releases ORDER BY seq').all() as Row[]).map((r) => ({
      name: String(r.name), version: Number(r.version), size: Number(r.size), crc32: String(r.crc32), md5: String(r.md5), publishedAt: String(r.published_at),
    }));
  }

  /** Records a release unless one with the same name, version and bytes is recorded already. */
  addRelease(r: ReleaseRow): void {
    this.tx(() => {
      const same = this.db.prepare('SELECT seq FROM releases WHERE name = ? AND version = ? AND size = ? AND crc32 = ? AND md5 = ?')
        .get(r.name, r.version, r.size, r.crc32, r.md5);
      if (same) return;
      this.db.prepare('INSERT INTO releases (seq, name, version, size, crc32, md5, published_at) VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM releases), ?, ?, ?, ?, ?, ?)')
        .run(r.name, r.version, r.size, r.crc32, r.md5, r.publishedAt);
    });
  }

  // devices -------------------------------------------------------------------------------------------------

  /** Every device login, by login. */
  devices(): DeviceRow[] {
    return (this.db.prepare('SELECT login, salt, hash, cohort, bucket, created_at FROM devices ORDER BY login').all() as Row[]).map(deviceRow);
  }

  /** One device, or undefined. */
  device(login: string): DeviceRow | undefined {
    const r = this.db.prepare('SELECT login, salt, hash, cohort, bucket, created_at FROM devices WHERE login = ?').get(login) as Row | undefined;
    return r ? deviceRow(r) : undefined;
  }

  /** Adds or replaces (password, cohort) a device login. */
  putDevice(d: DeviceRow): void {
    this.tx(() => this.db.prepare(`INSERT INTO devices (login, salt, hash, cohort, bucket, created_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (login) DO UPDATE SET salt = excluded.salt, hash = excluded.hash, cohort = excluded.cohort, bucket = excluded.bucket`)
      .run(d.login, d.salt, d.hash, d.cohort, d.bucket, d.createdAt));
  }

  /** Removes a device login with its status and sessions; false when there was none. */
  removeDevice(login: string): boolean {
    return this.tx(() => {
      const n = this.db.prepare('DELETE FROM devices WHERE login = ?').run(login).changes;
      this.db.prepare('DELETE FROM device_status WHERE login = ?').run(login);
      this.db.prepare('DELETE FROM sessions WHERE login = ?').run(login);
      return n > 0;
    });
  }

  // status and sessions -------------------------------------------------------------------------------------

  /** Every device status row (devices never seen have none). */
  statuses(): StatusRow[] {
    return (this.db.prepare(`SELECT login, state, last_seen, address, offered_file, offered_version, dl_file, dl_version, dl_outcome,
      dl_offset, dl_bytes, dl_size, completed_file, completed_version FROM device_status ORDER BY login`).all() as Row[]).map(statusRow);
  }

  /**
   * Writes a batch of status rows and sessions in ONE transaction (the batching of server/fleet/status.ts), then
   * trims each login's sessions to the newest SESSIONS_PER_DEVICE.
   */
  writeStatus(rows: readonly StatusRow[], sessions: readonly SessionRow[]): void {
    if (rows.length === 0 && sessions.length === 0) return;
    this.tx(() => {
      const up = this.db.prepare(`INSERT INTO device_status (login, state, last_seen, address, offered_file, offered_version, dl_file,
        dl_version, dl_outcome, dl_offset, dl_bytes, dl_size, completed_file, completed_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (login) DO UPDATE SET state = excluded.state, last_seen = excluded.last_seen, address = excluded.address,
        offered_file = excluded.offered_file, offered_version = excluded.offered_version, dl_file = excluded.dl_file,
        dl_version = excluded.dl_version, dl_outcome = excluded.dl_outcome, dl_offset = excluded.dl_offset, dl_bytes = excluded.dl_bytes,
        dl_size = excluded.dl_size, completed_file = excluded.completed_file, completed_version = excluded.completed_version`);
      for (const s of rows) {
        up.run(s.login, s.state, s.lastSeen, s.address, s.offeredFile, s.offeredVersion, s.dlFile, s.dlVersion, s.dlOutcome,
          s.dlOffset, s.dlBytes, s.dlSize, s.completedFile, s.completedVersion);
      }
      let next = Number((this.db.prepare('SELECT COALESCE(MAX(id), 0) AS n FROM sessions').get() as Row).n);
      const ins = this.db.prepare(`INSERT INTO sessions (id, login, session_id, address, started_at, ended_at, manifest_file,
        manifest_version, fetch_name, fetch_version, fetch_offset, fetch_bytes, fetch_outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      const trim = this.db.prepare(`DELETE FROM sessions WHERE login = ? AND id NOT IN
        (SELECT id FROM sessions WHERE login = ? ORDER BY id DESC LIMIT ${SESSIONS_PER_DEVICE})`);
      const logins = new Set<string>();
      for (const s of sessions) {
        ins.run(++next, s.login, s.sessionId, s.address, s.startedAt, s.endedAt, s.manifestFile, s.manifestVersion,
          s.fetchName, s.fetchVersion, s.fetchOffset, s.fetchBytes, s.fetchOutcome);
        logins.add(s.login);
      }
      for (const l of logins) trim.run(l, l);
    }, true);
  }

  /** The kept sessions of `login`, newest first. */
  sessions(login: string): SessionRow[] {
    return (this.db.prepare(`SELECT login, session_id, address, started_at, ended_at, manifest_file, manifest_version, fetch_name,
      fetch_version, fetch_offset, fetch_bytes, fetch_outcome FROM sessions WHERE login = ? ORDER BY id DESC`).all(login) as Row[]).map((r) => ({
      login: String(r.login), sessionId: String(r.session_id), address: String(r.address), startedAt: String(r.started_at), endedAt: str(r.ended_at),
      manifestFile: str(r.manifest_file), manifestVersion: num(r.manifest_version), fetchName: str(r.fetch_name), fetchVersion: num(r.fetch_version),
      fetchOffset: num(r.fetch_offset), fetchBytes: num(r.fetch_bytes), fetchOutcome: str(r.fetch_outcome),
    }));
  }

  // rollouts ------------------------------------------------------------------------------------------------

  /** The rollout in progress (`active` or `paused`), or undefined. */
  currentRollout(): RolloutRow | undefined {
    const r = this.db.prepare(`SELECT * FROM rollouts WHERE state IN ('active', 'paused') ORDER BY id DESC LIMIT 1`).get() as Row | undefined;
    return r ? rolloutRow(r) : undefined;
  }

  /** Rollouts in progress (`active` or `paused`): 0 or 1 (one rollout at a time). */
  rolloutsInProgress(): number {
    return Number((this.db.prepare(`SELECT COUNT(*) AS n FROM rollouts WHERE state IN ('active', 'paused')`).get() as Row).n);
  }

  /** SQLite's `PRAGMA integrity_check` first line: `ok` for a sound database file. */
  integrityCheck(): string {
    return String((this.db.prepare('PRAGMA integrity_check').get() as Row).integrity_check);
  }

  /** The latest rollout whatever its state, or undefined. */
  lastRollout(): RolloutRow | undefined {
    const r = this.db.prepare('SELECT * FROM rollouts ORDER BY id DESC LIMIT 1').get() as Row | undefined;
    return r ? rolloutRow(r) : undefined;
  }

  /** Inserts a rollout (its `id` is assigned here) and returns it. */
  insertRollout(r: Omit<RolloutRow, 'id'>): RolloutRow {
    return this.tx(() => {
      const id = Number((this.db.prepare('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM rollouts').get() as Row).n);
      this.db.prepare(`INSERT INTO rollouts (id, name, version, size, crc32, md5, state, cohorts, percent, max_failures, max_failure_rate,
        time_window, waves, advance_at, wave, failures, reason, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(id, r.name, r.version, r.size, r.crc32, r.md5, r.state, JSON.stringify(r.cohorts), r.percent, r.maxFailures, r.maxFailureRate,
          r.window, r.waves ? JSON.stringify(r.waves) : null, r.advanceAt, r.wave, r.failures, r.reason, r.startedAt, r.updatedAt);
      return { ...r, id };
    });
  }

  /** Writes the mutable fields of a rollout (state, cohorts, percent, wave, failures, reason, updated_at). */
  updateRollout(r: RolloutRow): void {
    this.tx(() => this.db.prepare(`UPDATE rollouts SET state = ?, cohorts = ?, percent = ?, wave = ?, failures = ?, reason = ?,
      updated_at = ? WHERE id = ?`).run(r.state, JSON.stringify(r.cohorts), r.percent, r.wave, r.failures, r.reason, r.updatedAt, r.id));
  }

  // audit ---------------------------------------------------------------------------------------------------

  /** Appends an audit entry (its `id` is assigned here). */
  appendAudit(e: Omit<AuditRow, 'id'>): void {
    this.tx(() => this.db.prepare(`INSERT INTO audit (id, at, actor, action, subject, detail, offer_before, offer_after)
      VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM audit), ?, ?, ?, ?, ?, ?, ?)`)
      .run(e.at, e.actor, e.action, e.subject, e.detail, e.offerBefore, e.offerAfter));
  }

  /** The offer line after the latest audit entry (what the fleet was offered before a change), or undefined. */
  lastOfferAfter(): string | undefined {
    const r = this.db.prepare('SELECT offer_after FROM audit ORDER BY id DESC LIMIT 1').get() as Row | undefined;
    return r ? str(r.offer_after) ?? undefined : undefined;
  }

  /** Audit entries of each action (for metrics). */
  auditCounts(): Map<string, number> {
    const rows = this.db.prepare('SELECT action, COUNT(*) AS n FROM audit GROUP BY action').all() as Row[];
    return new Map(rows.map((r) => [String(r.action), Number(r.n)]));
  }

  /** Audit entries at or after `since` (ISO 8601), oldest first. */
  audit(since?: string): AuditRow[] {
    return (this.db.prepare('SELECT * FROM audit WHERE at >= ? ORDER BY id').all(since ?? '') as Row[]).map((r) => ({
      id: Number(r.id), at: String(r.at), actor: String(r.actor), action: String(r.action), subject: str(r.subject), detail: str(r.detail),
      offerBefore: str(r.offer_before), offerAfter: str(r.offer_after),
    }));
  }
}

function deviceRow(r: Row): DeviceRow {
  return { login: String(r.login), salt: String(r.salt), hash: String(r.hash), cohort: str(r.cohort), bucket: Number(r.bucket), createdAt: String(r.created_at) };
}

function statusRow(r: Row): StatusRow {
  return {
    login: String(r.login), state: String(r.state) as DeviceState, lastSeen: str(r.last_seen), address: str(r.address),
    offeredFile: str(r.offered_file), offeredVersion: num(r.offered_version), dlFile: str(r.dl_file), dlVersion: num(r.dl_version),
    dlOutcome: str(r.dl_outcome), dlOffset: num(r.dl_offset), dlBytes: num(r.dl_bytes), dlSize: num(r.dl_size),
    completedFile: str(r.completed_file), completedVersion: num(r.completed_version),
  };
}

function rolloutRow(r: Row): RolloutRow {
  return {
    id: Number(r.id), name: String(r.name), version: Number(r.version), size: Number(r.size), crc32: String(r.crc32), md5: String(r.md5),
    state: String(r.state) as RolloutState, cohorts: JSON.parse(String(r.cohorts)) as string[], percent: Number(r.percent),
    maxFailures: num(r.max_failures), maxFailureRate: num(r.max_failure_rate), window: str(r.time_window),
    waves: r.waves === null || r.waves === undefined ? null : JSON.parse(String(r.waves)) as number[], advanceAt: num(r.advance_at),
    wave: Number(r.wave), failures: Number(r.failures), reason: str(r.reason), startedAt: String(r.started_at), updatedAt: String(r.updated_at),
  };
}
