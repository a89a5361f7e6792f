/**
 * Device status from FTP session events (server/ftp/hooks.ts SessionEvent), kept in memory and written to the
 * store in batches: events only change the in-memory rows; `flush()` writes every row changed since the last flush
 * and every ended session in ONE transaction (the fleet calls it every FLUSH_MS, or sooner when FLUSH_EVENTS events
 * are pending), so a 5,000-device wave costs two transactions a second, not thousands.
 *
 * States (docs/fleet.md): `never-seen` (no UPGRADE.TXT read yet), `offered` (read an offer it has not fetched),
 * `downloading` (a fetch in progress, or cut short: the library resumes or retries it), `downloaded` (fetched the
 * whole binary), `updated` (after a completed download, a LATER session read UPGRADE.TXT naming that binary and
 * did not fetch it again: the library fetches only a program that differs from the one it runs, WaspOTA-style
 * name/version compare in Wasp4G.cpp requestOTA), `failed` (the server could not send the file: 451), `no-update`
 * (read NO_FILE). A Waspmote 4G reads UPGRADE.TXT in one FTP session and fetches the binary in a second one: both
 * are the same login, so both update the same row. Only `device` logins are tracked: devices behind a shared login
 * cannot be told apart.
 */
import type { SessionEvent } from '../ftp/hooks.ts';
import { NO_FILE } from '../manifest.ts';
import type { DeviceState, SessionRow, StatusRow, Store } from '../store/store.ts';

/** Flush period, ms. */
export const FLUSH_MS = 500;
/** Pending events that trigger a flush before FLUSH_MS. */
export const FLUSH_EVENTS = 2000;

/** A download that ended: for the rollout's error budget and metrics. */
export interface DownloadEnd { login: string; name: string; version: number | undefined; outcome: 'completed' | 'cut-short' | 'failed'; bytes: number }

interface Live {
  row: SessionRow;
  kind: 'device' | 'shared';
  fetched: boolean;
  /** Read UPGRADE.TXT naming the binary it had already downloaded completely in an earlier session. */
  rereadCompleted: boolean;
}

/** An event's time (ms since the epoch) as the store keeps it: ISO 8601 UTC. Made only for what is stored. */
function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An empty status row for a login. */
export function blankStatus(login: string): StatusRow {
  return {
    login, state: 'never-seen', lastSeen: null, address: null, offeredFile: null, offeredVersion: null, dlFile: null, dlVersion: null,
    dlOutcome: null, dlOffset: null, dlBytes: null, dlSize: null, completedFile: null, completedVersion: null,
  };
}

/** In-memory device status, fed by session events, flushed to the store in batches. */
export class StatusTracker {
  private readonly rows = new Map<string, StatusRow>();
  private readonly live = new Map<string, Live>();
  private readonly dirty = new Set<string>();
  private ended: SessionRow[] = [];
  /** Session in which each login last completed a download (so the same session cannot make it `updated`). */
  private readonly completedIn = new Map<string, string>();
  private pending = 0;

  /** @param store where flush() writes; its status rows are loaded now. */
  constructor(private readonly store: Store) {
    for (const r of store.statuses()) this.rows.set(r.login, r);
  }

  /** The status of `login` (a blank `never-seen` row when none). */
  get(login: string): StatusRow {
    return this.rows.get(login) ?? blankStatus(login);
  }

  /** Every known status row. */
  all(): IterableIterator<StatusRow> {
    return this.rows.values();
  }

  /** Events applied since the last flush. */
  get pendingEvents(): number {
    return this.pending;
  }

  /**
   * Applies one session event. `isDevice(login)`: whether a login is a device login (others are not tracked).
   * @returns the download that ended, for `fetch-end` events; undefined otherwise. Never throws on odd sequences.
   */
  apply(e: SessionEvent, isDevice: (login: string) => boolean): DownloadEnd | undefined {
    if (e.type === 'connect' || e.type === 'login-failed') return undefined;
    if (e.type === 'login') {
      const at = iso(e.at);
      const kind = e.kind === 'device' && isDevice(e.login) ? 'device' : 'shared';
      this.live.set(e.sessionId, { kind, fetched: false, rereadCompleted: false, row: {
        login: e.login, sessionId: e.sessionId, address: e.address, startedAt: at, endedAt: null, manifestFile: null, manifestVersion: null,
        fetchName: null, fetchVersion: null, fetchOffset: null, fetchBytes: null, fetchOutcome: null,
      } });
      if (kind === 'device') this.touch(e.login, at, e.address);
      return undefined;
    }
    const s = this.live.get(e.sessionId);
    if (e.type === 'disconnect') {
      this.live.delete(e.sessionId);
      if (!s || s.kind !== 'device') return undefined;
      const at = iso(e.at);
      s.row.endedAt = at;
      this.ended.push(s.row);
      const st = this.touch(s.row.login, at, s.row.address);
      if (s.rereadCompleted && !s.fetched && st.state === 'downloaded') st.state = 'updated';
      return undefined;
    }
    if (!s) return undefined;
    if (e.type === 'manifest-read') {
      s.row.manifestFile = e.file;
      s.row.manifestVersion = e.version;
      if (s.kind !== 'device') return undefined;
      const st = this.touch(e.login, iso(e.at), e.address);
      st.offeredFile = e.file;
      st.offeredVersion = e.version;
      if (e.file === NO_FILE) {
        st.state = 'no-update';
      } else if (st.completedFile === e.file && st.completedVersion === e.version && this.completedIn.get(e.login) !== e.sessionId) {
        s.rereadCompleted = true;
        if (st.state !== 'updated') st.state = 'downloaded';
      } else if (!(st.dlFile === e.file && st.dlVersion === e.version && (st.state === 'downloading' || st.state === 'failed'))) {
        st.state = 'offered';
      }
      return undefined;
    }
    s.fetched = true;
    s.row.fetchName = e.name;
    s.row.fetchVersion = e.version ?? null;
    s.row.fetchOffset = e.offset;
    if (e.type === 'fetch-start') {
      s.row.fetchOutcome = 'in-progress';
      if (s.kind !== 'device') return undefined;
      const st = this.touch(e.login, iso(e.at), e.address);
      Object.assign(st, { state: 'downloading', dlFile: e.name, dlVersion: e.version ?? null, dlOutcome: 'in-progress', dlOffset: e.offset, dlBytes: 0, dlSize: e.size });
      return undefined;
    }
    s.row.fetchBytes = e.bytes;
    s.row.fetchOutcome = e.outcome;
    const end: DownloadEnd = { login: e.login, name: e.name, version: e.version, outcome: e.outcome, bytes: e.bytes };
    if (s.kind !== 'device') return end;
    const st = this.touch(e.login, iso(e.at), e.address);
    const whole = e.outcome === 'completed' && e.offset + e.bytes >= e.size;
    const state: DeviceState = e.outcome === 'failed' ? 'failed' : whole ? 'downloaded' : 'downloading';
    Object.assign(st, { state, dlFile: e.name, dlVersion: e.version ?? null, dlOutcome: e.outcome, dlOffset: e.offset, dlBytes: e.bytes, dlSize: e.size });
    if (whole) {
      st.completedFile = e.name;
      st.completedVersion = e.version ?? null;
      this.completedIn.set(e.login, e.sessionId);
    }
    return end;
  }

  /** Forgets a removed device (its row and pending writes). */
  forget(login: string): void {
    this.rows.delete(login);
    this.dirty.delete(login);
  }

  /**
   * Writes changed rows and ended sessions in one transaction; returns how many rows and sessions it wrote. When the
   * write throws (the store busy past its timeout), nothing is forgotten: the same rows and sessions are written by
   * the next flush. (The write is synchronous, so no event is applied between it and the clearing.)
   * @throws what the store's write throws
   */
  flush(): { rows: number; sessions: number } {
    const rows = [...this.dirty].map((l) => this.rows.get(l)).filter((r): r is StatusRow => r !== undefined);
    const sessions = this.ended;
    this.store.writeStatus(rows, sessions);
    this.dirty.clear();
    this.ended = [];
    this.pending = 0;
    return { rows: rows.length, sessions: sessions.length };
  }

  private touch(login: string, at: string, address: string): StatusRow {
    let st = this.rows.get(login);
    if (!st) {
      st = blankStatus(login);
      this.rows.set(login, st);
    }
    st.lastSeen = at;
    st.address = address;
    this.dirty.add(login);
    this.pending++;
    return st;
  }
}
