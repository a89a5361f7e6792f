/**
 * What every module's `requestOTA` procedure works with: the device, the AT link to its modem (`AtHost`), the FTP
 * server it was asked to use, the library version, and the library's delays and timeouts scaled by `timeScale`
 * (`--time-scale`) so that tests can run the real procedure quickly against 'fast' modem timing.
 *
 * Delays are the library's pauses (e.g. the 4G's 2 s before `#FTPTYPE`, Wasp4G.cpp:2661); timeouts are its waits
 * for a reply (e.g. 15 s for `#FTPOPEN`). `pause(ms)` sleeps ms × timeScale; `timeout(ms)` is ms × timeScale but
 * never below min(ms, `minTimeoutMs`), so a loaded test machine does not turn a slow reply into a false timeout.
 * `sendExpect` finds answers as the library's stream search does; `readTags` parses UPGRADE.TXT and raises the
 * undefined-behaviour outcome.
 */
import type { AtHost } from '../at/host.ts';
import type { WaspmoteDevice } from './device.ts';
import { readUpgradeTxt, type DeviceParseResult, type WaspModule } from './upgrade-txt.ts';

/** The FTP server and account the application passes to `requestOTA(server, port, user, pass)`. */
export interface OtaServer { host: string; port: number; user: string; pass: string }

/** Progress of one file download, in bytes. */
export interface OtaProgress { file: string; bytes: number; total: number }

/** Counters a procedure keeps while it runs. */
export interface OtaStats {
  /** Bytes written to the SD card by downloads (UPGRADE.TXT and binary). */
  bytes: number;
  /** FTP logins the modem made on the device's behalf (explicit opens, or implicit per-operation logins). */
  sessions: number;
  /** Free-form notes about what happened (quirks met, undefined behaviour, hangs). */
  notes: string[];
}

/** Options shared by all procedures. */
export interface OtaOptions {
  /** Multiplies every library delay and timeout; 1 = real time (default 1). */
  timeScale?: number;
  /**
   * Floor for every scaled timeout in ms (default 500, never above the library's own timeout), so that a small
   * `timeScale` does not turn a loopback FTP login into a false timeout.
   */
  minTimeoutMs?: number;
  /**
   * Bound on polls that return no data (4G `#FTPRECV: 0`, GPRS `+FTPGET:2,0`). The 4G library has no bound
   * (Wasp4G.cpp ftpDownload :3296: it loops forever); the simulator stops after this many and reports a hang
   * instead of a code. Default 600.
   */
  maxIdlePolls?: number;
  /**
   * GPRS only: send the library's literal `.gprs` paths (`AT+FTPGETPATH=".gprs"`, WaspGPRS_Pro_core.cpp:7052,
   * :7120). Default true, as the library does; false drops the prefix (a desk aid for servers without `.gprs`).
   */
  gprsLiteralPrefix?: boolean;
  /**
   * Waspmote API version whose requestOTA runs (see {@link LIBRARY_VERSIONS}). Default 'v048', the last release.
   */
  library?: LibraryVersion;
  /** Called as download bytes arrive. */
  onProgress?: (p: OtaProgress) => void;
  /** Called with one line per step, like the library's debug prints. */
  log?: (line: string) => void;
}

/**
 * Waspmote API versions the simulator distinguishes. Only versions whose requestOTA behaves differently in a way
 * users meet are listed: v038 and v039 read UPGRADE.TXT with `SD.cat(file, 0, sizeof(_buffer))` on a pointer
 * (2 bytes on the AVR), so every 4G OTA stopped with code 5 ("no FILE"); v040 passes `_bufferSize` (Wasp4G.cpp
 * requestOTA, the `SD.cat(LE910_OTA_FILE, 0, _bufferSize)` line, :7319 in v048). 3G and GPRS requestOTA are the same
 * from v026 to v048; WiFi PRO's is the same in every listed version.
 */
export const LIBRARY_VERSIONS = ['v048', 'v039', 'v038'] as const;
/** One of {@link LIBRARY_VERSIONS}. */
export type LibraryVersion = typeof LIBRARY_VERSIONS[number];

/**
 * Where the library would overrun a buffer or read outside one (C undefined behaviour): the device may reset or
 * carry on with corrupted memory, so no return code can be predicted. `source` is the library line
 * (e.g. `Wasp3G.cpp:9819`), `why` names the buffer and the input that overruns it.
 */
export interface UndefinedBehaviour { source: string; why: string }

/** Thrown by a procedure at the point where the library would overrun memory; run-ota reports it. */
export class OtaUndefinedBehaviourError extends Error {
  readonly ub: UndefinedBehaviour;
  constructor(ub: UndefinedBehaviour) { super(`undefined behaviour at ${ub.source}: ${ub.why}`); this.name = 'OtaUndefinedBehaviourError'; this.ub = ub; }
}

/** Thrown when the real device would never return (e.g. the 4G `#FTPRECV: 0` loop); run-ota reports it. */
export class OtaHangError extends Error {
  constructor(message: string) { super(message); this.name = 'OtaHangError'; }
}

/** Everything a procedure needs. Build it with {@link makeEnv}. */
export interface OtaEnv {
  device: WaspmoteDevice;
  at: AtHost;
  server: OtaServer;
  stats: OtaStats;
  maxIdlePolls: number;
  /** See {@link OtaOptions.gprsLiteralPrefix}. */
  gprsLiteralPrefix: boolean;
  /** See {@link OtaOptions.library}. */
  library: LibraryVersion;
  /** Sleeps a library delay (scaled). */
  pause(ms: number): Promise<void>;
  /** A library wait that is expected to run out (e.g. XMODEM's 3 s wait for 134 bytes), scaled, no floor, ms. */
  scaled(ms: number): number;
  /**
   * ms since the first of `idle` consecutive empty polls (pass the current count; 1 starts the clock). The hang
   * rule is the simulator's, not the library's: at least `maxIdlePolls` polls AND 5 s (scaled, floored) without
   * data, so a modem that is still noticing a failure is not cut short.
   */
  idleFor(idle: number): number;
  /** A library timeout, scaled and floored, in ms. */
  timeout(ms: number): number;
  progress(p: OtaProgress): void;
  log(line: string): void;
}

/** Builds an {@link OtaEnv}. */
export function makeEnv(device: WaspmoteDevice, at: AtHost, server: OtaServer, opts: OtaOptions = {}): OtaEnv {
  const scale = opts.timeScale ?? 1;
  if (!(scale > 0)) throw new RangeError(`timeScale must be > 0, got ${scale}`);
  const floor = opts.minTimeoutMs ?? 500;
  return {
    device, at, server,
    stats: { bytes: 0, sessions: 0, notes: [] },
    maxIdlePolls: opts.maxIdlePolls ?? 600,
    gprsLiteralPrefix: opts.gprsLiteralPrefix ?? true,
    library: opts.library ?? 'v048',
    pause: (ms) => new Promise((r) => setTimeout(r, Math.round(ms * scale))),
    idleFor: (() => { let since = 0; return (idle: number) => { if (idle <= 1) since = Date.now(); return Date.now() - since; }; })(),
    timeout: (ms) => Math.max(Math.round(ms * scale), Math.min(ms, floor)),
    scaled: (ms) => Math.round(ms * scale),
    progress: (p) => opts.onProgress?.(p),
    log: (line) => opts.log?.(line),
  };
}

/** Sends one command and returns its result, or undefined on a timeout or a closed link (the library's "no answer"). */
export async function tryCommand(env: OtaEnv, cmd: string, timeoutMs: number, extra: Parameters<AtHost['command']>[1] = {}):
  Promise<Awaited<ReturnType<AtHost['command']>> | undefined> {
  try {
    return await env.at.command(cmd, { ...extra, timeoutMs: env.timeout(timeoutMs) });
  } catch (err) {
    env.log(`${cmd}: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * The 1-based index of the pattern the library's stream search finds first in `line` (+ its `\r\n`), or 0. The
 * library checks every pattern after each received byte (WaspGPRS_Pro_core.cpp:899 waitForData, Wasp3G.cpp
 * waitForData, WaspUART.cpp:468 waitFor), so the pattern whose first occurrence ENDS first wins, and on the same
 * byte the earlier pattern: "+CME ERROR: 3" matches "ERROR" before "+CME ERROR:" when both are awaited.
 */
export function firstHit(line: string, patterns: readonly string[]): number {
  const text = `${line}\r\n`;
  let best = 0;
  let bestEnd = Infinity;
  patterns.forEach((p, i) => {
    const at = text.indexOf(p);
    if (at >= 0 && at + p.length < bestEnd) { bestEnd = at + p.length; best = i + 1; }
  });
  return best;
}

/**
 * Sends `cmd` and waits up to `timeoutMs` (scaled) for the first received line in which one of `patterns` occurs
 * (see {@link firstHit}), as the library's `sendCommand`/`waitForData` do. Lines before it are returned in
 * `before`. `answer` is the 1-based index of the pattern, or 0 on a timeout / closed link (the library's "no
 * answer"). The AtHost backlog (lines nobody read) is dropped first, as `serialFlush` does before each command.
 */
export async function sendExpect(env: OtaEnv, cmd: string, patterns: string[], timeoutMs: number):
  Promise<{ answer: number; line?: string; before: string[] }> {
  env.at.clearBacklog();
  try {
    const r = await env.at.command(cmd, { timeoutMs: env.timeout(timeoutMs), finals: [(l: string) => firstHit(l, patterns) > 0] });
    return { answer: firstHit(r.final, patterns), line: r.final, before: r.lines };
  } catch (err) {
    env.log(`${cmd}: ${(err as Error).message}`);
    return { answer: 0, before: [] };
  }
}

/** True when a command result ended in OK. */
export function isOk(r: { final: string } | undefined): boolean {
  return r !== undefined && r.final === 'OK';
}

/** True when a command result ended in `+CME ERROR`. */
export function isCme(r: { final: string } | undefined): boolean {
  return r !== undefined && r.final.startsWith('+CME ERROR');
}

/** AT string argument: the value between double quotes, as the library's sprintf does (no escaping). */
export function q(s: string): string {
  return `"${s}"`;
}

/**
 * Reads the UPGRADE.TXT now on the SD card as `module`'s requestOTA does (upgrade-txt.ts), notes truncation, and
 * throws {@link OtaUndefinedBehaviourError} where the library's tag copy would overrun a buffer. `catBytes` caps
 * what SD.cat reads (the 4G v038/v039 `sizeof` bug: 2). A missing file
 * reads as the text SD.cat returns for it ("error opening UPGRADE.TXT", WaspSD.cpp cat).
 */
export function readTags(env: OtaEnv, module: WaspModule, catBytes?: number): Exclude<DeviceParseResult, { outcome: 'OVERRUN' }> {
  const { device } = env;
  const file = device.sd.read('UPGRADE.TXT') ?? Buffer.from('error opening UPGRADE.TXT', 'latin1');
  const text = catBytes === undefined ? file : file.subarray(0, catBytes);
  const parsed = readUpgradeTxt(module, text, { programId: device.programId(), version: device.programVersion() });
  if (parsed.truncated) env.stats.notes.push('UPGRADE.TXT is 255 bytes or more: SD.cat truncated it');
  if (parsed.overrun) throw new OtaUndefinedBehaviourError(parsed.overrun);
  return parsed as Exclude<DeviceParseResult, { outcome: 'OVERRUN' }>;
}
