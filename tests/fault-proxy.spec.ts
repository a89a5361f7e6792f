import { expect } from 'chai';
import { Client, enterPassiveModeIPv4 } from 'basic-ftp';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { ACTIVE_MODE_REPLY, startFaultProxy, type FaultProxy, type Faults } from '../client-sim/net/fault-proxy.ts';
import { getLinkProfile, LINK_PROFILES } from '../client-sim/net/profiles.ts';
import { normalizeFaults } from '../client-sim/net/faults.ts';
import { startPlainFtp, type PlainFtp } from './support/plain-ftp-server.ts';
import { canCountSockets, countHeld, waitForSockets } from './support/open-sockets.ts';
import { startFtp } from '../server/ftp/server.ts';
import { createLogger } from '../server/log.ts';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const SIZE = 100_000;
/** A firmware-like payload with AT-looking text inside. */
const FW = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) FW[i] = (i * 131 + 7) & 0xff;
FW.write('\r\nOK\r\n+QFTPGET: 0,', 5000, 'latin1');

interface Download { data: Buffer; error?: Error }

/** Downloads `name` through `proxy` with basic-ftp; never throws: returns what arrived and the error, if any. */
async function download(proxy: FaultProxy, name: string, opts: { pasv?: boolean; timeoutMs?: number } = {}): Promise<Download> {
  const client = new Client(opts.timeoutMs ?? 5000);
  if (opts.pasv) client.prepareTransfer = enterPassiveModeIPv4;
  const parts: Buffer[] = [];
  try {
    await client.access({ host: proxy.host, port: proxy.port, user: 'anonymous', password: 'x' });
    await client.downloadTo(new Writable({ write(chunk: Buffer, _e, cb) { parts.push(chunk); cb(); } }), name);
    return { data: Buffer.concat(parts) };
  } catch (error) {
    return { data: Buffer.concat(parts), error: error as Error };
  } finally {
    client.close();
  }
}

describe('fault proxy (client-sim/net/fault-proxy.ts)', function () {
  this.timeout(20_000);
  let ftp: PlainFtp;
  let proxy: FaultProxy | undefined;
  const start = async (faults?: Faults, profile?: Parameters<typeof startFaultProxy>[0]['profile']): Promise<FaultProxy> => {
    proxy = await startFaultProxy({ target: { host: ftp.host, port: ftp.port }, faults, profile });
    return proxy;
  };

  before(async () => { ftp = await startPlainFtp({ 'FW.bin': FW, 'SMALL.bin': FW.subarray(0, 3000), 'TINY.bin': FW.subarray(0, 400) }); });
  after(async () => { await ftp.close(); });
  afterEach(async () => { await proxy?.close(); proxy = undefined; });

  describe('relay', () => {
    it('relays a download byte for byte over EPSV (229 rewritten) and accounts for every byte', async () => {
      const p = await start();
      const r = await download(p, 'FW.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.equals(FW)).to.equal(true);
      const data = p.stats.connections.filter((c) => c.kind === 'data');
      expect(data).to.have.length(1);
      expect(data[0].down).to.deep.equal({ received: SIZE, forwarded: SIZE });
    });

    it('relays a download byte for byte over PASV (227 rewritten)', async () => {
      const p = await start();
      const r = await download(p, 'FW.bin', { pasv: true });
      expect(r.error).to.equal(undefined);
      expect(r.data.equals(FW)).to.equal(true);
      expect(p.stats.dataConnections).to.equal(1);
    });

    it('answers PORT itself with 502 and never passes it to the server', async () => {
      const p = await start();
      const sock = net.connect(p.port, p.host);
      let text = '';
      sock.on('data', (d) => { text += d.toString('latin1'); });
      const waitFor = async (re: RegExp): Promise<void> => {
        for (let i = 0; i < 200 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 25));
        expect(text).to.match(re);
      };
      await waitFor(/^220 /m);
      sock.write('USER anonymous\r\n');
      await waitFor(/^230 /m);
      sock.write('PORT 127,0,0,1,200,10\r\n');
      await waitFor(/^502 /m);
      expect(text).to.contain(ACTIVE_MODE_REPLY);
      expect(p.stats.events.map((e) => e.kind)).to.include('active-mode-refused');
      sock.destroy();
    });
  });

  describe('faults', () => {
    it('cut (fin) after N bytes: the client gets exactly the first N bytes, the tail is lost', async () => {
      const p = await start({ kind: 'cut', afterBytes: 40_000 });
      const r = await download(p, 'FW.bin');
      expect(r.data.length).to.equal(40_000);
      expect(r.data.equals(FW.subarray(0, 40_000))).to.equal(true);
      expect(p.stats.events.find((e) => e.kind === 'cut')?.detail).to.contain('after 40000 bytes');
    });

    it('cut (reset) after N bytes: the client gets a short transfer (and usually an ECONNRESET)', async () => {
      // basic-ftp does not always surface the reset: when the server's 226 wins the race it resolves with the
      // short data. Either way the data is short, which is what a modem layer must catch by comparing sizes.
      const p = await start({ kind: 'cut', afterBytes: 10_000, mode: 'reset' });
      const r = await download(p, 'FW.bin');
      expect(r.data.length).to.be.at.most(10_000);
      expect(r.data.equals(FW.subarray(0, r.data.length))).to.equal(true);
      expect(p.stats.events.find((e) => e.kind === 'cut')?.detail).to.equal('after 10000 bytes (reset)');
    });

    it('flip: the downloaded file differs from the server\'s exactly at the offset, by the mask', async () => {
      const p = await start({ kind: 'flip', offset: 54_321, mask: 0x80 });
      const r = await download(p, 'FW.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.length).to.equal(SIZE);
      const diffs: number[] = [];
      for (let i = 0; i < SIZE; i++) if (r.data[i] !== FW[i]) diffs.push(i);
      expect(diffs).to.deep.equal([54_321]);
      expect(r.data[54_321] ^ FW[54_321]).to.equal(0x80);
    });

    it('replace: bytes at the offset are overwritten, the length is unchanged', async () => {
      const p = await start({ kind: 'replace', offset: 99_998, bytes: [0xde, 0xad] });
      const r = await download(p, 'FW.bin');
      expect(r.data.length).to.equal(SIZE);
      expect([...r.data.subarray(99_998)]).to.deep.equal([0xde, 0xad]);
      expect(r.data.subarray(0, 99_998).equals(FW.subarray(0, 99_998))).to.equal(true);
    });

    it('drop: bytes at the offset are missing, everything else arrives in order', async () => {
      const p = await start({ kind: 'drop', offset: 5000, length: 3 });
      const r = await download(p, 'FW.bin');
      expect(r.data.length).to.equal(SIZE - 3);
      expect(r.data.equals(Buffer.concat([FW.subarray(0, 5000), FW.subarray(5003)]))).to.equal(true);
      const d = p.stats.connections.find((c) => c.kind === 'data')!;
      expect(d.down).to.deep.equal({ received: SIZE, forwarded: SIZE - 3 });
    });

    it('refuse control connections: the client cannot connect; later connections pass once `times` is used up', async () => {
      const p = await start({ kind: 'refuse', on: 'control', times: 1 });
      const first = await download(p, 'SMALL.bin');
      expect(first.error).to.be.instanceOf(Error);
      expect(p.stats.refused).to.equal(1);
      const second = await download(p, 'SMALL.bin');
      expect(second.error).to.equal(undefined);
      expect(second.data.equals(FW.subarray(0, 3000))).to.equal(true);
    });

    it('refuse only the 1st data connection ({ data: 1 }): that transfer fails, the next one succeeds', async () => {
      const p = await start({ kind: 'refuse', on: { data: 1 } });
      // PASV only: with EPSV first, basic-ftp would fall back to PASV (a 2nd data connection) by itself.
      const first = await download(p, 'SMALL.bin', { pasv: true });
      expect(first.error).to.be.instanceOf(Error);
      const second = await download(p, 'SMALL.bin', { pasv: true });
      expect(second.error).to.equal(undefined);
      expect(second.data.length).to.equal(3000);
      expect(p.stats.connections.filter((c) => c.kind === 'data').map((c) => c.dataIndex)).to.deep.equal([1, 2]);
    });

    it('stall forever after M bytes: the client\'s own timeout fires, and close() still ends everything', async () => {
      const p = await start({ kind: 'stall', afterBytes: 20_000 });
      const r = await download(p, 'FW.bin', { timeoutMs: 600 });
      expect(r.error?.message).to.match(/timeout/i);
      expect(r.data.length).to.equal(20_000);
      expect(p.stats.events.find((e) => e.kind === 'stall')?.detail).to.equal('after 20000 bytes for ever');
    });

    it('stall for N ms: the transfer pauses and then completes intact', async () => {
      const p = await start({ kind: 'stall', afterBytes: 1000, ms: 200 });
      const r = await download(p, 'FW.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.equals(FW)).to.equal(true);
      expect(p.stats.events.filter((e) => e.kind === 'stall')).to.have.length(1);
    });

    it('split down on data connections (1..3-byte segments): basic-ftp still downloads byte-exact', async () => {
      const p = await start([{ kind: 'split', direction: 'down', on: 'data', maxSegment: 3, gapMs: 0 }]);
      const r = await download(p, 'TINY.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.equals(FW.subarray(0, 400))).to.equal(true);
      expect(p.stats.events.filter((e) => e.kind === 'split')).to.have.length(1);
    });

    it('split down on the control connection: replies arrive in pieces and reassemble to the server\'s text', async () => {
      // Not with basic-ftp: 6.2.3 takes a lone "220" segment (no LF yet) for a complete reply
      // (parseControlResponse isSingleLine), so a split right after the code breaks it. A finding, not a proxy bug.
      const p = await start([{ kind: 'split', direction: 'down', on: 'control', maxSegment: 3, gapMs: 0 }]);
      const sock = net.connect(p.port, p.host);
      const pieces: Buffer[] = [];
      sock.on('data', (d) => pieces.push(d));
      for (let i = 0; i < 200 && !/^220 .*\r\n/m.test(Buffer.concat(pieces).toString()); i++) await new Promise((r) => setTimeout(r, 10));
      expect(Buffer.concat(pieces).toString()).to.match(/^220-plain test ftp\r\n220 .*\r\n$/);
      expect(pieces.length).to.be.greaterThan(3);
      sock.destroy();
    });

    it('split up against firmdrop\'s server (startFtp reassembles commands): the download still completes byte-exact', async () => {
      const root = await fs.mkdtemp(path.join(os.tmpdir(), 'fault-proxy-split-'));
      await fs.writeFile(path.join(root, 'FW.bin'), FW);
      const srv = await startFtp({ root, host: '127.0.0.1', port: 0, users: [], anonymous: true }, createLogger({ level: 'silent' }));
      try {
        proxy = await startFaultProxy({ target: { host: srv.host, port: srv.port }, faults: { kind: 'split', maxSegment: 3, seed: 3, gapMs: 0 } });
        const r = await download(proxy, 'FW.bin');
        expect(r.error).to.equal(undefined);
        expect(r.data.equals(FW)).to.equal(true);
        expect(proxy.stats.events.find((e) => e.kind === 'split')?.direction).to.equal('up');
      } finally {
        await proxy?.close();
        proxy = undefined;
        await srv.close(1000);
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    it('split up: one command line reaches the server in several TCP segments', async () => {
      const segments: Buffer[] = [];
      const sink = net.createServer((s) => { s.write('220 sink\r\n'); s.on('data', (d) => segments.push(d)); });
      await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
      try {
        proxy = await startFaultProxy({
          target: { host: '127.0.0.1', port: (sink.address() as AddressInfo).port },
          faults: { kind: 'split', maxSegment: 4, seed: 7 },
        });
        const c = net.connect(proxy.port, proxy.host);
        c.on('error', () => undefined);
        const line = 'RETR A_LONGER_FIRMWARE_NAME.bin\r\n';
        c.write(line);
        for (let i = 0; i < 200 && Buffer.concat(segments).length < line.length; i++) await new Promise((r) => setTimeout(r, 10));
        expect(Buffer.concat(segments).toString()).to.equal(line);
        expect(segments.length).to.be.greaterThan(1);
        expect(Math.max(...segments.map((s) => s.length))).to.be.at.most(line.length - 1);
        c.destroy();
      } finally {
        await proxy?.close();
        proxy = undefined;
        await new Promise<void>((r) => sink.close(() => r()));
      }
    });

    it('close() during a stalled, shaped relay ends every connection and leaves no socket or timer behind', async function () {
      if (!canCountSockets()) this.skip();
      // No FTP server or client here: a raw TCP source, so every timer and socket left is the proxy's.
      const source = net.createServer((s) => { s.on('error', () => undefined); s.write(Buffer.alloc(50_000, 0x41)); });
      await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
      const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const socketsBefore = countHeld();
      const timersBefore = timers();
      try {
        // a 60 s stall: its timer must be cleared by close(), or the timer count below stays up
        proxy = await startFaultProxy({
          target: { host: '127.0.0.1', port: (source.address() as AddressInfo).port },
          faults: { kind: 'stall', on: 'control', afterBytes: 10_000, ms: 60_000 },
          profile: { name: 't', downKbps: 4000, upKbps: 1000, rttMs: 10, loss: { everyBytes: 4000, stallMs: 5 } },
        });
        const p = proxy;
        const c = net.connect(p.port, p.host);
        let got = 0;
        c.on('data', (d) => { got += d.length; });
        c.on('error', () => undefined);
        for (let i = 0; i < 300 && !(got >= 10_000 && p.stats.events.some((e) => e.kind === 'stall')); i++) await new Promise((r) => setTimeout(r, 10));
        expect(got).to.equal(10_000);
        await p.close();
        proxy = undefined;
        expect(p.stats.connections.filter((x) => !x.closed), JSON.stringify(p.stats.connections)).to.deep.equal([]);
        c.destroy();
      } finally {
        await new Promise<void>((r) => source.close(() => r()));
      }
      expect(await waitForSockets(countHeld, socketsBefore, 5000)).to.be.at.most(socketsBefore);
      for (let i = 0; i < 20 && timers() > timersBefore; i++) await new Promise((r) => setImmediate(r));
      expect(timers()).to.be.at.most(timersBefore);
    });

    it('setFaults applies to connections opened afterwards', async () => {
      const p = await start();
      p.setFaults({ kind: 'cut', afterBytes: 100 });
      const r = await download(p, 'SMALL.bin');
      expect(r.data.length).to.equal(100);
      p.setFaults(undefined);
      const r2 = await download(p, 'SMALL.bin');
      expect(r2.data.length).to.equal(3000);
    });

    it('rejects malformed faults with a message naming the field', () => {
      expect(() => normalizeFaults({ kind: 'flip', offset: -1 })).to.throw(/flip.*offset/);
      expect(() => normalizeFaults({ kind: 'split', maxSegment: 0 })).to.throw(/split.*maxSegment/);
      expect(() => normalizeFaults({ kind: 'refuse', on: { data: 0 } })).to.throw(/on\.data/);
    });
  });

  describe('shaping by cellular profile', () => {
    it('a custom profile (bandwidth, latency, loss as stalls) completes with every byte accounted for', async () => {
      const p = await start(undefined, { name: 'test', downKbps: 2000, upKbps: 500, rttMs: 20, loss: { everyBytes: 8192, stallMs: 10 } });
      const r = await download(p, 'FW.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.equals(FW)).to.equal(true);
      const d = p.stats.connections.find((c) => c.kind === 'data')!;
      expect(d.down.forwarded).to.equal(SIZE);
      const lossStalls = p.stats.events.filter((e) => e.kind === 'loss-stall' && e.connection === d.id);
      expect(lossStalls).to.have.length(Math.floor(SIZE / 8192));
    });

    it('the named catm1 profile completes a small download', async () => {
      const p = await start(undefined, 'catm1');
      const r = await download(p, 'SMALL.bin');
      expect(r.error).to.equal(undefined);
      expect(r.data.length).to.equal(3000);
      expect(p.stats.bytesDown).to.be.greaterThan(3000); // data plus control replies
    });

    it('every named profile has bandwidth, latency and a source; unknown names are refused', () => {
      for (const name of ['gprs', '3g', 'catm1', 'nbiot', 'cat1']) {
        const prof = getLinkProfile(name);
        expect(prof.downKbps, name).to.be.greaterThan(0);
        expect(prof.upKbps, name).to.be.greaterThan(0);
        expect(prof.rttMs, name).to.be.greaterThan(0);
        expect(prof.source, name).to.be.a('string');
      }
      expect(LINK_PROFILES.gprs.downKbps).to.equal(40);
      expect(() => getLinkProfile('5g')).to.throw(/unknown link profile "5g"/);
    });

    it('refuses a non-loopback listen address', async () => {
      let err: Error | undefined;
      try { await startFaultProxy({ target: { host: '127.0.0.1', port: 21 }, listenHost: '0.0.0.0' }); } catch (e) { err = e as Error; }
      expect(err?.message).to.match(/loopback/);
    });
  });
});
