/**
 * Debian's chromium (/usr/bin/chromium, the `chromium` package .ci/run installs) driven by playwright-core, for the
 * operator page specs. Headless with a fresh profile and the flags that keep it off the network (this machine's
 * closed network refuses Chromium's background connections). A spec that cannot get a browser says so in one line
 * and is skipped; it never passes silently.
 */
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** Where specs keep their screenshots (git-ignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts');

/** A running browser and its temp profile; `close()` ends both. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Starts chromium with a fresh profile (viewport 1100×900 CSS px), or skips the calling suite with one line when
 * there is no browser or it does not start. Call from a `before` hook with its Mocha context.
 */
export async function launchOrSkip(suite: Mocha.Context): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    console.log(`    skipped: no browser at ${CHROMIUM} (install the Debian package chromium)`);
    suite.skip();
  }
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  } catch (e) {
    await fsp.rm(profile, { recursive: true, force: true });
    console.log(`    skipped: chromium did not start (${(e as Error).message.split('\n')[0]})`);
    return suite.skip();
  }
  await fsp.mkdir(ARTIFACTS, { recursive: true });
  return {
    context,
    async close() {
      await context.close();
      await fsp.rm(profile, { recursive: true, force: true });
    },
  };
}
