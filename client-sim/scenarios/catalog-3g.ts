/**
 * 3G (`Wasp3G::requestOTA`, SIM5215) scenarios: the tag codes −23…−27 and a representative set of configuration
 * and download codes (research/waspmote-ota.md §4). For the binary download the library returns −28/−30/−31
 * where the guide says −28/−31/−32: the scenarios expect the library's value and record the guide's.
 */
import type { Scenario } from './types.ts';

const M = '3g' as const;

/** The 3G scenarios. */
export const SCENARIOS_3G: Scenario[] = [
  { id: '3g-1-success', module: M, cause: 'server', title: 'newer version of the running program', why: 'same name, 4 > 3 (no size check on 3G)',
    expect: { code: 1, name: 'OK' } },
  { id: '3g-1-size-label-ignored', module: M, cause: 'server', title: 'a wrong SIZE label does not matter on 3G', why: 'SIZE is never parsed, sizes are never compared',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:1\nVERSION:{version}\n', expect: { code: 1, name: 'OK' } },
  { id: '3g-3-cftpserv-refused', module: M, cause: 'modem', title: 'AT+CFTPSERV refused 10 times', why: 'error setting the FTP server',
    atFaults: [{ command: '+CFTPSERV', reply: 'error' }], expect: { code: -3, name: 'SET_SERVER' } },
  { id: '3g-13-cftpserv-cme', module: M, cause: 'modem', title: 'AT+CFTPSERV answers +CME ERROR', why: 'CME code available: −13',
    atFaults: [{ command: '+CFTPSERV', reply: { cme: 4 } }], expect: { code: -13, name: 'SET_SERVER_CME' } },
  { id: '3g-8-cftppw-refused', module: M, cause: 'modem', title: 'AT+CFTPPW refused 10 times', why: 'error setting the FTP password',
    atFaults: [{ command: '+CFTPPW', reply: 'error' }], expect: { code: -8, name: 'SET_PASS' } },
  { id: '3g-19-no-upgrade-txt', module: M, cause: 'server', title: 'no UPGRADE.TXT on the server', why: '+CFTPGETFILE: 213 on all 3 tries',
    upgradeTxt: null, expect: { code: -19, name: 'UPGRADE_TXT_DOWNLOAD' } },
  { id: '3g-21-getfile-cme', module: M, cause: 'modem', title: 'AT+CFTPGETFILE answers +CME ERROR', why: 'CME error downloading UPGRADE.TXT',
    atFaults: [{ command: '+CFTPGETFILE', reply: { cme: 213 }, times: 3 }], expect: { code: -21, name: 'UPGRADE_TXT_DOWNLOAD_CME' } },
  { id: '3g-22-sd-create-upgrade-txt', module: M, cause: 'device', title: 'UPGRADE.TXT cannot be created on the SD', why: 'the module → SD copy fails',
    device: { sdFaults: [{ op: 'create', name: 'UPGRADE.TXT' }] }, expect: { code: -22, name: 'UPGRADE_TXT_XMODEM' } },
  { id: '3g-23-no-file-label', module: M, cause: 'server', title: 'no FILE: label', why: 'strstr(buffer, "FILE:") is NULL',
    upgradeTxt: 'PATH:/\nSIZE:{size}\nVERSION:{version}\n', expect: { code: -23, name: 'NO_FILE_LABEL' } },
  { id: '3g-24-no-path-label', module: M, cause: 'server', title: 'no PATH: label', why: 'strstr(buffer, "PATH:") is NULL',
    upgradeTxt: 'FILE:{name}\nSIZE:{size}\nVERSION:{version}\n', expect: { code: -24, name: 'NO_PATH_LABEL' } },
  { id: '3g-24-no-file-without-path', module: M, cause: 'server', title: 'FILE:NO_FILE alone reports "no PATH"', why: 'NO_FILE is checked after PATH and VERSION',
    upgradeTxt: 'FILE:NO_FILE\n', expect: { code: -24, name: 'NO_PATH_LABEL' } },
  { id: '3g-25-no-version-label', module: M, cause: 'server', title: 'no VERSION: label', why: 'strstr(buffer, "VERSION:") is NULL',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\n', expect: { code: -25, name: 'NO_VERSION_LABEL' } },
  { id: '3g-26-no-file', module: M, cause: 'server', title: 'FILE:NO_FILE (Meshlium form)', why: 'OTA not necessary',
    upgradeTxt: 'FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n', expect: { code: -26, name: 'NO_FILE' } },
  { id: '3g-27-same-version', module: M, cause: 'server', title: 'same program, same version', why: 'not (3 > 3)',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:3\n', expect: { code: -27, name: 'VERSION_NOT_NEWER' } },
  { id: '3g-28-file-not-first', module: M, cause: 'server', title: 'FILE not on the first line: the name is read from the first ":"', why: 'the name becomes the 7 bytes "4\\nFILE:" after VERSION\'s colon: a different name is accepted, and its download fails',
    upgradeTxt: 'VERSION:{version}\nFILE:{name}\nPATH:/\nSIZE:{size}\n', expect: { code: -28, name: 'BINARY_DOWNLOAD' } },
  { id: '3g-28-missing-binary', module: M, cause: 'server', title: 'UPGRADE.TXT names a binary the server does not have', why: '+CFTPGETFILE: 213 on all 3 tries',
    upgradeTxt: 'FILE:MISSING\nPATH:/\nSIZE:100\nVERSION:4\n', expect: { code: -28, name: 'BINARY_DOWNLOAD' } },
  { id: '3g-28-path-one-slash', module: M, cause: 'server', title: 'PATH:/ota loses its first character', why: 'PATH + FILE without separator: "otaSENSAPP" is not on the server',
    binary: { name: 'SENSAPP', size: 3000, version: 4, dir: 'ota' }, upgradeTxt: 'FILE:{name}\nPATH:/ota\nSIZE:{size}\nVERSION:{version}\n',
    expect: { code: -28, name: 'BINARY_DOWNLOAD' } },
  { id: '3g-1-path-two-slashes', module: M, cause: 'server', title: 'PATH:/ota/ works', why: 'two slashes: "/ota/SENSAPP"',
    binary: { name: 'SENSAPP', size: 3000, version: 4, dir: 'ota' }, upgradeTxt: 'FILE:{name}\nPATH:/ota/\nSIZE:{size}\nVERSION:{version}\n',
    expect: { code: 1, name: 'OK' } },
  { id: '3g-28-crlf', module: M, cause: 'server', title: 'CRLF UPGRADE.TXT: PATH keeps its \\r', why: 'the \\r inside the AT+CFTPGETFILE argument ends the command line early: ERROR ×3',
    upgradeTxt: 'FILE:{name}\r\nPATH:/\r\nSIZE:{size}\r\nVERSION:{version}\r\n', expect: { code: -28, name: 'BINARY_DOWNLOAD' } },
  { id: '3g-30-getfile-cme-binary', module: M, cause: 'modem', title: 'AT+CFTPGETFILE for the binary answers +CME ERROR', why: 'CME error downloading the OTA file',
    atFaults: [{ command: '+CFTPGETFILE', from: 2, reply: { cme: 213 } }], expect: { code: -30, name: 'BINARY_DOWNLOAD_CME' },
    guide: { code: -31, text: 'if error with CME code (FTP error) downloading the OTA file' } },
  { id: '3g-31-sd-create-binary', module: M, cause: 'device', title: 'the binary cannot be created on the SD', why: 'the module → SD copy fails',
    device: { sdFaults: [{ op: 'create', name: 'SENSAPP' }] }, expect: { code: -31, name: 'BINARY_XMODEM' },
    guide: { code: -32, text: "if error sending the OTA file from 3G module to Waspmote's SD" } },
];
