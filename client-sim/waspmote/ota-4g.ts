/**
 * `Wasp4G::requestOTA` over a Telit LE910 emulator, through AT text only, as the v048 source has it (Wasp4G.cpp;
 * the line numbers below are that file's). Answers are found as WaspUART's `sendCommand` finds them: a substring
 * search after each received byte over "OK" / "ERROR:" / "ERROR\r\n" (WaspUART.cpp:468; `sendExpect`).
 *
 * requestOTA (:7215): SD present? (1) → delete UPGRADE.TXT → ftpOpenSession (3) → ftpDownload(UPGRADE.TXT)
 * (any failure → 2, the session left open) → the tags (4–10; each closes the session first) → ftpCloseSession
 * (25) → ftpOpenSession (26) → ftpDownload(FILE) (its result + 11: 12–24, :7577) → SD size vs SIZE label (11) →
 * ftpCloseSession → `Utils.loadOTA`. PATH is parsed but never used. `AT+CMEE=1` is sent by `ON()`, not here.
 * `--library v038`/`v039`: `SD.cat(…, sizeof(_buffer))` on a pointer reads 2 bytes, so every OTA stops at 5.
 *
 * ftpOpenSession (:2606): the data connection (see `dataConnection`), `AT#FTPOPEN="host:port","user","pass",1`
 * (15 s), a 2 s pause, `AT#FTPTYPE=0` (2 s). ftpCloseSession (:2686): a 1 s pause, `AT#FTPCLOSE` (10 s); a CME
 * error fails at once; no answer or ERROR: one more try with a 1 s timeout.
 * ftpDownload (:3096): a 2 s pause, ftpFileSize (`AT#FTPFSIZE="<file>"`, 15 s; the size is the first strtok token
 * of the whole answer: 2 → 13, size 0 → 12), SD present/create/open/seek (14–17), `AT#FTPGETPKT="<file>"` (60 s;
 * 18), a 0.5 s pause, then `AT#FTPRECV=<min(490, left)>` (2 s) while bytes are left and `error_counter` (5, for
 * the whole file, never reset, :3107) is not 0: "ERROR:" → 19; no "#FTPRECV: " (ERROR, silence, an OK alone) →
 * error_counter − 1 and a 1 s pause; no token after "#FTPRECV: " → 20 ("4x0" parses as 4); fewer bytes than
 * announced → 21; SD write → 22. Then error_counter 0 → 23, SD size ≠ server size → 24. `#FTPRECV: 0` is asked
 * again at once, without bound (the simulator stops after `maxIdlePolls`: a hang).
 */
import { tagCode } from './codes.ts';
import { OtaHangError, isOk, readTags, sendExpect, tryCommand, type OtaEnv } from './ota-env.ts';
import { AtTimeoutError } from '../at/host.ts';

/** #FTPRECV chunk size the library asks for, in bytes. */
export const RECV_CHUNK_4G = 490;
/** Tries of #FTPRECV before code 23. */
export const RECV_TRIES_4G = 5;

const UPGRADE = 'UPGRADE.TXT';
const ANS = ['OK', 'ERROR:', 'ERROR\r\n'];

/**
 * The data connection check of `ftpOpenSession`. The library asks `AT#GPRS?` (checkDataConnection); the Telit
 * emulator models the context with `AT#SGACT`, so this asks `AT#SGACT?` and activates with `AT#SGACT=1,1`. Every
 * failure there ends as code 3 or 26 either way.
 */
async function dataConnection(env: OtaEnv): Promise<boolean> {
  const st = await tryCommand(env, 'AT#SGACT?', 2_000);
  if (isOk(st) && st!.lines.some((l) => /^#SGACT: ?1,1$/.test(l))) return true;
  return isOk(await tryCommand(env, 'AT#SGACT=1,1', 150_000));
}

/** ftpOpenSession (:2606): true when open. */
async function open(env: OtaEnv): Promise<boolean> {
  const { host, port, user, pass } = env.server;
  if (!(await dataConnection(env))) return false;
  if ((await sendExpect(env, `AT#FTPOPEN="${host}:${port}","${user}","${pass}",1`, ANS, 15_000)).answer !== 1) return false;
  env.stats.sessions++;
  await env.pause(2_000);
  return (await sendExpect(env, 'AT#FTPTYPE=0', ANS, 2_000)).answer === 1;
}

/** ftpCloseSession (:2686): true when closed. */
async function close(env: OtaEnv): Promise<boolean> {
  await env.pause(1_000);
  const a = (await sendExpect(env, 'AT#FTPCLOSE', ANS, 10_000)).answer;
  if (a === 1 || a === 2) return a === 1;
  return (await sendExpect(env, 'AT#FTPCLOSE', ANS, 1_000)).answer === 1;
}

/** C strtok over `delims` then strtoul of the first token; undefined when there is no token. */
function firstToken(text: string, delims: string): number | undefined {
  let i = 0;
  while (i < text.length && delims.includes(text[i]!)) i++;
  if (i >= text.length) return undefined;
  const m = /^[ \t]*[+-]?\d+/.exec(text.slice(i));
  return m ? Number.parseInt(m[0], 10) >>> 0 : 0;
}

/** ftpFileSize (:603): the size, or 1/2/3 as a failure marker (`{ error }`). */
async function fileSize(env: OtaEnv, file: string): Promise<{ size: number } | { error: number }> {
  const r = await sendExpect(env, `AT#FTPFSIZE="${file}"`, ANS, 15_000);
  if (r.answer !== 1) return { error: 1 };
  const buffer = [...r.before, r.line ?? ''].map((l) => `\r\n${l}\r\n`).join('');
  if (!buffer.includes('FTPFSIZE:')) return { error: 2 };
  const n = firstToken(buffer, '#FTPFSIZE: \r\n');
  return n === undefined ? { error: 3 } : { size: n };
}

/** One `AT#FTPRECV=<n>`: the library's answer (0 none, 1 data, 2 CME, 3 ERROR), the announced length and the bytes. */
async function recv(env: OtaEnv, want: number): Promise<{ answer: number; announced?: number; data: Buffer; short?: boolean }> {
  env.at.clearBacklog();
  let announced: number | undefined;
  const framing = (line: string): number | undefined => {
    if (!line.startsWith('#FTPRECV: ')) return undefined;
    announced = firstToken(line.slice(10), '\r\n');
    return announced;
  };
  const RECV = ['#FTPRECV: ', 'ERROR:', 'ERROR\r\n'];
  try {
    const r = await env.at.command(`AT#FTPRECV=${want}`, { timeoutMs: env.timeout(2_000), payload: framing, finals: [(l) => RECV.some((p) => `${l}\r\n`.includes(p))] });
    const answer = RECV.findIndex((p) => `${r.final}\r\n`.includes(p)) + 1;
    return { answer, announced, data: r.frames.at(-1)?.payload ?? Buffer.alloc(0) };
  } catch (err) {
    if (!(err instanceof AtTimeoutError)) throw err;
    // "#FTPRECV: n" seen but fewer than n bytes came: readBuffer reads what is there
    return announced !== undefined && announced > 0 ? { answer: 1, announced, data: Buffer.alloc(0), short: true } : { answer: 0, data: Buffer.alloc(0) };
  }
}

/** The SD part of ftpDownload (:3150-3235): the open file, or the code 3–6. */
function openSdFile(env: OtaEnv, sdFile: string): { write(b: Uint8Array): boolean } | number {
  const sd = env.device.sd;
  if (!sd.isPresent(sdFile)) return 3;
  if (sd.exists(sdFile)) sd.del(sdFile);
  if (!sd.create(sdFile)) return 4;
  const file = sd.open(sdFile);
  if (!file) return 5;
  if (!file.seek(0)) return 6;
  return file;
}

/** `Wasp4G::ftpDownload(sd_file, ftp_file)` (:3096): 0, or 1–13 (requestOTA adds 11 for the binary). */
export async function ftpDownload4g(env: OtaEnv, serverFile: string, sdFile: string): Promise<number> {
  await env.pause(2_000);
  const fs = await fileSize(env, serverFile);
  if ('error' in fs) return 2;
  if (fs.size === 0) return 1;
  const file = openSdFile(env, sdFile);
  if (typeof file === 'number') return file;
  if ((await sendExpect(env, `AT#FTPGETPKT="${serverFile}"`, ANS, 60_000)).answer !== 1) return 7;
  await env.pause(500);
  let left = fs.size;
  let errorCounter = RECV_TRIES_4G;
  let idle = 0;
  while (left > 0 && errorCounter > 0) {
    const r = await recv(env, Math.min(RECV_CHUNK_4G, left));
    if (r.answer === 2) return 8;
    if (r.answer !== 1) { errorCounter--; await env.pause(1_000); continue; }
    if (r.announced === undefined) return 9;
    if (r.short || r.data.length !== r.announced) return 10;
    if (!file.write(r.data)) return 11;
    left = (left - r.data.length) >>> 0;
    env.stats.bytes += r.data.length;
    env.progress({ file: serverFile, bytes: fs.size - left, total: fs.size });
    idle = r.data.length === 0 ? idle + 1 : 0;
    if (idle > 0 && env.idleFor(idle) >= env.timeout(5_000) && idle >= env.maxIdlePolls) throw new OtaHangError(`#FTPRECV answered 0 bytes ${idle} times at ${fs.size - left}/${fs.size} bytes; the 4G library would poll forever`);
  }
  if (errorCounter === 0) return 12;
  return env.device.sd.size(sdFile) !== fs.size ? 13 : 0;
}

/** `Wasp4G::requestOTA` (:7215): 0 after `loadOTA` (the device has rebooted), else the code 1–26. */
export async function requestOta4g(env: OtaEnv): Promise<number> {
  const { device } = env;
  const sd = device.sd;
  if (!sd.isPresent()) return 1;
  sd.del(UPGRADE);
  if (!(await open(env))) return 3;
  if ((await ftpDownload4g(env, UPGRADE, UPGRADE)) !== 0) return 2;
  // v038/v039: SD.cat(LE910_OTA_FILE, 0, sizeof(_buffer)) with _buffer a pointer reads 2 bytes
  const parsed = readTags(env, '4g', env.library === 'v048' ? undefined : 2);
  if (!parsed.ok) {
    await close(env);
    return tagCode('4g', parsed.outcome);
  }
  const m = parsed.manifest;
  env.log(`FILE:${m.file} PATH:${JSON.stringify(m.path)} SIZE:${m.size} VERSION:${m.version}`);
  if (!(await close(env))) return 25;
  if (!(await open(env))) return 26;
  const d = await ftpDownload4g(env, m.file, m.file);
  if (d !== 0) { await close(env); return d + 11; }
  if (sd.size(m.file) !== m.size) { await close(env); return 11; }
  await close(env);
  device.loadOTA(m.file, m.version);
  return 0;
}
