/**
 * `Wasp3G::requestOTA` over the SIM5215 emulator, through AT text only (research/waspmote-ota.md §2 "3G", §4;
 * research/modem-at-ftp.md §4.2).
 *
 * Sequence: FTP profile `AT+CFTPSERV` (−3, CME −13), `+CFTPPORT` (−4/−14), `+CFTPMODE=1` (−5/−15),
 * `+CFTPTYPE=I` (−6/−16), `+CFTPUN` (−7/−17), `+CFTPPW` (−8/−18), each up to 10 tries → delete UPGRADE.TXT →
 * downloadFile(UPGRADE.TXT) (generic −19, CME −21, module→SD copy −22) → parse (−23 no FILE, −24 no PATH,
 * −25 no VERSION, −26 NO_FILE, −27 not newer; FILE from the first ':' of the buffer, SIZE never read) →
 * downloadFile(PATH + FILE, no separator; a PATH with exactly one '/' loses its first character) (−28 generic,
 * −30 CME, −31 copy; the guide says −28/−31/−32) → `Utils.loadOTA`. **No size check at all.**
 *
 * downloadFile: `AT+CFTPLIST="<file>"` (120 s): the 5th space-separated token of the `ls -l` line is the size,
 * used only to size the retrieve timeout; then `AT+CFTPGETFILE="<path>",0` to the module's file system
 * (`+CFTPGETFILE: 0` on success; 3 tries, 10 s apart); then the copy from the module to the SD card. The real
 * library uses XMODEM for that copy; the SIM5215 emulator (helper A) offers simulator-specific stand-ins,
 * `AT+SIMFSSIZE` and `AT+SIMFSREAD` (128-byte blocks here, the XMODEM block size), which this uses.
 *
 * Left out: the library first sets the APN (`AT+CGSOCKCONT`, −2) and `AT+CSOCKAUTH` (CME → 0); the emulator has
 * neither command, so they are skipped and those two codes are not reproduced.
 */
import { readUpgradeTxt } from './upgrade-txt.ts';
import { tagCode } from './codes.ts';
import { isCme, isOk, q, tryCommand, type OtaEnv } from './ota-env.ts';
import type { AtHostOptions } from '../at/host.ts';

/** Module → SD copy block, bytes (XMODEM's 128-byte blocks). */
export const COPY_BLOCK_3G = 128;
/** Tries of each FTP profile command. */
export const CONFIG_TRIES_3G = 10;
/** Tries of AT+CFTPGETFILE, and the pause between them in ms. */
export const GETFILE_TRIES_3G = 3;
/** Pause between two AT+CFTPGETFILE tries, ms (Wasp3G downloadFile, research/modem-at-ftp.md §4.2: 3 tries, 10 s apart). */
export const GETFILE_RETRY_PAUSE_MS = 10_000;

/** AtHost options of the SIM5215 link: its FTP results are URCs, LIST output comes in counted DATA frames. */
export const HOST_OPTIONS_3G: AtHostOptions = {
  urcs: [/^\+CFTPLIST:/, /^\+CFTPGETFILE:/],
  payload: (line) => { const m = /^\+CFTPLIST: DATA,(\d+)$/.exec(line); return m ? Number(m[1]) : undefined; },
};

/** Codes of one downloadFile call. */
interface DownloadCodes { generic: number; cme: number; copy: number }

/** `AT+CFTPLIST`: the size from the 5th token of the ls -l line, or undefined. */
async function listSize(env: OtaEnv, file: string): Promise<number | undefined> {
  const r = await tryCommand(env, `AT+CFTPLIST=${q(file)}`, 120_000);
  if (!isOk(r)) return undefined;
  env.stats.sessions++;
  const parts: Buffer[] = [];
  for (;;) {
    let ev;
    try { ev = await env.at.waitFor(/^\+CFTPLIST:/, env.timeout(120_000)); } catch { return undefined; }
    if (ev.payload) { parts.push(ev.payload); continue; }
    if (ev.line !== '+CFTPLIST: 0') return undefined;
    break;
  }
  const tok = Buffer.concat(parts).toString('latin1').split(/\r?\n/)[0]?.trim().split(/\s+/)[4];
  const n = tok === undefined ? NaN : Number(tok);
  return Number.isFinite(n) ? n : undefined;
}

/** `Wasp3G::downloadFile`: 0 on success, else one of `codes`. */
export async function downloadFile3g(env: OtaEnv, serverPath: string, sdName: string, codes: DownloadCodes): Promise<number> {
  const size = await listSize(env, serverPath);
  // the size only stretches the wait: 60 s plus 1 s per 100 bytes (our choice; the library's formula is not public)
  const wait = 60_000 + Math.ceil((size ?? 0) / 100) * 1_000;
  const moduleName = serverPath.split('/').filter(Boolean).pop() ?? serverPath;
  let result = codes.generic;
  for (let attempt = 1; attempt <= GETFILE_TRIES_3G; attempt++) {
    if (attempt > 1) await env.pause(GETFILE_RETRY_PAUSE_MS);
    const r = await tryCommand(env, `AT+CFTPGETFILE=${q(serverPath)},0`, 10_000);
    if (!isOk(r)) { result = isCme(r) ? codes.cme : codes.generic; continue; }
    env.stats.sessions++;
    let ev;
    try { ev = await env.at.waitFor(/^\+CFTPGETFILE:/, env.timeout(wait)); } catch { result = codes.generic; continue; }
    if (ev.line === '+CFTPGETFILE: 0') { result = 0; break; }
    result = codes.generic;
  }
  if (result !== 0) return result;
  return (await copyToSd(env, moduleName, sdName)) ? 0 : codes.copy;
}

/** Copies a file from the module's file system to the SD card; false on any failure. */
async function copyToSd(env: OtaEnv, moduleName: string, sdName: string): Promise<boolean> {
  const sd = env.device.sd;
  const st = await tryCommand(env, `AT+SIMFSSIZE=${q(moduleName)}`, 10_000);
  const m = st?.lines.map((l) => /^\+SIMFSSIZE: (\d+)$/.exec(l)).find(Boolean);
  if (!isOk(st) || !m) return false;
  const total = Number(m[1]);
  if (!sd.isPresent(sdName)) return false;
  sd.del(sdName);
  if (!sd.create(sdName)) return false;
  const f = sd.open(sdName);
  if (!f || !f.seek(0)) return false;
  for (let off = 0; off < total;) {
    const r = await tryCommand(env, `AT+SIMFSREAD=${q(moduleName)},${off},${COPY_BLOCK_3G}`, 10_000, {
      payload: (line) => { const x = /^\+SIMFSREAD: (\d+)$/.exec(line); return x ? Number(x[1]) : undefined; },
    });
    const block = r?.frames.find((fr) => fr.line.startsWith('+SIMFSREAD:'))?.payload;
    if (!isOk(r) || !block || block.length === 0) return false;
    if (!f.write(block)) return false;
    off += block.length;
    env.stats.bytes += block.length;
    env.progress({ file: sdName, bytes: off, total });
  }
  await tryCommand(env, `AT+SIMFSDEL=${q(moduleName)}`, 10_000);
  return true;
}

/** The binary's server path: PATH + FILE without a separator; a PATH with exactly one '/' loses its first character. */
export function binaryPath3g(path: string, file: string): string {
  const slashes = [...path].filter((c) => c === '/').length;
  return (slashes === 1 ? path.slice(1) : path) + file;
}

/** `Wasp3G::requestOTA`: 1 after `loadOTA` (the device has rebooted), else a code. */
export async function requestOta3g(env: OtaEnv): Promise<number> {
  const { device } = env;
  const sd = device.sd;
  const { host, port, user, pass } = env.server;
  const profile: [string, number, number][] = [
    [`AT+CFTPSERV=${q(host)}`, -3, -13], [`AT+CFTPPORT=${port}`, -4, -14], ['AT+CFTPMODE=1', -5, -15],
    ['AT+CFTPTYPE=I', -6, -16], [`AT+CFTPUN=${q(user)}`, -7, -17], [`AT+CFTPPW=${q(pass)}`, -8, -18],
  ];
  for (const [cmd, plain, cme] of profile) {
    let r;
    for (let i = 0; i < CONFIG_TRIES_3G && !isOk(r); i++) r = await tryCommand(env, cmd, 10_000);
    if (!isOk(r)) return isCme(r) ? cme : plain;
  }
  sd.del('UPGRADE.TXT');
  const u = await downloadFile3g(env, 'UPGRADE.TXT', 'UPGRADE.TXT', { generic: -19, cme: -21, copy: -22 });
  if (u !== 0) return u;

  const text = sd.read('UPGRADE.TXT') ?? Buffer.from('error opening UPGRADE.TXT', 'latin1');
  const parsed = readUpgradeTxt('3g', text, { programId: device.programId(), version: device.programVersion() });
  if (parsed.undefinedBehaviour) env.stats.notes.push('UPGRADE.TXT value without a final \\n: undefined behaviour on a real device');
  if (!parsed.ok) return tagCode('3g', parsed.outcome);
  const m = parsed.manifest;
  const remote = binaryPath3g(m.path, m.file);
  env.log(`FILE:${JSON.stringify(m.file)} PATH:${JSON.stringify(m.path)} VERSION:${m.version} → ${JSON.stringify(remote)}`);

  const b = await downloadFile3g(env, remote, m.file, { generic: -28, cme: -30, copy: -31 });
  if (b !== 0) return b;
  device.loadOTA(m.file, m.version);
  return 1;
}
