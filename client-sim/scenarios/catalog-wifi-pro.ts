/**
 * WiFi PRO (`WaspWIFI_PRO::requestOTA`, iChip) scenarios: ERROR_CODE_0010 and 0021–0030 of the guide, plus open
 * failures that carry the module's own code (research/waspmote-ota.md §4). The code is `_errorCode`.
 */
import type { Scenario } from './types.ts';

const M = 'wifi-pro' as const;

/** The WiFi PRO scenarios. */
export const SCENARIOS_WIFI_PRO: Scenario[] = [
  { id: 'wifi-pro-0-success', module: M, cause: 'server', title: 'newer version of the running program', why: 'same name, 4 > 3, sizes match',
    expect: { code: 0, name: 'OK' } },
  { id: 'wifi-pro-0-path-folder', module: M, cause: 'server', title: 'binary under PATH:/ota (WiFi PRO uses PATH)', why: 'PATH joined with FILE: /ota/SENSAPP',
    binary: { name: 'SENSAPP', size: 3000, version: 4, dir: 'ota' }, upgradeTxt: 'FILE:{name}\nPATH:/ota\nSIZE:{size}\nVERSION:{version}\n',
    expect: { code: 0, name: 'OK' } },
  { id: 'wifi-pro-10-no-sd', module: M, cause: 'device', title: 'no SD card', why: 'SD.isSD() false at start',
    device: { sd: false }, expect: { code: 10, name: 'SD_NOT_PRESENT' } },
  { id: 'wifi-pro-21-no-upgrade-txt', module: M, cause: 'server', title: 'no UPGRADE.TXT on the server', why: 'AT+iFSZ answers I/ERROR (510)',
    upgradeTxt: null, expect: { code: 21, name: 'UPGRADE_TXT_DOWNLOAD' } },
  { id: 'wifi-pro-21-sd-create', module: M, cause: 'device', title: 'UPGRADE.TXT cannot be created on the SD', why: '0011 inside ftpDownload, overwritten by 0021',
    device: { sdFaults: [{ op: 'create', name: 'UPGRADE.TXT' }] }, expect: { code: 21, name: 'UPGRADE_TXT_DOWNLOAD' } },
  { id: 'wifi-pro-22-crlf', module: M, cause: 'server', title: 'UPGRADE.TXT with CRLF line ends', why: 'the \\r is part of FILE: 8 bytes ≠ 7',
    upgradeTxt: 'FILE:{name}\r\nPATH:/\r\nSIZE:{size}\r\nVERSION:{version}\r\n', expect: { code: 22, name: 'FILE_LENGTH' } },
  { id: 'wifi-pro-22-space-after-colon', module: M, cause: 'server', title: '"FILE: NAME" with a space', why: 'no trimming: 8 bytes',
    upgradeTxt: 'FILE: {name}\nPATH:/\nSIZE:{size}\nVERSION:{version}\n', expect: { code: 22, name: 'FILE_LENGTH' } },
  { id: 'wifi-pro-23-no-file-label', module: M, cause: 'server', title: 'no FILE: label', why: 'strstr(buffer, "FILE:") is NULL',
    upgradeTxt: 'PATH:/\nSIZE:{size}\nVERSION:{version}\n', expect: { code: 23, name: 'NO_FILE_LABEL' } },
  { id: 'wifi-pro-24-no-file', module: M, cause: 'server', title: 'FILE:NO_FILE', why: 'checked right after FILE',
    upgradeTxt: 'FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n', expect: { code: 24, name: 'NO_FILE' } },
  { id: 'wifi-pro-25-no-path-label', module: M, cause: 'server', title: 'no PATH: label', why: 'strstr(buffer, "PATH:") is NULL',
    upgradeTxt: 'FILE:{name}\nSIZE:{size}\nVERSION:{version}\n', expect: { code: 25, name: 'NO_PATH_LABEL' } },
  { id: 'wifi-pro-26-no-size-label', module: M, cause: 'server', title: 'no SIZE: label', why: 'strstr(buffer, "SIZE:") is NULL',
    upgradeTxt: 'FILE:{name}\nPATH:/\nVERSION:{version}\n', expect: { code: 26, name: 'NO_SIZE_LABEL' } },
  { id: 'wifi-pro-27-no-version-label', module: M, cause: 'server', title: 'no VERSION: label', why: 'strstr(buffer, "VERSION:") is NULL',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\n', expect: { code: 27, name: 'NO_VERSION_LABEL' } },
  { id: 'wifi-pro-28-same-version', module: M, cause: 'server', title: 'same program, same version', why: 'current 3 ≥ new 3',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:3\n', expect: { code: 28, name: 'VERSION_NOT_NEWER' } },
  { id: 'wifi-pro-28-current-255', module: M, cause: 'server', title: 'device at 255 refuses version 1 (no 4G-style exception)', why: '255 ≥ 1',
    device: { version: 255 }, upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:{size}\nVERSION:1\n', expect: { code: 28, name: 'VERSION_NOT_NEWER' } },
  { id: 'wifi-pro-29-size-label-wrong', module: M, cause: 'server', title: 'SIZE label differs from the binary', why: 'SD size 3000 ≠ SIZE label 2999',
    upgradeTxt: 'FILE:{name}\nPATH:/\nSIZE:2999\nVERSION:{version}\n', expect: { code: 29, name: 'SIZE_LABEL_MISMATCH' } },
  { id: 'wifi-pro-30-missing-binary', module: M, cause: 'server', title: 'UPGRADE.TXT names a binary the server does not have', why: 'AT+iFSZ answers I/ERROR (510)',
    upgradeTxt: 'FILE:MISSING\nPATH:/\nSIZE:100\nVERSION:4\n', expect: { code: 30, name: 'BINARY_DOWNLOAD' } },
  { id: 'wifi-pro-30-sd-write', module: M, cause: 'device', title: 'SD write fails for the binary', why: '0014 inside ftpDownload, overwritten by 0030',
    device: { sdFaults: [{ op: 'write', name: 'SENSAPP', afterBytes: 512 }] }, expect: { code: 30, name: 'BINARY_DOWNLOAD' } },
  { id: 'wifi-pro-30-stalled-transfer', module: M, cause: 'network', title: 'binary data stalls after 1000 bytes', why: 'no data for 10 s: the stream read aborts',
    netFaults: [{ kind: 'stall', afterBytes: 1000, on: { data: 2 } }], expect: { code: 30, name: 'BINARY_DOWNLOAD' } },
  { id: 'wifi-pro-0-data-socket-retry', module: M, cause: 'modem', title: 'AT+iFRCV for the binary fails once with 511', why: 'error 511 (data socket) is retried once after 1 s',
    atFaults: [{ command: '+iFRCV', from: 2, times: 1, reply: { raw: 'I/OK\r\nI/ERROR (511)\r\n' } }], expect: { code: 0, name: 'OK' } },
  { id: 'wifi-pro-30-data-socket-twice', module: M, cause: 'modem', title: 'AT+iFRCV for the binary fails twice with 511', why: 'the one retry fails too',
    atFaults: [{ command: '+iFRCV', from: 2, times: 2, reply: { raw: 'I/OK\r\nI/ERROR (511)\r\n' } }], expect: { code: 30, name: 'BINARY_DOWNLOAD' } },
  { id: 'wifi-pro-509-login-failed', module: M, cause: 'server', title: 'wrong FTP password', why: 'AT+iFOPN answers I/ERROR (509): the module code stays in _errorCode',
    login: { pass: 'wrong' }, expect: { code: 509, name: 'OPEN_LOGIN_FAILED' } },
  { id: 'wifi-pro-508-connect-refused', module: M, cause: 'network', title: 'the server refuses the control connection', why: 'AT+iFOPN answers I/ERROR (508)',
    netFaults: [{ kind: 'refuse', on: 'control' }], expect: { code: 508, name: 'OPEN_CONNECT_TIMEOUT' } },
  { id: 'wifi-pro-0-open-timeout', module: M, cause: 'modem', title: 'AT+iFOPN never answers', why: 'ftpOpenSession times out; _errorCode stays 0 (requestOTA returns 1)',
    atFaults: [{ command: '+iFOPN', reply: 'silence' }], expect: { code: 0, name: 'OPEN_TIMEOUT' } },
];
