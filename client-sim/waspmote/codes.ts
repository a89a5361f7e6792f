/**
 * Every `requestOTA` result code of the four modules (Libelium/waspmoteapi v048): its name, the library's exact
 * condition and the line that returns it, whether v048 can return it at all, and the guide's wording and number
 * (Libelium's OTA guide) where it lists the condition. The simulator always returns the library's number.
 * GPRS codes are in codes-gprs.ts. docs/waspmote-codes.md is generated from this table (bin/waspmote-codes-doc.ts).
 *
 * Success values differ per module: 4G returns 0 (never seen on hardware: the device reboots), WiFi PRO returns 0,
 * 3G and GPRS return 1. WiFi PRO reports failures in `_errorCode` (the return value is then 1); the code here is
 * that `_errorCode`, including the iChip's own codes 505–513 on an open failure and 0 for an open timeout.
 */
import type { TagOutcome, WaspModule } from './upgrade-txt.ts';
import { rows, type CodeEntry, type Row } from './code-entry.ts';
import { GPRS_CODES, gprsDownloadCode, GPRS_DOWNLOAD_STEPS } from './codes-gprs.ts';

export type { CodeEntry } from './code-entry.ts';
export { gprsDownloadCode, GPRS_DOWNLOAD_STEPS };

const W4 = (n: number | string) => `Wasp4G.cpp:${n}`;
/** ftpDownload's return n becomes n + 11 in requestOTA (Wasp4G.cpp:7577 `error_flag + 11`). */
const DL4 = (line: number) => `Wasp4G.cpp:${line} (ftpDownload), :7577 (+ 11)`;

const G4: Row[] = [
  [0, 'OK', 'success: loadOTA hand-off done (the device reboots, so a real device never returns it)', W4(7576)],
  [1, 'SD_NOT_PRESENT', 'SD card not present at start', W4(7256), 'SD not present'],
  [2, 'UPGRADE_TXT_DOWNLOAD', 'ftpDownload(UPGRADE.TXT) failed (any cause); the FTP session is left open', W4(7297), 'error downloading UPGRADE.TXT'],
  [3, 'OPEN_SESSION', 'ftpOpenSession failed: data connection, AT#FTPOPEN (15 s) or, after 2 s, AT#FTPTYPE=0 (2 s)', `${W4(7305)}, :2640, :2662`, 'error opening FTP session'],
  [4, 'FILE_LENGTH', 'FILE value length ≠ 7: pos(\\n) − pos(:) − 1 (CR, spaces, short/long name; no \\n after it gives a negative length, no copy)', W4(7350), 'filename is different to 7 bytes'],
  [5, 'NO_FILE_LABEL', "'FILE:' not found (v038/v039: always, SD.cat read 2 bytes)", W4(7368), "no 'FILE' pattern found"],
  [6, 'NO_FILE', 'FILE is NO_FILE', W4(7379), "'NO_FILE' is the filename"],
  [7, 'NO_PATH_LABEL', "'PATH:' not found", W4(7406), "no 'PATH' pattern found"],
  [8, 'NO_SIZE_LABEL', "'SIZE:' not found", W4(7438), "no 'SIZE' pattern found"],
  [9, 'NO_VERSION_LABEL', "'VERSION:' not found", W4(7470), "no 'VERSION' pattern found"],
  [10, 'VERSION_NOT_NEWER', 'same name, current ≥ new and current ≠ 255', W4(7497), 'invalid program version number'],
  [11, 'SIZE_LABEL_MISMATCH', 'SD file size ≠ SIZE label', W4(7568), 'file size does not match in UPGRADE.TXT and server',
    { note: 'the guide says "UPGRADE.TXT and server"; the library compares the SD file size with the SIZE label' }],
  [12, 'SERVER_SIZE_ZERO', 'AT#FTPFSIZE gave 0 (also a value strtoul reads as 0, e.g. an empty one: strtok then finds "OK")', DL4(3129), 'error downloading binary file: server file size is zero'],
  [13, 'SIZE_QUERY', 'AT#FTPFSIZE did not answer OK within 15 s (ERROR, +CME ERROR, no answer), or OK without "FTPFSIZE:"', DL4(3143), 'error downloading binary file: reading the file size'],
  [14, 'SD_NOT_PRESENT_DOWNLOAD', 'SD not present (inside download)', DL4(3177), 'error downloading binary file: SD not present'],
  [15, 'SD_CREATE', 'SD file create failed', DL4(3200), 'error downloading binary file: error creating the file in SD'],
  [16, 'SD_OPEN', 'SD file open failed', DL4(3214), 'error downloading binary file: error opening the file'],
  [17, 'SD_SEEK', 'SD seek failed', DL4(3232), 'error downloading binary file: error setting the pointer of the file'],
  [18, 'GETPKT', 'AT#FTPGETPKT="<file>" did not answer OK within 60 s (e.g. file not found)', DL4(3260), 'error downloading binary file: error opening the GET connection'],
  [19, 'RECV_ERROR_CODE', 'AT#FTPRECV answered "ERROR:" (a +CME ERROR) before "#FTPRECV: "', DL4(3322), 'error downloading binary file: error module returns error code after requesting data'],
  [20, 'RECV_LENGTH_PARSE', 'after "#FTPRECV: " no token before \\r\\n (strtok finds none); "4x0" parses as 4', DL4(3351), 'error downloading binary file: error getting packet size'],
  [21, 'RECV_SHORT', 'fewer bytes available than the announced length', DL4(3374), 'error downloading binary file: packet size mismatch'],
  [22, 'SD_WRITE', 'SD write error', DL4(3390), 'error downloading binary file: error writing SD'],
  [23, 'RECV_RETRIES', 'five AT#FTPRECV without "#FTPRECV: " within 2 s (plain ERROR, no answer, an OK alone), counted over the whole file (error_counter is never reset)', `${DL4(3412)}; counter :3107, :3326`, 'error downloading binary file: no more retries getting data'],
  [24, 'SERVER_SIZE_MISMATCH', 'final SD size ≠ server size', DL4(3432), 'error downloading binary file: size mismatch'],
  [25, 'CLOSE_SESSION_1', 'ftpCloseSession failed: after 1 s, AT#FTPCLOSE (10 s): a CME error fails at once; no answer or ERROR: a 2nd try with a 1 s timeout', `${W4(7519)}, :2686-2745`, undefined,
    { note: 'not in the guide' }],
  [26, 'REOPEN_SESSION_2', 'reopening for session 2 failed', W4(7536), undefined, { note: 'not in the guide' }],
];

const WP = (n: number | string) => `WaspWIFI_PRO.cpp:${n}`;
const OVERWRITTEN = 'requestOTA overwrites _errorCode with 0021 or 0030 after any ftpDownload failure (WaspWIFI_PRO.cpp:6265, :6518)';
const WIFI: Row[] = [
  [0, 'OK', 'success: loadOTA hand-off done (requestOTA returns 0)', WP(6511)],
  [10, 'SD_NOT_PRESENT', 'SD not present (ERROR_CODE_0010)', WP(6210), 'SD not present'],
  [11, 'SD_CREATE', 'SD create failed inside ftpDownload', WP(3159), undefined, { reachable: false, unreachable: OVERWRITTEN }],
  [12, 'SD_OPEN', 'SD open failed inside ftpDownload', WP(3173), undefined, { reachable: false, unreachable: OVERWRITTEN }],
  [13, 'SD_SEEK', 'SD seek failed inside ftpDownload', WP(3188), undefined, { reachable: false, unreachable: OVERWRITTEN }],
  [14, 'SD_WRITE', 'SD write failed inside ftpDownload', WP(3370), undefined, { reachable: false, unreachable: OVERWRITTEN }],
  [20, 'UART_BUFFER_FULL', 'UART buffer full inside ftpDownload', WP(3335), undefined, { reachable: false, unreachable: OVERWRITTEN }],
  [21, 'UPGRADE_TXT_DOWNLOAD', 'ftpDownload(UPGRADE.TXT) failed (any cause, a server size of 0 included)', WP(6265), 'error downloading UPGRADE.TXT'],
  [22, 'FILE_LENGTH', 'FILE value length ≠ 7', WP(6307), 'filename in UPGRADE.TXT is not a 7-byte name'],
  [23, 'NO_FILE_LABEL', 'no FILE label', WP(6323), 'no FILE label is found in UPGRADE.TXT'],
  [24, 'NO_FILE', 'FILE is NO_FILE', WP(6334), 'NO_FILE is defined as FILE in UPGRADE.TXT'],
  [25, 'NO_PATH_LABEL', 'no PATH label', WP(6358), 'no PATH label is found in UPGRADE.TXT'],
  [26, 'NO_SIZE_LABEL', 'no SIZE label', WP(6386), 'no SIZE label is found in UPGRADE.TXT'],
  [27, 'NO_VERSION_LABEL', 'no VERSION label', WP(6414), 'no VERSION label is found in UPGRADE.TXT'],
  [28, 'VERSION_NOT_NEWER', 'same name and current ≥ new', WP(6446), "version indicated in UPGRADE.TXT is lower/equal to Waspmote's version"],
  [29, 'SIZE_LABEL_MISMATCH', 'SD file size ≠ SIZE label', WP(6497), 'file size does not match the indicated in UPGRADE.TXT'],
  [30, 'BINARY_DOWNLOAD', 'ftpDownload(binary) failed (any cause: AT+iFSZ error, a server size of 0, AT+iFRCV error, 10 s without data, no I/ONLINE, SD size ≠ server size)', `${WP(6518)}; ftpDownload :3101-3420`, 'error downloading binary file'],
  [0, 'OPEN_TIMEOUT', 'AT+iFOPN got no answer in time (_errorCode stays 0)', WP(6250), undefined, { note: 'not in the guide' }],
  [505, 'OPEN_NO_HANDLE', 'AT+iFOPN: all FTP handles in use (iChip 505)', WP(6250)],
  [506, 'OPEN_NOT_HANDLE', 'not an FTP session handle (iChip 506)', WP(6250)],
  [507, 'OPEN_SERVER_NOT_FOUND', 'AT+iFOPN: FTP server not found (iChip 507)', WP(6250)],
  [508, 'OPEN_CONNECT_TIMEOUT', 'AT+iFOPN: timeout when connecting to the FTP server (iChip 508)', WP(6250)],
  [509, 'OPEN_LOGIN_FAILED', 'AT+iFOPN: login failed, bad user or password (iChip 509)', WP(6250)],
  [510, 'OPEN_CMD_FAILED', 'FTP command could not be completed (iChip 510)', WP(6250)],
  [511, 'OPEN_DATA_SOCKET', 'FTP data socket could not be opened (iChip 511)', WP(6250)],
  [512, 'OPEN_DATA_SEND', 'failed to send data on the FTP data socket (iChip 512)', WP(6250)],
  [513, 'OPEN_DATA_RECV', 'failed to receive data on the FTP data socket (iChip 513, wording inferred)', WP(6250)],
];

const W3 = (n: number | string) => `Wasp3G.cpp:${n}`;
const TENTH = '10 sends without OK; the last a +CME ERROR; a success on the 10th send still counts as failure (count == 0)';
const G3: Row[] = [
  [1, 'OK', 'success: loadOTA hand-off done', W3(9850)],
  [0, 'CSOCKAUTH_CME', 'AT+CSOCKAUTH=1,0 still answered +CME ERROR after 5 sends', W3(3856), undefined, { note: 'undocumented in the guide' }],
  [-2, 'APN', 'AT+CGSOCKCONT=1,"IP","<apn>" got no OK in 10 sends (a success on the 10th counts as failure), or AT+CSOCKAUTH got no answer in 5', `${W3(3831)}, :3852`, 'if error setting the connection parameters (APN)'],
  [-3, 'SET_SERVER', 'AT+CFTPSERV: 10 sends without OK (ERROR, no answer, or success only on the 10th)', W3(3875), 'if error setting the FTP server'],
  [-4, 'SET_PORT', 'AT+CFTPPORT: as −3', W3(3895), 'if error setting the FTP port'],
  [-5, 'SET_MODE', 'AT+CFTPMODE=1: as −3', W3(3915), 'if error setting the FTP mode'],
  [-6, 'SET_TYPE', 'AT+CFTPTYPE=I: as −3', W3(3935), 'if error setting the FTP type'],
  [-7, 'SET_USER', 'AT+CFTPUN: as −3', W3(3955), 'if error setting the user name'],
  [-8, 'SET_PASS', 'AT+CFTPPW: as −3', W3(3975), 'if error setting the FTP password'],
  [-13, 'SET_SERVER_CME', `AT+CFTPSERV: ${TENTH}`, W3(3871), "'-13' if CME error available"],
  [-14, 'SET_PORT_CME', `AT+CFTPPORT: ${TENTH}`, W3(3891), "'-14' if CME error available"],
  [-15, 'SET_MODE_CME', `AT+CFTPMODE: ${TENTH}`, W3(3911), "'-15' if CME error available"],
  [-16, 'SET_TYPE_CME', `AT+CFTPTYPE: ${TENTH}`, W3(3931), "'-16' if CME error available"],
  [-17, 'SET_USER_CME', `AT+CFTPUN: ${TENTH}`, W3(3951), "'-17' if CME error available"],
  [-18, 'SET_PASS_CME', `AT+CFTPPW: ${TENTH}`, W3(3971), "'-18' if CME error available"],
  [-19, 'UPGRADE_TXT_DOWNLOAD', 'UPGRADE.TXT: 3 AT+CFTPGETFILE tries (10 s pause before each) without "+CFTPGETFILE: " (ERROR or timeout (size + 30000) × 1000 ms), or a success only on the 3rd try (count == 0)', `${W3(4235)}, :9902`, 'if error downloading the OTA version file'],
  [-21, 'UPGRADE_TXT_DOWNLOAD_CME', 'UPGRADE.TXT: "+CFTPGETFILE: <n≠0>" (at once, no retry), or the 3rd try answered +CME ERROR', `${W3(4254)}, :4231, :9902`, 'if error with CME code (FTP error) downloading the OTA version file'],
  [-22, 'UPGRADE_TXT_XMODEM', 'UPGRADE.TXT: getXModemFile failed (SD create, "FILE NOT EXISTING", no OK, 10 bad blocks), or AT+CGREG? not registered within 90 s', `${W3(4393)}, :4203, :9902`, "if error sending the OTA version file from 3G module to Waspmote's SD"],
  [-23, 'NO_FILE_LABEL', 'no FILE tag', W3(9897), "if there isn't FILE tag"],
  [-24, 'NO_PATH_LABEL', 'no PATH tag', W3(9891), "if there isn't PATH tag"],
  [-25, 'NO_VERSION_LABEL', 'no VERSION tag', W3(9885), "if there isn't VERSION tag"],
  [-26, 'NO_FILE', 'FILE is NO_FILE (checked after PATH and VERSION)', W3(9877), 'if OTA is not necessary'],
  [-27, 'VERSION_NOT_NEWER', 'same name and not (new > current)', W3(9866), 'if OTA files are the same program version'],
  [-28, 'BINARY_DOWNLOAD', 'binary: as −19', `${W3(4235)}, :9857`, 'if error downloading the OTA file'],
  [-30, 'BINARY_DOWNLOAD_CME', 'binary: as −21', `${W3(4254)}, :4231, :9857`, 'if error with CME code (FTP error) downloading the OTA file',
    { guideCode: -31, note: 'the guide says −31; the library returns −30' }],
  [-31, 'BINARY_XMODEM', 'binary: as −22', `${W3(4393)}, :4203, :9857`, "if error sending the OTA file from 3G module to Waspmote's SD",
    { guideCode: -32, note: 'the guide says −32; the library returns −31' }],
];

/** The whole table, every module. */
export const CODES: readonly CodeEntry[] = [
  ...rows('4g', G4, 0),
  ...rows('wifi-pro', WIFI, 0),
  ...rows('3g', G3, 1),
  ...GPRS_CODES,
];

/**
 * The entry for a module's code. `ok` disambiguates WiFi PRO's 0 (success) from 0 (open timeout); GPRS codes that
 * two conditions share (e.g. −66) resolve to the first listed (the tag code). Undefined when the code is unknown.
 */
export function describeCode(module: WaspModule, code: number, ok?: boolean): CodeEntry | undefined {
  const all = CODES.filter((c) => c.module === module && c.code === code);
  if (ok !== undefined) return all.find((c) => c.ok === ok) ?? all[0];
  return all[0];
}

/** The entry with a given name for a module; throws when the name is not in the table (a programming error). */
export function codeByName(module: WaspModule, name: string): CodeEntry {
  const e = CODES.find((c) => c.module === module && c.name === name);
  if (!e) throw new Error(`no ${module} code named ${name}`);
  return e;
}

/** Tag outcome → the module's code (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts)). 3G/GPRS never check SIZE or the FILE length. */
export function tagCode(module: WaspModule, outcome: TagOutcome | 'OVERRUN'): number {
  if (outcome === 'OVERRUN') throw new Error('an overrun has no code (readTags throws for it)');
  const map: Record<WaspModule, Partial<Record<TagOutcome, string>>> = {
    '4g': { FILE_LENGTH: 'FILE_LENGTH', NO_FILE_LABEL: 'NO_FILE_LABEL', NO_FILE: 'NO_FILE', NO_PATH: 'NO_PATH_LABEL',
      NO_SIZE: 'NO_SIZE_LABEL', NO_VERSION: 'NO_VERSION_LABEL', NOT_NEWER: 'VERSION_NOT_NEWER' },
    'wifi-pro': { FILE_LENGTH: 'FILE_LENGTH', NO_FILE_LABEL: 'NO_FILE_LABEL', NO_FILE: 'NO_FILE', NO_PATH: 'NO_PATH_LABEL',
      NO_SIZE: 'NO_SIZE_LABEL', NO_VERSION: 'NO_VERSION_LABEL', NOT_NEWER: 'VERSION_NOT_NEWER' },
    '3g': { NO_FILE_LABEL: 'NO_FILE_LABEL', NO_FILE: 'NO_FILE', NO_PATH: 'NO_PATH_LABEL', NO_VERSION: 'NO_VERSION_LABEL',
      NOT_NEWER: 'VERSION_NOT_NEWER' },
    gprs: { NO_FILE_LABEL: 'NO_FILE_LABEL', NO_FILE: 'NO_FILE', NO_PATH: 'NO_PATH_LABEL', NO_VERSION: 'NO_VERSION_LABEL',
      NOT_NEWER: 'VERSION_NOT_NEWER' },
  };
  const name = map[module][outcome];
  if (!name) throw new Error(`${module} never reports ${outcome}`);
  return codeByName(module, name).code;
}

/** Number of a module's success value (4G/WiFi PRO 0, 3G/GPRS 1). */
export function successCode(module: WaspModule): number {
  return module === '4g' || module === 'wifi-pro' ? 0 : 1;
}
