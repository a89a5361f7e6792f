/**
 * The store's schema, versioned in code. Each migration runs once, in order, in one transaction with the update of
 * `schema_version`; a store written by a newer firmdrop (a version this code does not know) is refused.
 *
 * The SQL is kept portable to PostgreSQL: standard types (INTEGER, REAL, TEXT), explicit keys (ids are assigned
 * by the store, never by SQLite's rowid), timestamps as ISO 8601 UTC text, lists as JSON text.
 */

/** One schema step: `version` (1, 2, ...) and the statements that bring the schema from `version - 1` to it. */
export interface Migration { version: number; statements: string[] }

/** Every migration, in order. Append only: a released migration is never edited. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
      `CREATE TABLE releases (
        seq INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL,
        crc32 TEXT NOT NULL, md5 TEXT NOT NULL, published_at TEXT NOT NULL)`,
      `CREATE INDEX releases_name ON releases (name, version)`,
      `CREATE TABLE devices (
        login TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, cohort TEXT,
        bucket INTEGER NOT NULL, created_at TEXT NOT NULL)`,
      `CREATE TABLE device_status (
        login TEXT PRIMARY KEY, state TEXT NOT NULL, last_seen TEXT, address TEXT,
        offered_file TEXT, offered_version INTEGER,
        dl_file TEXT, dl_version INTEGER, dl_outcome TEXT, dl_offset INTEGER, dl_bytes INTEGER, dl_size INTEGER,
        completed_file TEXT, completed_version INTEGER)`,
      `CREATE TABLE sessions (
        id INTEGER PRIMARY KEY, login TEXT NOT NULL, session_id TEXT NOT NULL, address TEXT NOT NULL,
        started_at TEXT NOT NULL, ended_at TEXT, manifest_file TEXT, manifest_version INTEGER,
        fetch_name TEXT, fetch_version INTEGER, fetch_offset INTEGER, fetch_bytes INTEGER, fetch_outcome TEXT)`,
      `CREATE INDEX sessions_login ON sessions (login, id)`,
      `CREATE TABLE rollouts (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL,
        crc32 TEXT NOT NULL, md5 TEXT NOT NULL, state TEXT NOT NULL, cohorts TEXT NOT NULL, percent REAL NOT NULL,
        max_failures INTEGER, max_failure_rate REAL, time_window TEXT, waves TEXT, advance_at REAL,
        wave INTEGER NOT NULL, failures INTEGER NOT NULL, reason TEXT,
        started_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
      `CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT,
        detail TEXT, offer_before TEXT, offer_after TEXT)`,
      `CREATE INDEX audit_at ON audit (at)`,
    ],
  },
];

/** The schema version this code writes (the last migration's). */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
