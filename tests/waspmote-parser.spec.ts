import { expect } from 'chai';
import { readUpgradeTxt, cAtoi, toInt8, toUint8, type WaspModule } from '../client-sim/waspmote/upgrade-txt.ts';
import { tagCode, describeCode, CODES, gprsDownloadCode } from '../client-sim/waspmote/codes.ts';
import { catBuffer } from '../client-sim/waspmote/sd.ts';
import { firstHit } from '../client-sim/waspmote/ota-env.ts';
import { getFilePath3g } from '../client-sim/waspmote/ota-3g.ts';
import { gprsNameAndPath } from '../client-sim/waspmote/ota-gprs.ts';

const running = { programId: 'OTA_APP', version: 5 };
const good = 'FILE:NEWPROG\nPATH:/\nSIZE:1234\nVERSION:7\n';

function code(module: WaspModule, text: string, run = running): number | 'ok' {
  const r = readUpgradeTxt(module, Buffer.from(text, 'latin1'), run);
  return r.ok ? 'ok' : tagCode(module, r.outcome);
}

describe('waspmote device-side UPGRADE.TXT parser (the requestOTA tag parses, e.g. Wasp4G.cpp:7319-7497)', () => {
  it('reads the Meshlium file on every module', () => {
    for (const m of ['4g', 'wifi-pro', '3g', 'gprs'] as const) {
      const r = readUpgradeTxt(m, Buffer.from(good), running);
      expect(r.ok, m).to.equal(true);
      if (r.ok) {
        expect(r.manifest.file).to.equal('NEWPROG');
        expect(r.manifest.path).to.equal('/');
        expect(r.manifest.version).to.equal(7);
        expect(r.manifest.size).to.equal(m === '4g' || m === 'wifi-pro' ? 1234 : undefined);
      }
    }
  });

  it('CRLF: 4G code 4 and WiFi PRO 0022 (the \\r is part of FILE); 3G/GPRS take 7 bytes and accept it', () => {
    const crlf = good.replace(/\n/g, '\r\n');
    expect(code('4g', crlf)).to.equal(4);
    expect(code('wifi-pro', crlf)).to.equal(22);
    const r = readUpgradeTxt('3g', Buffer.from(crlf), running);
    expect(r.ok).to.equal(true);
    if (r.ok) { expect(r.manifest.file).to.equal('NEWPROG'); expect(r.manifest.path).to.equal('/\r'); }
    expect(code('gprs', crlf)).to.equal('ok');
  });

  it('a space after the colon makes FILE 8 bytes (4G 4, WiFi 0022) and shifts the 3G/GPRS name', () => {
    const spaced = 'FILE: NEWPROG\nPATH:/\nSIZE:1234\nVERSION:7\n';
    expect(code('4g', spaced)).to.equal(4);
    expect(code('wifi-pro', spaced)).to.equal(22);
    const r = readUpgradeTxt('gprs', Buffer.from(spaced), running);
    expect(r.ok && r.manifest.file).to.equal(' NEWPRO');
  });

  it('missing labels give each module its own code, in its own order', () => {
    const noFile = 'PATH:/\nSIZE:1\nVERSION:2\n';
    expect([code('4g', noFile), code('wifi-pro', noFile), code('3g', noFile), code('gprs', noFile)]).to.deep.equal([5, 23, -23, -66]);
    const noPath = 'FILE:NEWPROG\nSIZE:1\nVERSION:2\n';
    expect([code('4g', noPath), code('wifi-pro', noPath), code('3g', noPath), code('gprs', noPath)]).to.deep.equal([7, 25, -24, -67]);
    const noSize = 'FILE:NEWPROG\nPATH:/\nVERSION:2\n';
    expect([code('4g', noSize), code('wifi-pro', noSize), code('3g', noSize), code('gprs', noSize)]).to.deep.equal([8, 26, 'ok', 'ok']);
    const noVersion = 'FILE:NEWPROG\nPATH:/\nSIZE:1\n';
    expect([code('4g', noVersion), code('wifi-pro', noVersion), code('3g', noVersion), code('gprs', noVersion)]).to.deep.equal([9, 27, -25, -68]);
  });

  it('NO_FILE is checked before PATH on 4G/WiFi PRO and after PATH and VERSION on 3G/GPRS', () => {
    const bare = 'FILE:NO_FILE\n';
    expect([code('4g', bare), code('wifi-pro', bare), code('3g', bare), code('gprs', bare)]).to.deep.equal([6, 24, -24, -67]);
    const full = 'FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n';
    expect([code('4g', full), code('wifi-pro', full), code('3g', full), code('gprs', full)]).to.deep.equal([6, 24, -26, -69]);
  });

  it('labels are case-sensitive substrings, first occurrence, order free', () => {
    expect(code('4g', 'file:NEWPROG\nPATH:/\nSIZE:1\nVERSION:2\n')).to.equal(5);
    const reordered = 'VERSION:9\nSIZE:10\nPATH:/\nFILE:NEWPROG\n';
    const r = readUpgradeTxt('4g', Buffer.from(reordered), running);
    expect(r.ok && r.manifest).to.deep.equal({ file: 'NEWPROG', path: '/', size: 10, version: 9 });
    // 3G/GPRS: FILE from the first ':' of the buffer, so FILE must be first
    const g = readUpgradeTxt('3g', Buffer.from(reordered), running);
    expect(g.ok && g.manifest.file).to.equal('9\nSIZE:');
    // first occurrence wins: a comment line containing PATH: before the real one
    const twice = 'FILE:NEWPROG\nX-PATH:/bad\nPATH:/\nSIZE:1\nVERSION:2\n';
    const t = readUpgradeTxt('wifi-pro', Buffer.from(twice), running);
    expect(t.ok && t.manifest.path).to.equal('/bad');
  });

  it('VERSION wraps to an unsigned byte on 4G/WiFi PRO (256→0, 300→44, −1→255) and a signed byte on GPRS', () => {
    const v = (n: string, m: WaspModule) => {
      const r = readUpgradeTxt(m, Buffer.from(`FILE:NEWPROG\nPATH:/\nSIZE:1\nVERSION:${n}\n`), running);
      return r.ok ? r.manifest.version : NaN;
    };
    expect([v('256', '4g'), v('300', '4g'), v('-1', 'wifi-pro'), v('7', '4g')]).to.deep.equal([0, 44, 255, 7]);
    expect([v('127', 'gprs'), v('128', 'gprs'), v('255', 'gprs')]).to.deep.equal([127, -128, -1]);
    expect(toUint8(300)).to.equal(44);
    expect(toInt8(200)).to.equal(-56);
    expect(cAtoi(' \r42abc', 16)).to.equal(42);
    expect(cAtoi('70000', 16)).to.equal(70000 - 65536);
    expect(cAtoi('x', 32)).to.equal(0);
  });

  it('version rule per module, same name only (4G accepts anything when current is 255)', () => {
    const file = (ver: number) => `FILE:OTA_APP\nPATH:/\nSIZE:1\nVERSION:${ver}\n`;
    const at = (version: number) => ({ programId: 'OTA_APP', version });
    expect(code('4g', file(5), at(5))).to.equal(10);
    expect(code('4g', file(4), at(5))).to.equal(10);
    expect(code('4g', file(6), at(5))).to.equal('ok');
    expect(code('4g', file(1), at(255))).to.equal('ok');
    expect(code('wifi-pro', file(1), at(255))).to.equal(28);
    expect(code('wifi-pro', file(5), at(5))).to.equal(28);
    expect(code('3g', file(5), at(5))).to.equal(-27);
    expect(code('3g', file(6), at(5))).to.equal('ok');
    expect(code('gprs', file(6), at(5))).to.equal('ok');
    // GPRS signed compare: 200 is −56, never newer than 5; and 128..255 are never newer than anything ≥ 0
    expect(code('gprs', file(200), at(5))).to.equal(-70);
    expect(code('gprs', file(128), at(0))).to.equal(-70);
    expect(code('3g', file(200), at(5))).to.equal('ok');
    // a different name is always accepted, whatever the version
    expect(code('4g', 'FILE:OLDPROG\nPATH:/\nSIZE:1\nVERSION:1\n', at(200))).to.equal('ok');
  });

  it('a value without a final \\n: FILE fails the length check on 4G/WiFi; other values overrun (undefined behaviour)', () => {
    expect(code('4g', 'FILE:NEWPROG')).to.equal(4);
    expect(code('wifi-pro', 'FILE:NEWPROG')).to.equal(22);
    for (const m of ['4g', 'wifi-pro', '3g', 'gprs'] as const) {
      const r = readUpgradeTxt(m, Buffer.from('FILE:NEWPROG\nPATH:/\nSIZE:1\nVERSION:7'), running);
      expect(r.ok, m).to.equal(false);
      expect(r.undefinedBehaviour, m).to.equal(true);
      expect(r.overrun?.why, m).to.match(/VERSION value has no \\n/);
    }
    expect(readUpgradeTxt('3g', Buffer.from('FILE:NEWPROG\nPATH:/\nVERSION:7'), running).overrun?.source).to.equal('Wasp3G.cpp:9819');
    // a missing label the library reports first still wins
    expect(code('4g', 'FILE:NEWPROG\nPATH:/\nVERSION:7')).to.equal(8);
  });

  it('buffer overruns of 3G/GPRS aux_ver[4] and the PATH buffers are undefined behaviour', () => {
    const ub = (m: 'g' | '3g' | 'gprs' | '4g', text: string) => readUpgradeTxt(m === 'g' ? 'gprs' : m, Buffer.from(text), running).overrun?.source;
    expect(ub('3g', 'FILE:NEWPROG\nPATH:/\nVERSION:123\n')).to.equal(undefined);
    expect(ub('3g', 'FILE:NEWPROG\nPATH:/\nVERSION:1234\n')).to.equal('Wasp3G.cpp:9819');
    expect(ub('3g', 'FILE:NEWPROG\r\nPATH:/\r\nVERSION:12\r\n')).to.equal(undefined);
    expect(ub('3g', 'FILE:NEWPROG\r\nPATH:/\r\nVERSION:123\r\n')).to.equal('Wasp3G.cpp:9819');
    expect(ub('gprs', 'FILE:NEWPROG\nPATH:/\nVERSION:1000\n')).to.equal('WaspGPRS_Pro_core.cpp:7097');
    expect(ub('3g', `FILE:NEWPROG\nPATH:/${'a'.repeat(51)}\nVERSION:4\n`)).to.equal(undefined);
    expect(ub('3g', `FILE:NEWPROG\nPATH:/${'a'.repeat(52)}\nVERSION:4\n`)).to.equal('Wasp3G.cpp:9812');
    expect(ub('gprs', `FILE:NEWPROG\nPATH:/${'a'.repeat(60)}\nVERSION:4\n`)).to.equal(undefined);
    expect(ub('gprs', `FILE:NEWPROG\nPATH:/${'a'.repeat(61)}\nVERSION:4\n`)).to.equal('WaspGPRS_Pro_core.cpp:7089');
    expect(ub('4g', `FILE:NEWPROG\nPATH:/${'a'.repeat(98)}\nSIZE:1\nVERSION:4\n`)).to.equal(undefined);
    expect(ub('4g', `FILE:NEWPROG\nPATH:/${'a'.repeat(99)}\nSIZE:1\nVERSION:4\n`)).to.equal('Wasp4G.cpp:7388');
  });

  it('SIZE and VERSION keep at most 9 characters on 4G/WiFi PRO', () => {
    const r = readUpgradeTxt('4g', Buffer.from('FILE:NEWPROG\nPATH:/\nSIZE:12345678901\nVERSION:2\n'), running);
    expect(r.ok && r.manifest.size).to.equal(123456789);
  });

  it('SD.cat: 256-byte cap, truncated from 255 bytes on, ending ">>\\n"; labels past the cap are not seen', () => {
    const c254 = catBuffer(Buffer.alloc(254, 'a'));
    expect(c254.truncated).to.equal(false);
    expect(c254.text.length).to.equal(254);
    const c255 = catBuffer(Buffer.alloc(255, 'a'));
    expect(c255.truncated).to.equal(true);
    expect(c255.text.toString('latin1').endsWith('a>>\n')).to.equal(true);
    expect(c255.text.length).to.equal(255);
    const padded = good.replace('VERSION:7\n', '') + 'X'.repeat(260) + '\nVERSION:7\n';
    const r = readUpgradeTxt('4g', Buffer.from(padded), running);
    expect(r.ok).to.equal(false);
    if (!r.ok) { expect(r.outcome).to.equal('NO_VERSION'); expect(r.truncated).to.equal(true); }
    // a NUL byte ends the C string
    expect(code('4g', 'FILE:NEWPROG\nPATH:/\n\0SIZE:1\nVERSION:2\n')).to.equal(8);
  });
});

describe("waspmote code table (the requestOTA functions, Libelium's OTA guide)", () => {
  it('lists 4G 1..26, WiFi PRO 0010 and 0021..0030, 3G and GPRS tag codes', () => {
    for (let c = 1; c <= 26; c++) expect(describeCode('4g', c), `4G ${c}`).to.not.equal(undefined);
    for (const c of [10, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]) expect(describeCode('wifi-pro', c, false), `WiFi ${c}`).to.not.equal(undefined);
    for (let c = -27; c <= -23; c++) expect(describeCode('3g', c)).to.not.equal(undefined);
    for (let c = -70; c <= -66; c++) expect(describeCode('gprs', c)).to.not.equal(undefined);
  });

  it('records where the guide disagrees: 3G −30/−31 (guide −31/−32), GPRS one-off shift, 4G 25/26 absent, 4G 11 wording', () => {
    expect(describeCode('3g', -30)?.guideCode).to.equal(-31);
    expect(describeCode('3g', -31)?.guideCode).to.equal(-32);
    expect(describeCode('gprs', -12)?.guideCode).to.equal(-11);
    expect(describeCode('gprs', -19)?.guideCode).to.equal(-18);
    expect(describeCode('gprs', -74)?.guideCode).to.equal(-73);
    expect(describeCode('4g', 25)?.guideText).to.equal(undefined);
    expect(describeCode('4g', 26)?.note).to.match(/not in the guide/);
    expect(describeCode('4g', 11)?.note).to.match(/SIZE label/);
  });

  it('GPRS download results in a signed byte; −41…−47, −58 (+127) and bearer −2 stay listed but unreachable, with the reason', () => {
    expect(gprsDownloadCode(-57, 'binary')).to.equal(-128);
    expect(gprsDownloadCode(-58, 'binary')).to.equal(127);
    expect(gprsDownloadCode(-1, 'upgrade')).to.equal(-10);
    expect(gprsDownloadCode(-23, 'binary')).to.equal(-94);
    const entry = (code: number) => CODES.find((c) => c.module === 'gprs' && c.code === code)!;
    expect(entry(127).reachable).to.equal(false);
    expect(entry(127).unreachable).to.match(/only stops further attempts/);
    for (const r of [-41, -42, -43, -44, -45, -46, -47]) {
      expect(entry(gprsDownloadCode(r, 'binary')).reachable, `binary ${r}`).to.equal(false);
      expect(entry(gprsDownloadCode(r, 'binary')).unreachable).to.match(/answer == -2/);
    }
    expect(entry(-2).reachable).to.equal(false);
    expect(entry(-4).reachable).to.equal(true);
    // every downloadFile result has a name, for both files, and every entry names its library line
    for (const r of [-1, -2, -3, ...Array.from({ length: 7 }, (_, i) => -4 - i), -12, -13, -14, -15, -16, -17, -18, -19, -21, -22, -23,
      -48, -49, -50, -51, -52, -53, -54, -55, -56, -57]) {
      expect(describeCode('gprs', gprsDownloadCode(r, 'binary')), `binary result ${r}`).to.not.equal(undefined);
      expect(describeCode('gprs', gprsDownloadCode(r, 'upgrade')), `upgrade result ${r}`).to.not.equal(undefined);
    }
    for (const c of CODES) expect(c.source, `${c.module} ${c.name}`).to.match(/^Wasp\w+\.cpp:\d+/);
  });
});

describe('the library\'s answer matching and path rules', () => {
  it('stream search: the pattern that completes first wins, so "+CME ERROR: 3" is "ERROR" when both are awaited', () => {
    expect(firstHit('+CME ERROR: 3', ['+CFTPGETFILE: ', '+CME ERROR:', 'ERROR'])).to.equal(3);
    expect(firstHit('+CME ERROR: 3', ['OK', '+CME ERROR:'])).to.equal(2);
    expect(firstHit('+CME ERROR: 614', ['OK', 'ERROR:', 'ERROR\r\n'])).to.equal(2);
    expect(firstHit('ERROR', ['OK', 'ERROR:', 'ERROR\r\n'])).to.equal(3);
    expect(firstHit('+SAPBR:1,1,"10.0.0.2"', ['+SAPBR: 1,1,"'])).to.equal(0);
    expect(firstHit('+CFTPGETFILE: 0', ['+CFTPGETFILE: ', '+CME ERROR:', 'ERROR'])).to.equal(1);
  });

  it('3G drops the first character of a path with 0 or 1 "/" (strchr == strrchr); GPRS splits at the last "/"', () => {
    expect(getFilePath3g('/UPGRADE.TXT')).to.equal('UPGRADE.TXT');
    expect(getFilePath3g('SENSAPP')).to.equal('ENSAPP');
    expect(getFilePath3g('otaSENSAPP')).to.equal('taSENSAPP');
    expect(getFilePath3g('/otaSENSAPP')).to.equal('otaSENSAPP');
    expect(getFilePath3g('/ota/SENSAPP')).to.equal('/ota/SENSAPP');
    expect(gprsNameAndPath('.gprs/UPGRADE.TXT')).to.deep.equal({ name: '/UPGRADE.TXT', path: '.gprs' });
    expect(gprsNameAndPath('.gprs//SENSAPP')).to.deep.equal({ name: '/SENSAPP', path: '.gprs/' });
    expect(gprsNameAndPath('/UPGRADE.TXT')).to.deep.equal({ name: '/UPGRADE.TXT', path: '/' });
  });
});
