/**
 * The family registry behind `createModem` (index.ts). Each dialect file registers its factory;
 * index.ts imports the dialect files so that importing index.ts makes every family available.
 * The u-blox and Quectel dialects call `registerFamily('ublox', ...)` / `('quectel', ...)` in
 * their own files and add one import line each to index.ts.
 */
import type { AtModem, AtModemOptions } from './at-modem.ts';

/** Builds one emulator; `options` are the family's own options (a superset of AtModemOptions). */
export type ModemFactory = (options?: AtModemOptions & Record<string, unknown>) => AtModem;

const families = new Map<string, ModemFactory>();

/** Register (or replace) a family factory under `name` (lower case, e.g. 'telit'). */
export function registerFamily(name: string, factory: ModemFactory): void {
  families.set(name.toLowerCase(), factory);
}

/** Names of the registered families, sorted. */
export function modemFamilies(): string[] {
  return [...families.keys()].sort();
}

/**
 * Build an emulator of `family` with `options`. Throws Error naming the known families when `family`
 * is not registered.
 */
export function createModem(family: string, options: AtModemOptions & Record<string, unknown> = {}): AtModem {
  const f = families.get(family.toLowerCase());
  if (!f) throw new Error(`unknown modem family "${family}" (known: ${modemFamilies().join(', ') || 'none'})`);
  return f(options);
}
