/**
 * Runs a scenario: builds a temporary server root (binary + UPGRADE.TXT, exactly as the scenario says), starts an
 * FTP server on it on an ephemeral loopback port, runs the device's OTA through its modem emulator with the
 * scenario's faults, and compares the code with the expected one.
 *
 * The server: this is the one place in client-sim that starts the firmdrop server in-process (server/ftp.ts
 * `startFtp`, the read-only device file system without the publisher, so hand-made UPGRADE.TXT files are served
 * as they are). client-sim otherwise reaches servers only over the network; the scenario runner is a test harness
 * and the device still talks to the server only over FTP on 127.0.0.1.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFtp, type FtpHandle } from '../../server/ftp/server.ts';
import { createLogger } from '../../server/log.ts';
import { runOta, type OtaResult } from '../waspmote/run-ota.ts';
import type { WaspmoteDevice } from '../waspmote/device.ts';
import { DEFAULT_BINARY, DEFAULT_DEVICE, scenarioBinary, scenarioManifest, type Scenario } from './types.ts';

/** The account every scenario server has. */
export const SCENARIO_USER = { user: 'ota', pass: 'libelium' };

/** How to run scenarios. */
export interface ScenarioRunOptions {
  /** Library time scale (see waspmote/ota-env.ts); default 0.02 (a 2 s pause takes 40 ms). */
  timeScale?: number;
  /** Floor for scaled timeouts, ms; default 1500. */
  minTimeoutMs?: number;
  /** AT/FTP trace lines. */
  trace?: (line: string) => void;
  /** Link profile for the fault proxy (e.g. 'catm1'). */
  profile?: string;
}

/** A scenario's outcome. */
export interface ScenarioOutcome {
  scenario: Scenario;
  result: OtaResult;
  /** The code and its name matched `scenario.expect` (undefined behaviour and hangs have no code). */
  passed: boolean;
  device: WaspmoteDevice;
  /** The binary the server offered (for byte-exact checks). */
  binary: Buffer | undefined;
}

/** A temporary root with a scenario's files; `remove()` deletes it. */
export interface ScenarioRoot { dir: string; binary: Buffer | undefined; remove(): Promise<void> }

/** Writes a scenario's server root into a new temp folder. */
export async function buildScenarioRoot(s: Scenario): Promise<ScenarioRoot> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `firmdrop-scenario-${s.id}-`));
  const b = s.binary === null ? undefined : s.binary ?? DEFAULT_BINARY;
  let binary: Buffer | undefined;
  if (b) {
    binary = scenarioBinary(b.name, b.size);
    const folder = path.join(dir, b.dir ?? '');
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, b.name), binary);
  }
  const manifest = scenarioManifest(s);
  if (manifest !== null) await fs.writeFile(path.join(dir, 'UPGRADE.TXT'), manifest, 'latin1');
  for (const [name, text] of Object.entries(s.files ?? {})) await fs.writeFile(path.join(dir, name), text, 'latin1');
  return { dir, binary, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/**
 * Copies everything in `dir` into `dir/.gprs/`: the GPRS library asks for `.gprs/UPGRADE.TXT` and `.gprs<PATH>/<FILE>`
 * (WaspGPRS_Pro_core.cpp:7052, :7120), so a server without a `.gprs` alias needs a real folder of that name.
 */
export async function mirrorGprs(dir: string): Promise<void> {
  const target = path.join(dir, '.gprs');
  await fs.mkdir(target, { recursive: true });
  for (const e of await fs.readdir(dir)) {
    if (e !== '.gprs') await fs.cp(path.join(dir, e), path.join(target, e), { recursive: true });
  }
}

/** Starts the scenario FTP server on `root` (127.0.0.1, ephemeral port, silent log). */
export function startScenarioServer(root: string): Promise<FtpHandle> {
  return startFtp({ root, host: '127.0.0.1', port: 0, users: [SCENARIO_USER], idleTimeoutMs: 60_000 }, createLogger({ level: 'silent' }));
}

/** Runs one scenario end to end and removes everything it created. */
export async function runScenario(s: Scenario, opts: ScenarioRunOptions = {}): Promise<ScenarioOutcome> {
  const root = await buildScenarioRoot(s);
  let ftp: FtpHandle | undefined;
  try {
    ftp = await startScenarioServer(root.dir);
    const { result, device } = await runOta({
      module: s.module,
      server: { host: ftp.host === '0.0.0.0' ? '127.0.0.1' : ftp.host, port: ftp.port,
        user: s.login?.user ?? SCENARIO_USER.user, pass: s.login?.pass ?? SCENARIO_USER.pass },
      device: { ...DEFAULT_DEVICE, ...s.device },
      atFaults: s.atFaults,
      netFaults: s.netFaults,
      profile: opts.profile,
      modemOptions: s.modemOptions,
      timeScale: s.options?.timeScale ?? opts.timeScale ?? 0.02,
      minTimeoutMs: opts.minTimeoutMs ?? 1500,
      maxIdlePolls: s.options?.maxIdlePolls ?? 50,
      ...(s.options?.library ? { library: s.options.library } : {}),
      trace: opts.trace,
    });
    return { scenario: s, result, passed: result.code === s.expect.code && result.name === s.expect.name, device, binary: root.binary };
  } finally {
    await ftp?.close(2000);
    await root.remove();
  }
}
