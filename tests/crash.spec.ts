/**
 * Crash consistency.
 *
 * SIGKILL: a child process (tests/support/crash-publisher.ts) publishes binaries back to back through the
 * Publisher API and is killed with SIGKILL at a random point, KILLS times. After each kill:
 *  - before any repair, UPGRADE.TXT on disk parses strictly and is the old manifest (the last publish the child
 *    finished) or the new one (the publish in flight): atomic rename, never torn;
 *  - then firmdrop is restarted on the root (startFirmdrop: reconcile + watcher catch-up + FTP) and, seen as a
 *    device over FTP: UPGRADE.TXT is still old or new, parses strictly, and the binary it names has exactly its
 *    SIZE, CRC32 and MD5; LIST/NLST show nothing but UPGRADE.TXT and program names (no temp file); the
 *    publisher's temp folder holds no stale temp file.
 *
 * SIGKILL of `firmdrop serve` itself while binaries are being dropped into its root (SERVE_KILLS times): the
 * manifest on disk is consistent, and after a restart every dropped binary is published, the newest one offered
 * (none lost because the server died between a drop and its publish).
 *
 * SIGTERM: the server started as the README says (`npm start`, and the `firmdrop serve` bin) as a child; a device
 * downloads slowly; SIGTERM arrives mid-transfer: the transfer completes byte-exact, new connections are no longer
 * served, and the process exits 0 leaving no server process behind. A device that never reads is cut at the drain
 * deadline and the process still exits 0.
 */
import { expect } from 'chai';
import { Client, enterPassiveModeIPv4 } from 'basic-ftp';
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFirmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { MANIFEST_NAME, NO_FILE, isProgramName, parseManifest, type Manifest } from '../server/manifest.ts';
import { Publisher } from '../server/publisher.ts';
import { crc32hex, md5hex } from './support/checksums.ts';
import { NAMES } from './support/crash-publisher.ts';
import { PASS, USER, fetchBuffer, silentLogger } from './support/ftp-fixtures.ts';
import { sleep, within } from './support/wait.ts';
import { RawFtp, connectData, parsePasv } from './support/raw-ftp.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CRASH_PUBLISHER = path.join(REPO, 'tests', 'support', 'crash-publisher.ts');
const FIRMDROP_BIN = path.join(REPO, 'bin', 'firmdrop.js');
/** SIGKILLs (at random points; each costs a child start, ~0.5 s, and a restart). */
const KILLS = 20;
/** SIGKILLs of `firmdrop serve` while it publishes dropped binaries (each costs a server start, ~1 s). */
const SERVE_KILLS = 5;
/** Longest random delay between the child's `ready` and the SIGKILL, ms. */
const MAX_KILL_DELAY_MS = 400;

/** A child process with its stdout split into lines as they come. */
interface Child { proc: ChildProcess; lines: string[]; stderr: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

function startChild(args: string[], command: string = process.execPath): Child {
  const proc = spawn(command, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  let pending = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { proc, lines, stderr, exited };
}

/** Wait (bounded) until one of the child's stdout lines satisfies `pred`; returns it. */
async function waitForLine(child: Child, pred: (line: string) => boolean, ms: number, what: string): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = child.lines.find(pred);
    if (line !== undefined) return line;
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${what}: child exited (${child.proc.exitCode ?? child.proc.signalCode}); stderr: ${child.stderr.join('').slice(-500)}`);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; stderr: ${child.stderr.join('').slice(-500)}`);
    await sleep(20);
  }
}

/** What a manifest offers, for old/new comparisons: program name and CRC-32 of its bytes (and VERSION). */
interface Offer { file: string; version: number; crc32?: string }
/** True while a process with that pid exists. */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

const offerOf = (m: Manifest): Offer => ({ file: m.file, version: m.version, crc32: m.crc32 });
const show = (o: Offer | undefined): string => (o ? `${o.file} v${o.version} crc ${o.crc32}` : 'none');

describe('crash consistency', function () {
  this.timeout(240_000);
  const children: ChildProcess[] = [];
  const bases: string[] = [];

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  after(async () => {
    for (const b of bases.splice(0)) await fs.rm(b, { recursive: true, force: true });
  });

  it(`keeps UPGRADE.TXT old-or-new and consistent across ${KILLS} SIGKILLs in the middle of publishing`, async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-crash-'));
    bases.push(base);
    const root = path.join(base, 'root');
    const staging = path.join(base, 'staging');
    await fs.mkdir(root);
    await fs.mkdir(staging);
    // Start from a published release, so "old" is a real binary.
    const seedSrc = path.join(staging, 'seed');
    await fs.writeFile(seedSrc, crypto.randomBytes(4096));
    await new Publisher({ root, checksums: true, logger: silentLogger() }).importBinary(seedSrc, { name: NAMES[0] });
    let old: Offer = offerOf(parseManifest(await fs.readFile(path.join(root, MANIFEST_NAME))));
    let next = 1;
    const outcomes = { old: 0, new: 0, publishesDone: 0 };

    for (let k = 0; k < KILLS; k++) {
      const child = startChild(['--import', 'tsx', CRASH_PUBLISHER, root, staging, String(next)]);
      children.push(child.proc);
      await waitForLine(child, (l) => l === 'ready', 30_000, 'crash-publisher ready');
      await sleep(Math.floor(Math.random() * MAX_KILL_DELAY_MS));
      child.proc.kill('SIGKILL');
      const { signal } = await within(10_000, 'child exit after SIGKILL', child.exited);
      expect(signal, `child ended by itself: ${child.stderr.join('')}`).to.equal('SIGKILL');

      // What the child had finished, and what was in flight.
      let lastDone = old;
      let inFlight: { file: string; crc32: string } | undefined;
      for (const line of child.lines) {
        const [kind, name, a, b] = line.split(' ');
        if (kind === 'begin') inFlight = { file: name, crc32: a };
        if (kind === 'done') { lastDone = { file: name, version: Number(a), crc32: b }; inFlight = undefined; outcomes.publishesDone++; }
      }
      next += child.lines.filter((l) => l.startsWith('begin')).length;
      const ctx = `kill #${k + 1}: last done ${show(lastDone)}, in flight ${inFlight ? `${inFlight.file} crc ${inFlight.crc32}` : 'none'}`;
      const isOld = (o: Offer): boolean => o.file === lastDone.file && o.version === lastDone.version && o.crc32 === lastDone.crc32;
      const isNew = (o: Offer): boolean => inFlight !== undefined && o.file === inFlight.file && o.crc32 === inFlight.crc32;

      // 1. On disk, before anything repairs it: parses strictly, and is the old or the new manifest.
      const raw = await fs.readFile(path.join(root, MANIFEST_NAME));
      let onDisk: Manifest;
      try { onDisk = parseManifest(raw); } catch (e) {
        throw new Error(`${ctx}: UPGRADE.TXT on disk does not parse: ${(e as Error).message}: ${JSON.stringify(raw.toString('latin1'))}`);
      }
      expect(isOld(offerOf(onDisk)) || isNew(offerOf(onDisk)), `${ctx}: UPGRADE.TXT on disk is ${show(offerOf(onDisk))}`).to.equal(true);

      // 2. Restart firmdrop on the root and look as a device does.
      const app = await startFirmdrop(loadConfig({
        root, host: '127.0.0.1', port: '0', 'stability-ms': '200', 'log-level': 'silent', 'log-format': 'json',
      }, {}), silentLogger());
      const client = new Client(20_000);
      client.prepareTransfer = enterPassiveModeIPv4;
      try {
        await client.access({ host: '127.0.0.1', port: app.ftp.port, user: USER, password: PASS });
        const text = await fetchBuffer(client, MANIFEST_NAME);
        let m: Manifest;
        try { m = parseManifest(text); } catch (e) {
          throw new Error(`${ctx}: served UPGRADE.TXT does not parse after restart: ${(e as Error).message}`);
        }
        const offer = offerOf(m);
        expect(m.file, `${ctx}: NO_FILE after restart (the fleet lost its offer)`).to.not.equal(NO_FILE);
        expect(isOld(offer) || isNew(offer), `${ctx}: after restart UPGRADE.TXT is ${show(offer)}`).to.equal(true);
        if (isOld(offer)) outcomes.old++; else outcomes.new++;
        expect(await client.size(m.file), `${ctx}: SIZE ${m.file}`).to.equal(m.size);
        const bytes = await fetchBuffer(client, m.file);
        expect(bytes.length, `${ctx}: bytes of ${m.file}`).to.equal(m.size);
        expect(crc32hex(bytes), `${ctx}: CRC32 of ${m.file}`).to.equal(m.crc32);
        expect(md5hex(bytes), `${ctx}: MD5 of ${m.file}`).to.equal(m.md5);
        const visible = (await client.list()).map((e) => e.name);
        const stray = visible.filter((n) => n !== MANIFEST_NAME && !isProgramName(n));
        expect(stray, `${ctx}: files devices can see besides UPGRADE.TXT and binaries`).to.deep.equal([]);
        old = offer;
      } finally {
        client.close();
        await app.close();
      }
      // Temp files are the publisher's to clean: none left in the root or its temp folder after the restart.
      const strayOnDisk = (await fs.readdir(root)).filter((n) => n !== MANIFEST_NAME && n !== '.firmdrop' && !isProgramName(n));
      expect(strayOnDisk, `${ctx}: stray files in the root`).to.deep.equal([]);
      const tmpDir = path.join(root, '.firmdrop', 'tmp');
      const temps = await fs.readdir(tmpDir).catch(() => [] as string[]);
      expect(temps, `${ctx}: stale temp files in .firmdrop/tmp after restart`).to.deep.equal([]);
    }
    // The kills must have landed while publishing, not only before it started.
    expect(outcomes.publishesDone, 'the child never finished a publish: kills too early to test anything').to.be.above(0);
  });

  it(`loses no dropped binary and stays consistent across ${SERVE_KILLS} SIGKILLs of \`firmdrop serve\` while it publishes drops`, async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-crash-serve-'));
    bases.push(base);
    const root = path.join(base, 'root');
    const staging = path.join(base, 'staging');
    await fs.mkdir(root);
    await fs.mkdir(staging);
    const dropped = new Map<string, Buffer>();
    let n = 0;
    for (let k = 0; k < SERVE_KILLS; k++) {
      const child = startChild([FIRMDROP_BIN, 'serve', '--root', root, '--host', '127.0.0.1', '--port', '0',
        '--log-format', 'json', '--stability-ms', '100']);
      children.push(child.proc);
      await waitForLine(child, (l) => l.includes('"msg":"listening"'), 60_000, 'firmdrop serve listening');
      // The operator drops new binaries (unique names, renamed in) every ~20 ms; the server dies in the middle.
      const killAt = Date.now() + 200 + Math.floor(Math.random() * 800);
      while (Date.now() < killAt) {
        const name = `K${String(n++).padStart(6, '0')}`;
        const data = crypto.randomBytes(1024 + crypto.randomInt(31 * 1024));
        dropped.set(name, data);
        await fs.writeFile(path.join(staging, name), data);
        await fs.rename(path.join(staging, name), path.join(root, name));
        await sleep(20);
      }
      child.proc.kill('SIGKILL');
      await within(10_000, 'serve exit after SIGKILL', child.exited);
      const ctx = `serve kill #${k + 1} (${dropped.size} dropped so far)`;
      // On disk, before any repair: parses strictly and names a binary that is there with those bytes.
      const onDisk = parseManifest(await fs.readFile(path.join(root, MANIFEST_NAME)));
      if (onDisk.file !== NO_FILE) {
        const bytes = await fs.readFile(path.join(root, onDisk.file));
        expect([bytes.length, crc32hex(bytes)], `${ctx}: on disk UPGRADE.TXT names ${onDisk.file}`).to.deep.equal([onDisk.size, onDisk.crc32]);
      }
      // Restart: every binary dropped so far must end up published, the newest one offered.
      const app = await startFirmdrop(loadConfig({
        root, host: '127.0.0.1', port: '0', 'stability-ms': '100', 'log-level': 'silent', 'log-format': 'json',
      }, {}), silentLogger());
      try {
        await app.publisher.idle();
        const recorded = new Set((await app.publisher.releases()).map((r) => `${r.name}:${r.crc32}`));
        const lost = [...dropped].filter(([name, data]) => !recorded.has(`${name}:${crc32hex(data)}`)).map(([name]) => name);
        expect(lost, `${ctx}: dropped binaries never published after the restart`).to.deep.equal([]);
        const m = await app.publisher.current();
        const newest = `K${String(n - 1).padStart(6, '0')}`;
        expect(m?.file, `${ctx}: offered after restart`).to.equal(newest);
        expect(m?.crc32).to.equal(crc32hex(dropped.get(newest)!));
      } finally {
        await app.close();
      }
    }
  });

  /** How the README starts the server: `npm start` (package.json) and the `firmdrop` bin. */
  const LAUNCHERS: Array<{ label: string; command: string; args: string[] }> = [
    { label: '`firmdrop serve` (bin/firmdrop.js)', command: process.execPath, args: [FIRMDROP_BIN, 'serve'] },
    { label: '`npm start` (the README quick start)', command: 'npm', args: ['start', '--silent', '--'] },
  ];

  for (const launcher of LAUNCHERS) describe(`SIGTERM to ${launcher.label}`, () => {
    let base: string;
    let root: string;
    let binary: Buffer;
    const NAME = 'BIGBIN1';
    /** pids of servers started (read from their log), killed after each test if still alive. */
    const serverPids: number[] = [];

    before(async () => {
      base = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-sigterm-'));
      bases.push(base);
      root = path.join(base, 'root');
      await fs.mkdir(root);
      binary = crypto.randomBytes(4 * 1024 * 1024);
      await fs.writeFile(path.join(base, NAME), binary);
      await new Publisher({ root, logger: silentLogger() }).importBinary(path.join(base, NAME), { name: NAME });
    });
    afterEach(() => {
      for (const pid of serverPids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });

    /** Start the server on the root, port 0; resolves with the child, the port and the server's pid it logged. */
    const serve = async (drainMs: number): Promise<{ child: Child; port: number; pid: number }> => {
      const child = startChild([...launcher.args, '--root', root, '--host', '127.0.0.1', '--port', '0',
        '--log-format', 'json', '--drain-timeout-ms', String(drainMs)], launcher.command);
      children.push(child.proc);
      const line = await waitForLine(child, (l) => l.includes('"msg":"listening"'), 60_000, `${launcher.label} listening`);
      const { port, pid } = JSON.parse(line) as { port: number; pid: number };
      expect(port).to.be.a('number').above(0);
      serverPids.push(pid);
      return { child, port, pid };
    };

    /** After the launcher exited: the server process itself must be gone too (bounded wait). */
    const expectGone = async (pid: number): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await sleep(100);
      expect(alive(pid), `server process ${pid} still running after ${launcher.label} exited (orphaned)`).to.equal(false);
    };

    /** Log in, PASV, RETR NAME; returns the control connection and the paused data socket. */
    const startRetr = async (port: number): Promise<{ ftp: RawFtp; data: net.Socket }> => {
      const { ftp } = await RawFtp.connect('127.0.0.1', port);
      expect((await ftp.login(USER, PASS)).code).to.equal(230);
      expect((await ftp.send('TYPE I')).code).to.equal(200);
      const { host, port: dataPort } = parsePasv(await ftp.send('PASV'));
      const data = await connectData(host, dataPort);
      data.pause();
      expect((await ftp.send(`RETR ${NAME}`)).code).to.equal(150);
      return { ftp, data };
    };

    /** Read one chunk from a paused socket (undefined at its end). */
    const readChunk = (sock: net.Socket): Promise<Buffer | undefined> => new Promise((resolve) => {
      const onData = (c: Buffer): void => { done(); sock.pause(); resolve(c); };
      const onEnd = (): void => { done(); resolve(undefined); };
      const done = (): void => { sock.off('data', onData); sock.off('close', onEnd); sock.off('end', onEnd); };
      sock.on('data', onData);
      sock.once('end', onEnd);
      sock.once('close', onEnd);
      sock.resume();
    });

    it('lets a slow download in progress finish byte-exact, refuses new sessions, then exits 0', async () => {
      const { child, port, pid } = await serve(20_000);
      const { ftp, data } = await startRetr(port);
      try {
        const chunks: Buffer[] = [];
        let got = 0;
        // Slow device: one chunk per 20 ms until 256 KiB, then SIGTERM, then ~1 s more of slow reading.
        while (got < 256 * 1024) {
          const c = await readChunk(data);
          if (!c) break;
          chunks.push(c); got += c.length;
          await sleep(20);
        }
        child.proc.kill('SIGTERM');
        const slowUntil = Date.now() + 1000;
        while (Date.now() < slowUntil) {
          const c = await readChunk(data);
          if (!c) break;
          chunks.push(c); got += c.length;
          await sleep(20);
        }
        // A new device is not served any more (refused, or greeted with 421).
        const late = await RawFtp.connect('127.0.0.1', port).then(({ ftp: f, greeting }) => { f.destroy(); return greeting.code; }, () => 'refused');
        expect(late === 'refused' || late === 421, `a new connection after SIGTERM got ${late}`).to.equal(true);
        // The rest at full speed.
        for (;;) {
          const c = await within(20_000, 'rest of the download', readChunk(data));
          if (!c) break;
          chunks.push(c);
        }
        const all = Buffer.concat(chunks);
        expect(all.length, 'bytes received').to.equal(binary.length);
        expect(all.equals(binary), 'download byte-exact across SIGTERM').to.equal(true);
        const final = await ftp.readUntil([226, 426, 451, 421], 10_000);
        expect(final?.code, 'reply after the transfer').to.equal(226);
        const { code, signal } = await within(30_000, 'firmdrop serve exit after SIGTERM', child.exited);
        expect({ code, signal }, `stderr: ${child.stderr.join('').slice(-500)}`).to.deep.equal({ code: 0, signal: null });
        await expectGone(pid);
      } finally {
        ftp.destroy();
        data.destroy();
      }
    });

    it('cuts a device that never reads at the drain deadline and still exits 0', async () => {
      const { child, port, pid } = await serve(1000);
      const { ftp, data } = await startRetr(port); // never read
      try {
        await sleep(200);
        child.proc.kill('SIGTERM');
        const { code, signal } = await within(30_000, 'firmdrop serve exit after SIGTERM with a stalled device', child.exited);
        expect({ code, signal }, `stderr: ${child.stderr.join('').slice(-500)}`).to.deep.equal({ code: 0, signal: null });
        await expectGone(pid);
      } finally {
        ftp.destroy();
        data.destroy();
      }
    });
  });
});
