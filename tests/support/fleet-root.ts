/** A temp root for fleet specs: OLDPROG published and offered, NEWPROG published without being offered (audited). */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Publisher } from '../../server/publisher.ts';
import { cliPublisherHooks } from '../../server/cli/fleet-common.ts';

/** Creates the root; the caller removes it. `newBin`: NEWPROG's bytes (5000), `oldBin`: OLDPROG's (3000). */
export async function fleetRoot(prefix: string): Promise<{ root: string; publisher: Publisher; newBin: Buffer; oldBin: Buffer }> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  const src = await fsp.mkdtemp(path.join(os.tmpdir(), `${prefix}src-`));
  const publisher = new Publisher({ root, fleet: cliPublisherHooks(root) });
  const oldBin = randomBytes(3000);
  await fsp.writeFile(path.join(src, 'OLDPROG'), oldBin);
  await publisher.importBinary(path.join(src, 'OLDPROG'));
  const newBin = randomBytes(5000);
  await fsp.writeFile(path.join(src, 'NEWPROG'), newBin);
  await publisher.importBinary(path.join(src, 'NEWPROG'), { offer: false });
  await fsp.rm(src, { recursive: true, force: true });
  return { root, publisher, newBin, oldBin };
}
