/**
 * FTPS helpers for the TLS specs: a throw-away self-signed certificate made by openssl in a temp folder, a runner for
 * the client tools (curl, python3, openssl), and a basic-ftp login over explicit AUTH TLS (RFC 4217 §4).
 */
import type { Client } from 'basic-ftp';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PASS, USER } from './ftp-account.ts';

/** True when `cmd arg` runs and exits 0 (e.g. `has('openssl', 'version')`). */
export const has = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;

/** Runs a command; resolves with exit code, stdout and stderr (never rejects on a non-zero exit; 30 s bound). */
export function run(cmd: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'buffer', timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/**
 * A self-signed certificate for 127.0.0.1 (`c<name>`) and its key (`k<name>`) in `dir`, made by openssl.
 * @throws when openssl fails
 */
export async function makeCert(dir: string, name = ''): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `c${name}`);
  const key = path.join(dir, `k${name}`);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

/** basic-ftp login as ota/libelium over explicit AUTH TLS, accepting the self-signed certificate. */
export function secureAccess(client: Client, port: number): Promise<unknown> {
  return client.access({ host: '127.0.0.1', port, user: USER, password: PASS, secure: true, secureOptions: { rejectUnauthorized: false } });
}
