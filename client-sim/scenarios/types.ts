/**
 * The shape of one error-code scenario: pure data, so the catalogue can be listed, filtered,
 * printed as JSON and turned into one regression test each.
 */
import type { Fault } from '../net/faults.ts';
import type { AtFault } from './at-fault-tap.ts';
import type { DeviceOptions } from '../waspmote/device.ts';
import type { WaspModule } from '../waspmote/upgrade-txt.ts';
import type { LibraryVersion } from '../waspmote/ota-env.ts';

/** The binary the server offers. Its bytes are generated ({@link scenarioBinary}); `size` in bytes. */
export interface ScenarioBinary {
  /** File name in the server root (the program name). */
  name: string;
  size: number;
  /** VERSION written in the default manifest. */
  version: number;
  /** Sub-folder of the root to put it in (default: the root itself). */
  dir?: string;
}

/**
 * One scenario. The server root gets the binary (unless `binary` is null) and an UPGRADE.TXT: `upgradeTxt` as raw
 * text (placeholders `{name}`, `{size}` and `{version}` are replaced from the binary), or, when undefined, the
 * Meshlium form `FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:{version}\n`; null = no UPGRADE.TXT at all.
 */
export interface Scenario {
  /** Stable id: `<module>-<code>-<slug>`, e.g. `4g-4-crlf`. */
  id: string;
  module: WaspModule;
  /** One line for listings. */
  title: string;
  /** Why this setup gives this code (the library's condition met). */
  why: string;
  binary?: ScenarioBinary | null;
  upgradeTxt?: string | null;
  /** Extra files in the root: name → text. */
  files?: Record<string, string>;
  /** The device's state before the OTA (default: running SENSAPP version 3, SD present). */
  device?: DeviceOptions;
  /** Credentials the device uses (default the server's `ota`/`libelium`). */
  login?: { user?: string; pass?: string };
  /** Serial-line faults (the modem answers these commands with an error; see at-fault-tap.ts). */
  atFaults?: AtFault[];
  /** Network faults between modem and server (client-sim/net/faults.ts). */
  netFaults?: Fault[];
  /** Extra modem emulator options (e.g. `{ verifySize: false }` so a cut transfer looks complete). */
  modemOptions?: Record<string, unknown>;
  /** Run options this scenario needs (e.g. a smaller time scale so a 300 s deadline passes quickly). */
  options?: { timeScale?: number; maxIdlePolls?: number; library?: LibraryVersion };
  /**
   * The library's code this must produce, and its name in codes.ts; `code: null` with name UNDEFINED_BEHAVIOUR
   * when the library would overrun memory (then `ub` names the library line).
   */
  expect: { code: number | null; name: string; ub?: string };
  /** Where an earlier, less exact simulator gave another code for the same cause: that code and why v048 differs. */
  changed?: { from: number; why: string };
  /** Where the guide (Libelium's OTA guide) says something else for this condition. */
  guide?: { code?: number; text?: string };
  /** How the cause is produced: by the server's content, the network, the device, or the serial-line tap. */
  cause: 'server' | 'network' | 'device' | 'modem';
}

/** Default program: the device runs SENSAPP v3, the server offers SENSAPP v4 (3000 bytes). */
export const DEFAULT_BINARY: ScenarioBinary = { name: 'SENSAPP', size: 3000, version: 4 };
/** Default device state. */
export const DEFAULT_DEVICE: DeviceOptions = { programId: 'SENSAPP', version: 3, sd: true };

/**
 * Deterministic binary bytes of `size` for a program `name`: a counter pattern with AT-looking text planted
 * every 500 bytes (`\r\nOK\r\n`, `+FTPGET:1,0`, `#FTPRECV: 0`), so a transfer only passes if payloads are
 * counted, never scanned.
 */
export function scenarioBinary(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let seed = 0;
  for (const c of name) seed = (seed * 31 + c.charCodeAt(0)) >>> 0;
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed + (i >> 8)) & 0xff;
  const bait = ['\r\nOK\r\n', '+FTPGET:1,0\r\n', '\r\n#FTPRECV: 0\r\n', 'I/OK\r\n', '+CFTPGET: 0\r\n'];
  for (let at = 100, k = 0; at + 16 < size; at += 500, k++) Buffer.from(bait[k % bait.length]!, 'latin1').copy(out, at);
  return out;
}

/** The UPGRADE.TXT text a scenario puts in the root, or null for none. */
export function scenarioManifest(s: Scenario): string | null {
  const b = s.binary === null ? undefined : s.binary ?? DEFAULT_BINARY;
  if (s.upgradeTxt === null) return null;
  const template = s.upgradeTxt ?? 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:{version}\n';
  return template
    .replaceAll('{name}', b?.name ?? 'NO_FILE')
    .replaceAll('{size}', String(b?.size ?? 0))
    .replaceAll('{version}', String(b?.version ?? 0));
}
