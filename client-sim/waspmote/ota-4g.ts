/**
 * `Wasp4G::requestOTA` over a Telit LE910 emulator, through AT text only (research/waspmote-ota.md §2 "4G", §4
 * codes 1–26; research/modem-at-ftp.md §1.7).
 *
 * Sequence: SD present? (1) → delete UPGRADE.TXT → session 1: data connection (`AT#SGACT?`, `AT#SGACT=1,1` when
 * down), `AT#FTPOPEN="host:port","user","pass",1` (15 s), 2 s pause, `AT#FTPTYPE=0` (any failing → 3) → ftpDownload(UPGRADE.TXT) (any failure → 2, session left open)
 * → parse (4–10) → `AT#FTPCLOSE` (25) → session 2: open again (26) → ftpDownload(FILE) (12–24) → SD size vs
 * SIZE label (11) → `AT#FTPCLOSE` → `Utils.loadOTA`. PATH is parsed but never used: the binary is requested as
 * the bare 7-character FILE relative to the login folder.
 *
 * ftpDownload: 2 s pause, `AT#FTPFSIZE="<file>"` (15 s; failure 13, size 0 → 12), SD present (14), delete old,
 * create (15), open (16), seek 0 (17), `AT#FTPGETPKT="<file>",0` (60 s; 18), then `AT#FTPRECV=<min(490, left)>`
 * until the server size is reached: each reply is `#FTPRECV: <n>` + n raw bytes + OK. A +CME ERROR → 19; a length
 * that does not parse → 20; fewer bytes than announced → 21; SD write error → 22; a 2 s timeout or plain ERROR
 * uses one of 5 tries with 1 s waits → 23; `#FTPRECV: 0` waits 1 s and asks again, without bound in the library
 * (the simulator stops after `maxIdlePolls` and reports a hang). Finally SD size ≠ server size → 24.
 */
import { readUpgradeTxt } from './upgrade-txt.ts';
import { tagCode } from './codes.ts';
import { OtaHangError, isOk, q, tryCommand, type OtaEnv } from './ota-env.ts';
import { AtTimeoutError } from '../at/host.ts';

/** #FTPRECV chunk size the library asks for, in bytes. */
export const RECV_CHUNK_4G = 490;
/** Tries of #FTPRECV before code 23. */
export const RECV_TRIES_4G = 5;

const UPGRADE = 'UPGRADE.TXT';

/** The data connection check of `ftpOpenSession`: `AT#SGACT?`, and `AT#SGACT=1,1` when the context is down. */
async function dataConnection(env: OtaEnv): Promise<boolean> {
  const st = await tryCommand(env, 'AT#SGACT?', 10_000);
  if (isOk(st) && st!.lines.some((l) => /^#SGACT: ?1,1$/.test(l))) return true;
  return isOk(await tryCommand(env, 'AT#SGACT=1,1', 150_000));
}

async function open(env: OtaEnv): Promise<boolean> {
  const { host, port, user, pass } = env.server;
  if (!(await dataConnection(env))) return false;
  const r = await tryCommand(env, `AT#FTPOPEN=${q(`${host}:${port}`)},${q(user)},${q(pass)},1`, 15_000);
  if (!isOk(r)) return false;
  env.stats.sessions++;
  await env.pause(2_000);
  return isOk(await tryCommand(env, 'AT#FTPTYPE=0', 15_000));
}

/** `ftpCloseSession`: 10 s, one retry. */
async function close(env: OtaEnv): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    if (isOk(await tryCommand(env, 'AT#FTPCLOSE', 10_000))) return true;
  }
  return false;
}

/** `Wasp4G::ftpDownload(server_file, sd_file)`: 0 or a code 12–24. */
export async function ftpDownload4g(env: OtaEnv, serverFile: string, sdFile: string): Promise<number> {
  const sd = env.device.sd;
  await env.pause(2_000);
  const fs = await tryCommand(env, `AT#FTPFSIZE=${q(serverFile)}`, 15_000);
  const sizeLine = fs?.lines.find((l) => l.startsWith('#FTPFSIZE:'));
  if (!isOk(fs) || sizeLine === undefined) return 13;
  const size = parseInt(sizeLine.slice('#FTPFSIZE:'.length).trim(), 10);
  if (!Number.isFinite(size)) return 13;
  if (size === 0) return 12;

  if (!sd.isPresent(sdFile)) return 14;
  if (sd.exists(sdFile)) sd.del(sdFile);
  if (!sd.create(sdFile)) return 15;
  const file = sd.open(sdFile);
  if (!file) return 16;
  if (!file.seek(0)) return 17;

  if (!isOk(await tryCommand(env, `AT#FTPGETPKT=${q(serverFile)},0`, 60_000))) return 18;

  let got = 0;
  let tries = 0;
  let idle = 0;
  while (got < size) {
    const want = Math.min(RECV_CHUNK_4G, size - got);
    let announced: number | undefined;
    const framing = (line: string): number | undefined => {
      const m = /^#FTPRECV: ?(\d+)$/.exec(line);
      if (!m) return undefined;
      announced = Number(m[1]);
      return announced;
    };
    let r;
    try {
      r = await env.at.command(`AT#FTPRECV=${want}`, { timeoutMs: env.timeout(2_000), payload: framing });
    } catch (err) {
      if (!(err instanceof AtTimeoutError)) throw err;
      if (announced !== undefined && announced > 0) return 21;
      r = undefined;
    }
    if (r !== undefined && r.final.startsWith('+CME ERROR')) return 19;
    if (r === undefined || r.final !== 'OK') {
      tries++;
      if (tries >= RECV_TRIES_4G) return 23;
      await env.pause(1_000);
      continue;
    }
    const frame = r.frames.find((f) => f.line.startsWith('#FTPRECV'));
    if (!frame) return 20; // OK without a `#FTPRECV: <n>` line whose length parses
    const chunk = frame.payload ?? Buffer.alloc(0);
    if (chunk.length === 0) {
      idle++;
      if (idle >= env.maxIdlePolls) {
        throw new OtaHangError(`#FTPRECV answered 0 bytes ${idle} times at ${got}/${size} bytes; the 4G library would poll forever`);
      }
      await env.pause(1_000);
      continue;
    }
    tries = 0;
    if (!file.write(chunk)) return 22;
    got += chunk.length;
    env.stats.bytes += chunk.length;
    env.progress({ file: serverFile, bytes: got, total: size });
  }
  if (sd.size(sdFile) !== size) return 24;
  return 0;
}

/** `Wasp4G::requestOTA`: returns 0 after `loadOTA` (the device has rebooted), else the code 1–26. */
export async function requestOta4g(env: OtaEnv): Promise<number> {
  const { device } = env;
  const sd = device.sd;
  if (!sd.isPresent()) return 1;
  sd.del(UPGRADE);
  await tryCommand(env, 'AT+CMEE=1', 5_000);

  if (!(await open(env))) return 3;
  if ((await ftpDownload4g(env, UPGRADE, UPGRADE)) !== 0) return 2; // session left open (research §4 code 2)

  const text = sd.read(UPGRADE) ?? Buffer.from(`error opening ${UPGRADE}`, 'latin1');
  const parsed = readUpgradeTxt('4g', text, { programId: device.programId(), version: device.programVersion() });
  if (parsed.undefinedBehaviour) env.stats.notes.push('UPGRADE.TXT value without a final \\n: undefined behaviour on a real device');
  if (parsed.truncated) env.stats.notes.push('UPGRADE.TXT is 255 bytes or more: SD.cat truncated it');
  if (!parsed.ok) {
    await close(env);
    return tagCode('4g', parsed.outcome);
  }
  const m = parsed.manifest;
  env.log(`FILE:${m.file} PATH:${JSON.stringify(m.path)} SIZE:${m.size} VERSION:${m.version}`);

  if (!(await close(env))) return 25;
  if (!(await open(env))) return 26;
  const d = await ftpDownload4g(env, m.file, m.file);
  if (d !== 0) {
    await close(env);
    return d;
  }
  if (sd.size(m.file) !== m.size) {
    await close(env);
    return 11;
  }
  await close(env);
  device.loadOTA(m.file, m.version);
  return 0;
}
