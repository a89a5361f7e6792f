// A firmdrop with its HTTP server on ephemeral loopback ports, in a temp root; FTP reads with basic-ftp.
import { Client } from 'basic-ftp';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type Firmdrop, startFirmdrop } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { MirrorHooks } from '../../server/http/hooks.ts';
import { createLogger } from '../../server/log.ts';

/** The admin password the rig configures. */
export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface HttpRig {
  root: string;
  app: Firmdrop;
  /** `http://127.0.0.1:PORT` */
  base: string;
  ftpPort: number;
  /** A file read over FTP as user ota. */
  ftpGet(file: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Starts firmdrop (FTP + HTTP) on a fresh temp root; `files` are written into the root first. */
export async function startHttpRig(opts: { files?: Record<string, string | Buffer>; hooks?: MirrorHooks; admin?: boolean; fleet?: boolean } = {}): Promise<HttpRig> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-http-'));
  for (const [name, data] of Object.entries(opts.files ?? {})) await fsp.writeFile(path.join(root, name), data);
  const env = opts.admin === false ? {} : { FIRMDROP_ADMIN_PASSWORD: ADMIN_PASSWORD };
  const config = loadConfig({ root, host: '127.0.0.1', port: '0', 'http-port': '0', 'stability-ms': '100', ...(opts.fleet === false ? { fleet: false } : {}) }, env);
  let app: Firmdrop;
  try {
    app = await startFirmdrop(config, createLogger({ level: 'silent' }), { httpHooks: opts.hooks });
  } catch (e) {
    await fsp.rm(root, { recursive: true, force: true });
    throw e;
  }
  const ftpPort = app.ftp.port;
  return {
    root, app, ftpPort, base: `http://127.0.0.1:${app.http!.port}`,
    async ftpGet(file) {
      const client = new Client(10_000);
      try {
        await client.access({ host: '127.0.0.1', port: ftpPort, user: 'ota', password: 'libelium' });
        const chunks: Buffer[] = [];
        await client.downloadTo(new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }), file);
        return Buffer.concat(chunks);
      } finally {
        client.close();
      }
    },
    async close() {
      await app.close();
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The UPGRADE.TXT a device login reads. Over FTP first; an FTP layer that does not take the fleet's hooks refuses
 * device logins (530), and then the HTTP mirror is asked with the same credentials (it uses the same hooks).
 * `via` says which answered. FTP is tried once per rig: after a 530 the mirror is used (repeated failed logins
 * would make the FTP login throttle slow the rig's own FTP reads).
 */
export async function deviceManifest(rig: HttpRig, login: string, pass: string): Promise<{ text: string; via: 'ftp' | 'http' }> {
  if (!ftpRefusesDevices.has(rig)) {
    const client = new Client(10_000);
    try {
      await client.access({ host: '127.0.0.1', port: rig.ftpPort, user: login, password: pass });
      const chunks: Buffer[] = [];
      await client.downloadTo(new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }), 'UPGRADE.TXT');
      return { text: Buffer.concat(chunks).toString('latin1'), via: 'ftp' };
    } catch (e) {
      if ((e as { code?: number }).code !== 530) throw e;
      ftpRefusesDevices.add(rig);
    } finally {
      client.close();
    }
  }
  const res = await fetch(`${rig.base}/ota/UPGRADE.TXT`, { headers: { authorization: basic(login, pass) } });
  if (res.status !== 200) throw new Error(`mirror UPGRADE.TXT for ${login}: HTTP ${res.status}`);
  return { text: await res.text(), via: 'http' };
}

const ftpRefusesDevices = new WeakSet<HttpRig>();

/** `Authorization` header value for HTTP Basic. */
export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}
