/**
 * `WaspWIFI_PRO::requestOTA` (WaspWIFI_PRO.cpp:6175, v048) over the iChip emulator, through AT text only.
 *
 * Sequence: SD present? (0010, :6210) → delete UPGRADE.TXT → ONE session: `AT+iFOPN:<server>,<port>:<user>,<pass>`
 * (15 s; `I/<handle>`; an `I/ERROR (<n>)` leaves the module's code n (505–513) in `_errorCode`, a timeout
 * leaves 0) → ftpDownload(UPGRADE.TXT) (any failure → 0021, :6265) → the tags (0022–0028) → ftpDownload of
 * PATH joined with FILE (`/` added when PATH does not end in one; an empty PATH reads `path[-1]`, :6466) (any
 * failure → 0030, :6518) → SD size ≠ SIZE label → 0029 (:6497) → `AT+iFCLS` → `Utils.loadOTA`. Every failure
 * after the open closes the session (`AT+iFCLS:<h>`). ftpDownload: see {@link ftpDownloadWifi}.
 */
import { tagCode } from './codes.ts';
import { OtaUndefinedBehaviourError, readTags, tryCommand, type OtaEnv } from './ota-env.ts';
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

/** changeBaudRate (WaspWIFI_PRO.cpp:3890): `AT+i`, `AT+iBDRA`, `AT+i` (I/OK each, 3 s); true when all answered. */
async function changeBaudRate(env: OtaEnv): Promise<boolean> {
  for (const cmd of ['AT+i', 'AT+iBDRA', 'AT+i']) {
    const r = await tryCommand(env, cmd, 3_000);
    if (!r || r.final !== 'I/OK') return false;
  }
  return true;
}

/** ftpFileSize (:3026): `AT+iFSZ:<h>,<path>` → `I/<size>`, then up to 5 s for `I/OK` (not checked); undefined on failure. */
async function ftpFileSize(env: OtaEnv, handle: number, path: string): Promise<number | undefined> {
  const r = await tryCommand(env, `AT+iFSZ:${handle},${path}`, 15_000, { finals: I_RESULT });
  const m = r ? /^I\/(\d+)$/.exec(r.final) : null;
  if (!m) return undefined;
  try { await env.at.waitFor('I/OK', env.timeout(5_000)); } catch { /* WaspWIFI_PRO ignores it */ }
  return Number(m[1]);
}

/** `AT+iFRCV:<h>,<path>`: `I/OK` then `I/<size>`; a 511 is retried once after 1 s (:3226-3300). Undefined on failure. */
async function openReceive(env: OtaEnv, handle: number, path: string): Promise<number | undefined> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    let r;
    try {
      r = await env.at.command(`AT+iFRCV:${handle},${path}`, { finals: I_RESULT, rawAfter: true, timeoutMs: env.timeout(15_000) });
    } catch (err) {
      if (err instanceof AtTimeoutError) return undefined;
      throw err;
    }
    const size = /^I\/(\d+)$/.exec(r.final);
    if (size) return Number(size[1]);
    env.at.release();
    if (ichipError(r.final) === 511 && attempt === 1) { await env.pause(1_000); continue; }
    return undefined;
  }
  return undefined;
}

/**
 * `WaspWIFI_PRO::ftpDownload` (:3101): SD present/create/open/seek (0010–0013, overwritten by the caller),
 * changeBaudRate(9600), ftpFileSize, `AT+iFRCV`; a server size of 0 fails whatever `I/<size>` says (:3270-3290);
 * an `I/0` with a known size reads the known size. The stream is read in `readBuffer(256)` blocks while more than
 * 512 bytes remain, then the rest; 10 s without data fails; then `I/ONLINE` within 10 s; then SD size = size.
 * Not modelled: 0020 (UART buffer full), which depends on the 9600-baud timing of the real link.
 */
export async function ftpDownloadWifi(env: OtaEnv, handle: number, serverPath: string, sdName: string): Promise<boolean> {
  const sd = env.device.sd;
  if (!sd.isPresent(sdName)) return false;
  sd.del(sdName);
  if (!sd.create(sdName)) return false;
  const file = sd.open(sdName);
  if (!file || !file.seek(0)) return false;
  if (!(await changeBaudRate(env))) return false;
  const serverSize = await ftpFileSize(env, handle, serverPath);
  if (serverSize === undefined) return false;
  const announced = await openReceive(env, handle, serverPath);
  if (announced === undefined) return false;
  if (serverSize === 0) { env.at.release(); return false; }
  const n = announced === 0 ? serverSize : announced;
  const data = await readStream(env, n, (got) => env.progress({ file: serverPath, bytes: got, total: n }));
  if (!data) return false;
  for (let o = 0; o < data.length;) {
    const step = data.length - o > 512 ? READ_BLOCK_WIFI : data.length - o;
    if (!file.write(data.subarray(o, o + step))) return false; // 0014
    o += step;
  }
  env.stats.bytes += data.length;
  try { await env.at.waitFor('I/ONLINE', env.timeout(SILENCE_ABORT_WIFI_MS)); } catch { return false; }
  return sd.size(sdName) === n;
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
  const parsed = readTags(env, 'wifi-pro');
  if (!parsed.ok) {
    await close(env, handle);
    return tagCode('wifi-pro', parsed.outcome);
  }
  const m = parsed.manifest;
  if (m.path === '') {
    throw new OtaUndefinedBehaviourError({ source: 'WaspWIFI_PRO.cpp:6466', why: 'an empty PATH makes `path[strlen(path)-1]` read `path[-1]`, outside the buffer' });
  }
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
