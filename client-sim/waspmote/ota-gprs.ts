/**
 * `WaspGPRS_Pro_core::requestOTA` (GPRS_Pro, GPRS+GPS: SIM900/SIM908/SIM928A) over the SIM900 emulator, through AT
 * text only, as the v048 source has it (WaspGPRS_Pro_core.cpp; line numbers below are that file's).
 *
 * Every command is written `AT<cmd>\r\n` after the receive buffer is flushed (sendCommand1/2, :750, :825), and
 * its answer is found by a substring search over the bytes that follow (waitForData, :899): `sendExpect`.
 *
 * requestOTA (:7029): delete UPGRADE.TXT; configureGPRS_HTTP_FTP (:4145): `AT+SAPBR=3,1,"CONTYPE","GPRS"`,
 * `…"APN","APN"`, `…"USER","user"`, `…"PWD","password"`, `AT+SAPBR=5,1`, each sent up to 5 times and waiting
 * only for `OK` (a success on the 5th send still counts as a failure: `count == 0`), results −2…−6 → requestOTA
 * returns `answer − 2` (−4…−8, :7185). Then downloadFile(".gprs/UPGRADE.TXT") (result − 9, :7180), the tags
 * (−66…−70), downloadFile(".gprs<PATH>/<FILE>") (result − 71, :7137), `Utils.loadOTA`.
 *
 * downloadFile (:4553): openGPRS_HTTP_FTP_connection (:2052: `AT+CGREG?` −1, `AT+SAPBR=1,1` −2, `AT+SAPBR=2,1`
 * matched literally as `+SAPBR: 1,1,"` −3), `AT+FTPCID=1` and `AT+FTPMODE=1` (up to 10 sends), `AT+FTPTYPE="I"`,
 * `AT+FTPSERV`, `AT+FTPPORT`, `AT+FTPUN`, `AT+FTPPW` (one send each): a timeout gives −4…−10, a `+CME ERROR`
 * counts as success because the code tests `answer == -2` where sendCommand2 returns 2 (:4590-4705). Then up to
 * 3 attempts while the server size differs from the SD size and less than 300 s have passed: readDataFTP, then
 * getfilesizeFTP again (:4709-4728). The last readDataFTP result is returned when the sizes still differ (1 → −1);
 * the 300 s limit only stops the retries (no −58). `AT+SAPBR=0,1` closes the bearer on every exit (:2020).
 *
 * readDataFTP (:1537) and getfilesizeFTP (:1855): see their docstrings.
 */
import { gprsDownloadCode, tagCode } from './codes.ts';
import { OtaHangError, OtaUndefinedBehaviourError, readTags, sendExpect, type OtaEnv } from './ota-env.ts';
import type { AtHostOptions } from '../at/host.ts';

/** AT+FTPGET=2 chunk size the library asks for (BUFFER_UART, WaspGPRS_Pro_core.h:55), bytes. */
export const FTPGET_CHUNK_GPRS = 250;
/** Whole-file attempts per downloadFile (:4709). */
export const ATTEMPTS_GPRS = 3;
/** AT_FTP_MAX_TIME: no further attempt starts after this, ms (:247). */
export const DEADLINE_GPRS_MS = 300_000;
/** AT_FTP_WAIT_CONFIG and AT_FTP_WAIT_CONNEC, ms (:245-246). */
const WAIT_CONFIG = 10_000;
const WAIT_CONNEC = 60_000;
const CME = '+CME ERROR:';

/** AtHost options of the SIM900 link: `\r\n` after each command; `+FTPGET:2,<n>` carries n raw bytes. */
export const HOST_OPTIONS_GPRS: AtHostOptions = {
  eol: '\r\n',
  payload: (line) => (line.startsWith('+FTPGET:2,') ? Math.max(0, atoi(line.slice(10))) : undefined),
};

/** C `atoi`: optional sign and leading digits, 0 when none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** `sendCommand2(cmd, a1, a2, timeout)`: 1, 2 or 0 (no answer). */
async function send(env: OtaEnv, cmd: string, a1: string, a2: string | undefined, timeoutMs: number) {
  return sendExpect(env, cmd, a2 === undefined ? [a1] : [a1, a2], timeoutMs);
}

/** The text after `pattern` in the matched line, plus the `\r\n` the library would read next. */
function after(line: string | undefined, pattern: string): string {
  const i = line === undefined ? -1 : line.indexOf(pattern);
  return i < 0 ? '' : `${line!.slice(i + pattern.length)}\r\n`;
}

/** configureGPRS_HTTP_FTP (:4145): 1, or −2…−6. */
async function configureBearer(env: OtaEnv): Promise<number> {
  const cmds = ['AT+SAPBR=3,1,"CONTYPE","GPRS"', 'AT+SAPBR=3,1,"APN","APN"', 'AT+SAPBR=3,1,"USER","user"',
    'AT+SAPBR=3,1,"PWD","password"', 'AT+SAPBR=5,1'];
  for (let k = 0; k < cmds.length; k++) {
    let count = 5;
    do { count--; } while ((await send(env, cmds[k]!, 'OK', undefined, 10_000)).answer !== 1 && count !== 0);
    if (count === 0) return -2 - k;
  }
  return 1;
}

/** checkGPRS(90) (:679): true when `+CGREG: 0,<1|5>`. */
async function checkGprs(env: OtaEnv): Promise<boolean> {
  const t0 = Date.now();
  let answer: number;
  do {
    const r = await send(env, 'AT+CGREG?', '+CGREG: 0,', undefined, 3_000);
    answer = r.answer === 1 ? after(r.line, '+CGREG: 0,').charCodeAt(0) - 0x30 : r.answer;
    await env.pause(500);
  } while ((answer === 2 || answer === 4 || answer === 0) && Date.now() - t0 < env.timeout(90_000));
  return answer === 1 || answer === 5;
}

/** openGPRS_HTTP_FTP_connection (:2052): 1, −1, −2 or −3. */
async function openBearer(env: OtaEnv): Promise<number> {
  if (!(await checkGprs(env))) return -1;
  let counter = 5;
  let answer: number;
  do {
    counter--;
    answer = (await send(env, 'AT+SAPBR=1,1', 'OK', CME, 20_000)).answer;
    if (answer === 2) {
      const st = await send(env, 'AT+SAPBR=2,1', '+SAPBR: 1,', CME, 10_000);
      answer = st.answer === 1 ? after(st.line, '+SAPBR: 1,').charCodeAt(0) - 0x30 : st.answer;
      await env.pause(10_000);
    }
  } while (answer !== 1 && counter !== 0);
  if (counter === 0 && answer !== 1) return -2;
  counter = 10;
  do {
    counter--;
    answer = (await send(env, 'AT+SAPBR=2,1', '+SAPBR: 1,1,"', undefined, 10_000)).answer;
  } while (answer !== 1 && counter !== 0);
  if (counter === 0) { await closeBearer(env); return -3; }
  return 1;
}

/** closeGPRS_HTTP_FTP_connection (:2020): `AT+SAPBR=0,1`. */
async function closeBearer(env: OtaEnv): Promise<void> {
  await send(env, 'AT+SAPBR=0,1', 'OK', CME, 10_000);
}

/** FTPstatus (:1975): reads `:`, ` ` and the digit after `+FTPSTATE` at fixed offsets; 2 = busy, 1 = idle. */
async function ftpStatus(env: OtaEnv): Promise<number> {
  const r = await send(env, 'AT+FTPSTATE', '+FTPSTATE', CME, 10_000);
  if (r.answer === 2) return -2;
  if (r.answer !== 1) return 0;
  const rest = after(r.line, '+FTPSTATE');
  return rest.charCodeAt(2) - 0x2f;
}

/** Waits while FTPstatus() says busy (1 s apart, up to 60 s); true when it stayed busy past 60 s. */
async function busyTooLong(env: OtaEnv): Promise<boolean> {
  const t0 = Date.now();
  while ((await ftpStatus(env)) === 2 && Date.now() - t0 < env.timeout(WAIT_CONNEC)) await env.pause(1_000);
  return Date.now() - t0 > env.timeout(WAIT_CONNEC);
}

/** `AT+FTPGETNAME="<strrchr(file,'/')>"` and `AT+FTPGETPATH` as the library derives them (:1604-1630, :1890-1915). */
export function gprsNameAndPath(file: string): { name: string; path: string } {
  const slash = file.lastIndexOf('/');
  return { name: file.slice(slash), path: slash <= 0 ? '/' : file.slice(0, slash) };
}

/** getfilesizeFTP (:1855): the server size, or −56, −21/−53, −22/−54, −23/−55. */
async function getFileSize(env: OtaEnv, file: string): Promise<number> {
  if (await busyTooLong(env)) return -56;
  const { name, path } = gprsNameAndPath(file);
  await env.pause(50);
  let r = await send(env, `AT+FTPGETNAME="${name}"`, 'OK', CME, WAIT_CONFIG);
  if (r.answer !== 1) return r.answer === 0 ? -21 : -53;
  await env.pause(50);
  r = await send(env, `AT+FTPGETPATH="${path}"`, 'OK', CME, WAIT_CONFIG);
  if (r.answer !== 1) return r.answer === 0 ? -22 : -54;
  await env.pause(50);
  r = await send(env, 'AT+FTPSIZE', '+FTPSIZE:1,0,', CME, WAIT_CONNEC);
  if (r.answer !== 1) return r.answer === 0 ? -23 : -55;
  return atoi(after(r.line, '+FTPSIZE:1,0,'));
}

/** Name, path and `AT+FTPGET=1` of readDataFTP (:1604-1660): 0, or −12/−48, −13/−49, −14/−50. */
async function openGet(env: OtaEnv, file: string): Promise<number> {
  const { name, path } = gprsNameAndPath(file);
  let r;
  let count = 7;
  do { r = await send(env, `AT+FTPGETNAME="${name}"`, 'OK', CME, WAIT_CONFIG); count--; } while (r.answer !== 1 && count > 0);
  if (r.answer !== 1) return r.answer === 0 ? -12 : -48;
  await env.pause(50);
  r = await send(env, `AT+FTPGETPATH="${path}"`, 'OK', CME, WAIT_CONFIG);
  if (r.answer !== 1) return r.answer === 0 ? -13 : -49;
  await env.pause(50);
  count = 3;
  do { r = await send(env, 'AT+FTPGET=1', '+FTPGET:1,1', CME, WAIT_CONNEC); count--; } while (r.answer !== 1 && count > 0);
  if (r.answer !== 1) return r.answer === 0 ? -14 : -50;
  return 0;
}

/** `AT+FTPGET=2,250`: the chunk, or the error answer (0 none, 2 CME). */
async function getChunk(env: OtaEnv): Promise<{ answer: number; data: Buffer }> {
  env.at.clearBacklog();
  try {
    const r = await env.at.command(`AT+FTPGET=2,${FTPGET_CHUNK_GPRS}`, {
      timeoutMs: env.timeout(WAIT_CONNEC), finals: [(l) => l.includes('+FTPGET:2,') || l.includes(CME)],
    });
    if (!r.final.includes('+FTPGET:2,')) return { answer: 2, data: Buffer.alloc(0) };
    return { answer: 1, data: r.frames.at(-1)?.payload ?? Buffer.alloc(0) };
  } catch {
    return { answer: 0, data: Buffer.alloc(0) };
  }
}

/**
 * readDataFTP (:1537): FTP busy > 60 s −57; SD root −15; SD create −16; getfilesizeFTP's error; openGet's
 * errors; SD open/seek −12; first `AT+FTPGET=2,250` −17/−51; each SD write tried 5 times (then it waits for
 * `+FTPGET:1,64` and returns −18); later `AT+FTPGET=2,250` −19/−52; after the last byte it waits 60 s for
 * `+FTPGET:1,0` (−54). `+FTPGET:2,0` forever loops forever in the library (here: `maxIdlePolls`, then a hang).
 */
async function readDataFtp(env: OtaEnv, file: string, sdName: string): Promise<number> {
  const sd = env.device.sd;
  if (await busyTooLong(env)) return -57;
  if (!sd.isPresent(sdName)) return -15;
  sd.del(sdName);
  if (!sd.create(sdName)) return -16;
  const fileSize = await getFileSize(env, file);
  if (fileSize < 0) return fileSize;
  const g = await openGet(env, file);
  if (g !== 0) return g;
  const f = sd.open(sdName);
  if (!f || !f.seek(0)) return -12;
  await env.pause(1_000);
  let chunk = await getChunk(env);
  if (chunk.answer !== 1) return chunk.answer === 0 ? -17 : -51;
  env.stats.sessions++;
  let got = 0;
  let idle = 0;
  while (fileSize > got) {
    let tries = 5;
    while (!f.write(chunk.data) && --tries > 0) if (!f.seek(got)) return -12;
    got += chunk.data.length;
    if (tries === 0) { await waitData(env, '+FTPGET:1,64'); return -18; }
    env.stats.bytes += chunk.data.length;
    env.progress({ file, bytes: got, total: fileSize });
    idle = chunk.data.length === 0 ? idle + 1 : 0;
    if (idle > 0 && env.idleFor(idle) >= env.timeout(5_000) && idle >= env.maxIdlePolls) throw new OtaHangError(`AT+FTPGET=2 returned 0 bytes ${idle} times at ${got}/${fileSize} bytes; the GPRS library would poll forever`);
    chunk = await getChunk(env);
    if (chunk.answer !== 1) return chunk.answer === 0 ? -19 : -52;
  }
  return (await waitData(env, '+FTPGET:1,0')) ? 1 : -54;
}

/** waitForData(pattern, 60 s) without a flush: true when a line containing it arrives. */
async function waitData(env: OtaEnv, pattern: string): Promise<boolean> {
  try { await env.at.waitFor((l) => l.includes(pattern), env.timeout(WAIT_CONNEC)); return true; } catch { return false; }
}

/** The FTP settings of downloadFile (:4583-4705): 0, or −4…−10 (a CME answer passes). */
async function ftpSettings(env: OtaEnv): Promise<number> {
  const { host, port, user, pass } = env.server;
  const steps: [string, number][] = [['AT+FTPCID=1', 10], ['AT+FTPMODE=1', 10], ['AT+FTPTYPE="I"', 1],
    [`AT+FTPSERV="${host}"`, 1], [`AT+FTPPORT=${port}`, 1], [`AT+FTPUN="${user}"`, 1], [`AT+FTPPW="${pass}"`, 1]];
  for (let k = 0; k < steps.length; k++) {
    const [cmd, tries] = steps[k]!;
    let answer: number;
    let count = tries;
    do { answer = (await send(env, cmd, 'OK', CME, 10_000)).answer; count--; } while (answer !== 1 && count > 0);
    if (answer === 0) return -4 - k;
    await env.pause(100);
  }
  return 0;
}

/** downloadFile (:4553): 1, or a negative result (see the module docstring). */
export async function downloadFileGprs(env: OtaEnv, file: string, sdName: string): Promise<number> {
  const o = await openBearer(env);
  if (o !== 1) return o;
  await env.pause(100);
  const s = await ftpSettings(env);
  if (s !== 0) { await closeBearer(env); return s; }
  const t0 = Date.now();
  let retries = ATTEMPTS_GPRS;
  let answer: number;
  let ftpSize: number;
  let sdSize: number;
  do {
    answer = await readDataFtp(env, file, sdName);
    ftpSize = await getFileSize(env, file);
    sdSize = env.device.sd.size(sdName);
    if (ftpSize !== sdSize) env.stats.notes.push(`${file}: readDataFTP ${answer}, server size ${ftpSize}, SD size ${sdSize}`);
    retries--;
  } while (ftpSize !== sdSize && retries > 0 && Date.now() - t0 < env.timeout(DEADLINE_GPRS_MS));
  await closeBearer(env);
  if (ftpSize !== sdSize) return answer === 1 ? -1 : answer;
  return 1;
}

/** `WaspGPRS_Pro_core::requestOTA` (:7029): 1 after `loadOTA` (the device has rebooted), else a negative code. */
export async function requestOtaGprs(env: OtaEnv): Promise<number> {
  const { device } = env;
  device.sd.del('UPGRADE.TXT');
  const c = await configureBearer(env);
  if (c !== 1) return c - 2;
  const prefix = env.gprsLiteralPrefix ? '.gprs' : '';
  const u = await downloadFileGprs(env, `${prefix}/UPGRADE.TXT`, 'UPGRADE.TXT');
  if (u !== 1) return gprsDownloadCode(u, 'upgrade');

  const parsed = readTags(env, 'gprs');
  // SD.del(aux_name) runs once VERSION is copied, before the NO_FILE and version checks (WaspGPRS_Pro_core.cpp:7107)
  if (parsed.ok || parsed.outcome === 'NO_FILE' || parsed.outcome === 'NOT_NEWER') device.sd.del((parsed.ok ? parsed.manifest : parsed.partial).file!);
  if (!parsed.ok) return tagCode('gprs', parsed.outcome);
  const m = parsed.manifest;
  // snprintf(buffer_GPRS, ".gprs%s", str_aux3) then strcpy into FTP_file[70] (:7120-7121)
  const ftpFile = `${prefix}${m.path}/${m.file}`;
  if (env.gprsLiteralPrefix && ftpFile.length + 1 > 70) {
    throw new OtaUndefinedBehaviourError({ source: 'WaspGPRS_Pro_core.cpp:7121',
      why: `strcpy of ${JSON.stringify(ftpFile)} (${ftpFile.length + 1} bytes with its NUL) into \`FTP_file[70]\`` });
  }
  env.log(`FILE:${JSON.stringify(m.file)} PATH:${JSON.stringify(m.path)} VERSION:${m.version} → ${JSON.stringify(ftpFile)}`);
  const bin = await downloadFileGprs(env, ftpFile, m.file);
  if (bin !== 1) return gprsDownloadCode(bin, 'binary');
  device.loadOTA(m.file, m.version);
  return 1;
}
