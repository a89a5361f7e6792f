/**
 * Program names: the 7-character name of a firmware binary that UPGRADE.TXT's FILE carries and devices fetch.
 * Rules from Libelium's Waspmote API: `Wasp4G.cpp` requestOTA checks FILE is 7 characters (code 4), `WaspWIFI_PRO.cpp`
 * the same (0022); the Waspmote IDE's "Export binary to OTA file" names the file after the sketch, extension
 * dropped, cut to 7; SD cards hold 8.3 names, so letters, digits and `_` only.
 */

/** FILE value meaning "nothing to update" (4G code 6, WiFi PRO 0024, 3G −26, GPRS −69; requestOTA in Wasp4G.cpp, WaspWIFI_PRO.cpp, Wasp3G.cpp, WaspGPRS_Pro_core.cpp). */
export const NO_FILE = 'NO_FILE';
/** Program name rule: exactly 7 characters, letters, digits and `_` (4G code 4, WiFi PRO 0022; Wasp4G.cpp requestOTA, Waspmote IDE OTA export). */
export const PROGRAM_NAME_RE = /^[A-Za-z0-9_]{7}$/;
/**
 * True when `name` is a program name a device can fetch: exactly 7 letters, digits or `_` (Wasp4G.cpp requestOTA, Waspmote IDE OTA export).
 * `NO_FILE` matches the pattern but is reserved (devices read it as "no update"), so it is not a program name.
 */
export function isProgramName(name: string): boolean {
  return PROGRAM_NAME_RE.test(name) && name !== NO_FILE;
}

/**
 * Why `name` is not a program name, as one line ready for a log or an error (with a suggested 7-character name
 * when one can be derived the way the Waspmote IDE does: extension dropped, truncated to 7; Waspmote IDE OTA export);
 * undefined when it is a valid program name.
 */
export function explainProgramName(name: string): string | undefined {
  if (isProgramName(name)) return undefined;
  if (name === NO_FILE) return `'${NO_FILE}' is reserved: devices read FILE:${NO_FILE} as "no update"`;
  const reasons: string[] = [];
  const dot = name.lastIndexOf('.');
  if (dot > 0) reasons.push(`it has an extension ('${name.slice(dot)}'); devices ask for the bare 7-character name`);
  if ([...name].length !== 7) reasons.push(`it is ${[...name].length} characters, a program name is exactly 7`);
  const withoutExt = dot > 0 ? name.slice(0, dot) + name.slice(dot + 1) : name;
  const bad = [...new Set([...withoutExt].filter((c) => !/[A-Za-z0-9_]/.test(c)))];
  if (bad.length) {
    reasons.push(`it contains ${bad.map((c) => `'${show(c)}'`).join(', ')} (only letters, digits and _ are allowed)`);
  }
  const suggestion = suggestProgramName(name);
  const hint = suggestion ? `; rename it to '${suggestion}'` : '';
  return `'${show(name)}' is not a program name: ${reasons.join('; ')}${hint}`;
}

/**
 * A program name derived from a file name as the Waspmote IDE's "Export binary to OTA file" does: extension
 * dropped, other characters replaced by `_`, truncated to 7 (Waspmote IDE OTA export). Undefined when fewer than 7 remain.
 */
export function suggestProgramName(fileName: string): string | undefined {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  const candidate = stem.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 7);
  return isProgramName(candidate) ? candidate : undefined;
}

/** Makes CR, LF and tab visible in messages. */
export function show(s: string): string {
  return s.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

