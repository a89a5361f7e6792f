/**
 * Every `requestOTA` result code of the four modules: its name, the library's exact condition
 * (research/waspmote-ota.md §4), the guide's wording (seed 003, Libelium's OTA guide), and where the two disagree.
 * The simulator always returns the library's number; `guideCode` records the number the guide gives for the same
 * condition, `guideText` the guide's wording for the library's number's condition.
 *
 * Success values differ per module: 4G returns 0 (never seen on hardware: the device reboots), WiFi PRO returns 0,
 * 3G and GPRS return 1. WiFi PRO reports failures in `_errorCode` (the return value is then 1); the code here is
 * that `_errorCode`, including the iChip's own codes 505–513 on an open failure and 0 for an open timeout.
 */
import type { TagOutcome, WaspModule } from './upgrade-txt.ts';

/** One documented code. */
export interface CodeEntry {
  module: WaspModule;
  /** The number the library returns (WiFi PRO: `_errorCode`). */
  code: number;
  /** True for the success value. */
  ok: boolean;
  /** SCREAMING_SNAKE name used in reports and scenario ids. */
  name: string;
  /** The library's condition, from research §4. */
  condition: string;
  /** The guide's wording for this condition, when the guide lists it. */
  guideText?: string;
  /** The guide's number for this condition when it differs from `code`. */
  guideCode?: number;
  /** Where guide and library disagree, or other caveats. */
  note?: string;
}

type Row = [code: number, name: string, condition: string, guideText?: string, extra?: Partial<CodeEntry>];

function rows(module: WaspModule, list: Row[], okCode: number): CodeEntry[] {
  return list.map(([code, name, condition, guideText, extra]) => ({
    module, code, ok: code === okCode && name === 'OK', name, condition,
    ...(guideText === undefined ? {} : { guideText }), ...extra,
  }));
}

const G4: Row[] = [
  [0, 'OK', 'success: loadOTA hand-off done (the device reboots, so a real device never returns it)'],
  [1, 'SD_NOT_PRESENT', 'SD card not present at start', 'SD not present'],
  [2, 'UPGRADE_TXT_DOWNLOAD', 'downloading UPGRADE.TXT failed (any cause); the FTP session is left open', 'error downloading UPGRADE.TXT'],
  [3, 'OPEN_SESSION', 'first session open failed (registration, #FTPOPEN or #FTPTYPE)', 'error opening FTP session'],
  [4, 'FILE_LENGTH', 'FILE value length ≠ 7 (CR, spaces, short/long name, missing LF)', 'filename is different to 7 bytes'],
  [5, 'NO_FILE_LABEL', "'FILE:' not found", "no 'FILE' pattern found"],
  [6, 'NO_FILE', 'FILE is NO_FILE', "'NO_FILE' is the filename"],
  [7, 'NO_PATH_LABEL', "'PATH:' not found", "no 'PATH' pattern found"],
  [8, 'NO_SIZE_LABEL', "'SIZE:' not found", "no 'SIZE' pattern found"],
  [9, 'NO_VERSION_LABEL', "'VERSION:' not found", "no 'VERSION' pattern found"],
  [10, 'VERSION_NOT_NEWER', 'same name, current ≥ new and current ≠ 255', 'invalid program version number'],
  [11, 'SIZE_LABEL_MISMATCH', 'SD file size ≠ SIZE label', 'file size does not match in UPGRADE.TXT and server',
    { note: 'the guide says "UPGRADE.TXT and server"; the library compares the SD file size with the SIZE label' }],
  [12, 'SERVER_SIZE_ZERO', 'server size reported as 0', 'error downloading binary file: server file size is zero'],
  [13, 'SIZE_QUERY', 'size query (#FTPFSIZE) failed', 'error downloading binary file: reading the file size'],
  [14, 'SD_NOT_PRESENT_DOWNLOAD', 'SD not present (inside download)', 'error downloading binary file: SD not present'],
  [15, 'SD_CREATE', 'SD file create failed', 'error downloading binary file: error creating the file in SD'],
  [16, 'SD_OPEN', 'SD file open failed', 'error downloading binary file: error opening the file'],
  [17, 'SD_SEEK', 'SD seek failed', 'error downloading binary file: error setting the pointer of the file'],
  [18, 'GETPKT', '#FTPGETPKT failed (e.g. file not found on the server)', 'error downloading binary file: error opening the GET connection'],
  [19, 'RECV_ERROR_CODE', '#FTPRECV answered with an error code (+CME ERROR)', 'error downloading binary file: error module returns error code after requesting data'],
  [20, 'RECV_LENGTH_PARSE', 'chunk length could not be parsed', 'error downloading binary file: error getting packet size'],
  [21, 'RECV_SHORT', 'fewer bytes read than announced', 'error downloading binary file: packet size mismatch'],
  [22, 'SD_WRITE', 'SD write error', 'error downloading binary file: error writing SD'],
  [23, 'RECV_RETRIES', 'five #FTPRECV failures (timeouts / plain ERROR)', 'error downloading binary file: no more retries getting data'],
  [24, 'SERVER_SIZE_MISMATCH', 'final SD size ≠ server size', 'error downloading binary file: size mismatch'],
  [25, 'CLOSE_SESSION_1', 'closing session 1 failed (#FTPCLOSE, in code since API v030)', undefined,
    { note: 'not in the guide' }],
  [26, 'REOPEN_SESSION_2', 'reopening for session 2 failed (in code since API v030)', undefined,
    { note: 'not in the guide' }],
];

const WIFI: Row[] = [
  [0, 'OK', 'success: loadOTA hand-off done (requestOTA returns 0)'],
  [10, 'SD_NOT_PRESENT', 'SD not present (ERROR_CODE_0010)', 'SD not present'],
  [11, 'SD_CREATE', 'SD create failed inside ftpDownload; requestOTA overwrites it with 0021/0030', undefined, { note: 'never the final code of requestOTA' }],
  [12, 'SD_OPEN', 'SD open failed inside ftpDownload; overwritten by 0021/0030', undefined, { note: 'never the final code of requestOTA' }],
  [13, 'SD_SEEK', 'SD seek failed inside ftpDownload; overwritten by 0021/0030', undefined, { note: 'never the final code of requestOTA' }],
  [14, 'SD_WRITE', 'SD write failed inside ftpDownload; overwritten by 0021/0030', undefined, { note: 'never the final code of requestOTA' }],
  [20, 'UART_BUFFER_FULL', 'UART buffer full', undefined, { note: 'not in the guide; not reproducible with a well-behaved emulator' }],
  [21, 'UPGRADE_TXT_DOWNLOAD', 'UPGRADE.TXT download failed', 'error downloading UPGRADE.TXT'],
  [22, 'FILE_LENGTH', 'FILE value length ≠ 7', 'filename in UPGRADE.TXT is not a 7-byte name'],
  [23, 'NO_FILE_LABEL', 'no FILE label', 'no FILE label is found in UPGRADE.TXT'],
  [24, 'NO_FILE', 'FILE is NO_FILE', 'NO_FILE is defined as FILE in UPGRADE.TXT'],
  [25, 'NO_PATH_LABEL', 'no PATH label', 'no PATH label is found in UPGRADE.TXT'],
  [26, 'NO_SIZE_LABEL', 'no SIZE label', 'no SIZE label is found in UPGRADE.TXT'],
  [27, 'NO_VERSION_LABEL', 'no VERSION label', 'no VERSION label is found in UPGRADE.TXT'],
  [28, 'VERSION_NOT_NEWER', 'same name and current ≥ new', "version indicated in UPGRADE.TXT is lower/equal to Waspmote's version"],
  [29, 'SIZE_LABEL_MISMATCH', 'SD file size ≠ SIZE label', 'file size does not match the indicated in UPGRADE.TXT'],
  [30, 'BINARY_DOWNLOAD', 'binary download failed (any cause, including SD vs server size)', 'error downloading binary file'],
  [0, 'OPEN_TIMEOUT', 'AT+iFOPN got no answer in time (_errorCode stays 0)', undefined, { note: 'not in the guide' }],
  [505, 'OPEN_NO_HANDLE', 'AT+iFOPN: all FTP handles in use (iChip 505)'],
  [506, 'OPEN_NOT_HANDLE', 'not an FTP session handle (iChip 506)'],
  [507, 'OPEN_SERVER_NOT_FOUND', 'AT+iFOPN: FTP server not found (iChip 507)'],
  [508, 'OPEN_CONNECT_TIMEOUT', 'AT+iFOPN: timeout when connecting to the FTP server (iChip 508)'],
  [509, 'OPEN_LOGIN_FAILED', 'AT+iFOPN: login failed, bad user or password (iChip 509)'],
  [510, 'OPEN_CMD_FAILED', 'FTP command could not be completed (iChip 510)'],
  [511, 'OPEN_DATA_SOCKET', 'FTP data socket could not be opened (iChip 511)'],
  [512, 'OPEN_DATA_SEND', 'failed to send data on the FTP data socket (iChip 512)'],
  [513, 'OPEN_DATA_RECV', 'failed to receive data on the FTP data socket (iChip 513, wording inferred)'],
];

const G3: Row[] = [
  [1, 'OK', 'success: loadOTA hand-off done'],
  [0, 'CSOCKAUTH_CME', 'AT+CSOCKAUTH answered +CME ERROR', undefined, { note: 'undocumented in the guide' }],
  [-2, 'APN', 'error setting the connection parameters (APN)', 'if error setting the connection parameters (APN)'],
  [-3, 'SET_SERVER', 'AT+CFTPSERV failed', 'if error setting the FTP server'],
  [-4, 'SET_PORT', 'AT+CFTPPORT failed', 'if error setting the FTP port'],
  [-5, 'SET_MODE', 'AT+CFTPMODE failed', 'if error setting the FTP mode'],
  [-6, 'SET_TYPE', 'AT+CFTPTYPE failed', 'if error setting the FTP type'],
  [-7, 'SET_USER', 'AT+CFTPUN failed', 'if error setting the user name'],
  [-8, 'SET_PASS', 'AT+CFTPPW failed', 'if error setting the FTP password'],
  [-13, 'SET_SERVER_CME', 'AT+CFTPSERV answered +CME ERROR', "'-13' if CME error available"],
  [-14, 'SET_PORT_CME', 'AT+CFTPPORT answered +CME ERROR', "'-14' if CME error available"],
  [-15, 'SET_MODE_CME', 'AT+CFTPMODE answered +CME ERROR', "'-15' if CME error available"],
  [-16, 'SET_TYPE_CME', 'AT+CFTPTYPE answered +CME ERROR', "'-16' if CME error available"],
  [-17, 'SET_USER_CME', 'AT+CFTPUN answered +CME ERROR', "'-17' if CME error available"],
  [-18, 'SET_PASS_CME', 'AT+CFTPPW answered +CME ERROR', "'-18' if CME error available"],
  [-19, 'UPGRADE_TXT_DOWNLOAD', 'UPGRADE.TXT download failed (generic: ERROR, timeout, +CFTPGETFILE: <err>)', 'if error downloading the OTA version file'],
  [-21, 'UPGRADE_TXT_DOWNLOAD_CME', 'UPGRADE.TXT download answered +CME ERROR', 'if error with CME code (FTP error) downloading the OTA version file'],
  [-22, 'UPGRADE_TXT_XMODEM', "UPGRADE.TXT transfer from the module's file system to the SD failed", "if error sending the OTA version file from 3G module to Waspmote's SD"],
  [-23, 'NO_FILE_LABEL', 'no FILE tag', "if there isn't FILE tag"],
  [-24, 'NO_PATH_LABEL', 'no PATH tag', "if there isn't PATH tag"],
  [-25, 'NO_VERSION_LABEL', 'no VERSION tag', "if there isn't VERSION tag"],
  [-26, 'NO_FILE', 'FILE is NO_FILE (checked after PATH and VERSION)', 'if OTA is not necessary'],
  [-27, 'VERSION_NOT_NEWER', 'same name and not (new > current)', 'if OTA files are the same program version'],
  [-28, 'BINARY_DOWNLOAD', 'binary download failed (generic)', 'if error downloading the OTA file'],
  [-30, 'BINARY_DOWNLOAD_CME', 'binary download answered +CME ERROR', 'if error with CME code (FTP error) downloading the OTA file',
    { guideCode: -31, note: 'the guide says −31; the library returns −30' }],
  [-31, 'BINARY_XMODEM', "binary transfer from the module's file system to the SD failed", "if error sending the OTA file from 3G module to Waspmote's SD",
    { guideCode: -32, note: 'the guide says −32; the library returns −31' }],
];

/**
 * GPRS_Pro `downloadFile` results (research §4 and the guide's list read back through "result − 9"): the steps of
 * one download. requestOTA returns result − 9 for UPGRADE.TXT and result − 71 for the binary, in a signed byte.
 * The guide's numbers for results −2…−10 are shifted by one (see `gprsDownloadCode`).
 */
export const GPRS_DOWNLOAD_STEPS: { result: number; name: string; what: string }[] = [
  { result: -1, name: 'DOWNLOAD', what: 'download failed: SD size ≠ server size after 3 attempts / 300 s' },
  { result: -2, name: 'BEARER_OPEN', what: 'opening the connection with the GPRS provider (AT+SAPBR=1,1)' },
  { result: -3, name: 'BEARER_IP', what: 'getting the IP address (AT+SAPBR=2,1)' },
  { result: -4, name: 'SET_CID', what: 'setting the FTP ID (AT+FTPCID)' },
  { result: -5, name: 'SET_MODE', what: 'setting the FTP mode (AT+FTPMODE)' },
  { result: -6, name: 'SET_TYPE', what: 'setting the FTP type (AT+FTPTYPE)' },
  { result: -7, name: 'SET_SERVER', what: 'setting the FTP server (AT+FTPSERV)' },
  { result: -8, name: 'SET_PORT', what: 'setting the FTP port (AT+FTPPORT)' },
  { result: -9, name: 'SET_USER', what: 'setting the user name (AT+FTPUN)' },
  { result: -10, name: 'SET_PASS', what: 'setting the password (AT+FTPPW)' },
  { result: -12, name: 'SET_NAME', what: 'setting the file name (AT+FTPGETNAME)' },
  { result: -13, name: 'SET_PATH', what: 'setting the path (AT+FTPGETPATH)' },
  { result: -14, name: 'OPEN_SESSION', what: 'opening the FTP session (AT+FTPGET=1 → +FTPGET:1,<err>)' },
  { result: -15, name: 'SD_START', what: 'starting the SD' },
  { result: -16, name: 'SD_CREATE', what: 'creating the file' },
  { result: -17, name: 'REQUEST_DATA', what: 'requesting data (AT+FTPGET=2 ERROR)' },
  { result: -18, name: 'SD_WRITE', what: 'saving data into the SD' },
  { result: -19, name: 'REQUEST_MORE', what: 'requesting more data (+FTPGET:1,<err> during the transfer)' },
  { result: -21, name: 'SIZE_NAME', what: 'setting the file name to get the size' },
  { result: -22, name: 'SIZE_PATH', what: 'setting the path to get the size' },
  { result: -23, name: 'SIZE', what: 'getting the file size (AT+FTPSIZE → +FTPSIZE:1,<err>)' },
  { result: -41, name: 'SET_CID_CME', what: 'setting the FTP ID, +CME ERROR' },
  { result: -42, name: 'SET_MODE_CME', what: 'setting the FTP mode, +CME ERROR' },
  { result: -43, name: 'SET_TYPE_CME', what: 'setting the FTP type, +CME ERROR' },
  { result: -44, name: 'SET_SERVER_CME', what: 'setting the FTP server, +CME ERROR' },
  { result: -45, name: 'SET_PORT_CME', what: 'setting the FTP port, +CME ERROR' },
  { result: -46, name: 'SET_USER_CME', what: 'setting the user name, +CME ERROR' },
  { result: -47, name: 'SET_PASS_CME', what: 'setting the password, +CME ERROR' },
  { result: -48, name: 'SET_NAME_CME', what: 'setting the file name, +CME ERROR' },
  { result: -49, name: 'SET_PATH_CME', what: 'setting the path, +CME ERROR' },
  { result: -50, name: 'OPEN_SESSION_CME', what: 'opening the FTP session, +CME ERROR' },
  { result: -51, name: 'REQUEST_DATA_CME', what: 'requesting data, +CME ERROR' },
  { result: -52, name: 'REQUEST_MORE_CME', what: 'requesting more data, +CME ERROR' },
  { result: -53, name: 'SIZE_NAME_CME', what: 'setting the file name to get the size, +CME ERROR' },
  { result: -54, name: 'SIZE_PATH_CME', what: 'setting the path to get the size, +CME ERROR' },
  { result: -55, name: 'SIZE_CME', what: 'getting the file size, +CME ERROR' },
  { result: -56, name: 'BUSY', what: 'FTP is busy' },
  { result: -57, name: 'RESULT_57', what: 'result −57 (research §4: becomes −128 for the binary)' },
  { result: -58, name: 'TIMEOUT', what: 'overall 300 s timeout (research §4: wraps to +127 for the binary)' },
];

/** requestOTA's code for a GPRS downloadFile result: (int8_t)(result − 9) or (int8_t)(result − 71). */
export function gprsDownloadCode(result: number, file: 'upgrade' | 'binary'): number {
  const raw = result - (file === 'upgrade' ? 9 : 71);
  return ((raw & 0xff) ^ 0x80) - 0x80;
}

/** The guide's number for a GPRS download code (one-off shift for results −3…−10; −2 is listed 2 lower). */
function gprsGuideCode(result: number, file: 'upgrade' | 'binary'): number | undefined {
  const base = file === 'upgrade' ? -9 : -71;
  if (result === -2) return base;                              // guide: −9 / −71 "opening connection"
  if (result === -1) return base - 1;                          // guide: −10 / −72 "error downloading"
  if (result <= -3 && result >= -10) return gprsDownloadCode(result, file) + 1;
  return undefined;
}

function gprsRows(): Row[] {
  const out: Row[] = [
    [1, 'OK', 'success: loadOTA hand-off done'],
    [-2, 'BEARER', 'bearer configuration failed', 'if error'],
    [-4, 'BEARER_CONTYPE', 'AT+SAPBR=3,1,"Contype" failed', 'if error setting the type of Internet connection'],
    [-5, 'BEARER_APN', 'AT+SAPBR=3,1,"APN" failed', 'if error setting the apn'],
    [-6, 'BEARER_USER', 'AT+SAPBR=3,1,"USER" failed', 'if error setting the user name'],
    [-7, 'BEARER_PASS', 'AT+SAPBR=3,1,"PWD" failed', 'if error setting the password'],
    [-8, 'BEARER_SAVE', 'saving the bearer configuration failed', 'if error saving the configuration'],
    [-66, 'NO_FILE_LABEL', 'no FILE tag', "if there isn't FILE tag"],
    [-67, 'NO_PATH_LABEL', 'no PATH tag', "if there isn't PATH tag"],
    [-68, 'NO_VERSION_LABEL', 'no VERSION tag', "if there isn't VERSION tag"],
    [-69, 'NO_FILE', 'FILE is NO_FILE (checked after PATH and VERSION)', 'if OTA is not necessary'],
    [-70, 'VERSION_NOT_NEWER', 'same name and not (signed new > current)', 'if OTA files are the same program version'],
  ];
  const guideText: Record<string, string> = {
    DOWNLOAD: 'error downloading OTA %s', BEARER_OPEN: 'if error opening connection with the GPRS provider',
    BEARER_IP: 'if error getting the IP address', SET_CID: 'if error setting the FTP/HTTP ID',
    SET_MODE: 'if error setting the FTP mode', SET_TYPE: 'if error setting the FTP type',
    SET_SERVER: 'if error setting the FTP server', SET_PORT: 'if error setting the FTP port',
    SET_USER: 'if error setting the user name', SET_PASS: 'if error setting the password',
    SET_NAME: 'if error setting the file name in the FTP server', SET_PATH: 'if error setting the path of the file in the FTP server',
    OPEN_SESSION: 'if error opening the FTP session', SD_START: 'if error starting the SD', SD_CREATE: 'if error creating the file',
    REQUEST_DATA: 'error requesting data to the FTP', SD_WRITE: 'if error saving data into the SD',
    REQUEST_MORE: 'if error requesting more data to the FTP', SIZE_NAME: 'setting the file name in the FTP to get the file size',
    SIZE_PATH: 'setting the path in the FTP to get the file size', SIZE: 'if error getting the file size', BUSY: 'if FTP is busy',
  };
  for (const file of ['upgrade', 'binary'] as const) {
    for (const s of GPRS_DOWNLOAD_STEPS) {
      const code = gprsDownloadCode(s.result, file);
      const label = file === 'upgrade' ? 'UPGRADE_TXT' : 'BINARY';
      const g = gprsGuideCode(s.result, file);
      const text = guideText[s.name]?.replace('%s', file === 'upgrade' ? 'version file' : 'file');
      const extra: Partial<CodeEntry> = {};
      if (g !== undefined && g !== code) {
        extra.guideCode = g;
        extra.note = `the guide lists this condition as ${g}; the library returns ${code} (downloadFile result ${s.result} − ${file === 'upgrade' ? 9 : 71})`;
      }
      if (s.result === -57 || s.result === -58) {
        extra.note = `downloadFile result ${s.result} − ${file === 'upgrade' ? 9 : 71} in a signed byte = ${code}` +
          (file === 'upgrade' ? ' (collides with a tag code)' : ' (wraps)');
      }
      out.push([code, `${label}_${s.name}`, `${file === 'upgrade' ? 'UPGRADE.TXT' : 'binary'} download: ${s.what}`, text, extra]);
    }
  }
  return out;
}

/** The whole table, every module. */
export const CODES: readonly CodeEntry[] = [
  ...rows('4g', G4, 0),
  ...rows('wifi-pro', WIFI, 0),
  ...rows('3g', G3, 1),
  ...rows('gprs', gprsRows(), 1),
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

/** Tag outcome → the module's code (research §4). 3G/GPRS never check SIZE or the FILE length. */
export function tagCode(module: WaspModule, outcome: TagOutcome): number {
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
