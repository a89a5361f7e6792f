/**
 * The fleet: device logins, per-device UPGRADE.TXT, rollouts and device status, plugged into the FTP layer through
 * its hooks (server/ftp/hooks.ts) without any change to device firmware: every Waspmote logs in over FTP and reads
 * its own copy of UPGRADE.TXT (Wasp4G.cpp requestOTA: server, port, user, password).
 *
 * What is in memory: the device logins, the rollout in progress and its UPGRADE.TXT bytes, the device status. They
 * follow the store: tick() (every POLL_MS) reads one change counter (PRAGMA data_version) and reloads only when it
 * moved, so a CLI change reaches the served offers within POLL_MS + one tick, under 1 s. offerFor() never touches
 * the store or the disk.
 */
import { lstatSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { FtpHooks, OfferedManifest, SessionEvent, SessionIdentity } from '../ftp/hooks.ts';
import { formatManifest } from '../manifest.ts';
import { snapshotPath } from '../snapshots/reader.ts';
import { retireSnapshot } from '../snapshots/writer.ts';
import type { DeviceRow, RolloutRow, Store } from '../store/store.ts';
import { openStore } from '../store/open.ts';
import { importCatalogOnce } from '../store/import.ts';
import { type LoginPolicy, checkLogin } from '../users.ts';
import { SERVER_ACTOR } from './audit.ts';
import { VerifyCache } from './passwords.ts';
import { advanceWave, changeRollout } from './rollouts.ts';
import { failureBudget, inRollout, inWindow, waveCount } from './select.ts';
import { FLUSH_EVENTS, FLUSH_MS, type DownloadEnd, StatusTracker } from './status.ts';

/** How often the fleet polls the store's change counter and runs its checks, ms. */
export const POLL_MS = 250;
/**
 * How often the rollout's snapshot is checked (one lstat) and touched, ms. Touching it (server/snapshots/writer.ts
 * retireSnapshot: mtime = now) keeps it through the publisher's pruning, which keeps every snapshot touched within
 * SNAPSHOT_GRACE_MS (15 min), for as long as the rollout is in progress and 15 minutes after.
 */
export const SNAPSHOT_CHECK_MS = 60_000;

/** Options of a fleet. */
export interface FleetOptions {
  /** The FTP root (the store is `<root>/.firmdrop/firmdrop.db`). */
  root: string;
  /** The shared accounts (server/users.ts); they read the root's UPGRADE.TXT. */
  policy: LoginPolicy;
  /** Write CRC32:/MD5: lines in per-device offers, as in the root's (server/config.ts `checksums`). Default true. */
  checksums?: boolean;
  logger?: Logger;
  /** Clock, ms (tests). Default Date.now. */
  now?: () => number;
  /** Run tick() on a timer (default true; tests call tick() themselves with false). */
  timer?: boolean;
}

/** Observer of what the fleet sees (metrics): events, and downloads that ended. */
export interface FleetObserver { event(e: SessionEvent): void }

/** A running fleet. */
export class Fleet {
  readonly root: string;
  readonly store: Store;
  readonly status: StatusTracker;
  private readonly log: Logger;
  private readonly policy: LoginPolicy;
  private readonly checksums: boolean;
  private readonly now: () => number;
  private readonly cache = new VerifyCache();
  private devices = new Map<string, DeviceRow>();
  private rollout: RolloutRow | undefined;
  private offer: OfferedManifest | undefined;
  private windowOpen = true;
  private counter = '';
  private pendingFailures = 0;
  private lastFlush = 0;
  private statusChanged = false;
  private timer: NodeJS.Timeout | undefined;
  private observers: FleetObserver[] = [];
  private warnedEvent = false;
  private snapshotCheckedAt = 0;

  /** Opens the store of `opts.root` (a corrupt one moved aside; imports releases.json once) and loads devices, rollout and status. */
  constructor(opts: FleetOptions) {
    this.root = opts.root;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.policy = opts.policy;
    this.checksums = opts.checksums !== false;
    this.now = opts.now ?? Date.now;
    this.store = openStore(opts.root, this.log);
    importCatalogOnce(this.store, opts.root, this.log);
    this.status = new StatusTracker(this.store);
    this.refresh();
    if (opts.timer !== false) {
      this.timer = setInterval(() => this.tick(), POLL_MS);
      this.timer.unref();
    }
  }

  /** Adds an observer of session events (metrics). */
  observe(o: FleetObserver): void {
    this.observers.push(o);
  }

  /** The device logins as loaded. */
  deviceList(): DeviceRow[] {
    return [...this.devices.values()];
  }

  /** The rollout in progress as loaded (undefined when none). */
  currentRollout(): RolloutRow | undefined {
    return this.rollout;
  }

  /** The hooks to pass as FtpOptions.hooks. */
  hooks(): Required<FtpHooks> {
    return {
      authenticate: (user, pass) => this.authenticate(user, pass),
      offerFor: (identity) => this.offerFor(identity),
      onEvent: (e) => this.onEvent(e),
    };
  }

  /**
   * A device login (its own password, checked with scrypt through the verify cache), else a shared account
   * (server/users.ts checkLogin). A device login with a wrong password is refused, never tried as a shared account.
   * An unknown login is refused at once, without a scrypt: a client sending many logins must not be able to fill
   * libuv's thread pool (file reads share it); so timing tells which device logins exist (logins are not secrets,
   * often node IDs; passwords are).
   */
  async authenticate(user: string, pass: string): Promise<SessionIdentity | null> {
    const device = this.devices.get(user);
    if (device) return (await this.cache.verify(user, pass, device)) ? { login: user, kind: 'device' } : null;
    const shared = checkLogin(this.policy, user, pass);
    return shared ? { login: user, kind: 'shared' } : null;
  }

  /**
   * The UPGRADE.TXT of one login: the rollout's release for a device the rollout reaches (inside its window, and not
   * paused), else undefined (the root's UPGRADE.TXT). A device that has downloaded the release completely keeps it
   * while the rollout is paused or outside its window (offering it the previous program would roll it back);
   * abort takes it back too. Shared logins always read the root's. In memory only.
   */
  offerFor(identity: SessionIdentity): OfferedManifest | undefined {
    const r = this.rollout;
    if (identity.kind !== 'device' || !r || !this.offer) return undefined;
    const device = this.devices.get(identity.login);
    if (!device || !inRollout(r, device.cohort, device.bucket)) return undefined;
    if (r.state === 'active' && this.windowOpen) return this.offer;
    const st = this.status.get(identity.login);
    return st.completedFile === r.name && st.completedVersion === r.version ? this.offer : undefined;
  }

  /**
   * The Publisher's holdOffer hook: while a rollout is in progress, a binary dropped into the root is published
   * without being offered (the root's UPGRADE.TXT is the rollout's "previous offer").
   */
  holdOffer(name: string): string | undefined {
    const r = this.rollout;
    return r ? `the rollout of ${r.name} v${r.version} is ${r.state} (${name} is recorded; offer it with a rollout or select once the rollout ends)` : undefined;
  }

  private onEvent(e: SessionEvent): void {
    try {
      for (const o of this.observers) o.event(e);
      const end = this.status.apply(e, (login) => this.devices.has(login));
      this.statusChanged = true;
      if (end) this.onDownloadEnd(end);
      if (this.status.pendingEvents >= FLUSH_EVENTS) this.flush();
    } catch (err) {
      if (!this.warnedEvent) this.log.error({ err: (err as Error).message }, `fleet: session event not recorded: ${(err as Error).message}`);
      this.warnedEvent = true;
    }
  }

  private onDownloadEnd(end: DownloadEnd): void {
    const r = this.rollout;
    if (r && end.name === r.name && end.version === r.version && end.outcome !== 'completed') this.pendingFailures++;
  }

  /** Reloads devices and rollout when the store's change counter moved (cheap when it did not). */
  refresh(force = false): void {
    const c = this.store.changeCounter();
    if (!force && c === this.counter) return;
    this.counter = c;
    this.devices = new Map(this.store.devices().map((d) => [d.login, d]));
    const r = this.store.currentRollout();
    const same = r && this.rollout && r.id === this.rollout.id;
    this.rollout = r;
    if (!r) this.offer = undefined;
    else if (!same || !this.offer) this.keepSnapshot(r);
    for (const s of [...this.status.all()]) if (!this.devices.has(s.login)) this.status.forget(s.login);
  }

  /** The rollout's UPGRADE.TXT, or undefined when its snapshot is not there (then devices read the root's). */
  private rolloutOffer(r: RolloutRow): OfferedManifest | undefined {
    if (!lstatSync(snapshotPath(this.root, r.name, r.version), { throwIfNoEntry: false })?.isFile()) {
      this.log.warn({ name: r.name, version: r.version }, `rollout of ${r.name} v${r.version}: its snapshot is missing; devices read the root's UPGRADE.TXT`);
      return undefined;
    }
    const text = formatManifest({ file: r.name, path: '/', size: r.size, version: r.version, crc32: r.crc32, md5: r.md5 }, { checksums: this.checksums });
    return { bytes: Buffer.from(text, 'latin1'), file: r.name, version: r.version };
  }

  /** Checks the rollout's snapshot is still there (else devices read the root's offer) and touches it. */
  private keepSnapshot(r: RolloutRow): void {
    this.snapshotCheckedAt = this.now();
    this.offer = this.rolloutOffer(r);
    if (this.offer) void retireSnapshot(this.root, { name: r.name, version: r.version });
  }

  /** One round of housekeeping: reload on change, window, error budget, status flush, waves. Never throws. */
  tick(): void {
    try {
      this.refresh();
      const r = this.rollout;
      this.windowOpen = r ? inWindow(r.window, this.now()) : true;
      if (r && this.now() - this.snapshotCheckedAt >= SNAPSHOT_CHECK_MS) this.keepSnapshot(r);
      if (this.pendingFailures) this.countFailures();
      if (this.now() - this.lastFlush >= FLUSH_MS) this.flush();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `fleet housekeeping failed: ${(err as Error).message}`);
    }
  }

  /** Writes pending status (one transaction), then checks whether the current wave is done. */
  flush(): void {
    this.lastFlush = this.now();
    this.status.flush();
    if (this.statusChanged) {
      this.statusChanged = false;
      this.checkWave();
    }
  }

  /** Devices the rollout has reached: read its offer or downloaded it. */
  private reached(r: RolloutRow): number {
    let n = 0;
    for (const s of this.status.all()) {
      if ((s.offeredFile === r.name && s.offeredVersion === r.version) || (s.dlFile === r.name && s.dlVersion === r.version)) n++;
    }
    return n;
  }

  private countFailures(): void {
    const r = this.rollout;
    const n = this.pendingFailures;
    this.pendingFailures = 0;
    if (!r) return;
    const reached = this.reached(r);
    const row = changeRollout(this.store, this.root, SERVER_ACTOR, 'rollout-failures', (row) => {
      if (row.id !== r.id) return 'not counted: another rollout';
      row.failures += n;
      const budget = failureBudget(row, reached);
      if (row.state === 'active' && budget !== undefined && row.failures >= budget) {
        row.state = 'paused';
        row.reason = `error budget spent: ${row.failures} downloads cut short or failed (budget ${budget} = max(--max-failures, rate × ${reached} devices reached))`;
        this.log.warn({ name: row.name, version: row.version, failures: row.failures, budget }, `rollout of ${row.name} v${row.version} paused: ${row.reason}`);
      }
      return `${n} more downloads cut short or failed (${row.failures} in all)`;
    });
    this.rollout = row;
    this.refresh(true);
  }

  private checkWave(): void {
    const r = this.rollout;
    if (!r || r.state !== 'active' || !r.waves || r.wave >= waveCount(r) - 1) return;
    let members = 0;
    let updated = 0;
    for (const d of this.devices.values()) {
      if (!inRollout(r, d.cohort, d.bucket)) continue;
      members++;
      const s = this.status.get(d.login);
      if (s.state === 'updated' && s.completedFile === r.name && s.completedVersion === r.version) updated++;
    }
    if (members === 0 || updated / members < (r.advanceAt ?? 1)) return;
    const row = advanceWave(this.store, this.root, SERVER_ACTOR, r.id, `${updated} of ${members} devices of wave ${r.wave} updated`);
    this.log.info({ name: row.name, version: row.version, wave: row.wave }, `rollout of ${row.name} v${row.version}: wave ${row.wave} started (${updated}/${members} of the previous wave updated)`);
    this.refresh(true);
  }

  /** Stops the timer and writes pending status. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.flush();
    } finally {
      this.store.close();
    }
  }
}
