/**
 * GPRS_Pro / GPRS+GPS (`WaspGPRS_Pro_core::requestOTA`, v048) result codes. requestOTA returns
 * `configureGPRS_HTTP_FTP() − 2` for the bearer profile (:7185), `downloadFile() − 9` for UPGRADE.TXT (:7180),
 * the tag codes −66…−70, and `downloadFile() − 71` for the binary (:7137), all in an `int8_t`. Line numbers are
 * WaspGPRS_Pro_core.cpp's. The guide's numbers for results −2…−10 differ (see `gprsGuideCode`).
 */
import { rows, type CodeEntry, type Row } from './code-entry.ts';

/** One downloadFile result: what returns it, where, and whether v048 can return it. */
export interface GprsDownloadStep { result: number; name: string; what: string; source: string; unreachable?: string }

const CME_NEVER = 'the code tests `answer == -2`, but sendCommand2 returns 2 for "+CME ERROR:" (:825, :899), so a CME answer counts as success and the settings go on';

/** downloadFile results (readDataFTP, getfilesizeFTP and openGPRS_HTTP_FTP_connection's included). */
export const GPRS_DOWNLOAD_STEPS: GprsDownloadStep[] = [
  { result: -1, name: 'DOWNLOAD', what: 'after the attempts the server size still differs from the SD size and the last readDataFTP returned 1; also: AT+CGREG? not registered within 90 s', source: 'WaspGPRS_Pro_core.cpp:4733-4740, :2064' },
  { result: -2, name: 'BEARER_OPEN', what: 'AT+SAPBR=1,1 got no OK in 5 sends (a CME answer is followed by AT+SAPBR=2,1 and a 10 s pause)', source: 'WaspGPRS_Pro_core.cpp:2100' },
  { result: -3, name: 'BEARER_IP', what: 'AT+SAPBR=2,1 did not answer `+SAPBR: 1,1,"` (literal, with the space) in 10 sends; a success on the 10th counts as failure', source: 'WaspGPRS_Pro_core.cpp:2135' },
  { result: -4, name: 'SET_CID', what: 'AT+FTPCID=1 got no answer (OK or +CME ERROR) in 10 sends', source: 'WaspGPRS_Pro_core.cpp:4592' },
  { result: -5, name: 'SET_MODE', what: 'AT+FTPMODE=1 got no answer in 10 sends', source: 'WaspGPRS_Pro_core.cpp:4613' },
  { result: -6, name: 'SET_TYPE', what: 'AT+FTPTYPE="I" got no answer (plain ERROR is no answer)', source: 'WaspGPRS_Pro_core.cpp:4630' },
  { result: -7, name: 'SET_SERVER', what: 'AT+FTPSERV got no answer', source: 'WaspGPRS_Pro_core.cpp:4647' },
  { result: -8, name: 'SET_PORT', what: 'AT+FTPPORT got no answer', source: 'WaspGPRS_Pro_core.cpp:4664' },
  { result: -9, name: 'SET_USER', what: 'AT+FTPUN got no answer', source: 'WaspGPRS_Pro_core.cpp:4681' },
  { result: -10, name: 'SET_PASS', what: 'AT+FTPPW got no answer', source: 'WaspGPRS_Pro_core.cpp:4698' },
  { result: -12, name: 'SET_NAME', what: 'AT+FTPGETNAME got no answer in 7 sends, or the SD file could not be opened or seeked', source: 'WaspGPRS_Pro_core.cpp:1600, :1654, :1668, :1762' },
  { result: -13, name: 'SET_PATH', what: 'AT+FTPGETPATH got no answer', source: 'WaspGPRS_Pro_core.cpp:1622' },
  { result: -14, name: 'OPEN_SESSION', what: 'AT+FTPGET=1 did not answer `+FTPGET:1,1` within 60 s, 3 times', source: 'WaspGPRS_Pro_core.cpp:1640' },
  { result: -15, name: 'SD_START', what: 'SD root not reachable (no card)', source: 'WaspGPRS_Pro_core.cpp:1573' },
  { result: -16, name: 'SD_CREATE', what: 'SD file create failed', source: 'WaspGPRS_Pro_core.cpp:1581' },
  { result: -17, name: 'REQUEST_DATA', what: 'the first AT+FTPGET=2,250 got no `+FTPGET:2,` within 60 s', source: 'WaspGPRS_Pro_core.cpp:1682, :1722' },
  { result: -18, name: 'SD_WRITE', what: 'an SD write failed 5 times (then it waits 60 s for `+FTPGET:1,64`)', source: 'WaspGPRS_Pro_core.cpp:1781' },
  { result: -19, name: 'REQUEST_MORE', what: 'a later AT+FTPGET=2,250 got no `+FTPGET:2,` within 60 s', source: 'WaspGPRS_Pro_core.cpp:1796' },
  { result: -21, name: 'SIZE_NAME', what: 'AT+FTPGETNAME (size query) got no answer', source: 'WaspGPRS_Pro_core.cpp:1891' },
  { result: -22, name: 'SIZE_PATH', what: 'AT+FTPGETPATH (size query) got no answer', source: 'WaspGPRS_Pro_core.cpp:1914' },
  { result: -23, name: 'SIZE', what: 'AT+FTPSIZE: no `+FTPSIZE:1,0,` within 60 s (e.g. `+FTPSIZE:1,77,0`, file not found)', source: 'WaspGPRS_Pro_core.cpp:1927' },
  { result: -41, name: 'SET_CID_CME', what: 'AT+FTPCID answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4597', unreachable: CME_NEVER },
  { result: -42, name: 'SET_MODE_CME', what: 'AT+FTPMODE answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4618', unreachable: CME_NEVER },
  { result: -43, name: 'SET_TYPE_CME', what: 'AT+FTPTYPE answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4635', unreachable: CME_NEVER },
  { result: -44, name: 'SET_SERVER_CME', what: 'AT+FTPSERV answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4652', unreachable: CME_NEVER },
  { result: -45, name: 'SET_PORT_CME', what: 'AT+FTPPORT answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4669', unreachable: CME_NEVER },
  { result: -46, name: 'SET_USER_CME', what: 'AT+FTPUN answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4686', unreachable: CME_NEVER },
  { result: -47, name: 'SET_PASS_CME', what: 'AT+FTPPW answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:4703', unreachable: CME_NEVER },
  { result: -48, name: 'SET_NAME_CME', what: 'AT+FTPGETNAME answered +CME ERROR on its 7th send', source: 'WaspGPRS_Pro_core.cpp:1604' },
  { result: -49, name: 'SET_PATH_CME', what: 'AT+FTPGETPATH answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:1626' },
  { result: -50, name: 'OPEN_SESSION_CME', what: 'AT+FTPGET=1 answered +CME ERROR on its 3rd send', source: 'WaspGPRS_Pro_core.cpp:1644' },
  { result: -51, name: 'REQUEST_DATA_CME', what: 'the first AT+FTPGET=2 answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:1686' },
  { result: -52, name: 'REQUEST_MORE_CME', what: 'a later AT+FTPGET=2 answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:1801' },
  { result: -53, name: 'SIZE_NAME_CME', what: 'AT+FTPGETNAME (size query) answered +CME ERROR; also: a `+FTPGET:2,` length that never ends in 60 s', source: 'WaspGPRS_Pro_core.cpp:1895, :1834' },
  { result: -54, name: 'SIZE_PATH_CME', what: 'AT+FTPGETPATH (size query) answered +CME ERROR; also: all bytes read but no `+FTPGET:1,0` within 60 s', source: 'WaspGPRS_Pro_core.cpp:1918, :1840' },
  { result: -55, name: 'SIZE_CME', what: 'AT+FTPSIZE answered +CME ERROR', source: 'WaspGPRS_Pro_core.cpp:1931' },
  { result: -56, name: 'BUSY_SIZE', what: 'AT+FTPSTATE said busy for 60 s before the size query, or the size never ended', source: 'WaspGPRS_Pro_core.cpp:1880, :1957' },
  { result: -57, name: 'BUSY', what: 'AT+FTPSTATE said busy for 60 s before readDataFTP (`: 1` read at fixed offsets, :1995-1997)', source: 'WaspGPRS_Pro_core.cpp:1567' },
  { result: -58, name: 'TIMEOUT', what: 'overall 300 s timeout', source: 'WaspGPRS_Pro_core.cpp:4728',
    unreachable: 'no function returns −58: AT_FTP_MAX_TIME (300 s) only stops further attempts (:4728), and a `+FTPGET:2,0` stall loops forever inside readDataFTP; so there is no −58 − 71 → +127 wrap' },
];

/** requestOTA's code for a GPRS downloadFile result: (int8_t)(result − 9) or (int8_t)(result − 71). */
export function gprsDownloadCode(result: number, file: 'upgrade' | 'binary'): number {
  const raw = result - (file === 'upgrade' ? 9 : 71);
  return ((raw & 0xff) ^ 0x80) - 0x80;
}

/** The guide's number for a download condition (results −3…−10 one lower; −2 and −1 listed at the base). */
function gprsGuideCode(result: number, file: 'upgrade' | 'binary'): number | undefined {
  const base = file === 'upgrade' ? -9 : -71;
  if (result === -2) return base;
  if (result === -1) return base - 1;
  if (result <= -3 && result >= -10) return gprsDownloadCode(result, file) + 1;
  return undefined;
}

const GUIDE_TEXT: Record<string, string> = {
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

function downloadRows(file: 'upgrade' | 'binary'): Row[] {
  const label = file === 'upgrade' ? 'UPGRADE_TXT' : 'BINARY';
  const sub = file === 'upgrade' ? 9 : 71;
  return GPRS_DOWNLOAD_STEPS.map((s): Row => {
    const code = gprsDownloadCode(s.result, file);
    const g = gprsGuideCode(s.result, file);
    const extra: Partial<CodeEntry> = {};
    if (g !== undefined && g !== code) {
      extra.guideCode = g;
      extra.note = `the guide lists this condition as ${g}; the library returns ${code} (downloadFile result ${s.result} − ${sub})`;
    }
    if (code !== s.result - sub) extra.note = `downloadFile result ${s.result} − ${sub} in a signed byte = ${code}`;
    if (s.unreachable) { extra.reachable = false; extra.unreachable = s.unreachable; }
    const text = GUIDE_TEXT[s.name]?.replace('%s', file === 'upgrade' ? 'version file' : 'file');
    const where = `${s.source}, returned at WaspGPRS_Pro_core.cpp:${file === 'upgrade' ? 7180 : 7137}`;
    return [code, `${label}_${s.name}`, `${file === 'upgrade' ? 'UPGRADE.TXT' : 'binary'} download: ${s.what}`, where, text, extra];
  });
}

const BEARER: Row[] = [
  [1, 'OK', 'success: loadOTA hand-off done (the device reboots)', 'WaspGPRS_Pro_core.cpp:7130'],
  [-2, 'BEARER', 'bearer configuration failed', 'WaspGPRS_Pro_core.cpp:7185', 'if error',
    { reachable: false, unreachable: 'configureGPRS_HTTP_FTP returns −2…−6 (:4161-4212) and requestOTA returns answer − 2 (:7185): −2 would need a 0 it never returns' }],
  [-4, 'BEARER_CONTYPE', 'AT+SAPBR=3,1,"CONTYPE","GPRS" got no OK in 5 sends (a success on the 5th counts as failure)', 'WaspGPRS_Pro_core.cpp:4161, :7185', 'if error setting the type of Internet connection'],
  [-5, 'BEARER_APN', 'AT+SAPBR=3,1,"APN",… got no OK in 5 sends', 'WaspGPRS_Pro_core.cpp:4174, :7185', 'if error setting the apn'],
  [-6, 'BEARER_USER', 'AT+SAPBR=3,1,"USER",… got no OK in 5 sends', 'WaspGPRS_Pro_core.cpp:4187, :7185', 'if error setting the user name'],
  [-7, 'BEARER_PASS', 'AT+SAPBR=3,1,"PWD",… got no OK in 5 sends', 'WaspGPRS_Pro_core.cpp:4200, :7185', 'if error setting the password'],
  [-8, 'BEARER_SAVE', 'AT+SAPBR=5,1 got no OK in 5 sends', 'WaspGPRS_Pro_core.cpp:4212, :7185', 'if error saving the configuration'],
  [-66, 'NO_FILE_LABEL', 'no FILE: in the buffer', 'WaspGPRS_Pro_core.cpp:7175', "if there isn't FILE tag"],
  [-67, 'NO_PATH_LABEL', 'no PATH: in the buffer', 'WaspGPRS_Pro_core.cpp:7168', "if there isn't PATH tag"],
  [-68, 'NO_VERSION_LABEL', 'no VERSION: in the buffer', 'WaspGPRS_Pro_core.cpp:7162', "if there isn't VERSION tag"],
  [-69, 'NO_FILE', 'FILE is NO_FILE (checked after PATH and VERSION)', 'WaspGPRS_Pro_core.cpp:7156', 'if OTA is not necessary'],
  [-70, 'VERSION_NOT_NEWER', 'same name and not (signed new > current)', 'WaspGPRS_Pro_core.cpp:7146', 'if OTA files are the same program version'],
];

/** Every GPRS code. */
export const GPRS_CODES: CodeEntry[] = rows('gprs', [...BEARER, ...downloadRows('upgrade'), ...downloadRows('binary')], 1);
