/**
 * Fuzzed FTP command streams against one real firmdrop FTP server: the server never crashes and leaks no socket,
 * whatever a client sends. fast-check generates sessions: valid verbs (any case) with random or nasty arguments,
 * raw random bytes, odd line ends (CR, LF, none, CR CR LF; RFC 959 §4.1 wants CRLF), split at random points into TCP
 * segments; PASV/EPSV replies get a data connection that is either read or dropped at once; PORT/EPRT name a
 * loopback sink of ours, a foreign address (refused, never contacted; RFC 2577 §3) or garbage.
 *
 * After every run: a fresh connection still gets `220` and `NOOP` → `200`, and every reply line had a reply code
 * (RFC 959 §4.2). After all runs: this process holds exactly the TCP sockets it held before (no leaked control,
 * data or PASV socket; counted from /proc, tests/support/open-sockets.ts).
 *
 * Bounded: RUNS runs of at most MAX_COMMANDS commands, each run capped at RUN_LIMIT_MS. The seed is fixed so CI is
 * repeatable; set FIRMDROP_FUZZ_SEED to explore other streams (a failure prints the seed and the shrunk stream).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import { PASS, USER, useServer, type TestServer } from '../support/ftp-fixtures.ts';
import { canCountSockets, countHeld, waitForSockets } from '../support/open-sockets.ts';
import { type FtpReply, HOST, parsePasv, RawFtp } from '../support/raw-ftp.ts';
import { within } from '../support/wait.ts';

const RUNS = 100;
const MAX_COMMANDS = 50;
/** Per-run cap (ms): writing, reading replies, hanging up, and the fresh NOOP check. */
const RUN_LIMIT_MS = 15_000;
/** A run's replies are read until the server has been quiet this long (ms), at most QUIET_CAP_MS in all. */
const QUIET_MS = 100;
const QUIET_CAP_MS = 2_000;
const SEED = Number(process.env.FIRMDROP_FUZZ_SEED ?? 5150422);

const VERBS = [
  'USER', 'PASS', 'ACCT', 'TYPE', 'SIZE', 'MDTM', 'RETR', 'REST', 'LIST', 'NLST', 'STAT', 'CWD', 'XCWD', 'CDUP', 'PWD',
  'PASV', 'EPSV', 'PORT', 'EPRT', 'ABOR', 'NOOP', 'FEAT', 'SYST', 'HELP', 'OPTS', 'MODE', 'STRU', 'ALLO', 'AUTH',
  'PBSZ', 'PROT', 'STOR', 'APPE', 'STOU', 'DELE', 'RNFR', 'RNTO', 'MKD', 'RMD', 'SITE', 'QUIT', 'REIN', 'MLSD', 'XYZZY',
];

/** One generated session (see runArb). */
interface Run { login: boolean; commands: Buffer[]; segments: number[]; readData: boolean }

/** The data connections and sockets a run opened, to be destroyed when it ends. */
interface RunState { sockets: net.Socket[]; replies: FtpReply[] }

describe('hostile input: fuzzed command streams', function () {
  this.timeout(180_000);
  const fx = useServer({ layout: 'hostile' });
  let ftpd: TestServer;
  let sink: net.Server;
  const sinkSockets = new Set<net.Socket>();

  before(async () => {
    ftpd = fx.srv;
    // Where fuzzed PORT/EPRT commands may point on loopback: reads and discards, closes when the server does.
    sink = net.createServer((s) => {
      sinkSockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sinkSockets.delete(s));
      s.resume();
    });
    await new Promise<void>((resolve) => sink.listen(0, HOST, resolve));
  });
  after(async () => {
    for (const s of sinkSockets) s.destroy();
    await new Promise<void>((resolve) => sink?.close(() => resolve()) ?? resolve());
  });

  it(`survives ${RUNS} fuzzed sessions of up to ${MAX_COMMANDS} commands: NOOP still answered, no socket leaked`, async () => {
    const sinkPort = (sink.address() as net.AddressInfo).port;
    const baseline = canCountSockets() ? countHeld() : 0;

    const text = (s: string): Buffer => Buffer.from(s, 'utf8');
    const portArg = fc.oneof(
      fc.constant(`127,0,0,1,${sinkPort >> 8},${sinkPort & 255}`),
      fc.constant(`|1|127.0.0.1|${sinkPort}|`),
      fc.constantFrom('10,0,0,1,4,1', '192,0,2,1,7,208', '|1|192.0.2.1|2000|', '|2|2001:db8::1|2000|', '|3|x|1|', '1,2,3', ',,,,,', '|||'),
      fc.array(fc.integer({ min: -1, max: 300 }), { minLength: 0, maxLength: 8 }).map((a) => `10,${a.join(',')}`),
    );
    const argArb = fc.oneof(
      { weight: 3, arbitrary: fc.constant('') },
      {
        weight: 4,
        arbitrary: fc.constantFrom('UPGRADE.TXT', '/UPGRADE.TXT', 'PROGRAM', 'sub', 'sub/INNER01', '..', '../../etc/passwd',
          '.firmdrop', '.firmdrop/releases.json', 'LINKFIL', 'LINKDIR', 'LOOPAAA', 'I', 'A', 'E', 'L 8', 'S', 'F', 'TLS',
          '0', '-1', '262143', '262144', '99999999999999999999', 'ALL', '-la', 'UTF8 ON', USER, PASS, 'anonymous'),
      },
      { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 1, arbitrary: fc.integer({ min: -5, max: 2_000_000 }).map(String) },
      { weight: 1, arbitrary: portArg },
    );
    const eolArb = fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r', '', '\r\r\n', '\n\r', '\0\r\n');
    const commandArb = fc.oneof(
      {
        weight: 9,
        arbitrary: fc.tuple(fc.constantFrom(...VERBS), fc.boolean(), argArb, eolArb)
          .map(([verb, lower, arg, eol]) => text(`${lower ? verb.toLowerCase() : verb}${arg === '' ? '' : ` ${arg}`}${eol}`)),
      },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 120 }).map((b) => Buffer.from(b)) },
    );
    const runArb: fc.Arbitrary<Run> = fc.record({
      login: fc.integer({ min: 0, max: 9 }).map((n) => n < 7),
      commands: fc.array(commandArb, { minLength: 1, maxLength: MAX_COMMANDS }),
      segments: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 24 }),
      readData: fc.boolean(),
    });

    /** One fuzzed session; resolves when it has been hung up and a fresh connection answered NOOP. */
    const runOne = async (run: Run, state: RunState): Promise<void> => {
      const { ftp, greeting } = await RawFtp.connect(HOST, ftpd.port);
      state.sockets.push(ftp.socket);
      expect(greeting.code).to.equal(220);
      const prefix = run.login ? text(`USER ${USER}\r\nPASS ${PASS}\r\n`) : Buffer.alloc(0);
      const bytes = Buffer.concat([prefix, ...run.commands]);
      // Watch replies as they come: open (and read or drop) the data connection each PASV/EPSV names.
      let stop = false;
      const watcher = (async () => {
        const quietUntil = Date.now() + QUIET_CAP_MS + 60_000;
        while (!stop && Date.now() < quietUntil) {
          const r = await ftp.readOrEnd(QUIET_MS);
          if (!r) { if (ftp.isClosed || stop) break; continue; }
          state.replies.push(r);
          let port: number | undefined;
          if (r.code === 227) { try { port = parsePasv(r).port; } catch { /* malformed 227 shows in the assertion */ } }
          if (r.code === 229) port = Number(/\(\|\|\|(\d+)\|\)/.exec(r.text)?.[1]);
          if (port) {
            const d = net.connect({ host: HOST, port });
            state.sockets.push(d);
            d.on('error', () => undefined);
            if (run.readData) d.resume(); else d.once('connect', () => d.destroy());
          }
        }
      })();
      // Write the stream split into the generated segment sizes (cycled), one TCP write each.
      let pos = 0;
      for (let i = 0; pos < bytes.length && !ftp.isClosed; i++) {
        const n = run.segments.length ? run.segments[i % run.segments.length] : bytes.length;
        await ftp.write(bytes.subarray(pos, pos + n));
        pos += n;
        await new Promise((r) => setImmediate(r));
      }
      // Let the server answer what it will (until quiet, bounded), then hang up.
      const deadline = Date.now() + QUIET_CAP_MS;
      let seen = state.replies.length;
      while (Date.now() < deadline && !ftp.isClosed) {
        await new Promise((r) => setTimeout(r, QUIET_MS));
        if (state.replies.length === seen) break;
        seen = state.replies.length;
      }
      stop = true;
      ftp.destroy();
      await watcher;
      const bad = state.replies.filter((r) => r.code < 100 || r.code > 599);
      expect(bad.length, `reply lines without a reply code: ${JSON.stringify(bad.slice(0, 3).map((r) => r.lines))}`).to.equal(0);
      // The server still serves a fresh device.
      const fresh = await RawFtp.connect(HOST, ftpd.port);
      state.sockets.push(fresh.ftp.socket);
      expect(fresh.greeting.code, 'greeting on a fresh connection').to.equal(220);
      expect((await fresh.ftp.send('NOOP')).code, 'NOOP on a fresh connection').to.equal(200);
      fresh.ftp.destroy();
    };

    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const state: RunState = { sockets: [], replies: [] };
        try {
          await within(RUN_LIMIT_MS, 'fuzz run', runOne(run, state));
        } finally {
          for (const s of state.sockets) s.destroy();
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );

    if (canCountSockets()) {
      // Every client socket is destroyed; the server must have let go of its side of each, data and PASV included.
      const left = await waitForSockets(() => countHeld(), baseline, 20_000);
      expect(left, `TCP sockets held after ${RUNS} fuzz runs (baseline ${baseline})`).to.equal(baseline);
    }
  });
});
