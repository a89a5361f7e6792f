/**
 * One OTA as a device does it: a {@link WaspmoteDevice}, the modem emulator of its module (`createModem`), optionally a fault tap on the serial line and a fault proxy on the network path, and the
 * module's `requestOTA` procedure. After a successful procedure the device has called `loadOTA` and rebooted;
 * this then calls `checkNewProgram()` as the new sketch's `setup()` would (WaspUtils.cpp checkNewProgram).
 *
 * Module → modem family: 4g → telit, wifi-pro → ichip, 3g → simcom5215, gprs → simcom900.
 */
import { AtHost } from '../at/host.ts';
import { createModem } from '../modem/index.ts';
import type { TimingOption } from '../modem/timing.ts';
import { formatTrace, type TraceEvent } from '../modem/at-modem.ts';
import { startFaultProxy, type Fault, type FaultProxy } from '../net/fault-proxy.ts';
import { AtFaultTap, type AtFault } from '../scenarios/at-fault-tap.ts';
import { WaspmoteDevice, type DeviceOptions, type CheckNewProgram } from './device.ts';
import { describeCode, successCode } from './codes.ts';
import { makeEnv, OtaHangError, OtaUndefinedBehaviourError, type OtaEnv, type OtaOptions, type OtaServer, type UndefinedBehaviour } from './ota-env.ts';
import type { WaspModule } from './upgrade-txt.ts';
import { requestOta4g } from './ota-4g.ts';
import { requestOtaGprs, HOST_OPTIONS_GPRS } from './ota-gprs.ts';
import { requestOta3g, HOST_OPTIONS_3G } from './ota-3g.ts';
import { requestOtaWifiPro, HOST_OPTIONS_WIFI } from './ota-wifi-pro.ts';
import type { AtHostOptions } from '../at/host.ts';

/** The emulator family each module drives. */
export const MODEM_FAMILY: Record<WaspModule, string> = {
  '4g': 'telit', 'wifi-pro': 'ichip', '3g': 'simcom5215', gprs: 'simcom900',
};

/** Each module's requestOTA and the AtHost options its modem link needs (URC patterns). */
const PROCEDURES: Record<WaspModule, { run: (env: OtaEnv) => Promise<number>; host?: AtHostOptions }> = {
  '4g': { run: requestOta4g },
  'wifi-pro': { run: requestOtaWifiPro, host: HOST_OPTIONS_WIFI },
  '3g': { run: requestOta3g, host: HOST_OPTIONS_3G },
  gprs: { run: requestOtaGprs, host: HOST_OPTIONS_GPRS },
};

/** What to run. */
export interface RunOtaOptions extends OtaOptions {
  module: WaspModule;
  /** The FTP server as the application passes it to requestOTA. */
  server: OtaServer;
  /** An existing device (e.g. to run OTA twice) or the options of a new one. */
  device?: WaspmoteDevice | DeviceOptions;
  /** Modem timing preset/overrides (client-sim/modem/timing.ts); default 'fast'. */
  modemTiming?: TimingOption;
  /** Extra family options for createModem (e.g. `errorCodes`). */
  modemOptions?: Record<string, unknown>;
  /** Serial-line faults: commands the tap answers instead of the modem (scenarios/at-fault-tap.ts). */
  atFaults?: AtFault[];
  /** Network faults between the modem and the server (client-sim/net/faults.ts); starts a fault proxy. */
  netFaults?: Fault[];
  /** Cellular link profile for the proxy ('gprs', '3g', 'catm1', 'nbiot', 'cat1'); starts a fault proxy. */
  profile?: string;
  /** Receives one formatted line per AT command, reply, URC, payload and FTP wire line. */
  trace?: (line: string) => void;
  /** Aborting closes the AT link and the modem: the procedure then ends quickly with whatever code follows. */
  signal?: AbortSignal;
}

/** The outcome, as the device would report it. */
export interface OtaResult {
  module: WaspModule;
  /** requestOTA's code (WiFi PRO: `_errorCode`); null when the procedure hung or hit undefined behaviour. */
  code: number | null;
  /** True on the module's success value. */
  ok: boolean;
  /** Code name from codes.ts (e.g. FILE_LENGTH), or HUNG / UNKNOWN. */
  name: string;
  /** The library's condition for the code. */
  description: string;
  /** The guide's wording, when the guide lists the condition. */
  guideText?: string;
  /** The guide's number, when it differs from `code`. */
  guideCode?: number;
  /** Bytes written to the SD card by the downloads. */
  bytes: number;
  /** FTP logins made by the modem. */
  sessions: number;
  /** Wall time in ms. */
  durationMs: number;
  /** `checkNewProgram()` after the reboot, on success. */
  checkNewProgram?: CheckNewProgram;
  /** Program ID and version in EEPROM at the end. */
  programId: string;
  version: number;
  /** Commands answered by the serial-line fault tap. */
  atFaultHits: number;
  /** Network fault events of the proxy. */
  netFaultEvents: number;
  /** Notes (quirks met, undefined behaviour, hang). */
  notes: string[];
  hung?: boolean;
  /** Set when the library would overrun memory: no code can be predicted (the device may reset). */
  undefinedBehaviour?: UndefinedBehaviour;
}

/** The one-line human reading of an undefined-behaviour outcome. */
export function describeUndefinedBehaviour(ub: UndefinedBehaviour): string {
  return `the library would overrun memory (${ub.source}): ${ub.why}; the device may reset`;
}

/**
 * Runs one OTA. Never throws for what the device or the network does (those end as codes or a hang); throws only
 * on programming errors (unknown module, unknown modem family). Closes the modem and the proxy it started.
 */
export async function runOta(opts: RunOtaOptions): Promise<{ result: OtaResult; device: WaspmoteDevice }> {
  const proc = PROCEDURES[opts.module];
  if (!proc) throw new Error(`unknown module "${opts.module}"`);
  const device = opts.device instanceof WaspmoteDevice ? opts.device : new WaspmoteDevice(opts.device);
  const t0 = Date.now();
  const rebootsBefore = device.reboots;
  let proxy: FaultProxy | undefined;
  if ((opts.netFaults && opts.netFaults.length > 0) || opts.profile) {
    proxy = await startFaultProxy({ target: { host: opts.server.host, port: opts.server.port }, faults: opts.netFaults, profile: opts.profile });
  }
  const server: OtaServer = proxy ? { ...opts.server, host: proxy.host, port: proxy.port } : opts.server;
  const trace = opts.trace;
  const modem = createModem(MODEM_FAMILY[opts.module], {
    // every module's ON() sends AT+CMEE=1 before requestOTA can run (Wasp4G.cpp:1215, Wasp3G.cpp:1855,
    // WaspGPRS_Pro_core.cpp:2825), so the modem reports +CME ERROR: <n>
    cmee: 1,
    timing: opts.modemTiming ?? 'fast',
    ...(trace ? { trace: (ev: TraceEvent) => trace(formatTrace(ev)) } : {}),
    ...opts.modemOptions,
  });
  const tap = opts.atFaults && opts.atFaults.length > 0 ? new AtFaultTap(modem, opts.atFaults) : undefined;
  const at = new AtHost(tap ?? modem, { defaultTimeoutMs: 10_000, ...proc.host });
  const env = makeEnv(device, at, server, opts);
  const onAbort = (): void => { at.close(); (tap ?? modem).destroy(); };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let code: number | null = null;
  let hung = false;
  let ub: UndefinedBehaviour | undefined;
  try {
    code = await proc.run(env);
  } catch (err) {
    if (err instanceof OtaUndefinedBehaviourError) ub = err.ub;
    else if (err instanceof OtaHangError) { hung = true; env.stats.notes.push(err.message); }
    else throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    at.close();
    (tap ?? modem).destroy();
    await proxy?.close();
  }
  const ok = code !== null && code === successCode(opts.module) && device.reboots > rebootsBefore;
  const entry = code === null ? undefined : describeCode(opts.module, code, ok);
  const result: OtaResult = {
    module: opts.module,
    code,
    ok,
    name: ub ? 'UNDEFINED_BEHAVIOUR' : hung ? 'HUNG' : entry?.name ?? 'UNKNOWN',
    description: ub ? describeUndefinedBehaviour(ub) : hung ? 'the procedure would never return on a real device' : entry?.condition ?? `code ${code} is not in the table`,
    ...(entry?.guideText !== undefined ? { guideText: entry.guideText } : {}),
    ...(entry?.guideCode !== undefined ? { guideCode: entry.guideCode } : {}),
    bytes: env.stats.bytes,
    sessions: env.stats.sessions,
    durationMs: Date.now() - t0,
    programId: device.programId(),
    version: device.programVersion(),
    atFaultHits: tap?.hits.length ?? 0,
    netFaultEvents: proxy?.stats.events.length ?? 0,
    notes: env.stats.notes,
    ...(hung ? { hung } : {}),
    ...(ub ? { undefinedBehaviour: ub } : {}),
  };
  if (ok) result.checkNewProgram = device.checkNewProgram();
  result.programId = device.programId();
  result.version = device.programVersion();
  return { result, device };
}
