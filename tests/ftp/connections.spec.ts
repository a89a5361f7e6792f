/**
 * Connection limits and the process: maxConnections and maxPerAddress answer `421 Too many connections` (RFC 959
 * §5.4) and serve again once a connection leaves (docs/ftp-servers.md, fault 11d); starting a server leaves no
 * SIGINT/SIGTERM/SIGQUIT listener behind (fault 6).
 */
import { expect } from 'chai';
import { useServer } from '../support/ftp-fixtures.ts';
import { RawFtp } from '../support/raw-ftp.ts';
import { sleep } from '../support/wait.ts';

describe('connections: limits and signal listeners', function () {
  const { server, raw, track } = useServer({ each: true, server: false });

  it('leaves no SIGINT/SIGTERM/SIGQUIT listener behind (docs/ftp-servers.md, fault 6)', async () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGQUIT'].map((sig) => process.listenerCount(sig));
    await server();
    await server();
    const after = ['SIGINT', 'SIGTERM', 'SIGQUIT'].map((sig) => process.listenerCount(sig));
    expect(after).to.deep.equal(before);
  });

  it('answers 421 Too many connections over maxConnections, and serves again once one leaves', async () => {
    const s = await server({ maxConnections: 2 });
    const a = await raw(s.port, false);
    await raw(s.port, false);
    const third = await RawFtp.connect(s.port, { greeting: false });
    track(third);
    expect((await third.reply()).text).to.equal('421 Too many connections\r\n');
    await third.waitClosed();
    a.close();
    await sleep(50);
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      const again = await RawFtp.connect(s.port, { greeting: false });
      track(again);
      ok = (await again.reply()).code === 220;
      if (!ok) await sleep(50);
    }
    expect(ok).to.equal(true);
  });

  it('answers 421 over maxPerAddress', async () => {
    const s = await server({ maxPerAddress: 1 });
    await raw(s.port, false);
    const second = await RawFtp.connect(s.port, { greeting: false });
    track(second);
    expect((await second.reply()).code).to.equal(421);
  });
});
