/**
 * Fixtures for the hostile-input, fuzz and storm specs: a temp OTA root laid out for attacks (files, a hidden
 * catalogue, symlinks out of the root and in loops, a secret outside it), and a real firmdrop FTP server on
 * 127.0.0.1, ephemeral port, started through the contract of server/ftp/server.ts.
 */
import type { Client } from 'basic-ftp';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { type FtpHandle, type FtpOptions, startFtp } from '../../server/ftp/server.ts';

/** The account every fixture server accepts (the Meshlium default). */
export const USER = 'ota';
export const PASS = 'libelium';

/** Marker text in the secret file outside the root: must never reach a client. */
export const SECRET = 'TOPSECRET-outside-the-ota-root';

/** Prefix of every temp folder these fixtures make: no reply may contain it (it is part of absolute paths). */
export const TMP_PREFIX = 'firmdrop-hostile-';

/** A temp tree: `root` (served) and `outside` (a sibling the server must never reveal). */
export interface HostileTree {
  /** Parent temp folder holding both (removed by {@link removeTree}). */
  base: string;
  root: string;
  outside: string;
  /** Contents of the files in the root, by name. */
  files: Record<string, Buffer>;
}

/**
 * Build the attack tree:
 * ```
 * root/UPGRADE.TXT           valid manifest naming PROGRAM
 * root/PROGRAM               256 KiB random
 * root/BIGFILE               `bigBytes` random (default 0 = absent): for stalls, ABOR, vanishing clients
 * root/sub/INNER01           small file in a subfolder
 * root/.firmdrop/releases.json   the hidden catalogue
 * root/LINKFIL -> outside/secret.txt      root/LINKDIR -> outside/dir
 * root/LOOPAAA -> LOOPBBB -> LOOPAAA      root/LOOPSLF -> LOOPSLF
 * root/FIFOPIP (a named pipe)   root/LINKFIF -> FIFOPIP   root/LINKZER -> /dev/zero   root/LINKPRC -> /proc/self/environ
 * outside/secret.txt, outside/dir/secret.txt  (both hold SECRET)
 * ```
 */
export async function makeTree(opts: { bigBytes?: number } = {}): Promise<HostileTree> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), TMP_PREFIX));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await fs.mkdir(path.join(root, '.firmdrop'), { recursive: true });
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  await fs.mkdir(path.join(outside, 'dir'), { recursive: true });
  const files: Record<string, Buffer> = {};
  files.PROGRAM = crypto.randomBytes(256 * 1024);
  files['UPGRADE.TXT'] = Buffer.from(`FILE:PROGRAM\nPATH:/\nSIZE:${files.PROGRAM.length}\nVERSION:1\n`);
  if (opts.bigBytes) files.BIGFILE = crypto.randomBytes(opts.bigBytes);
  for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(root, name), data);
  files['sub/INNER01'] = Buffer.from('inner file\n');
  await fs.writeFile(path.join(root, 'sub', 'INNER01'), files['sub/INNER01']);
  await fs.writeFile(path.join(root, '.firmdrop', 'releases.json'), `{"secret":"${SECRET}"}\n`);
  await fs.writeFile(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  await fs.writeFile(path.join(outside, 'dir', 'secret.txt'), `${SECRET}\n`);
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(root, 'LINKFIL'));
  await fs.symlink(path.join(outside, 'dir'), path.join(root, 'LINKDIR'));
  await fs.symlink('LOOPBBB', path.join(root, 'LOOPAAA'));
  await fs.symlink('LOOPAAA', path.join(root, 'LOOPBBB'));
  await fs.symlink('LOOPSLF', path.join(root, 'LOOPSLF'));
  execFileSync('mkfifo', [path.join(root, 'FIFOPIP')]);
  await fs.symlink('FIFOPIP', path.join(root, 'LINKFIF'));
  await fs.symlink('/dev/zero', path.join(root, 'LINKZER'));
  await fs.symlink('/proc/self/environ', path.join(root, 'LINKPRC'));
  return { base, root, outside, files };
}

/** Remove a tree made by {@link makeTree} (or any temp folder). */
export async function removeTree(t: { base: string } | undefined): Promise<void> {
  if (t) await fs.rm(t.base, { recursive: true, force: true });
}

/** A logger that writes nothing (tests assert on behaviour, not on log lines). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Start firmdrop's FTP server on `root`, 127.0.0.1, port 0, user ota/libelium; `extra` overrides options. */
export function startTestFtp(root: string, extra: Partial<FtpOptions> = {}): Promise<FtpHandle> {
  return startFtp({
    root, host: '127.0.0.1', port: 0, pasvUrl: '127.0.0.1',
    users: [{ user: USER, pass: PASS }],
    ...extra,
  }, silentLogger());
}

/** Run `fn` with a bound: rejects with `what` if it has not settled within `ms`. */
export async function within<T>(ms: number, what: string, fn: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The kernel's ephemeral port range (Linux ip_local_port_range; 32768–60999 elsewhere). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports for a small passive range that are free now and lie OUTSIDE the kernel's ephemeral
 * range. Inside it (a fixed 41500–41505, say) any outgoing connection on the machine, or its TIME_WAIT, can hold
 * one of them, and a test that needs every port of the range then gets `425` for no fault of the server.
 * A random base (10000 up to the ephemeral range) keeps concurrent runs apart. Rejects after 50 tries.
 */
export async function freeRangeOutsideEphemeral(count: number): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const top = lo > 10_000 + count ? lo - count : 65_535 - count;
  const bottom = lo > 10_000 + count ? 10_000 : hi + 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = bottom + crypto.randomInt(top - bottom);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await canListen(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports outside the ephemeral range`);
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** RETR `file` into memory with a logged-in basic-ftp client. */
export async function fetchBuffer(client: Client, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.downloadTo(new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }), file);
  return Buffer.concat(chunks);
}
