import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger, SessionLog } from '../server/log.ts';

function sink(): Writable & { text(): string } {
  let text = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as Writable & { text(): string };
  w.text = () => text;
  return w;
}

describe('log: logger setup and device-session lines', () => {
  it('writes one JSON object per line by default when given a destination', () => {
    const out = sink();
    const log = createLogger({ destination: out });
    log.info({ file: '/UPGRADE.TXT' }, 'hello');
    log.debug('hidden at the default level');
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ msg: 'hello', file: '/UPGRADE.TXT', level: 30 });
  });

  it('honours the level option', () => {
    const out = sink();
    const log = createLogger({ destination: out, level: 'warn' });
    log.info('no');
    log.warn('yes');
    expect(out.text().trim().split('\n')).to.have.length(1);
  });

  it('writes human-readable lines with pretty: true', () => {
    const out = sink();
    const log = createLogger({ destination: out, pretty: true });
    log.info({ user: 'ota' }, 'login ota');
    const text = out.text();
    expect(text).to.contain('login ota').and.contain('INFO');
    expect(() => JSON.parse(text.trim())).to.throw();
  });

  it('writes one line per event in the pretty format, extra fields included', () => {
    const out = sink();
    const log = createLogger({ destination: out, pretty: true });
    const s = new SessionLog(log, 'abc', '10.1.2.3');
    s.login('ota', false);
    s.fetch('/ABCDEFG', 0, 5000).end('completed');
    const lines = out.text().trimEnd().split('\n');
    expect(lines, out.text()).to.have.length(3);
    expect(lines[1]).to.contain('fetch /ABCDEFG full').and.contain('"session":"abc"').and.contain('"size":5000');
  });

  it('logs a session: login, a resumed fetch cut short (once), and the end with its reason', () => {
    const out = sink();
    const s = new SessionLog(createLogger({ destination: out }), 'abc', '10.1.2.3');
    s.login('ota', false);
    const f = s.fetch('/ABCDEFG', 1000, 5000);
    f.addBytes(1500);
    f.end('cut short', 'data connection closed');
    f.end('completed');
    s.end('client closed');
    s.end('again');
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).to.deep.equal(['login', 'fetch', 'fetch-end', 'logout']);
    for (const l of lines) expect(l).to.include({ session: 'abc', address: '10.1.2.3' });
    expect(lines[1]).to.include({ mode: 'resumed', offset: 1000, size: 5000 });
    expect(lines[2]).to.include({ outcome: 'cut short', bytes: 1500, reason: 'data connection closed', level: 40 });
    expect(lines[3]).to.include({ reason: 'client closed', fetches: 1, user: 'ota' });
  });
});
