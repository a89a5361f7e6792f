/**
 * Publish storm: many binaries dropped into the watched root in quick succession (most written
 * outside the root and renamed in, some written in place slowly) while many basic-ftp clients poll UPGRADE.TXT
 * against a real firmdrop (startFirmdrop: publisher + watcher + FTP, as `firmdrop serve` runs it).
 *
 * Checked: every UPGRADE.TXT any client read parses strictly (server/manifest.ts parseManifest), and the binary it
 * names, fetched right after in the same session, has exactly that SIZE (reply and bytes), CRC32 and MD5; every
 * dropped binary ends up recorded with its exact size and checksums, and no partial copy was ever published.
 *
 * A second storm drops new builds of the offered program under its own name (the everyday case: a new SENSOR1):
 * each drop replaces the very file UPGRADE.TXT names, and the same checks apply.
 *
 * Bounded: the storm ends when every client has seen the last binary (dropped once all others are published) or
 * after STORM_LIMIT_MS. Sized for 2 cores well under 60 s: see the constants.
 *
 * Full scale: N_BINARIES = 1,000 with 200 clients. Measured on 2 cores: both storms together take
 * ~45 s on a quiet machine (load 0.6) and ~60 s with other work running (load ~8); the publisher writes a snapshot
 * per release and the per-publish cost grows with the catalogue (300 binaries: 3 s). Clients pause POLL_PAUSE_MS (jittered) between
 * polls: 200 clients polling back to back opened ~400 data connections a second, and the TIME_WAIT sockets they
 * left exhausted the machine's ephemeral ports (28k) within a minute, which would also break other tests running
 * on the machine.
 */
import { expect } from 'chai';
import { Client, enterPassiveModeIPv4 } from 'basic-ftp';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFirmdrop, type Firmdrop } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { NO_FILE, parseManifest, type Manifest } from '../server/manifest.ts';
import type { Release } from '../server/publisher.ts';
import { pino } from 'pino';
import { crc32hex, md5hex } from './support/checksums.ts';
import { PASS, USER, fetchBuffer } from './support/ftp-fixtures.ts';
import { sleep } from './support/wait.ts';

/** Binaries dropped. */
const N_BINARIES = 1000;
/** Of those, written in place in the root in chunks (the rest: written outside, renamed in). */
const N_SLOW = 20;
/** Clients polling UPGRADE.TXT at once. */
const N_CLIENTS = 200;
/** Upper bound of the whole storm, ms: the storm stops when the last publish is seen or after this. */
const STORM_LIMIT_MS = 120_000;
/** The watcher's size-stability window, ms; the slow writers pause STABILITY_MS / 6 between chunks (well inside it). */
const STABILITY_MS = 300;
/** Mean pause between one client's polls, ms (each poll waits 0.5–1.5 × this). */
const POLL_PAUSE_MS = 1500;
const LAST = 'ZLAST00';
/** Second storm: new builds of the offered program dropped under the same name (each replaces the offered file). */
const N_REBUILDS = 15;
/** Pause between two rebuilds, ms: longer than STABILITY_MS, so each build is published in turn. */
const REBUILD_EVERY_MS = 2 * STABILITY_MS;
/** Clients polling during the rebuild storm. */
const N_REBUILD_CLIENTS = 50;

/** What the clients saw. */
interface Observed {
  manifests: number;
  binariesChecked: number;
  /** Manifests that did not parse strictly: the raw text and why. */
  unparsable: string[];
  /** Manifests whose binary did not match (size reply, bytes, CRC32, MD5), or could not be fetched. */
  mismatches: string[];
  /** FTP errors outside those (connection trouble). */
  errors: string[];
  sawLast: number;
}

/** Name of the i-th binary: a 7-character program name. */
const nameOf = (i: number): string => `B${String(i).padStart(6, '0')}`;

/** A firmdrop on a fresh temp root, its staging folder (same file system, outside the root) and what it logged. */
interface Storm {
  base: string;
  root: string;
  staging: string;
  app: Firmdrop;
  /** The server's warnings and errors (JSON lines), shown when an assertion fails. */
  serverWarnings: string[];
  seen: Observed;
  /** Set to end every poller. */
  stop: boolean;
  deadline: number;
}

async function startStorm(): Promise<Storm> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'firmdrop-storm-'));
  const root = path.join(base, 'root');
  const staging = path.join(base, 'staging');
  await fs.mkdir(root);
  await fs.mkdir(staging);
  const serverWarnings: string[] = [];
  const config = loadConfig({
    root, host: '127.0.0.1', port: '0', 'stability-ms': String(STABILITY_MS), 'log-level': 'silent', 'log-format': 'json',
  }, {});
  const app = await startFirmdrop(config, pino({ level: 'warn' }, { write: (line: string) => { serverWarnings.push(line.trim()); } }));
  return {
    base, root, staging, app, serverWarnings, stop: false, deadline: Date.now() + STORM_LIMIT_MS,
    seen: { manifests: 0, binariesChecked: 0, unparsable: [], mismatches: [], errors: [], sawLast: 0 },
  };
}

async function stopStorm(storm: Storm | undefined): Promise<void> {
  if (!storm) return;
  await storm.app.close();
  await fs.rm(storm.base, { recursive: true, force: true });
}

/** `; server warnings: …` for assertion messages. */
function warnings(storm: Storm): string {
  return `; server warnings: ${storm.serverWarnings.slice(0, 5).join(' | ') || 'none'}`;
}

/** Drop `data` into the root as `name` the safe way: written outside the root, then renamed in. */
async function dropIn(storm: Storm, name: string, data: Buffer): Promise<void> {
  const tmp = path.join(storm.staging, name);
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, path.join(storm.root, name));
}

/**
 * One polling device: a basic-ftp session that reads UPGRADE.TXT, parses it strictly, and fetches the binary it
 * names (SIZE + RETR) checking size, CRC32 and MD5; pauses POLL_PAUSE_MS (jittered) and again, until it has seen
 * LAST, `storm.stop` is set, or the deadline passes. Findings go to `storm.seen`.
 */
async function poller(storm: Storm, k: number): Promise<void> {
  const { seen } = storm;
  const client = new Client(30_000);
  if (k % 2 === 0) client.prepareTransfer = enterPassiveModeIPv4; // half PASV, half EPSV
  try {
    await client.access({ host: '127.0.0.1', port: storm.app.ftp.port, user: USER, password: PASS });
    await client.send('TYPE I');
    while (!storm.stop && Date.now() < storm.deadline) {
      const text = await fetchBuffer(client, 'UPGRADE.TXT');
      seen.manifests++;
      let m: Manifest;
      try {
        m = parseManifest(text);
      } catch (e) {
        seen.unparsable.push(`${JSON.stringify(text.toString('latin1'))}: ${(e as Error).message}`);
        continue;
      }
      if (m.file !== NO_FILE) {
        const what = `${m.file} v${m.version} (manifest SIZE ${m.size})`;
        try {
          const size = await client.size(m.file);
          const bytes = await fetchBuffer(client, m.file);
          seen.binariesChecked++;
          if (size !== m.size) seen.mismatches.push(`${what}: SIZE reply ${size}`);
          if (bytes.length !== m.size) seen.mismatches.push(`${what}: fetched ${bytes.length} bytes`);
          if (m.crc32 !== crc32hex(bytes)) seen.mismatches.push(`${what}: CRC32 ${m.crc32} vs bytes ${crc32hex(bytes)}`);
          if (m.md5 !== md5hex(bytes)) seen.mismatches.push(`${what}: MD5 ${m.md5} vs bytes ${md5hex(bytes)}`);
        } catch (e) {
          seen.mismatches.push(`${what}: could not be fetched: ${(e as Error).message}`);
        }
        if (m.file === LAST) { seen.sawLast++; return; }
      }
      await sleep(POLL_PAUSE_MS * (0.5 + Math.random()));
    }
  } catch (e) {
    seen.errors.push(`client ${k}: ${(e as Error).message}`);
  } finally {
    client.close();
  }
}

/**
 * Run a storm: `clients` pollers poll while `drive()` drops binaries; then wait (bounded by the storm deadline)
 * until `done(releases)` holds, drop LAST (so it is the final publish), and wait until every poller has seen it
 * or the deadline passes. Returns whether `done` held in time, and the releases recorded at the end.
 */
async function runStorm(storm: Storm, clients: number, drive: () => Promise<void>, done: (releases: Release[]) => boolean):
  Promise<{ allPublished: boolean; releases: Release[] }> {
  const pollers = Array.from({ length: clients }, (_, k) => poller(storm, k));
  let allPublished = false;
  try {
    await drive();
    while (Date.now() < storm.deadline) {
      if (done(await storm.app.publisher.releases())) { allPublished = true; break; }
      await sleep(250);
    }
    await dropIn(storm, LAST, crypto.randomBytes(4096));
    await Promise.race([Promise.all(pollers), sleep(Math.max(0, storm.deadline - Date.now()))]);
  } finally {
    storm.stop = true;
    await Promise.all(pollers);
  }
  return { allPublished, releases: await storm.app.publisher.releases() };
}

/** The checks both storms share, on what the pollers saw. */
function itChecksWhatClientsSaw(get: () => Storm, clients: number): void {
  it('had every client read manifests and check binaries, without FTP errors', () => {
    const { seen } = get();
    expect(seen.errors.slice(0, 5), `${seen.errors.length} client errors${warnings(get())}`).to.deep.equal([]);
    expect(seen.manifests).to.be.at.least(clients);
    expect(seen.binariesChecked).to.be.at.least(clients);
  });

  it('served only manifests that parse strictly (never torn, never half-written)', () => {
    const { seen } = get();
    expect(seen.unparsable.slice(0, 5), `${seen.unparsable.length} of ${seen.manifests} manifests unparsable${warnings(get())}`).to.deep.equal([]);
  });

  it('named only binaries that, fetched right after, had exactly the SIZE, CRC32 and MD5 announced', () => {
    const { seen } = get();
    expect(seen.mismatches.slice(0, 5), `${seen.mismatches.length} of ${seen.binariesChecked} checks failed${warnings(get())}`).to.deep.equal([]);
  });

  it('ended with every client seeing the last binary dropped', () => {
    const { seen } = get();
    expect(seen.sawLast, `${seen.sawLast} of ${clients} clients saw ${LAST}${warnings(get())}`).to.equal(clients);
  });
}

describe('publish storm: binaries dropped while clients poll UPGRADE.TXT', function () {
  this.timeout(STORM_LIMIT_MS + 60_000);
  let storm: Storm;
  const contents = new Map<string, Buffer>();
  let allPublished = false;
  let releases: Release[] = [];

  before(async () => {
    storm = await startStorm();
    const slowWriter = async (name: string, data: Buffer): Promise<void> => {
      const fh = await fs.open(path.join(storm.root, name), 'w');
      try {
        const step = Math.ceil(data.length / 5);
        for (let at = 0; at < data.length; at += step) {
          await fh.write(data.subarray(at, at + step));
          await sleep(STABILITY_MS / 6);
        }
      } finally {
        await fh.close();
      }
    };
    ({ allPublished, releases } = await runStorm(storm, N_CLIENTS, async () => {
      // The storm: every binary dropped as fast as the disk allows; the slow ones written in place meanwhile.
      const slow: Promise<void>[] = [];
      for (let i = 0; i < N_BINARIES; i++) {
        const name = nameOf(i);
        const data = crypto.randomBytes(1024 + crypto.randomInt(15 * 1024));
        contents.set(name, data);
        if (i % Math.floor(N_BINARIES / N_SLOW) === 7 && slow.length < N_SLOW) slow.push(slowWriter(name, data));
        else await dropIn(storm, name, data);
      }
      await Promise.all(slow);
    }, (rs) => {
      const names = new Set(rs.map((r) => r.name));
      return [...contents.keys()].every((n) => names.has(n));
    }));
  });

  after(() => stopStorm(storm));

  itChecksWhatClientsSaw(() => storm, N_CLIENTS);

  it('published every dropped binary with its exact size and checksums, and never a partial copy', () => {
    expect(allPublished, 'not every dropped binary was published within the storm limit').to.equal(true);
    const wrong = releases.filter((r) => {
      const data = r.name === LAST ? undefined : contents.get(r.name);
      return r.name !== LAST && (!data || r.size !== data.length || r.crc32 !== crc32hex(data) || r.md5 !== md5hex(data));
    });
    expect(wrong.slice(0, 5).map((r) => `${r.name} v${r.version} ${r.size} bytes`), `${wrong.length} releases do not match their binary${warnings(storm)}`).to.deep.equal([]);
  });
});

// A drop under the offered name replaces the very bytes UPGRADE.TXT describes. Until the watcher reacts (and
// between a device's read of UPGRADE.TXT and its RETR a moment later, in the same session), a device can get the new
// bytes under the old SIZE/CRC32/MD5. Switching to NO_FILE when the offered binary changes narrows that window but
// cannot close it; serving each published release from a snapshot the publisher keeps (e.g. .firmdrop/store), and
// answering a session's RETR/SIZE with the release its last UPGRADE.TXT read named, would.
describe('rebuild storm: new builds of the offered program replace it under the same name while clients poll', function () {
  this.timeout(STORM_LIMIT_MS + 60_000);
  const NAME = 'SENSOR1';
  let storm: Storm;
  const builds: Buffer[] = [];
  let allPublished = false;
  let releases: Release[] = [];

  before(async () => {
    storm = await startStorm();
    ({ allPublished, releases } = await runStorm(storm, N_REBUILD_CLIENTS, async () => {
      // The operator drops build after build of the program devices are being offered (renamed in, the safe way):
      // each replaces the very file UPGRADE.TXT names.
      for (let i = 0; i < N_REBUILDS; i++) {
        const data = crypto.randomBytes(1024 + crypto.randomInt(15 * 1024));
        builds.push(data);
        await dropIn(storm, NAME, data);
        await sleep(REBUILD_EVERY_MS);
      }
    }, (rs) => rs.some((r) => r.name === NAME && r.crc32 === crc32hex(builds[builds.length - 1]))));
  });

  after(() => stopStorm(storm));

  itChecksWhatClientsSaw(() => storm, N_REBUILD_CLIENTS);

  it('published the builds as rising VERSIONs, the last build last, each with its exact checksums', () => {
    expect(allPublished, 'the last build was not published within the storm limit').to.equal(true);
    const mine = releases.filter((r) => r.name === NAME);
    const known = new Set(builds.map((b) => `${b.length}:${crc32hex(b)}:${md5hex(b)}`));
    expect(mine.filter((r) => !known.has(`${r.size}:${r.crc32}:${r.md5}`)).map((r) => `v${r.version}`), 'releases matching no build').to.deep.equal([]);
    const versions = mine.map((r) => r.version);
    expect(versions, 'VERSIONs in publish order').to.deep.equal([...versions].sort((a, b) => a - b));
    expect(mine.at(-1)?.crc32, 'the last release is the last build').to.equal(crc32hex(builds[builds.length - 1]));
  });
});
