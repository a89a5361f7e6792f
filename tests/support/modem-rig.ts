/**
 * Shared mocha fixture of the modem dialect specs: firmdrop's own FTP server (server/ftp.ts `startFtp`, read-only
 * device file system) over a temp root with the given files for the whole suite, anonymous login allowed plus the
 * account `dev`/`secret`; an optional fault proxy in front of it per test; and the modem under test; all closed
 * after each test / the suite. Call {@link useModemRig} inside a `describe`. (Tests may start the server in
 * process; client-sim itself never imports server/.)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { formatTrace, type TraceEvent } from '../../client-sim/modem/at-modem.ts';
import { startFaultProxy, type FaultProxy, type Faults } from '../../client-sim/net/fault-proxy.ts';
import { startFtp } from '../../server/ftp/server.ts';
import { createLogger } from '../../server/log.ts';

/** A running server and its root. */
export interface RigFtp { host: string; port: number; root: string; close(): Promise<void> }

/** Starts firmdrop's FTP server on 127.0.0.1:0 over a new temp root holding `files` (relative path → content). */
export async function startRigFtp(files: Record<string, Buffer | string>): Promise<RigFtp> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'modem-rig-'));
  for (const [rel, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), data);
  }
  const srv = await startFtp({ root, host: '127.0.0.1', port: 0, users: [{ user: 'dev', pass: 'secret' }], anonymous: true },
    createLogger({ level: 'silent' }));
  return {
    host: srv.host, port: srv.port, root,
    async close() {
      await srv.close(1000);
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/** The fixture's state (valid inside tests). */
export interface ModemRig {
  ftp: RigFtp;
  /** The proxy of the current test, if `port(faults)` started one. */
  proxy?: FaultProxy;
  /** The port a modem should dial: the server's, or a new fault proxy's in front of it when `faults` are given. */
  port(faults?: Faults): Promise<number>;
  /** Registers the modem to destroy after the test; returns it. */
  adopt<T extends Duplex>(modem: T): T;
  /** Pass as the modems' `trace` option: the last lines are printed when a test fails (diagnosis of flakes). */
  trace(ev: TraceEvent): void;
}

/** Installs before/after/afterEach hooks and returns the rig. */
export function useModemRig(files: Record<string, Buffer | string>): ModemRig {
  let modems: Duplex[] = [];
  let traced: string[] = [];
  const rig: ModemRig = {
    trace(ev) {
      traced.push(formatTrace(ev));
      if (traced.length > 200) traced = traced.slice(-100);
    },
    ftp: undefined as unknown as RigFtp,
    async port(faults) {
      if (!faults) return rig.ftp.port;
      rig.proxy = await startFaultProxy({ target: { host: rig.ftp.host, port: rig.ftp.port }, faults });
      return rig.proxy.port;
    },
    adopt(modem) {
      modems.push(modem);
      return modem;
    },
  };
  before(async () => { rig.ftp = await startRigFtp(files); });
  after(async () => { await rig.ftp.close(); });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      process.stderr.write(`    last modem trace lines:\n${traced.slice(-40).map((l) => `      ${l}`).join('\n')}\n`);
    }
    traced = [];
    for (const m of modems) m.destroy();
    modems = [];
    await rig.proxy?.close();
    rig.proxy = undefined;
  });
  return rig;
}
