/**
 * `WaspGPRS_Pro_core::requestOTA` (GPRS_Pro, GPRS+GPS: SIM900/SIM908/SIM928A) over the SIM900 emulator, through
 * AT text only (research/waspmote-ota.md §2 "GPRS_Pro", §4; research/modem-at-ftp.md §4.1).
 *
 * requestOTA: bearer profile (`AT+SAPBR=3,1,"Contype","GPRS"` −4, `"APN"` −5, `"USER"` −6, `"PWD"` −7) →
 * downloadFile(UPGRADE.TXT) → result − 9 → parse (−66…−70; SIZE is never parsed) → downloadFile(binary) →
 * result − 71 → `Utils.loadOTA`. Codes are stored in a signed byte, so a binary result of −57 becomes −128 and
 * −58 (timeout) wraps to +127 (codes.ts `gprsDownloadCode`).
 *
 * downloadFile (results listed in codes.ts `GPRS_DOWNLOAD_STEPS`): bearer up (`AT+SAPBR=2,1`, opening it with
 * `AT+SAPBR=1,1` when down: −2, −3), FTP profile (`+FTPCID=1` −4, `+FTPMODE=1` −5, `+FTPTYPE="I"` −6, `+FTPSERV`
 * −7, `+FTPPORT` −8, `+FTPUN` −9, `+FTPPW` −10; a +CME ERROR gives −41…−47), the server size
 * (`+FTPGETNAME` −21, `+FTPGETPATH` −22, `AT+FTPSIZE` → `+FTPSIZE:1,0,<size>` within 60 s, else −23 / CME −55),
 * then up to 3 whole-file attempts within 300 s while the SD size differs from the server size: name (−12/−48),
 * path (−13/−49), SD (−15), create (−16), `AT+FTPGET=1` → `+FTPGET:1,1` (−14/−50), `AT+FTPGET=2,250` chunks
 * (ERROR −17/−51; SD write −18; `+FTPGET:1,<err>` during the transfer −19/−52), `+FTPGET:1,0` ends the file.
 * All attempts used: −1; 300 s passed: −58.
 *
 * Every server path is prefixed with the literal `.gprs` by the library (research §2): UPGRADE.TXT is asked as
 * name `/UPGRADE.TXT` with path `.gprs`; the binary as name `/<FILE>` with path `.gprs<PATH>`. How the SIM900
 * ST_ENHANCE firmware joins them on the wire is unresolved (research §8), but real devices work against Meshlium's
 * plain vsftpd root, so `.gprs` cannot reach the server as a folder. The SIM900 emulator (helper A) sends
 * `CWD <FTPGETPATH>` unless the path is empty or `/`, so by default this procedure sends the path without the
 * `.gprs` prefix (`/` for UPGRADE.TXT, PATH for the binary) — a documented choice; `gprsLiteralPrefix: true`
 * sends the library's literal `.gprs` paths instead (then the emulator asks the server for a `.gprs` folder).
 */
import { readUpgradeTxt } from './upgrade-txt.ts';
import { gprsDownloadCode, tagCode } from './codes.ts';
import { OtaHangError, isCme, isOk, q, tryCommand, type OtaEnv } from './ota-env.ts';
import type { AtHostOptions } from '../at/host.ts';

/** AT+FTPGET=2 chunk size the library asks for, in bytes. */
export const FTPGET_CHUNK_GPRS = 250;
/** Whole-file attempts per downloadFile. */
export const ATTEMPTS_GPRS = 3;
/** downloadFile's overall deadline, ms. */
export const DEADLINE_GPRS_MS = 300_000;
/** APN written into the bearer profile (`AT_GPRS_APN` of WaspGPRS_Pro_core.h; the user edits it). */
export const GPRS_APN = 'apn';

/** AtHost options the SIM900 link needs: its FTP URCs are never part of a command's reply. */
export const HOST_OPTIONS_GPRS: AtHostOptions = { urcs: [/^\+FTPGET: ?1,/, /^\+FTPSIZE: ?1,/] };

/** Sends a configuration command: 0 on OK, `plain` on ERROR/timeout, `cme` on +CME ERROR. */
async function cfg(env: OtaEnv, cmd: string, plain: number, cme: number, timeoutMs = 10_000): Promise<number> {
  const r = await tryCommand(env, cmd, timeoutMs);
  return isOk(r) ? 0 : isCme(r) ? cme : plain;
}

async function bearerUp(env: OtaEnv): Promise<number> {
  const st = await tryCommand(env, 'AT+SAPBR=2,1', 10_000);
  if (isOk(st) && st!.lines.some((l) => /^\+SAPBR: ?1,1,/.test(l))) return 0;
  if (!isOk(await tryCommand(env, 'AT+SAPBR=1,1', 85_000))) return -2;
  const ip = await tryCommand(env, 'AT+SAPBR=2,1', 10_000);
  return isOk(ip) && ip!.lines.some((l) => /^\+SAPBR: ?1,1,/.test(l)) ? 0 : -3;
}

/** One AT+FTPGET=1 … +FTPGET:1,0 transfer into an already created SD file; 0 or a downloadFile result. */
async function transfer(env: OtaEnv, sdName: string, serverSize: number, label: string, deadline: number): Promise<number> {
  const sd = env.device.sd;
  const open = await tryCommand(env, 'AT+FTPGET=1', 60_000);
  if (!isOk(open)) return isCme(open) ? -50 : -14;
  let ev;
  try {
    ev = await env.at.waitFor(/^\+FTPGET: ?1,/, Math.max(0, Math.min(env.timeout(60_000), deadline - Date.now())));
  } catch {
    return Date.now() >= deadline ? -58 : -14;
  }
  if (!/^\+FTPGET: ?1,1$/.test(ev.line)) return -14;
  const file = sd.open(sdName);
  if (!file) return -16;
  let got = 0;
  let idle = 0;
  for (;;) {
    if (Date.now() >= deadline) return -58;
    const urc = await takeFtpgetUrc(env);
    if (urc === '0') return 0;
    if (urc !== undefined && urc !== '1') return -19;
    const r = await tryCommand(env, `AT+FTPGET=2,${FTPGET_CHUNK_GPRS}`, 60_000, {
      payload: (line) => { const m = /^\+FTPGET: ?2,(\d+)$/.exec(line); return m ? Number(m[1]) : undefined; },
    });
    if (!isOk(r)) return isCme(r) ? -51 : -17;
    const chunk = r!.frames.find((f) => /^\+FTPGET: ?2,/.test(f.line))?.payload ?? Buffer.alloc(0);
    if (chunk.length === 0) {
      idle++;
      if (idle >= env.maxIdlePolls) throw new OtaHangError(`AT+FTPGET=2 returned 0 bytes ${idle} times at ${got}/${serverSize} bytes`);
      await env.pause(1_000);
      continue;
    }
    idle = 0;
    if (!file.write(chunk)) return -18;
    got += chunk.length;
    env.stats.bytes += chunk.length;
    env.progress({ file: label, bytes: got, total: serverSize });
  }
}

/** Takes a `+FTPGET:1,<x>` URC that already arrived and returns `<x>`, or undefined when none is waiting. */
async function takeFtpgetUrc(env: OtaEnv): Promise<string | undefined> {
  const ev = env.at.backlog().find((e) => /^\+FTPGET: ?1,/.test(e.line));
  if (!ev) return undefined;
  await env.at.waitFor(ev.line, 1);
  return ev.line.replace(/^\+FTPGET: ?1,/, '');
}

/** `downloadFile(name, path, sd_name)`: 1 on success, else a negative result (see module docstring). */
export async function downloadFileGprs(env: OtaEnv, name: string, ftpPath: string, sdName: string): Promise<number> {
  const sd = env.device.sd;
  const { host, port, user, pass } = env.server;
  const started = Date.now();
  const deadline = started + env.timeout(DEADLINE_GPRS_MS);
  const b = await bearerUp(env);
  if (b !== 0) return b;
  const steps: [string, number, number][] = [
    ['AT+FTPCID=1', -4, -41], ['AT+FTPMODE=1', -5, -42], [`AT+FTPTYPE=${q('I')}`, -6, -43],
    [`AT+FTPSERV=${q(host)}`, -7, -44], [`AT+FTPPORT=${port}`, -8, -45], [`AT+FTPUN=${q(user)}`, -9, -46], [`AT+FTPPW=${q(pass)}`, -10, -47],
  ];
  for (const [cmd, plain, cme] of steps) {
    const r = await cfg(env, cmd, plain, cme);
    if (r !== 0) return r;
  }
  let r = await cfg(env, `AT+FTPGETNAME=${q(name)}`, -21, -53);
  if (r === 0) r = await cfg(env, `AT+FTPGETPATH=${q(ftpPath)}`, -22, -54);
  if (r !== 0) return r;
  const sz = await tryCommand(env, 'AT+FTPSIZE', 60_000);
  if (!isOk(sz)) return isCme(sz) ? -55 : -23;
  env.stats.sessions++;
  let serverSize: number;
  try {
    const ev = await env.at.waitFor(/^\+FTPSIZE: ?1,/, env.timeout(60_000));
    const m = /^\+FTPSIZE: ?1,(\d+),(\d+)$/.exec(ev.line);
    if (!m || m[1] !== '0') return -23;
    serverSize = Number(m[2]);
  } catch {
    return -23;
  }

  for (let attempt = 1; attempt <= ATTEMPTS_GPRS; attempt++) {
    if (Date.now() >= deadline) return -58;
    let c = await cfg(env, `AT+FTPGETNAME=${q(name)}`, -12, -48);
    if (c === 0) c = await cfg(env, `AT+FTPGETPATH=${q(ftpPath)}`, -13, -49);
    if (c !== 0) return c;
    if (!sd.isPresent(sdName)) return -15;
    sd.del(sdName);
    if (!sd.create(sdName)) return -16;
    env.stats.sessions++;
    env.at.clearBacklog();
    const t = await transfer(env, sdName, serverSize, name, deadline);
    if (t !== 0) return t;
    if (sd.size(sdName) === serverSize) return 1;
    env.stats.notes.push(`${name}: attempt ${attempt}: SD size ${sd.size(sdName)} ≠ server size ${serverSize}`);
  }
  return -1;
}

/** `WaspGPRS_Pro_core::requestOTA`: 1 after `loadOTA` (the device has rebooted), else a negative code. */
export async function requestOtaGprs(env: OtaEnv): Promise<number> {
  const { device } = env;
  const sd = device.sd;
  const bearer: [string, number][] = [
    [`AT+SAPBR=3,1,${q('Contype')},${q('GPRS')}`, -4], [`AT+SAPBR=3,1,${q('APN')},${q(GPRS_APN)}`, -5],
    [`AT+SAPBR=3,1,${q('USER')},${q('')}`, -6], [`AT+SAPBR=3,1,${q('PWD')},${q('')}`, -7],
  ];
  for (const [cmd, code] of bearer) {
    if (!isOk(await tryCommand(env, cmd, 10_000))) return code;
  }
  sd.del('UPGRADE.TXT');
  const prefix = env.gprsLiteralPrefix ? '.gprs' : '';
  const u = await downloadFileGprs(env, '/UPGRADE.TXT', prefix || '/', 'UPGRADE.TXT');
  if (u !== 1) return gprsDownloadCode(u, 'upgrade');

  const text = sd.read('UPGRADE.TXT') ?? Buffer.from('error opening UPGRADE.TXT', 'latin1');
  const parsed = readUpgradeTxt('gprs', text, { programId: device.programId(), version: device.programVersion() });
  if (parsed.undefinedBehaviour) env.stats.notes.push('UPGRADE.TXT value without a final \\n: undefined behaviour on a real device');
  if (!parsed.ok) return tagCode('gprs', parsed.outcome);
  const m = parsed.manifest;
  env.log(`FILE:${JSON.stringify(m.file)} PATH:${JSON.stringify(m.path)} VERSION:${m.version}`);

  const bin = await downloadFileGprs(env, `/${m.file}`, `${prefix}${m.path}`, m.file);
  if (bin !== 1) return gprsDownloadCode(bin, 'binary');
  device.loadOTA(m.file, m.version);
  return 1;
}
