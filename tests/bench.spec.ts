/**
 * Smoke tests of the bench's load generator against real servers on loopback (no timing assertions):
 * counts, bytes, failure reasons, the duration cap, and the server figures read from /proc.
 */
import { expect } from 'chai';
import { runLoad, parseFtpUrl } from '../bench/loadgen.ts';
import { measureOnce, foldRuns } from '../bench/measure.ts';
import { startBenchServer, missingAnchor, type BenchServer } from '../bench/servers.ts';
import { benchManifest, DEFAULT_BINARY_BYTES } from '../bench/fixture.ts';
import { parseLinkProfile } from '../bench/link.ts';
import { percentile, median } from '../bench/stats.ts';
import { holdsListeningPort } from '../bench/proc-stats.ts';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seedBenchLogins } from '../bench/logins.ts';
import { BENCH_DEVICE_PASSWORD, benchIdentity } from '../bench/fixture.ts';
import { Store } from '../server/store/store.ts';
import { verifyPassword } from '../server/fleet/passwords.ts';

const SIZE = 20 * 1024;
const SESSION_BYTES = SIZE + Buffer.byteLength(benchManifest(SIZE));

describe('bench', function () {
  this.timeout(60_000);

  describe('stats', () => {
    it('percentile is nearest-rank and median averages the middle pair', () => {
      const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
      expect(percentile(v, 50)).to.equal(5);
      expect(percentile(v, 90)).to.equal(9);
      expect(percentile(v, 99)).to.equal(10);
      expect(percentile(v, 0)).to.equal(1);
      expect(median(v)).to.equal(5.5);
      expect(median([3, 1, 2])).to.equal(2);
      expect(Number.isNaN(percentile([], 50))).to.equal(true);
    });
  });

  it('tells whether a process holds the listening socket of a port (guard against a port taken by another process)', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });     // a process that does not hold our socket
    try {
      expect(holdsListeningPort(process.pid, port)).to.equal(true);
      expect(holdsListeningPort(other.pid!, port)).to.equal(false);
    } finally {
      other.kill();
      await new Promise((r) => srv.close(r));
    }
    expect(holdsListeningPort(process.pid, port)).to.equal(false);  // closed: nobody listens any more
  });

  describe('link profiles and URLs', () => {
    it('reads named and custom profiles and refuses bad ones with the value named', () => {
      expect(parseLinkProfile('gprs').downKbps).to.equal(40);
      expect(parseLinkProfile('custom:100,20')).to.include({ downKbps: 100, rttMs: 20 });
      expect(() => parseLinkProfile('custom:0,20')).to.throw(/custom:0,20/);
      expect(() => parseLinkProfile('wifi')).to.throw(/"wifi"/);
    });
    it('parses ftp URLs with encoded credentials and defaults to anonymous', () => {
      expect(parseFtpUrl('ftp://a%40b:p%3Aw@127.0.0.1:2121')).to.include({ host: '127.0.0.1', port: 2121, user: 'a@b', password: 'p:w' });
      expect(parseFtpUrl('ftp://127.0.0.1')).to.include({ port: 21, user: 'anonymous' });
      expect(() => parseFtpUrl('http://127.0.0.1')).to.throw(/ftp:\/\//);
    });
  });

  describe('against plain ftp-srv in its own process', () => {
    let server: BenchServer;
    before(async () => { server = await startBenchServer('ftp-srv', { size: SIZE }); });
    after(async () => { await server?.stop(); });

    it('runs N=20 sessions at C=5 with 0 failures and every byte counted (PASV)', async () => {
      const r = await runLoad({ target: parseFtpUrl(server.url), n: 20, c: 5, durationLimitMs: 30_000 });
      expect(r.failures).to.deep.equal({});
      expect(r).to.include({ started: 20, ok: 20, failed: 0, bytes: 20 * SESSION_BYTES, hitDurationLimit: false });
      expect(r.latency.p50).to.be.greaterThan(0);
      expect(r.retr.p99).to.be.at.least(r.retr.p50);
    });

    it('runs with EPSV and with a (fast) link profile', async () => {
      const target = { ...parseFtpUrl(server.url), epsv: true };
      const r = await runLoad({ target, n: 4, c: 2, durationLimitMs: 30_000, profile: parseLinkProfile('custom:20000,2') });
      expect(r.failures).to.deep.equal({});
      expect(r).to.include({ ok: 4, bytes: 4 * SESSION_BYTES });
    });

    it('shapes through client-sim\'s fault proxy with --link proxy', async () => {
      const r = await measureOnce({ url: server.url, n: 4, c: 2, size: SIZE, durationLimitMs: 30_000,
        profile: parseLinkProfile('custom:20000,2'), link: 'proxy' });
      expect(r.failures).to.deep.equal({});
      expect(r).to.include({ ok: 4, bytes: 4 * SESSION_BYTES });
    });

    it('counts failures by reason and keeps going', async () => {
      const target = { ...parseFtpUrl(server.url), manifestName: 'MISSING.TXT' };
      const r = await runLoad({ target, n: 6, c: 3, durationLimitMs: 30_000 });
      expect(r).to.include({ started: 6, ok: 0, failed: 6 });
      const reasons = Object.keys(r.failures);
      expect(reasons).to.have.length(1);
      expect(reasons[0]).to.match(/^SIZE MISSING\.TXT: 550 /);
    });

    it('stops at the duration limit: sessions in progress are aborted and counted, the rest never start', async () => {
      // 40 kbit/s: one 20 KiB binary takes ~4 s, far beyond the 800 ms cap.
      const r = await runLoad({ target: parseFtpUrl(server.url), n: 50, c: 3, durationLimitMs: 800,
        profile: parseLinkProfile('custom:40,10') });
      expect(r.hitDurationLimit).to.equal(true);
      expect(r.started).to.equal(3);
      expect(r.ok).to.equal(0);
      expect(Object.keys(r.failures).every((k) => /aborted \(duration limit\)/.test(k))).to.equal(true);
    });
  });

  it('measureOnce starts a server, reads its CPU and peak RSS from /proc, and stops it', async () => {
    const r = await measureOnce({ server: 'ftp-srv', n: 10, c: 5, size: DEFAULT_BINARY_BYTES, durationLimitMs: 30_000 });
    expect(r).to.include({ ok: 10, failed: 0 });
    expect(r.serverCpuMs).to.be.a('number').and.be.at.least(0);
    expect(r.peakRssMB).to.be.greaterThan(10);     // a Node process is never under 10 MB resident
    // Private (anonymous) memory is part of the resident memory: node's executable pages are the rest.
    expect(r.peakPrivateMB).to.be.greaterThan(5).and.lessThan(r.peakRssMB!);
    const folded = foldRuns([r, r, r]);
    expect(folded.median.ok).to.equal(10);
    expect(folded.runs).to.equal(3);
  });

  describe('device logins (--logins)', () => {
    it('seeds dev1..devN with the bench password, one hash, and maps session i to dev((i mod N) + 1)', async () => {
      const root = await mkdtemp(path.join(os.tmpdir(), 'firmdrop-bench-logins-'));
      try {
        seedBenchLogins(root, 3, 2);
        const store = new Store(root);
        const devices = store.devices();
        store.close();
        expect(devices.map((d) => d.login)).to.deep.equal(['dev1', 'dev2', 'dev3']);
        expect(await verifyPassword(BENCH_DEVICE_PASSWORD, devices[2]!)).to.equal(true);
        expect(await verifyPassword('wrong', devices[2]!)).to.equal(false);
        expect([0, 1, 2, 3, 4].map((i) => benchIdentity(i, 3).user)).to.deep.equal(['dev1', 'dev2', 'dev3', 'dev1', 'dev2']);
        expect(() => seedBenchLogins(root, 2, 1000)).to.throw(RangeError, /power of two/);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
    it('is refused for servers other than firmdrop', async () => {
      try {
        await startBenchServer('ftp-srv', { size: SIZE, logins: 2 });
        expect.fail('started');
      } catch (e) {
        expect((e as Error).message).to.match(/--logins applies to firmdrop only/);
      }
    });
    it('firmdrop with device logins: every session logs in as its own device', async () => {
      const r = await measureOnce({ server: 'firmdrop-tsx', n: 8, c: 4, size: SIZE, durationLimitMs: 30_000, logins: 4, loginScryptN: 2 });
      expect(r.failures).to.deep.equal({});
      expect(r).to.include({ ok: 8 });
    });
  });

  for (const anchor of ['firmdrop', 'pyftpdlib', 'vsftpd'] as const) {
    it(`runs N=10 C=5 against ${anchor} started by the bench (skipped when not installed)`, async function () {
      if (missingAnchor(anchor)) this.skip();
      const r = await measureOnce({ server: anchor, n: 10, c: 5, size: SIZE, durationLimitMs: 30_000 });
      expect(r.failures).to.deep.equal({});
      expect(r).to.include({ ok: 10 });
      // Each session read the whole binary plus one UPGRADE.TXT (firmdrop's carries checksums, so it is longer).
      const manifestBytes = (r.bytes - 10 * SIZE) / 10;
      expect(Number.isInteger(manifestBytes) && manifestBytes >= 30 && manifestBytes <= 254, `manifest ${manifestBytes} B`).to.equal(true);
      expect(r.peakRssMB).to.be.greaterThan(0);
      expect(r.peakPrivateMB).to.be.greaterThan(0).and.at.most(r.peakRssMB! + 1);
    });
  }
});
