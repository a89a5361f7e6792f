/**
 * GPRS_Pro / SIM908 / SIM928A (`WaspGPRS_Pro_core::requestOTA`) scenarios: the tag codes −66…−70 and a
 * representative set of bearer, configuration and download codes (research/waspmote-ota.md §4). Where the guide
 * numbers a download condition one lower (results −3…−10), `guide.code` records the guide's number.
 */
import type { Scenario } from './types.ts';

const M = 'gprs' as const;

/** The GPRS scenarios. */
export const SCENARIOS_GPRS: Scenario[] = [
  { id: 'gprs-1-success', module: M, cause: 'server', title: 'newer version of the running program', why: 'same name, 4 > 3; SD size = server size',
    expect: { code: 1, name: 'OK' } },
  { id: 'gprs-93-crlf', module: M, cause: 'server', title: 'CRLF UPGRADE.TXT: FILE passes, PATH keeps its \\r', why: 'FILE is the 7 bytes after the first ":", but PATH "/\\r" ends the AT+FTPGETPATH line early: ERROR (result −22 − 71)',
    upgradeTxt: 'FILE:{name}\r\nPATH:/\r\nSIZE:{size}\r\nVERSION:{version}\r\n', expect: { code: -93, name: 'BINARY_SIZE_PATH' } },
  { id: 'gprs-66-no-file-label', module: M, cause: 'server', title: 'no FILE: label', why: 'strstr(buffer, "FILE:") is NULL',
    upgradeTxt: 'PATH:/\nSIZE:{size}\nVERSION:{version}\n', expect: { code: -66, name: 'NO_FILE_LABEL' } },
  { id: 'gprs-67-no-path-label', module: M, cause: 'server', title: 'no PATH: label', why: 'strstr(buffer, "PATH:") is NULL',
    upgradeTxt: 'FILE:{name}\nSIZE:{size}\nVERSION:{version}\n', expect: { code: -67, name: 'NO_PATH_LABEL' } },
  { id: 'gprs-67-no-file-without-path', module: M, cause: 'server', title: 'FILE:NO_FILE alone reports "no PATH"', why: 'NO_FILE is checked after PATH and VERSION',
    upgradeTxt: 'FILE:NO_FILE\n', expect: { code: -67, name: 'NO_PATH_LABEL' } },
  { id: 'gprs-68-no-version-label', module: M, cause: 'server', title: 'no VERSION: label', why: 'strstr(buffer, "VERSION:") is NULL',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\n', expect: { code: -68, name: 'NO_VERSION_LABEL' } },
  { id: 'gprs-69-no-file', module: M, cause: 'server', title: 'FILE:NO_FILE (Meshlium form)', why: 'OTA not necessary',
    upgradeTxt: 'FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n', expect: { code: -69, name: 'NO_FILE' } },
  { id: 'gprs-70-same-version', module: M, cause: 'server', title: 'same program, same version', why: 'not (3 > 3)',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:3\n', expect: { code: -70, name: 'VERSION_NOT_NEWER' } },
  { id: 'gprs-70-version-200-signed', module: M, cause: 'server', title: 'VERSION:200 is never newer (signed byte)', why: '(int8_t)200 = −56, not > 3',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:200\n', expect: { code: -70, name: 'VERSION_NOT_NEWER' } },
  { id: 'gprs-5-apn-refused', module: M, cause: 'modem', title: 'bearer APN setting refused', why: 'AT+SAPBR=3,1,"APN",... answers ERROR',
    atFaults: [{ command: '+SAPBR=3,1,"APN"', reply: 'error' }], expect: { code: -5, name: 'BEARER_APN' } },
  { id: 'gprs-10-upgrade-txt-short-every-time', module: M, cause: 'network', title: 'UPGRADE.TXT transfer cut short on all 3 attempts', why: 'SD size ≠ server size after 3 whole-file attempts (the cut looks complete: emulator verifySize off)',
    netFaults: [{ kind: 'cut', afterBytes: 10 }], modemOptions: { verifySize: false }, expect: { code: -10, name: 'UPGRADE_TXT_DOWNLOAD' } },
  { id: 'gprs-11-bearer-open', module: M, cause: 'modem', title: 'the bearer does not open', why: 'AT+SAPBR=1,1 answers ERROR (downloadFile result −2)',
    atFaults: [{ command: '+SAPBR=1,1', reply: 'error' }], expect: { code: -11, name: 'UPGRADE_TXT_BEARER_OPEN' }, guide: { code: -9 } },
  { id: 'gprs-16-ftpserv-refused', module: M, cause: 'modem', title: 'AT+FTPSERV refused', why: 'downloadFile result −7',
    atFaults: [{ command: '+FTPSERV', reply: 'error' }], expect: { code: -16, name: 'UPGRADE_TXT_SET_SERVER' }, guide: { code: -15 } },
  { id: 'gprs-23-ftpget-open-refused', module: M, cause: 'modem', title: 'AT+FTPGET=1 refused', why: 'opening the FTP session failed (result −14)',
    atFaults: [{ command: '+FTPGET=1', reply: 'error' }], expect: { code: -23, name: 'UPGRADE_TXT_OPEN_SESSION' } },
  { id: 'gprs-32-no-upgrade-txt', module: M, cause: 'server', title: 'no UPGRADE.TXT on the server', why: '+FTPSIZE:1,77,0 (result −23)',
    upgradeTxt: null, expect: { code: -32, name: 'UPGRADE_TXT_SIZE' } },
  { id: 'gprs-32-login-rejected', module: M, cause: 'server', title: 'wrong FTP password', why: 'the size query is the first login: +FTPSIZE:1,72,0',
    login: { pass: 'wrong' }, expect: { code: -32, name: 'UPGRADE_TXT_SIZE' } },
  { id: 'gprs-72-binary-short-every-time', module: M, cause: 'network', title: 'binary transfer cut short on all 3 attempts', why: 'SD size ≠ server size after 3 attempts (result −1 − 71)',
    netFaults: [{ kind: 'cut', afterBytes: 1000, on: { data: 2 } }, { kind: 'cut', afterBytes: 1000, on: { data: 3 } }, { kind: 'cut', afterBytes: 1000, on: { data: 4 } }],
    modemOptions: { verifySize: false }, expect: { code: -72, name: 'BINARY_DOWNLOAD' } },
  { id: 'gprs-1-binary-short-once', module: M, cause: 'network', title: 'binary cut short once, the second attempt succeeds', why: 'whole-file retry',
    netFaults: [{ kind: 'cut', afterBytes: 1000, on: { data: 2 } }], modemOptions: { verifySize: false }, expect: { code: 1, name: 'OK' } },
  { id: 'gprs-87-sd-create', module: M, cause: 'device', title: 'SD create fails for the binary', why: 'result −16 − 71',
    device: { sdFaults: [{ op: 'create', name: 'SENSAPP' }] }, expect: { code: -87, name: 'BINARY_SD_CREATE' } },
  { id: 'gprs-89-sd-write', module: M, cause: 'device', title: 'SD write fails for the binary', why: 'result −18 − 71',
    device: { sdFaults: [{ op: 'write', name: 'SENSAPP', afterBytes: 500 }] }, expect: { code: -89, name: 'BINARY_SD_WRITE' } },
  { id: 'gprs-90-binary-transfer-dropped', module: M, cause: 'network', title: 'binary data connection reset mid-transfer', why: '+FTPGET:1,79 during the transfer (result −19)',
    netFaults: [{ kind: 'cut', afterBytes: 1000, on: { data: 2 }, mode: 'reset' }], expect: { code: -90, name: 'BINARY_REQUEST_MORE' } },
  { id: 'gprs-50-ftpcid-cme', module: M, cause: 'modem', title: 'AT+FTPCID answers +CME ERROR', why: 'downloadFile result −41 (CME) − 9',
    atFaults: [{ command: '+FTPCID', reply: { cme: 3 } }], expect: { code: -50, name: 'UPGRADE_TXT_SET_CID_CME' } },
  { id: 'gprs-127-binary-deadline-wraps', module: M, cause: 'network', title: 'binary stalls until the 300 s deadline: −58 − 71 wraps to +127', why: 'downloadFile result −58 (timeout) stored in a signed byte',
    netFaults: [{ kind: 'stall', afterBytes: 1000, on: { data: 2 } }], options: { timeScale: 0.005, maxIdlePolls: 100_000 },
    expect: { code: 127, name: 'BINARY_TIMEOUT' } },
  { id: 'gprs-94-missing-binary', module: M, cause: 'server', title: 'UPGRADE.TXT names a binary the server does not have', why: '+FTPSIZE:1,77,0 (result −23 − 71)',
    upgradeTxt: 'FILE:MISSING\nPATH:/\nSIZE:100\nVERSION:4\n', expect: { code: -94, name: 'BINARY_SIZE' } },
];
