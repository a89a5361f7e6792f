// Range, If-Range and If-None-Match rules of the device mirror (RFC 9110 §13.1, §14), as pure functions.
import { expect } from 'chai';
import { ifRangeAllows, noneMatchHits, parseRange } from '../server/http/range.ts';
import { parseBasicAuth } from '../server/http/mirror.ts';

describe('HTTP range and conditional rules', () => {
  it('parses one byte range, clipping to the file; suffix ranges; ignores what it may ignore', () => {
    expect(parseRange(undefined, 100)).to.deep.equal({ kind: 'full' });
    expect(parseRange('bytes=0-9', 100)).to.deep.equal({ kind: 'partial', range: { start: 0, end: 9 } });
    expect(parseRange('bytes=90-', 100)).to.deep.equal({ kind: 'partial', range: { start: 90, end: 99 } });
    expect(parseRange('bytes=90-500', 100)).to.deep.equal({ kind: 'partial', range: { start: 90, end: 99 } });
    expect(parseRange('bytes=-10', 100)).to.deep.equal({ kind: 'partial', range: { start: 90, end: 99 } });
    expect(parseRange('bytes=-500', 100)).to.deep.equal({ kind: 'partial', range: { start: 0, end: 99 } });
    expect(parseRange('BYTES = 5 - 6', 100)).to.deep.equal({ kind: 'partial', range: { start: 5, end: 6 } });
    for (const ignored of ['items=0-9', 'bytes=0-1,5-6', 'bytes=9-1', 'bytes=-', 'bytes=a-b', 'garbage']) {
      expect(parseRange(ignored, 100), ignored).to.deep.equal({ kind: 'full' });
    }
    for (const bad of ['bytes=100-', 'bytes=100-200', 'bytes=-0', `bytes=${'9'.repeat(30)}-`]) {
      expect(parseRange(bad, 100), bad).to.deep.equal({ kind: 'unsatisfiable' });
    }
  });

  it('If-None-Match: * and any listed tag, weak or strong; If-Range: strong ETag or the exact date only', () => {
    const etag = '"abc"';
    expect(noneMatchHits(undefined, etag)).to.equal(false);
    expect(noneMatchHits('*', etag)).to.equal(true);
    expect(noneMatchHits('"x", W/"abc"', etag)).to.equal(true);
    expect(noneMatchHits('"x"', etag)).to.equal(false);
    expect(ifRangeAllows(undefined, etag, 0)).to.equal(true);
    expect(ifRangeAllows('"abc"', etag, 0)).to.equal(true);
    expect(ifRangeAllows('W/"abc"', etag, 0)).to.equal(false);
    expect(ifRangeAllows('"other"', etag, 0)).to.equal(false);
    const mtime = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    expect(ifRangeAllows(new Date(mtime).toUTCString(), etag, mtime)).to.equal(true);
    expect(ifRangeAllows(new Date(mtime + 1000).toUTCString(), etag, mtime)).to.equal(false);
    expect(ifRangeAllows('not a date', etag, mtime)).to.equal(false);
  });

  it('parses HTTP Basic credentials (RFC 7617), a colon in the password included', () => {
    const b = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(parseBasicAuth(b('ota:libelium'))).to.deep.equal({ user: 'ota', pass: 'libelium' });
    expect(parseBasicAuth(b('dev:se:cret'))).to.deep.equal({ user: 'dev', pass: 'se:cret' });
    expect(parseBasicAuth(b('nocolon'))).to.equal(undefined);
    expect(parseBasicAuth('Bearer abc')).to.equal(undefined);
    expect(parseBasicAuth(undefined)).to.equal(undefined);
  });
});
