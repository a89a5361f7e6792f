/**
 * What the fleet commands (devices, rollout, audit) share: the root and settings from flags and the FIRMDROP_ROOT /
 * FIRMDROP_CHECKSUMS variables (as the one-shot commands of server/cli.ts read them), the store, and Publisher hooks
 * that audit what the CLI publishes.
 */
import type { Argv } from 'yargs';
import { assertRootDir, loadConfig } from '../config.ts';
import { Store } from '../store/store.ts';
import { cliActor, publisherAudit } from '../fleet/audit.ts';
import type { PublisherFleetHooks } from '../publisher.ts';

/** Runs a command's job (server/cli.ts hands this to each command module). */
export type RunJob = (job: Promise<number>) => void;
type Flags = Record<string, unknown>;

/** Adds `--root` to a fleet command. */
export function withRoot<T>(y: Argv<T>): Argv<T> {
  return y.option('root', { type: 'string', requiresArg: true, describe: 'the FTP root [env FIRMDROP_ROOT]', defaultDescription: './ota-root' });
}

/** The root and checksums setting of a fleet command. @throws ConfigError when the root is not a directory */
export async function fleetConfig(flags: Flags): Promise<{ root: string; checksums: boolean }> {
  const env = { FIRMDROP_ROOT: process.env.FIRMDROP_ROOT, FIRMDROP_CHECKSUMS: process.env.FIRMDROP_CHECKSUMS };
  const config = loadConfig({ root: flags.root as string | undefined }, env);
  await assertRootDir(config.root);
  return { root: config.root, checksums: config.checksums };
}

/** Opens the store of the command's root, runs `fn`, closes the store. */
export async function withStore<T>(flags: Flags, fn: (store: Store, root: string, checksums: boolean) => Promise<T> | T): Promise<T> {
  const { root, checksums } = await fleetConfig(flags);
  const store = new Store(root);
  try {
    return await fn(store, root, checksums);
  } finally {
    store.close();
  }
}

/**
 * Publisher hooks for a CLI process: every publish, select and NO_FILE is audited with the OS user@host as actor
 * (the store is opened for the entry and closed again).
 */
export function cliPublisherHooks(root: string): PublisherFleetHooks {
  return {
    onChange: (c) => {
      const store = new Store(root);
      try {
        publisherAudit(store, root, cliActor()).onChange(c);
      } finally {
        store.close();
      }
    },
  };
}
