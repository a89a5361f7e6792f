/**
 * Listing formats, pure: the Unix `ls -l` line of LIST and STAT (the form devices parse), RFC 3659 §7 facts for
 * MLSD and MLST, and the RFC 3659 §2.3 time-val of MDTM and the `modify` fact.
 */

/** What a listing line needs of an entry. `size` in bytes. */
export interface ListEntry {
  name: string;
  size: number;
  mtime: Date;
  isDirectory(): boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

/**
 * One Unix `ls -l` line for LIST/STAT, single spaces between fields, no padding:
 * `-r--r--r-- 1 ftp ftp <size> Mon DD HH:MM <name>` (or `Mon DD YYYY` for dates over 6 months from `now`).
 * The 5th whitespace-separated field is the size in bytes: the Waspmote 3G (`AT+CFTPLIST`, Wasp3G.cpp
 * getFTPsize) and u-blox `AT+UFTPC=13` take it as the file size. Single spaces keep it right for both a
 * strtok-style and a naive one-space split. Owner, group and mode are fixed: devices get read-only access
 * whatever the disk says.
 */
export function formatListLine(stat: ListEntry, now = new Date()): string {
  const dir = stat.isDirectory();
  const m = stat.mtime;
  const recent = Math.abs(now.getTime() - m.getTime()) < SIX_MONTHS_MS;
  const dd = String(m.getUTCDate()).padStart(2, '0');
  const when = recent
    ? `${String(m.getUTCHours()).padStart(2, '0')}:${String(m.getUTCMinutes()).padStart(2, '0')}`
    : String(m.getUTCFullYear());
  return [dir ? 'dr-xr-xr-x' : '-r--r--r--', '1', 'ftp', 'ftp', String(stat.size), MONTHS[m.getUTCMonth()], dd, when, stat.name].join(' ');
}

/** RFC 3659 §2.3 time-val in UTC without fraction: `YYYYMMDDHHMMSS` (MDTM's 213 reply, the `modify` fact). */
export function timeVal(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The facts firmdrop gives (RFC 3659 §7.5), in FEAT's `MLST` line order; all of them are always sent. */
export const MLST_FACTS: readonly string[] = ['type', 'size', 'modify', 'perm'];

/**
 * One RFC 3659 §7 entry: `type=file;size=N;modify=YYYYMMDDHHMMSS;perm=r; NAME` (a folder: `type=dir`, `perm=el`;
 * `type=cdir` for the listed folder itself when `self`). `perm` is read-only (§7.5.5: r = RETR, e = CWD,
 * l = LIST/MLSD). No trailing CRLF.
 */
export function formatFacts(stat: ListEntry, self = false): string {
  const dir = stat.isDirectory();
  const type = dir ? (self ? 'cdir' : 'dir') : 'file';
  return `type=${type};size=${stat.size};modify=${timeVal(stat.mtime)};perm=${dir ? 'el' : 'r'}; ${stat.name}`;
}
