/**
 * PORT/EPRT argument grammar and the bounce check (server/active-target.ts), as pure functions.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ActiveTargetError, canonicalIp, isClientHost, parseEprtArg, parsePortArg } from '../server/ftp/active-target.ts';

function code(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).to.be.instanceOf(ActiveTargetError);
    return (err as ActiveTargetError).code;
  }
}

describe('active-target: PORT and EPRT arguments (RFC 959 §4.1.2, RFC 2428 §2, RFC 2577 §3)', () => {
  it('parses PORT h1,h2,h3,h4,p1,p2 into host and port', () => {
    expect(parsePortArg('127,0,0,1,4,1')).to.deep.equal({ host: '127.0.0.1', port: 1025, family: 4 });
    expect(parsePortArg(' 10,1,2,3,255,255 ')).to.deep.equal({ host: '10.1.2.3', port: 65535, family: 4 });
  });

  it('refuses malformed PORT arguments with 501', () => {
    for (const bad of [null, undefined, '', '127,0,0,1,4', '127,0,0,1,4,1,1', '127,0,0,256,4,1', '127,0,0,1,256,0',
      '127,0,0,1,0,21', '127,0,0,1,0,0', '1x7,0,0,1,4,1', '127.0.0.1,4,1', '127,0,0,1,4,1x', '-1,0,0,1,4,1',
      '0127,0,0,1,4,1', '127,0,0,1,4,+1']) {
      expect(code(() => parsePortArg(bad)), String(bad)).to.equal(501);
    }
  });

  it('parses EPRT with any printable delimiter, both protocols, canonical IPv6 and IPv4-mapped addresses', () => {
    expect(parseEprtArg('|1|132.235.1.2|6275|')).to.deep.equal({ host: '132.235.1.2', port: 6275, family: 4 });
    expect(parseEprtArg('|2|1080::8:800:200C:417A|5282|')).to.deep.equal({ host: '1080::8:800:200c:417a', port: 5282, family: 6 });
    expect(parseEprtArg('!2!::FFFF:127.0.0.1!2000!')).to.deep.equal({ host: '127.0.0.1', port: 2000, family: 4 });
    expect(parseEprtArg('#1#10.0.0.1#1024#')).to.deep.equal({ host: '10.0.0.1', port: 1024, family: 4 });
  });

  it('refuses an unknown protocol with 522 and anything else malformed with 501', () => {
    expect(code(() => parseEprtArg('|3|1.2.3.4|2000|'))).to.equal(522);
    expect(code(() => parseEprtArg('|0|1.2.3.4|2000|'))).to.equal(522);
    for (const bad of [null, '', ' ', '|1|1.2.3.4|2000', '|1|1.2.3.4||', '|1||2000|', '|1|::1|2000|', '|2|1.2.3.4|2000|',
      '|1|1.2.3.4|65536|', '|1|1.2.3.4|80|', '|1|1.2.3.4|2e3|', '|x|1.2.3.4|2000|', 'x1x1.2.3.4x2000', '|1|1.2.3.4|2000|x|',
      `|2|${'111.111.111.111'.repeat(8)}!|2121|`, `|2|${'1:'.repeat(100)}1|2000|`]) {
      expect(code(() => parseEprtArg(bad)), String(bad)).to.equal(501);
    }
  });

  it('never throws anything but ActiveTargetError, on any input (fast-check)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      for (const fn of [parsePortArg, parseEprtArg]) {
        try {
          const t = fn(s);
          expect(t.port).to.be.within(1024, 65535);
          expect(canonicalIp(t.host)).to.equal(t.host);
        } catch (err) {
          if (!(err instanceof ActiveTargetError)) throw err;
        }
      }
    }), { numRuns: 2000 });
  });

  it('isClientHost: the same host however spelled, nothing else', () => {
    const t = (host: string) => ({ host, port: 2000, family: 4 as const });
    expect(isClientHost(t('127.0.0.1'), '::ffff:127.0.0.1')).to.equal(true);
    expect(isClientHost(t('127.0.0.1'), '127.0.0.1')).to.equal(true);
    expect(isClientHost(t('127.0.0.2'), '127.0.0.1')).to.equal(false);
    expect(isClientHost({ host: '2001:db8::1', port: 2000, family: 6 }, '2001:DB8:0:0::1')).to.equal(true);
    expect(isClientHost({ host: '2001:db8::1', port: 2000, family: 6 }, '2001:db8::2')).to.equal(false);
    expect(isClientHost(t(''), '')).to.equal(false);
    expect(isClientHost(t('127.0.0.1'), undefined)).to.equal(false);
  });
});
