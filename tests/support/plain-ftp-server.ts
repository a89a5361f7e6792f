/**
 * A plain ftp-srv 4.6.3 FTP server on 127.0.0.1 (ephemeral port) serving a temp folder, for client-sim specs that
 * need a real server but must not depend on firmdrop's own server wiring (client-sim never imports server/).
 * Anonymous and any user/password log in to `root`. Passive ports come from an ephemeral-ish range.
 * Note ftp-srv's known faults (docs/ftp-servers.md): commands split across TCP segments are NOT reassembled.
 */
import { FtpSrv } from 'ftp-srv';
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

/** A running plain FTP server and its root folder. */
export interface PlainFtp { host: string; port: number; root: string; close(): Promise<void> }

/**
 * Starts the server with `files` (name → content) written into a new temp root.
 * @returns the handle; `close()` stops the server and removes the root.
 */
export async function startPlainFtp(files: Record<string, Buffer | string> = {}): Promise<PlainFtp> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'client-sim-ftp-'));
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await fs.writeFile(path.join(root, name), content);
  }
  const sigBefore = new Map(['SIGINT', 'SIGTERM', 'SIGQUIT'].map((s) => [s, process.listeners(s as NodeJS.Signals)]));
  const srv = new FtpSrv({
    url: 'ftp://127.0.0.1:0', pasv_url: '127.0.0.1', pasv_min: 40000 + Math.floor(Math.random() * 20000),
    anonymous: true, greeting: 'plain test ftp', log: pino({ level: 'silent' }),
  } as ConstructorParameters<typeof FtpSrv>[0]);
  // ftp-srv installs process.exit handlers on signals (docs/ftp-servers.md): take them back off.
  for (const [sig, before] of sigBefore) {
    for (const l of process.listeners(sig as NodeJS.Signals)) if (!before.includes(l)) process.off(sig, l);
  }
  srv.on('login', (_data: unknown, resolve: (r: { root: string }) => void) => resolve({ root }));
  srv.on('client-error', () => { /* a client dropping mid-transfer is expected in fault tests */ });
  await srv.listen();
  const port = ((srv as unknown as { server: net.Server }).server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1', port, root,
    async close() {
      await srv.close().catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}
