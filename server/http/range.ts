/**
 * Conditional and partial GET for the device mirror, pure functions (RFC 9110): `Range: bytes=…` (§14.1.2),
 * `If-Range` (§13.1.5), `If-None-Match` (§13.1.2) with strong ETags (§8.8.3). A binary's ETag is its MD5 in quotes,
 * strong: a snapshot never changes in place (server/snapshots/writer.ts), so equal ETags mean equal bytes.
 */

/** A byte range to send: `start`..`end` inclusive, in bytes from the start of the file. */
export interface ByteRange { start: number; end: number }

/**
 * What a `Range` header asks of a representation of `size` bytes:
 * - `full`: no Range, a unit other than `bytes`, a syntax error, or several ranges (a server MAY ignore Range,
 *   RFC 9110 §14.2; devices resume with one range, and multipart/byteranges would only cost them parsing);
 * - `partial`: one satisfiable range, clipped to the file (`bytes=5-` and `bytes=-5` included);
 * - `unsatisfiable`: one well-formed range that starts at or past the end of the file (416, §15.5.17).
 */
export type RangeResult = { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/** Parses `Range` for a file of `size` bytes (see RangeResult). Never throws. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  const first = m[1] === '' ? undefined : Number(m[1]);
  const last = m[2] === '' ? undefined : Number(m[2]);
  if (first === undefined) {
    // suffix range `bytes=-N`: the last N bytes (§14.1.2); N = 0 is unsatisfiable
    if (last === undefined || !Number.isSafeInteger(last) || last === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - last), end: size - 1 } };
  }
  if (!Number.isSafeInteger(first)) return { kind: 'unsatisfiable' };
  if (last !== undefined && (!Number.isSafeInteger(last) || last < first)) return { kind: 'full' }; // invalid: ignored
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start: first, end: Math.min(last ?? size - 1, size - 1) } };
}

/** The strong ETag of a binary with this MD5 (32 lowercase hex digits): `"<md5>"`. */
export function etagOf(md5: string): string {
  return `"${md5}"`;
}

/**
 * True when `If-None-Match` matches `etag` (then a GET or HEAD gets 304, RFC 9110 §13.1.2): `*`, or any listed
 * tag by weak comparison (§8.8.3.2: `W/"x"` matches `"x"`).
 */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => bare(t) === bare(etag));
}

/**
 * True when a Range may be honoured under `If-Range` (RFC 9110 §13.1.5): no If-Range, or an entity tag that
 * matches `etag` by strong comparison. A date, or a weak or different tag, means "send the whole file" (the client's
 * partial copy is of other bytes). `lastModified` is the file's mtime in ms: an HTTP-date equal to it (to the second)
 * is also accepted, as the RFC allows for a strong validator date.
 */
export function ifRangeAllows(header: string | undefined, etag: string, lastModified: number): boolean {
  if (header === undefined) return true;
  const v = header.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag;
  const when = Date.parse(v);
  return Number.isFinite(when) && Math.floor(lastModified / 1000) === Math.floor(when / 1000);
}
