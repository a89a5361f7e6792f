/**
 * Identities of a simulated fleet: each device logs in with its own FTP login, as a real Waspmote fleet does when
 * every program passes its own user and password to `requestOTA` (Wasp4G.cpp requestOTA: server, port, user,
 * password), so a rollout can be rehearsed before real devices take it.
 *
 * Patterns: `{n}` is the device number 1..N; `{n:W}` pads it with zeros to W digits (`dev{n:3}` → dev001..dev010).
 * A login pattern must contain one of them (otherwise every device would share one login). Passwords: one for all
 * (`--pass`/`--password`), a pattern (`--password-pattern 'pw-{n}'`), or a CSV file of `login,password` lines
 * (`--credentials FILE`; a first line `login,password` is a header; blank lines and lines starting with `#` are
 * skipped). The CSV gives the logins too, in file order.
 */
import { readFileSync } from 'node:fs';

/** One simulated device's FTP credentials. */
export interface Identity { login: string; password: string }

/** How identities are given (the `client-sim ota` flags). */
export interface IdentitySpec {
  devices: number;
  loginPattern?: string;
  password: string;
  passwordPattern?: string;
  /** Text of a `login,password` CSV (see the module comment). */
  csv?: string;
}

const PLACEHOLDER = /\{n(?::(\d{1,2}))?\}/g;

/**
 * Expands `pattern` for device `n` (1-based): `{n}` → n, `{n:W}` → n zero-padded to W digits.
 * @throws Error (one line) when the pattern has no `{n}` / `{n:W}`, or a `{...}` that is neither
 */
export function expandPattern(pattern: string, n: number): string {
  const stripped = pattern.replace(PLACEHOLDER, '');
  if (/[{}]/.test(stripped)) throw new Error(`pattern '${pattern}': only {n} and {n:WIDTH} (WIDTH 1..99) are placeholders`);
  if (stripped.length === pattern.length) throw new Error(`pattern '${pattern}' has no {n} or {n:WIDTH}: every device would get the same value`);
  return pattern.replace(PLACEHOLDER, (_m, w: string | undefined) => (w ? String(n).padStart(Number(w), '0') : String(n)));
}

/**
 * Parses a `login,password` CSV (see the module comment).
 * @throws Error (one line, with the line number) for a line without exactly one comma-separated login and password,
 *   or a login given twice
 */
export function parseCredentialsCsv(text: string): Identity[] {
  const out: Identity[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (out.length === 0 && seen.size === 0 && /^login\s*,\s*password$/i.test(line)) continue;
    const cells = line.split(',');
    if (cells.length !== 2 || !cells[0]!.trim() || !cells[1]) throw new Error(`credentials line ${i + 1}: expected login,password`);
    const login = cells[0]!.trim();
    if (seen.has(login)) throw new Error(`credentials line ${i + 1}: login '${login}' given twice`);
    seen.add(login);
    out.push({ login, password: cells[1] });
  }
  if (!out.length) throw new Error('credentials: no login,password lines');
  return out;
}

/**
 * The identity of every device (index 0 is device 1), or undefined when no login pattern nor CSV is given (every
 * device uses the shared `--user`/`--pass`).
 * @throws Error (one line) on a bad pattern, a bad CSV, or a CSV with fewer lines than devices
 */
export function fleetIdentities(spec: IdentitySpec): Identity[] | undefined {
  if (spec.csv !== undefined) {
    const all = parseCredentialsCsv(spec.csv);
    if (spec.devices > all.length) throw new Error(`--devices ${spec.devices} but the credentials file has ${all.length} logins`);
    return all.slice(0, spec.devices);
  }
  if (spec.loginPattern === undefined) {
    if (spec.passwordPattern !== undefined) throw new Error('--password-pattern needs --login-pattern');
    return undefined;
  }
  return Array.from({ length: spec.devices }, (_, i) => ({
    login: expandPattern(spec.loginPattern!, i + 1),
    password: spec.passwordPattern !== undefined ? expandPattern(spec.passwordPattern, i + 1) : spec.password,
  }));
}

/** Reads a credentials CSV file. @throws Error (one line) when it cannot be read */
export function readCredentialsFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--credentials ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
