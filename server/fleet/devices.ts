/**
 * Device logins: add, import (CSV), remove, list. Each change is one transaction with its audit entry; an import
 * is all or nothing. Passwords are stored as salted scrypt hashes (server/fleet/passwords.ts), never in clear.
 */
import type { DeviceRow, DeviceState, StatusRow, Store } from '../store/store.ts';
import { audit, describeOffer } from './audit.ts';
import { hashPassword } from './passwords.ts';
import { bucketOf } from './select.ts';
import { blankStatus } from './status.ts';

/** A refused device change; `message` is one line (naming the CSV line for an import). Nothing was changed. */
export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

/**
 * Login rule: 1..64 printable ASCII characters without spaces, as an FTP `USER` argument carries them (RFC 959
 * §5.3.2 `<username> ::= <string>`) and the Waspmote library passes them (a C string in requestOTA's `user`).
 */
const LOGIN_RE = /^[\x21-\x7e]{1,64}$/;
/** Password rule: 1..64 printable ASCII characters (spaces allowed inside), as `PASS` carries them. */
const PASSWORD_RE = /^[\x20-\x7e]{1,64}$/;
/** Cohort rule: 1..32 letters, digits, `_`, `-` or `.`. */
const COHORT_RE = /^[A-Za-z0-9_.-]{1,32}$/;

/** One device to add. */
export interface NewDevice { login: string; password: string; cohort?: string | null }

/** Why `d` cannot be added, or undefined. */
export function deviceProblem(d: NewDevice): string | undefined {
  if (!LOGIN_RE.test(d.login)) return `login "${d.login}": expected 1 to 64 printable characters without spaces`;
  if (!PASSWORD_RE.test(d.password)) return `password of ${d.login}: expected 1 to 64 printable ASCII characters`;
  if (d.cohort && !COHORT_RE.test(d.cohort)) return `cohort "${d.cohort}" of ${d.login}: expected 1 to 32 letters, digits, _ - or .`;
  return undefined;
}

/** Adds (or replaces the password and cohort of) device logins, in one transaction with one audit entry. */
export function addDevices(store: Store, root: string, devices: NewDevice[], actor: string, action = 'device-add'): void {
  for (const d of devices) {
    const why = deviceProblem(d);
    if (why) throw new DeviceError(why);
  }
  const rows = devices.map((d) => ({ login: d.login, ...hashPassword(d.password), cohort: d.cohort || null, bucket: bucketOf(d.login), createdAt: new Date().toISOString() }));
  store.tx(() => {
    const before = describeOffer(root, store);
    for (const r of rows) store.putDevice(r);
    const subject = rows.length === 1 ? rows[0]!.login : `${rows.length} devices`;
    const cohorts = [...new Set(rows.map((r) => r.cohort ?? '(none)'))].join(', ');
    audit(store, root, { actor, action, subject, detail: `cohort ${cohorts}`, before });
  });
}

/**
 * Parses a device CSV: header `login,password,cohort` (cohort may be empty), one device a line, no quoting (a
 * field cannot hold a comma). Blank lines are skipped.
 * @throws DeviceError naming the line for a bad header or row, or a login given twice
 */
export function parseDeviceCsv(text: string, file = 'CSV'): NewDevice[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if ((lines[0] ?? '').trim().toLowerCase() !== 'login,password,cohort') {
    throw new DeviceError(`${file} line 1: expected the header login,password,cohort`);
  }
  const out: NewDevice[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const f = line.split(',');
    if (f.length !== 3) throw new DeviceError(`${file} line ${i + 1}: expected 3 fields login,password,cohort, got ${f.length}`);
    const d = { login: f[0]!.trim(), password: f[1]!, cohort: f[2]!.trim() || null };
    const why = deviceProblem(d);
    if (why) throw new DeviceError(`${file} line ${i + 1}: ${why}`);
    if (seen.has(d.login)) throw new DeviceError(`${file} line ${i + 1}: login ${d.login} given twice`);
    seen.add(d.login);
    out.push(d);
  }
  return out;
}

/** Removes a device login (with its status and sessions). @throws DeviceError when there is none */
export function removeDevice(store: Store, root: string, login: string, actor: string): void {
  store.tx(() => {
    const before = describeOffer(root, store);
    if (!store.removeDevice(login)) throw new DeviceError(`no device login ${login}`);
    audit(store, root, { actor, action: 'device-remove', subject: login, before });
  });
}

/** One device as `firmdrop devices --json` prints it (docs/fleet.md). `bytes`: bytes of the file the device holds. */
export interface DeviceReport {
  login: string; cohort: string | null; state: DeviceState; lastSeen: string | null; address: string | null;
  offered: { file: string; version: number } | null;
  download: { file: string; version: number | null; outcome: string | null; bytes: number } | null;
}

/** One device and its status as a DeviceReport (what `firmdrop devices --json` prints for it). */
export function deviceReport(d: Pick<DeviceRow, 'login' | 'cohort'>, s: StatusRow): DeviceReport {
  return {
    login: d.login, cohort: d.cohort, state: s.state, lastSeen: s.lastSeen, address: s.address,
    offered: s.offeredFile === null ? null : { file: s.offeredFile, version: s.offeredVersion ?? 0 },
    download: s.dlFile === null ? null : { file: s.dlFile, version: s.dlVersion, outcome: s.dlOutcome, bytes: (s.dlOffset ?? 0) + (s.dlBytes ?? 0) },
  };
}

/** Every device with its status, by login. */
export function deviceReports(store: Store): DeviceReport[] {
  const status = new Map(store.statuses().map((s) => [s.login, s]));
  return store.devices().map((d) => deviceReport(d, status.get(d.login) ?? blankStatus(d.login)));
}
