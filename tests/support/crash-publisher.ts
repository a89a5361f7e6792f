/**
 * Child process for tests/crash.spec.ts: publishes binaries back to back through the Publisher API until it is
 * killed (SIGKILL at a random point), printing one line per step on stdout so the parent knows what was in flight:
 *
 *   ready                          modules loaded, publishing starts now
 *   begin <NAME> <crc32>           importBinary(<staging file>, { name: NAME }) called for bytes with that CRC-32
 *   done <NAME> <version> <crc32>  it resolved with that release
 *
 * stdout is a pipe, which Node writes synchronously on Linux, so a printed line was written before the next step.
 *
 * Usage: node --import tsx tests/support/crash-publisher.ts <root> <staging> <first-index>
 * Binaries are 1–128 KiB random; names rotate over NAMES so each publish replaces an earlier binary of the same
 * name (the riskiest path: the binary a manifest may name is overwritten).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Publisher } from '../../server/publisher.ts';
import { crc32hex } from './checksums.ts';

/** Program names the child publishes in turn (8 names × 255 versions: far more than any test run needs). */
export const NAMES = ['CRASH01', 'CRASH02', 'CRASH03', 'CRASH04', 'CRASH05', 'CRASH06', 'CRASH07', 'CRASH08'];

async function main(): Promise<void> {
  const [root, staging, first] = process.argv.slice(2);
  if (!root || !staging) throw new Error('usage: crash-publisher.ts <root> <staging> <first-index>');
  const publisher = new Publisher({ root, checksums: true });
  process.stdout.write('ready\n');
  const start = Number(first ?? 0);
  for (let i = start; i < start + 100_000; i++) {
    const name = NAMES[i % NAMES.length];
    const data = crypto.randomBytes(1024 + crypto.randomInt(127 * 1024));
    const src = path.join(staging, `${name}.${i}`);
    await fs.writeFile(src, data);
    process.stdout.write(`begin ${name} ${crc32hex(data)}\n`);
    const r = await publisher.importBinary(src, { name });
    process.stdout.write(`done ${r.name} ${r.version} ${r.crc32}\n`);
    await fs.rm(src, { force: true });
  }
}

// Only when run as a script (the spec imports NAMES from here).
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e: unknown) => {
    process.stderr.write(`crash-publisher: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
