/**
 * Timing profiles for the modem emulators (sources per value below).
 *
 * All values are milliseconds. Two presets exist: `fast` (no artificial delays; used by tests) and
 * `realistic` (delays in the range manuals and drivers report for real modules). Any field can be
 * overridden per modem: `createModem('telit', { timing: { preset: 'realistic', loginDelayMs: 500 } })`.
 * Timeouts are never "made up" by the emulator: they bound how long the modem's FTP client waits for
 * the server (basic-ftp control/data timeout), which the Telit dialect also sets from `AT#FTPTO`.
 */

/** Delays and timeouts of one emulated modem, in milliseconds. */
export interface TimingProfile {
  /** Delay before every final result code (command processing time on the module). */
  responseDelayMs: number;
  /** Extra delay after a successful FTP login (1–5 s typical on cellular; drivers tolerate 20–120 s). */
  loginDelayMs: number;
  /** Bearer/PDP activation time (SIM900 `AT+SAPBR=1,1`: up to 85 s, SIM800 AT manual). */
  bearerDelayMs: number;
  /**
   * The modem's FTP client timeout: how long it waits for a server reply, for a data connection to
   * open, and for the next data packet (data-gap / stall detection). Telit: `#FTPTO` × 100 ms; SIMCom
   * manuals: 60–75 s; Quectel rsptimeout default 90 s (Telit AT reference, SIM800 AT manual V1.05/V1.09,
   * Quectel UC15 FTP manual).
   */
  ftpTimeoutMs: number;
  /** Delay between two URC data frames (SIM5215 `+CFTPGET: DATA`, SIM900 `+FTPGET: 1,1`). */
  urcDelayMs: number;
  /**
   * iChip: silence after which a transfer that stopped short reports `I/ERROR` (AT+i manual §11.7:
   * "after a 5 seconds non-transmission period").
   */
  silenceErrorMs: number;
}

/** Named presets. */
export type TimingPresetName = 'fast' | 'realistic';

/** The families that have timing defaults here (u-blox and Quectel fall back to the generic ones). */
export type TimedFamily = 'telit' | 'simcom900' | 'simcom5215' | 'ichip' | string;

const FAST: TimingProfile = {
  responseDelayMs: 0, loginDelayMs: 0, bearerDelayMs: 0, ftpTimeoutMs: 10_000, urcDelayMs: 0, silenceErrorMs: 0,
};

const REALISTIC_GENERIC: TimingProfile = {
  responseDelayMs: 20, loginDelayMs: 1_500, bearerDelayMs: 2_000, ftpTimeoutMs: 60_000, urcDelayMs: 5, silenceErrorMs: 5_000,
};

/** Per-family realistic values (sources in the comments). */
const REALISTIC: Record<string, Partial<TimingProfile>> = {
  // Telit: #FTPTO default 100 (= 10 s) in the ME310 library; login a few seconds (telit/arduino-me310-library).
  telit: { ftpTimeoutMs: 10_000, loginDelayMs: 2_000 },
  // SIMCom SIM800/900: 60 s (V1.05) / 75 s (V1.09) max response time; SAPBR slow (SIM800 AT manual).
  simcom900: { ftpTimeoutMs: 75_000, bearerDelayMs: 3_000, loginDelayMs: 2_000 },
  // SIM5215: 219 arrives after about 5 min on a dead server (a public SIM7500/7600 OTA driver; Wasp3G.cpp downloadFile).
  simcom5215: { ftpTimeoutMs: 300_000, loginDelayMs: 2_000 },
  // iChip: 5 s silence rule (AT+i manual §11.7); WiFi is faster than cellular.
  ichip: { ftpTimeoutMs: 15_000, loginDelayMs: 300, silenceErrorMs: 5_000 },
};

/** Timing option accepted by every modem: a preset name, or a preset plus field overrides. */
export type TimingOption = TimingPresetName | (Partial<TimingProfile> & { preset?: TimingPresetName });

/**
 * Resolve a timing option for a family into a full {@link TimingProfile}. Default preset: `fast`.
 * Throws RangeError on a negative or non-finite field.
 */
export function resolveTiming(family: TimedFamily, option: TimingOption = 'fast'): TimingProfile {
  const opt = typeof option === 'string' ? { preset: option } : option;
  const preset = opt.preset ?? 'fast';
  const base = preset === 'realistic' ? { ...REALISTIC_GENERIC, ...(REALISTIC[family] ?? {}) } : { ...FAST };
  const { preset: _p, ...fields } = opt;
  const out = { ...base, ...fields } as TimingProfile;
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`timing.${k} must be a finite number >= 0 ms, got ${v}`);
  }
  return out;
}

/** Promise that resolves after `ms` milliseconds (resolves on the next macrotask when `ms` is 0). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
