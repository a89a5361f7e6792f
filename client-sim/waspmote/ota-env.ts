/**
 * What every module's `requestOTA` procedure works with: the device, the AT link to its modem (helper A's
 * `AtHost`), the FTP server it was asked to use, and the library's delays and timeouts scaled by `timeScale`
 * so that tests can run the real procedure quickly against 'fast' modem timing.
 *
 * Delays are the library's pauses (e.g. the 4G's 2 s before `#FTPTYPE`); timeouts are its waits for a reply
 * (e.g. 15 s for `#FTPOPEN`). `pause(ms)` sleeps ms × timeScale; `timeout(ms)` is ms × timeScale but never below
 * `minTimeoutMs`, so a loaded test machine does not turn a slow reply into a false timeout.
 */
import type { AtHost } from '../at/host.ts';
import type { WaspmoteDevice } from './device.ts';

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
  /** Floor for every scaled timeout in ms (default 0). */
  minTimeoutMs?: number;
  /**
   * Bound on polls that return no data (4G `#FTPRECV: 0`, GPRS `+FTPGET:2,0`). The 4G library has no bound
   * (research/waspmote-ota.md §2, §7: it loops forever); the simulator stops after this many and reports a hang
   * instead of a code. Default 600.
   */
  maxIdlePolls?: number;
  /** GPRS only: send the library's literal `.gprs` FTPGETPATH prefix (see ota-gprs.ts). Default false. */
  gprsLiteralPrefix?: boolean;
  /** Called as download bytes arrive. */
  onProgress?: (p: OtaProgress) => void;
  /** Called with one line per step, like the library's debug prints. */
  log?: (line: string) => void;
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
  /** Sleeps a library delay (scaled). */
  pause(ms: number): Promise<void>;
  /** A library timeout, scaled and floored, in ms. */
  timeout(ms: number): number;
  progress(p: OtaProgress): void;
  log(line: string): void;
}

/** Builds an {@link OtaEnv}. */
export function makeEnv(device: WaspmoteDevice, at: AtHost, server: OtaServer, opts: OtaOptions = {}): OtaEnv {
  const scale = opts.timeScale ?? 1;
  if (!(scale > 0)) throw new RangeError(`timeScale must be > 0, got ${scale}`);
  const floor = opts.minTimeoutMs ?? 0;
  return {
    device, at, server,
    stats: { bytes: 0, sessions: 0, notes: [] },
    maxIdlePolls: opts.maxIdlePolls ?? 600,
    gprsLiteralPrefix: opts.gprsLiteralPrefix ?? false,
    pause: (ms) => new Promise((r) => setTimeout(r, Math.round(ms * scale))),
    timeout: (ms) => Math.max(Math.round(ms * scale), floor),
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
