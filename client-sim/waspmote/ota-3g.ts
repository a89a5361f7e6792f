/**
 * `Wasp3G::requestOTA` over the SIM5215 emulator, through AT text only, as the v048 source has it (Wasp3G.cpp; the
 * line numbers below are that file's). Every command is written `AT<cmd>\r\n` after the receive buffer is flushed,
 * and its answer is found by the library's stream search (sendCommand2/3, :1295; `sendExpect`): with "ERROR" among
 * the awaited patterns, "+CME ERROR: n" matches "ERROR" first.
 *
 * requestOTA (:9757): delete UPGRADE.TXT; configureFTP (:3810): `AT+CGSOCKCONT=1,"IP","apn"` (10 sends, OK or
 * ERROR awaited; count == 0 → −2, so a success on the 10th send fails), `AT+CSOCKAUTH=1,1,"password","login"`
 * (5 sends; no answer → −2, +CME ERROR → 0), then `AT+CFTPSERV`, `+CFTPPORT`, `+CFTPMODE=1`, `+CFTPTYPE=I`,
 * `+CFTPUN`, `+CFTPPW`, 10 sends each (count == 0 → the last answer a CME: −13…−18, else −3…−8; again a success
 * on the 10th send fails). downloadData("/UPGRADE.TXT") (result − 19), the tags (−23…−27, FILE from the first `:`),
 * a 10 s pause, downloadData(PATH + FILE, no separator) (result − 28), `Utils.loadOTA`. No size check at all.
 *
 * downloadData (:4349): getFTPsize(FTP_file) with the unstripped path (`AT+CFTPLIST="<file>"`, the 5th token of
 * the ls -l line), timeout = (size + 30000) × 1000 ms (−1 → 30000 s); downloadFile; then getXModemFile of the
 * name after the last `/` and `AT+FSDEL=<name>`; an XMODEM failure → −3.
 * downloadFile (:4194): `AT+CGREG?` registered within 90 s (else −3); the first character of the path is dropped
 * when it holds 0 or 1 `/` (`strchr == strrchr`, :4210); up to 3 tries, each after a 10 s pause, of
 * `AT+CFTPGETFILE="<path>",0` awaiting "+CFTPGETFILE: " / "+CME ERROR:" / "ERROR"; count == 0 after the loop is a
 * failure even when the 3rd try succeeded (:4229); "+CFTPGETFILE: <n≠0>" → −2 at once (:4254).
 */
import { tagCode } from './codes.ts';
import { readTags, sendExpect, type OtaEnv } from './ota-env.ts';
import type { AtHostOptions } from '../at/host.ts';

/** Tries of each FTP profile command (configureFTP). */
export const CONFIG_TRIES_3G = 10;
/** Tries of AT+CFTPGETFILE (downloadFile :4218). */
export const GETFILE_TRIES_3G = 3;
/** Pause before EVERY AT+CFTPGETFILE try, ms (Wasp3G.cpp:4222). */
export const GETFILE_RETRY_PAUSE_MS = 10_000;
/** TRANSFER_BASE_TIME (Wasp3G.cpp:384), in the library's seconds-then-×1000 unit. */
export const TRANSFER_BASE_TIME = 30_000;
/** FTP_TIMEOUT (Wasp3G.cpp:383), ms. */
const FTP_TIMEOUT = 120_000;
const CME = '+CME ERROR:';

/** AtHost options of the SIM5215 link: `\r\n` after each command; LIST output comes in counted DATA frames. */
export const HOST_OPTIONS_3G: AtHostOptions = {
  eol: '\r\n',
  payload: (line) => { const m = /^\+CFTPLIST: DATA,(\d+)$/.exec(line); return m ? Number(m[1]) : undefined; },
};

/** A loop of `tries` sends of `cmd` awaiting `patterns` while the answer is not 1; returns the last answer and the count left. */
async function retry(env: OtaEnv, cmd: string, patterns: string[], tries: number, timeoutMs = 10_000): Promise<{ answer: number; count: number }> {
  let count = tries;
  let answer: number;
  do { answer = (await sendExpect(env, cmd, patterns, timeoutMs)).answer; count--; } while (answer !== 1 && count > 0);
  return { answer, count };
}

/** configureFTP (:3810): 1, 0 (CSOCKAUTH CME), −2, −3…−8 or −13…−18. */
export async function configureFtp3g(env: OtaEnv): Promise<number> {
  const { host, port, user, pass } = env.server;
  if ((await retry(env, 'AT+CGSOCKCONT=1,"IP","apn"', ['OK', 'ERROR'], 10)).count === 0) return -2;
  const auth = await retry(env, 'AT+CSOCKAUTH=1,1,"password","login"', ['OK', CME], 5);
  if (auth.answer === 0) return -2;
  if (auth.answer === 2) return 0;
  const profile = [`AT+CFTPSERV="${host}"`, `AT+CFTPPORT=${port}`, 'AT+CFTPMODE=1', 'AT+CFTPTYPE=I', `AT+CFTPUN="${user}"`, `AT+CFTPPW="${pass}"`];
  for (let k = 0; k < profile.length; k++) {
    const r = await retry(env, profile[k]!, ['OK', CME], CONFIG_TRIES_3G);
    if (r.count === 0) return r.answer === 2 ? -13 - k : -3 - k;
  }
  return 1;
}

/** check3Gconnection(90) (:740): true when `+CGREG: 0,<1|5>`. */
async function registered(env: OtaEnv): Promise<boolean> {
  const t0 = Date.now();
  let answer: number;
  do {
    const r = await sendExpect(env, 'AT+CGREG?', ['+CGREG: 0,'], 3_000);
    answer = r.answer === 1 ? r.line!.slice(r.line!.indexOf('+CGREG: 0,') + 10).charCodeAt(0) - 0x30 : -1;
  } while ([2, 4, 0, -1].includes(answer) && Date.now() - t0 < env.timeout(90_000));
  return answer === 1 || answer === 5;
}

/** getFTPsize (:4405): the 5th space-separated token of the LIST output (atol), or −1 (−2 unregistered). */
async function ftpSize(env: OtaEnv, file: string): Promise<number> {
  if (!(await registered(env))) return -2;
  env.at.clearBacklog();
  let r;
  try {
    r = await env.at.command(`AT+CFTPLIST="${file}"`, { timeoutMs: env.timeout(FTP_TIMEOUT), finals: [(l) => l.startsWith('+CFTPLIST: DATA,') || l.includes(CME)] });
  } catch { return -1; }
  if (!r.final.startsWith('+CFTPLIST: DATA,')) return -1;
  env.stats.sessions++;
  const data = r.frames.at(-1)?.payload ?? Buffer.alloc(0);
  try { await env.at.waitFor((l) => l.includes('+CFTPLIST: 0') || l.includes(CME), env.timeout(FTP_TIMEOUT)); } catch { /* the library ignores it */ }
  const tok = data.toString('latin1').split(' ').filter((t) => t !== '')[4] ?? '';
  const m = /^\s*[+-]?\d+/.exec(tok);
  return m ? Number(m[0]) : 0;
}

/** The AT+CFTPGETFILE argument: the first character dropped when the path holds 0 or 1 '/' (:4210). */
export function getFilePath3g(originPath: string): string {
  return originPath.indexOf('/') === originPath.lastIndexOf('/') ? originPath.slice(1) : originPath;
}

/** downloadFile (:4194): 1, 0 (no code), −2 (CME / FTP error) or −3 (not registered). */
async function downloadFile3g(env: OtaEnv, originPath: string, maxTime: number): Promise<number> {
  if (!(await registered(env))) return -3;
  const cmd = `AT+CFTPGETFILE="${getFilePath3g(originPath)}",0`;
  let count = GETFILE_TRIES_3G;
  let r;
  do {
    await env.pause(GETFILE_RETRY_PAUSE_MS);
    r = await sendExpect(env, cmd, ['+CFTPGETFILE: ', CME, 'ERROR'], maxTime * 1000);
    count--;
  } while (r.answer !== 1 && count > 0);
  if (count === 0) return r.answer === 2 ? -2 : 0;
  env.stats.sessions++;
  const digits = r.line!.slice(r.line!.indexOf('+CFTPGETFILE: ') + 14);
  let n = 0;
  for (const c of digits) n = (n * 10 + c.charCodeAt(0) - 0x30) & 0xff;
  return n !== 0 ? -2 : 1;
}

/** downloadData (:4349): 1, 0, −2 or −3. */
export async function downloadData3g(env: OtaEnv, ftpFile: string, sdName: string): Promise<number> {
  const size = await ftpSize(env, ftpFile);
  const fileTime = size === -1 ? TRANSFER_BASE_TIME : (size + TRANSFER_BASE_TIME) >>> 0;
  env.log(`${ftpFile}: size ${size}, max download time ${fileTime} s`);
  const answer = await downloadFile3g(env, ftpFile, fileTime);
  if (answer !== 1) return answer;
  const moduleName = ftpFile.includes('/') ? ftpFile.slice(ftpFile.lastIndexOf('/') + 1) : ftpFile;
  const x = await getXModemFile(env, moduleName, sdName);
  await sendExpect(env, `AT+FSDEL=${moduleName}`, ['OK', 'ERROR'], 10_000);
  return x === 1 ? 1 : -3;
}

/** XMODEM byte values. */
const SOH = 0x01; const EOT = 0x04; const ACK = 0x06; const NAK = 0x15;

/** getFileSize (:8459): `AT+FSATTRI=<name>` → digits before the ','; −2 without an answer. */
async function moduleFileSize(env: OtaEnv, name: string): Promise<number> {
  const r = await sendExpect(env, `AT+FSATTRI=${name}`, ['+FSATTRI: ', 'ERROR'], 10_000);
  if (r.answer !== 1) return -2;
  const rest = r.line!.slice(r.line!.indexOf('+FSATTRI: ') + 10);
  let n = 0;
  for (const c of rest) { if (c === ',') break; n = n * 10 + c.charCodeAt(0) - 0x30; }
  return n;
}

/** Waits until `n` bytes are buffered or `ms` (scaled) pass, as `while (serialAvailable() < n && … <= 3000)`. */
async function waitAvailable(env: OtaEnv, n: number, ms: number): Promise<void> {
  const end = Date.now() + env.scaled(ms);
  while (env.at.pendingBytes < n && Date.now() <= end) await new Promise((r) => setTimeout(r, 1));
}

/**
 * getXModemFile (:7958): SD root (−2); `SD.create` (its result is tested against 2, which it never returns, so a
 * failed create goes on and the writes silently fail); `AT+FSATTRI`; `AT+CTXFILE="<name>"` awaiting OK or
 * "FILE NOT EXISTING" (−4; no answer 0); NAK, then per block: wait up to 3 s for 134 bytes, read 135, flush the
 * rest, check the 8-bit sum at [131], write 128 bytes (the last block: trailing 0x1A cut from byte 126 down),
 * ACK (or NAK; 10 bad blocks → −5); EOT → ACK.
 */
async function getXModemFile(env: OtaEnv, origin: string, destiny: string): Promise<number> {
  const sd = env.device.sd;
  if (!sd.isPresent(destiny)) return -2;
  sd.create(destiny);
  let fileSize = await moduleFileSize(env, origin);
  const r = await sendExpect(env, `AT+CTXFILE="${origin}"`, ['OK', 'FILE NOT EXISTING'], 10_000);
  if (r.answer !== 1) return r.answer === 2 ? -4 : 0;
  env.at.hold();
  let errors = 0;
  try {
    env.at.takeAvailable();
    env.at.sendRaw(Buffer.from([NAK]));
    for (;;) {
      await waitAvailable(env, 134, 3_000);
      const pkt = Buffer.alloc(135, 0xff);
      env.at.takeAvailable(135).copy(pkt);
      if (pkt[0] === EOT) { env.at.sendRaw(Buffer.from([ACK])); break; }
      const data = pkt.subarray(3, 131);
      env.at.takeAvailable();
      let sum = 0;
      for (const b of data) sum = (sum + b) & 0xff;
      if (pkt[0] === SOH && sum === pkt[131]) {
        let n = 128;
        if (fileSize < 128) { let aux = 126; while (data[aux] === 0x1a && aux > 0) aux--; n = aux + 1; } else fileSize -= 128;
        const f = sd.open(destiny); // SD.writeSD(destiny, buf, getFileSize(destiny), n): result ignored
        if (f?.seek(sd.size(destiny))) f.write(data.subarray(0, n));
        env.stats.bytes += n;
        errors = 0;
        env.at.sendRaw(Buffer.from([ACK]));
      } else {
        errors++;
        env.at.sendRaw(Buffer.from([NAK]));
        if (errors >= 10) break;
      }
    }
  } finally {
    env.at.release();
  }
  return errors >= 10 ? -5 : 1;
}

/** `Wasp3G::requestOTA` (:9757): 1 after `loadOTA` (the device has rebooted), else a code. */
export async function requestOta3g(env: OtaEnv): Promise<number> {
  const { device } = env;
  device.sd.del('UPGRADE.TXT');
  const c = await configureFtp3g(env);
  if (c !== 1) return c;
  const u = await downloadData3g(env, '/UPGRADE.TXT', 'UPGRADE.TXT');
  if (u !== 1) return u - 19;

  const parsed = readTags(env, '3g');
  // SD.del(aux_name) runs once VERSION is copied, before the NO_FILE and version checks (Wasp3G.cpp:9829)
  if (parsed.ok || parsed.outcome === 'NO_FILE' || parsed.outcome === 'NOT_NEWER') device.sd.del((parsed.ok ? parsed.manifest : parsed.partial).file!);
  if (!parsed.ok) return tagCode('3g', parsed.outcome);
  const m = parsed.manifest;
  const remote = m.path + m.file;
  env.log(`FILE:${JSON.stringify(m.file)} PATH:${JSON.stringify(m.path)} VERSION:${m.version} → AT+CFTPGETFILE="${getFilePath3g(remote)}"`);
  await env.pause(10_000);
  const b = await downloadData3g(env, remote, m.file);
  if (b !== 1) return b - 28;
  device.loadOTA(m.file, m.version);
  return 1;
}
