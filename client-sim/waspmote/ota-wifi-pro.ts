/**
 * `WaspWIFI_PRO::requestOTA` over the iChip emulator, through AT text only (research/waspmote-ota.md §2
 * "WiFi PRO", §4; the library's flow as in WaspWIFI_PRO.cpp).
 *
 * Sequence: SD present? (0010) → delete UPGRADE.TXT → ONE session: `AT+iFOPN:<server>,<port>:<user>,<pass>`
 * (15 s; `I/<handle>`; an `I/ERROR (<n>)` leaves the module's code n (505–513) in `_errorCode`, a timeout
 * leaves 0) → ftpDownload(UPGRADE.TXT) (any failure → 0021) → parse (0022 FILE length, 0023 no FILE, 0024
 * NO_FILE, 0025 no PATH, 0026 no SIZE, 0027 no VERSION, 0028 same name and current ≥ new) → ftpDownload of
 * PATH joined with FILE (`/` added when PATH does not end in one: `PATH:/` → `/NAME`, `PATH:/ota` → `/ota/NAME`)
 * (any failure, including SD size ≠ server size → 0030) → SD size ≠ SIZE label → 0029 → `AT+iFCLS` →
 * `Utils.loadOTA`. Every failure after the open closes the session (`AT+iFCLS:<h>`).
 *
 * ftpDownload: `AT+iFSZ:<h>,<path>` (`I/<size>`), SD delete/create/open/seek (0011–0013, overwritten by the
 * caller's 0021/0030), `AT+iFRCV:<h>,<path>` → `I/OK`, `I/<size>`, then exactly size raw bytes read in blocks
 * of at most 256 bytes, aborting after 10 s without data, then `I/ONLINE`; error 511 (data socket) is retried
 * once after 1 s; finally SD size ≠ server size is a failure.
 */
import { readUpgradeTxt } from './upgrade-txt.ts';
import { tagCode } from './codes.ts';
import { tryCommand, type OtaEnv } from './ota-env.ts';
import { AtTimeoutError, type AtHostOptions } from '../at/host.ts';

/** Block size of the library's stream read, bytes. */
export const READ_BLOCK_WIFI = 256;
/** The library aborts a transfer after this long without data, ms. */
export const SILENCE_ABORT_WIFI_MS = 10_000;

/** AtHost options of the iChip link: nothing special (iChip answers in `I/...` lines). */
export const HOST_OPTIONS_WIFI: AtHostOptions = {};

const I_RESULT = [/^I\/\d+$/, /^I\/ERROR/];

/** The module code in `I/ERROR (<n>)`, or undefined. */
function ichipError(line: string | undefined): number | undefined {
  const m = line === undefined ? null : /^I\/ERROR \((\d+)\)$/.exec(line);
  return m ? Number(m[1]) : undefined;
}

async function close(env: OtaEnv, handle: number): Promise<void> {
  await tryCommand(env, `AT+iFCLS:${handle}`, 10_000);
}

/** Reads `n` raw bytes in ≤256-byte blocks into `write`; false when 10 s pass without data or the link closes. */
async function readStream(env: OtaEnv, n: number, onBytes: (got: number) => void): Promise<Buffer | undefined> {
  // AtHost suspends line parsing after `I/<size>` (rawAfter) until one readBytes completes, so the whole stream
  // is taken by one read; a watchdog on the bytes waiting in the host reproduces the 10 s no-data abort.
  if (n === 0) return Buffer.alloc(0);
  const silence = env.timeout(SILENCE_ABORT_WIFI_MS);
  let last = -1;
  let lastChange = Date.now();
  let done = false;
  const read = env.at.readBytes(n, 24 * 3600_000).finally(() => { done = true; });
  read.catch(() => undefined);
  while (!done) {
    await new Promise((r) => setTimeout(r, Math.min(50, silence)));
    const have = env.at.pendingBytes;
    if (have !== last) { last = have; lastChange = Date.now(); onBytes(Math.min(have, n)); }
    if (!done && Date.now() - lastChange > silence) return undefined;
  }
  try { return await read; } catch { return undefined; }
}

/** `WaspWIFI_PRO::ftpDownload`: true on success (SD file written, size = server size). */
export async function ftpDownloadWifi(env: OtaEnv, handle: number, serverPath: string, sdName: string): Promise<boolean> {
  const sd = env.device.sd;
  const fsz = await tryCommand(env, `AT+iFSZ:${handle},${serverPath}`, 15_000, { finals: I_RESULT });
  const sm = fsz ? /^I\/(\d+)$/.exec(fsz.final) : null;
  if (!sm) return false;
  const serverSize = Number(sm[1]);
  if (!sd.isPresent(sdName)) return false;
  sd.del(sdName);
  if (!sd.create(sdName)) return false;           // ERROR_CODE_0011
  const file = sd.open(sdName);
  if (!file) return false;                         // 0012
  if (!file.seek(0)) return false;                 // 0013
  for (let attempt = 1; attempt <= 2; attempt++) {
    let r;
    try {
      r = await env.at.command(`AT+iFRCV:${handle},${serverPath}`, { finals: I_RESULT, rawAfter: true, timeoutMs: env.timeout(15_000) });
    } catch (err) {
      if (err instanceof AtTimeoutError) return false;
      throw err;
    }
    const size = /^I\/(\d+)$/.exec(r.final);
    if (!size) {
      env.at.release();
      if (ichipError(r.final) === 511 && attempt === 1) { await env.pause(1_000); continue; }
      return false;
    }
    const n = Number(size[1]);
    const data = await readStream(env, n, (got) => env.progress({ file: serverPath, bytes: got, total: n }));
    if (!data) return false;
    try {
      await env.at.waitFor('I/ONLINE', env.timeout(SILENCE_ABORT_WIFI_MS));
    } catch {
      return false;
    }
    for (let o = 0; o < data.length; o += READ_BLOCK_WIFI) {
      if (!file.write(data.subarray(o, o + READ_BLOCK_WIFI))) return false; // 0014
    }
    env.stats.bytes += data.length;
    return sd.size(sdName) === serverSize;
  }
  return false;
}

/** `WaspWIFI_PRO::requestOTA`: 0 after `loadOTA` (the device has rebooted), else `_errorCode`. */
export async function requestOtaWifiPro(env: OtaEnv): Promise<number> {
  const { device } = env;
  const sd = device.sd;
  const { host, port, user, pass } = env.server;
  if (!sd.isPresent()) return 10;
  sd.del('UPGRADE.TXT');

  const open = await tryCommand(env, `AT+iFOPN:${host},${port}:${user},${pass}`, 15_000, { finals: I_RESULT });
  if (!open) return 0;                             // timeout: _errorCode stays 0
  const hm = /^I\/(\d+)$/.exec(open.final);
  if (!hm) return ichipError(open.final) ?? 0;
  env.stats.sessions++;
  const handle = Number(hm[1]);

  if (!(await ftpDownloadWifi(env, handle, 'UPGRADE.TXT', 'UPGRADE.TXT'))) {
    await close(env, handle);
    return 21;
  }
  const text = sd.read('UPGRADE.TXT') ?? Buffer.from('error opening UPGRADE.TXT', 'latin1');
  const parsed = readUpgradeTxt('wifi-pro', text, { programId: device.programId(), version: device.programVersion() });
  if (parsed.undefinedBehaviour) env.stats.notes.push('UPGRADE.TXT value without a final \\n: undefined behaviour on a real device');
  if (parsed.truncated) env.stats.notes.push('UPGRADE.TXT is 255 bytes or more: SD.cat truncated it');
  if (!parsed.ok) {
    await close(env, handle);
    return tagCode('wifi-pro', parsed.outcome);
  }
  const m = parsed.manifest;
  const serverFile = m.path.endsWith('/') ? `${m.path}${m.file}` : `${m.path}/${m.file}`;
  env.log(`FILE:${m.file} PATH:${JSON.stringify(m.path)} SIZE:${m.size} VERSION:${m.version} → ${JSON.stringify(serverFile)}`);
  if (!(await ftpDownloadWifi(env, handle, serverFile, m.file))) {
    await close(env, handle);
    return 30;
  }
  if (sd.size(m.file) !== m.size) {
    await close(env, handle);
    return 29;
  }
  await close(env, handle);
  device.loadOTA(m.file, m.version);
  return 0;
}
