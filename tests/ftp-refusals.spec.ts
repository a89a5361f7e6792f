// Refused commands leave a log line (a write command on the read-only server, a symlink out of the root, a hidden
// path), bounded per session so a hostile client cannot flood the log; the session's end line counts them all.
import { expect } from 'chai';
import { MAX_REFUSALS_LOGGED } from '../server/log.ts';
import { makeRoot, RawFtp, startServer, type TestRoot, type TestServer } from './support/ftp-fixtures.ts';

describe('ftp: refused commands are logged', function () {
  this.timeout(20_000);
  let t: TestRoot;
  let srv: TestServer;
  beforeEach(async () => {
    t = await makeRoot();
    srv = await startServer(t.root);
  });
  afterEach(async () => {
    await srv.close();
    await t.cleanup();
  });

  const refusals = () => srv.logs.filter((l) => l.event === 'refused');

  it('logs a write command, a symlink out of the root and a hidden path, each with its reason', async () => {
    const r = await RawFtp.login(srv.port);
    expect((await r.cmd('STOR EVIL')).code).to.equal(550);
    expect((await r.cmd('SIZE LINKOUT')).code).to.equal(550);
    expect((await r.cmd('SIZE .firmdrop/releases.json')).code).to.equal(550);
    expect((await r.cmd('SIZE ABCDEFG')).code).to.equal(213);
    expect((await r.cmd('SIZE NOSUCHF')).code).to.equal(550); // a plain missing file: no line
    await r.cmd('QUIT');
    const seen = refusals().map((l) => [l.command, l.arg, l.reason]);
    expect(seen).to.deep.equal([
      ['STOR', 'EVIL', 'read-only server'],
      ['SIZE', 'LINKOUT', 'outside the root'],
      ['SIZE', '.firmdrop/releases.json', 'hidden path'],
    ]);
  });

  it(`logs at most ${MAX_REFUSALS_LOGGED} refusals per session and counts the rest in the end line`, async () => {
    const r = await RawFtp.login(srv.port);
    for (let i = 0; i < MAX_REFUSALS_LOGGED + 15; i++) expect((await r.cmd(`DELE F${i}`)).code).to.equal(550);
    await r.cmd('QUIT');
    const until = Date.now() + 5000;
    while (!srv.logs.some((l) => l.event === 'logout') && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    expect(refusals()).to.have.length(MAX_REFUSALS_LOGGED);
    expect(srv.logs.find((l) => l.event === 'logout')).to.include({ refusals: MAX_REFUSALS_LOGGED + 15 });
  });
});
