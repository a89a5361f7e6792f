/**
 * Where the operator page's admin password comes from: `--admin-password-file` (its first line; a file readable
 * only by the service account keeps the password out of `ps` and the environment), else FIRMDROP_ADMIN_PASSWORD /
 * `--admin-password`. The plain text is handed to the HTTP server, which keeps only its scrypt hash.
 */
import { promises as fsp } from 'node:fs';
import { type Config, ConfigError } from '../config.ts';

/**
 * The admin password, or undefined when none is configured.
 * @throws ConfigError (one line) when the file cannot be read or its first line is empty
 */
export async function loadAdminPassword(config: Pick<Config, 'adminPassword' | 'adminPasswordFile'>): Promise<string | undefined> {
  if (config.adminPasswordFile === undefined) return config.adminPassword;
  let text: string;
  try {
    text = await fsp.readFile(config.adminPasswordFile, 'utf8');
  } catch (e) {
    throw new ConfigError(`--admin-password-file ${config.adminPasswordFile}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const first = text.split('\n')[0]!.replace(/\r$/, '');
  if (first === '') throw new ConfigError(`--admin-password-file ${config.adminPasswordFile}: the first line (the password) is empty`);
  return first;
}
