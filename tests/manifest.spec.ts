import { expect } from 'chai';
import fc from 'fast-check';
import {
  formatManifest, parseManifest, lintManifest, noFileManifest, isProgramName, explainProgramName, suggestProgramName,
  ManifestError, MANIFEST_RULES, MAX_MANIFEST_BYTES, NO_FILE, type Manifest,
} from '../server/manifest.ts';

const GOOD = 'FILE:ABCDEFG\nPATH:/\nSIZE:174945\nVERSION:3\n';
const rules = (text: string | Buffer, binary?: { size: number; crc32?: string; md5?: string }) =>
  lintManifest(text, binary).map((i) => i.rule);

describe('manifest: formatManifest', () => {
  it('writes the Meshlium form, LF only, in order, then checksum lines', () => {
    const text = formatManifest({ file: 'ABCDEFG', path: '/', size: 174945, version: 3, crc32: '0a1b2c3d', md5: 'd41d8cd98f00b204e9800998ecf8427e' });
    expect(text).to.equal('FILE:ABCDEFG\nPATH:/\nSIZE:174945\nVERSION:3\nCRC32:0a1b2c3d\nMD5:d41d8cd98f00b204e9800998ecf8427e\n');
  });
  it('drops checksum lines with checksums: false (plain Meshlium format)', () => {
    const text = formatManifest({ file: 'ABCDEFG', path: '/', size: 10, version: 1, crc32: '0a1b2c3d', md5: 'd41d8cd98f00b204e9800998ecf8427e' }, { checksums: false });
    expect(text).to.equal('FILE:ABCDEFG\nPATH:/\nSIZE:10\nVERSION:1\n');
  });
  it('writes NO_FILE exactly as Meshlium does', () => {
    expect(formatManifest(noFileManifest())).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
  });
  const bad: [string, Manifest, string][] = [
    ['8-character FILE', { file: 'ABCDEFGH', path: '/', size: 1, version: 1 }, 'file-length'],
    ['FILE with a dot', { file: 'ABC.EFG', path: '/', size: 1, version: 1 }, 'file-charset'],
    ['VERSION 256', { file: 'ABCDEFG', path: '/', size: 1, version: 256 }, 'version-range'],
    ['VERSION 0 for a release', { file: 'ABCDEFG', path: '/', size: 1, version: 0 }, 'version-range'],
    ['SIZE 0 for a release', { file: 'ABCDEFG', path: '/', size: 0, version: 1 }, 'size-range'],
    ['SIZE of 10 digits', { file: 'ABCDEFG', path: '/', size: 1_000_000_000, version: 1 }, 'size-range'],
    ['PATH /ota', { file: 'ABCDEFG', path: '/ota', size: 1, version: 1 }, 'path'],
    ['uppercase CRC32', { file: 'ABCDEFG', path: '/', size: 1, version: 1, crc32: 'ABCDEF01' }, 'crc32-format'],
    ['short MD5', { file: 'ABCDEFG', path: '/', size: 1, version: 1, md5: 'abc' }, 'md5-format'],
    ['NO_FILE with a version', { file: NO_FILE, path: '/', size: 0, version: 3 }, 'no-file-form'],
  ];
  for (const [what, m, rule] of bad) {
    it(`refuses ${what} with a ManifestError (${rule})`, () => {
      try {
        formatManifest(m);
        expect.fail('formatManifest accepted it');
      } catch (e) {
        expect(e).to.be.instanceOf(ManifestError);
        expect((e as ManifestError).issues.map((i) => i.rule)).to.include(rule);
        expect((e as ManifestError).message).to.match(/^UPGRADE\.TXT/);
      }
    });
  }
});

describe('manifest: lintManifest', () => {
  it('accepts the canonical file, with and without checksum lines', () => {
    expect(lintManifest(GOOD)).to.deep.equal([]);
    expect(lintManifest(Buffer.from(GOOD + 'CRC32:0a1b2c3d\nMD5:d41d8cd98f00b204e9800998ecf8427e\n'))).to.deep.equal([]);
    expect(lintManifest('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n')).to.deep.equal([]);
  });
  it('every rule id it reports is a documented rule', () => {
    const texts = ['', 'x', 'FILE: ABCDEFGH\r\nPATH:/ota\r\nSIZE:-1\r\nVERSION:999\r\nOLDFILE:X\r\nCRC32:XYZ\r\nMD5:1\r\n' + 'Z'.repeat(300)];
    for (const t of texts) for (const r of rules(t)) expect(MANIFEST_RULES).to.have.property(r);
  });
  it('CRLF: crlf, and FILE read as 8 characters with the CR shown', () => {
    const issues = lintManifest(GOOD.replace(/\n/g, '\r\n'));
    expect(issues.map((i) => i.rule)).to.include.members(['crlf', 'file-length']);
    expect(issues.filter((i) => i.rule === 'crlf')).to.have.length(4);
    const fl = issues.find((i) => i.rule === 'file-length')!;
    expect(fl.message).to.equal("UPGRADE.TXT line 1: FILE must be 7 characters, got 8 ('ABCDEFG\\r'); 4G fails with code 4, WiFi PRO with 0022");
    expect(fl.line).to.equal(1);
  });
  it('space after the colon: space, and FILE is 8 characters with a bad character', () => {
    const r = rules('FILE: ABCDEFG\nPATH:/\nSIZE:1\nVERSION:1\n');
    expect(r).to.include.members(['space', 'file-length', 'file-charset']);
    expect(rules(GOOD.replace('SIZE:', 'SIZE:\t'))).to.deep.equal(['space']);
  });
  it('missing final LF', () => {
    const issues = lintManifest(GOOD.slice(0, -1));
    expect(issues.map((i) => i.rule)).to.deep.equal(['final-lf']);
    expect(issues[0].line).to.equal(4);
  });
  it('8-character FILE', () => {
    expect(rules(GOOD.replace('ABCDEFG', 'ABCDEFGH'))).to.deep.equal(['file-length']);
  });
  it('FILE with characters devices cannot store', () => {
    expect(rules(GOOD.replace('ABCDEFG', 'ABC-EFG'))).to.deep.equal(['file-charset']);
  });
  it('VERSION 256 (reads as 0 on a 4G) and VERSION 0 for a release', () => {
    const issues = lintManifest(GOOD.replace('VERSION:3', 'VERSION:256'));
    expect(issues.map((i) => i.rule)).to.deep.equal(['version-range']);
    expect(issues[0].message).to.contain('256 reads as 0');
    expect(rules(GOOD.replace('VERSION:3', 'VERSION:0'))).to.deep.equal(['version-range']);
  });
  it('non-numeric SIZE and VERSION', () => {
    expect(rules(GOOD.replace('SIZE:174945', 'SIZE:12k'))).to.deep.equal(['size-format']);
    expect(rules(GOOD.replace('VERSION:3', 'VERSION:-1'))).to.deep.equal(['version-format']);
    expect(rules(GOOD.replace('VERSION:3', 'VERSION:03'))).to.deep.equal(['version-format']);
    expect(rules(GOOD.replace('SIZE:174945', 'SIZE:1234567890'))).to.deep.equal(['size-format']);
  });
  it('SIZE not matching the binary, and checksums not matching', () => {
    const text = GOOD + 'CRC32:0a1b2c3d\nMD5:d41d8cd98f00b204e9800998ecf8427e\n';
    expect(lintManifest(text, { size: 174945, crc32: '0a1b2c3d', md5: 'd41d8cd98f00b204e9800998ecf8427e' })).to.deep.equal([]);
    const issues = lintManifest(text, { size: 174944, crc32: 'ffffffff', md5: '00000000000000000000000000000000' });
    expect(issues.map((i) => i.rule)).to.deep.equal(['size-mismatch', 'crc32-mismatch', 'md5-mismatch']);
    expect(issues[0].message).to.contain('174944 bytes');
  });
  it('255 bytes or more', () => {
    const pad = 'NOTE:' + 'x'.repeat(MAX_MANIFEST_BYTES - GOOD.length - 6) + '\n';
    expect((GOOD + pad).length).to.equal(MAX_MANIFEST_BYTES);
    expect(rules(GOOD + pad)).to.deep.equal([]);
    expect(rules(GOOD + 'x' + pad)).to.deep.equal(['too-long']);
  });
  it('missing and duplicate labels', () => {
    expect(rules('FILE:ABCDEFG\nSIZE:1\nVERSION:1\n')).to.deep.equal(['missing-label']);
    expect(lintManifest('FILE:ABCDEFG\nSIZE:1\n').map((i) => i.message)).to.deep.equal([
      'UPGRADE.TXT: PATH: is missing (4G codes 5/7/8/9, 3G −23/−24/−25)',
      'UPGRADE.TXT: VERSION: is missing (4G codes 5/7/8/9, 3G −23/−24/−25)',
    ]);
    expect(rules(GOOD + 'VERSION:4\n')).to.deep.equal(['duplicate-label']);
    expect(rules('')).to.deep.equal(['missing-label', 'missing-label', 'missing-label', 'missing-label']);
  });
  it('FILE not on the first line (3G/GPRS read the first colon)', () => {
    expect(rules('PATH:/\nFILE:ABCDEFG\nSIZE:1\nVERSION:1\n')).to.deep.equal(['file-first']);
  });
  it('PATH other than / is a warning naming the devices that break', () => {
    const issues = lintManifest(GOOD.replace('PATH:/', 'PATH:/ota'));
    expect(issues.map((i) => i.rule)).to.deep.equal(['path']);
    expect(issues[0].severity).to.equal('warning');
    expect(issues[0].message).to.match(/4G ignores PATH/).and.match(/3G/).and.contain('/otaABCDEFG');
  });
  it('an extra label containing a device label as a substring', () => {
    expect(rules(GOOD + 'OLDFILE:XYZ\n')).to.deep.equal(['label-substring']);
    expect(rules(GOOD + 'NOTE:seePATH:/x\n')).to.deep.equal(['label-substring']);
  });
  it('badly formed checksum lines', () => {
    expect(rules(GOOD + 'CRC32:0A1B2C3D\n')).to.deep.equal(['crc32-format']);
    expect(rules(GOOD + 'MD5:abc\n')).to.deep.equal(['md5-format']);
  });
  it('NO_FILE with a version or checksums', () => {
    expect(rules('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:2\n')).to.deep.equal(['no-file-form']);
  });
  it('empty lines and lines without a colon', () => {
    expect(rules(GOOD + '\nhello\n')).to.deep.equal(['syntax', 'syntax']);
  });
  it('reports every rule broken at once', () => {
    const r = rules('PATH:/ota\r\nFILE: TOOLONGNAME\r\nSIZE:x\r\nVERSION:300\r\nOLDFILE:1');
    expect(r).to.include.members(['crlf', 'space', 'final-lf', 'file-first', 'file-length', 'file-charset', 'path',
      'size-format', 'version-range', 'label-substring']);
  });
});

describe('manifest: parseManifest', () => {
  it('returns the manifest of a valid file', () => {
    expect(parseManifest(GOOD)).to.deep.equal({ file: 'ABCDEFG', path: '/', size: 174945, version: 3 });
    expect(parseManifest(Buffer.from('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n'))).to.deep.equal(noFileManifest());
  });
  it('throws a ManifestError carrying every issue', () => {
    try {
      parseManifest('FILE:ABCDEFGH\r\nPATH:/\r\nSIZE:1\r\nVERSION:1\r\n');
      expect.fail('accepted');
    } catch (e) {
      expect(e).to.be.instanceOf(ManifestError);
      expect((e as ManifestError).issues.map((i) => i.rule)).to.include.members(['crlf', 'file-length']);
    }
  });
});

describe('manifest: program names', () => {
  it('accepts 7 letters/digits/_ and refuses the rest, saying why', () => {
    expect(isProgramName('_4G_20_')).to.equal(true);
    expect(isProgramName('abc1234')).to.equal(true);
    expect(isProgramName(NO_FILE)).to.equal(false);
    expect(explainProgramName('ABCDEFG')).to.equal(undefined);
    expect(explainProgramName('MYPROGRAM.bin')).to.match(/extension \('\.bin'\)/).and.match(/13 characters/).and.contain("rename it to 'MYPROGR'");
    expect(explainProgramName('TOOLONGNAME')).to.match(/11 characters/).and.contain("'TOOLONG'");
    expect(explainProgramName('ABCDEFG.hex')).to.contain("rename it to 'ABCDEFG'");
    expect(explainProgramName('AB-DEFG')).to.contain("'-'");
    expect(explainProgramName('ABC')).to.match(/3 characters/).and.not.contain('rename');
    expect(suggestProgramName('_4G_20_OTA')).to.equal('_4G_20_');
  });
});

describe('manifest: properties', () => {
  const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
  const name = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'), minLength: 7, maxLength: 7 })
    .filter((n) => n !== NO_FILE);
  const release: fc.Arbitrary<Manifest> = fc.record({
    file: name, path: fc.constant('/'), size: fc.integer({ min: 1, max: 999_999_999 }), version: fc.integer({ min: 1, max: 255 }),
    crc32: fc.option(hex(8), { nil: undefined }), md5: fc.option(hex(32), { nil: undefined }),
  }).map((m) => {
    const out: Manifest = { file: m.file, path: m.path, size: m.size, version: m.version };
    if (m.crc32 !== undefined) out.crc32 = m.crc32;
    if (m.md5 !== undefined) out.md5 = m.md5;
    return out;
  });
  const manifest = fc.oneof(release, fc.constant(noFileManifest()));

  it('format → parse round-trips, and every formatted manifest passes lint and stays under 255 bytes', () => {
    fc.assert(fc.property(manifest, fc.boolean(), (m, checksums) => {
      const text = formatManifest(m, { checksums });
      expect(lintManifest(text)).to.deep.equal([]);
      expect(Buffer.byteLength(text)).to.be.lessThan(255);
      expect(text).to.match(/^FILE:[^\n]*\nPATH:\/\nSIZE:\d+\nVERSION:\d+\n/);
      const back = parseManifest(text);
      if (checksums) expect(back).to.deep.equal(m);
      else expect(back).to.deep.equal({ file: m.file, path: m.path, size: m.size, version: m.version });
    }), { numRuns: 500 });
  });
  it('lint never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => { lintManifest(s); }), { numRuns: 300 });
  });
});
