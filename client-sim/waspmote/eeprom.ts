/**
 * The Waspmote EEPROM bytes that the OTA hand-off uses (`waspmote-api/WaspUtils.cpp`, WaspUtils.cpp loadOTA/checkNewProgram):
 *
 * | offset | bytes | meaning |
 * |---|---|---|
 * | 1 | 1 | OTA flag: 1 = `loadOTA` asked the bootloader to flash a new program |
 * | 2..33 | 32 | PID: the requested program's 7-character name at [2..8], then `*` padding |
 * | 34..65 | 32 | CID: the program the bootloader last flashed (same layout) |
 * | 66..97 | 32 | last stable program ID (copied from CID by `checkNewProgram`) |
 * | 98 | 1 | bootloader retries (`loadOTA` writes 3) |
 * | 225 | 1 | program version |
 * | 226 | 1 | version backup (the version before the last `loadOTA`) |
 */

/** EEPROM size of the ATmega1281 in bytes. */
export const EEPROM_BYTES = 4096;
/** Offsets of WaspUtils.cpp loadOTA/checkNewProgram. */
export const EE = {
  OTA_FLAG: 1,
  PID: 2,
  CID: 34,
  LAST_STABLE: 66,
  RETRIES: 98,
  VERSION: 225,
  VERSION_BACKUP: 226,
} as const;
/** Length of the PID, CID and last-stable fields in bytes. */
export const ID_FIELD_BYTES = 32;
/** Length of a program name in bytes. */
export const PROGRAM_NAME_BYTES = 7;

/** A 32-byte ID field: the name's bytes (latin1), then `*` up to 32 bytes. Names longer than 32 are cut. */
export function idField(name: string): Buffer {
  const out = Buffer.alloc(ID_FIELD_BYTES, '*');
  Buffer.from(name, 'latin1').copy(out, 0, 0, ID_FIELD_BYTES);
  return out;
}

/** The EEPROM contents with typed accessors for the OTA fields. Bytes are 0..255. */
export class Eeprom {
  readonly bytes = new Uint8Array(EEPROM_BYTES).fill(0xff);

  /** Reads one byte. */
  read(addr: number): number { return this.bytes[addr]; }
  /** Writes one byte (masked to 0..255). */
  write(addr: number, value: number): void { this.bytes[addr] = value & 0xff; }

  /** Reads a 32-byte ID field. */
  field(offset: number): Buffer { return Buffer.from(this.bytes.subarray(offset, offset + ID_FIELD_BYTES)); }
  /** Writes a 32-byte ID field. */
  setField(offset: number, value: Uint8Array): void { this.bytes.set(value.subarray(0, ID_FIELD_BYTES), offset); }

  /**
   * `Utils.getProgramID()`: the 7 bytes at [2..8] as a C string (stops at a NUL byte). This is the "stored
   * program ID" every module compares FILE with (the requestOTA tag parses, e.g. Wasp4G.cpp:7319-7497 version rule).
   */
  programId(): string {
    const raw = Buffer.from(this.bytes.subarray(EE.PID, EE.PID + PROGRAM_NAME_BYTES));
    const nul = raw.indexOf(0);
    return (nul >= 0 ? raw.subarray(0, nul) : raw).toString('latin1');
  }

  /** `Utils.getProgramVersion()`: EEPROM[225], an unsigned byte. */
  version(): number { return this.read(EE.VERSION); }
  /** EEPROM[226]: the version backup. */
  versionBackup(): number { return this.read(EE.VERSION_BACKUP); }
  /** EEPROM[1]: the OTA flag. */
  otaFlag(): number { return this.read(EE.OTA_FLAG); }
  /** EEPROM[98]: bootloader retries. */
  retries(): number { return this.read(EE.RETRIES); }
  /** The CID field's name part (up to the first `*` or NUL), i.e. the program the bootloader last flashed. */
  currentId(): string { return fieldName(this.field(EE.CID)); }
  /** The last-stable field's name part. */
  lastStableId(): string { return fieldName(this.field(EE.LAST_STABLE)); }

  /**
   * State of a device that runs `programId` at `version` after a normal flash: PID = CID = last stable = name,
   * version = backup = `version`, OTA flag 0.
   */
  static running(programId: string, version: number): Eeprom {
    const e = new Eeprom();
    e.write(EE.OTA_FLAG, 0);
    e.setField(EE.PID, idField(programId));
    e.setField(EE.CID, idField(programId));
    e.setField(EE.LAST_STABLE, idField(programId));
    e.write(EE.RETRIES, 0);
    e.write(EE.VERSION, version);
    e.write(EE.VERSION_BACKUP, version);
    return e;
  }
}

function fieldName(field: Buffer): string {
  let end = field.length;
  for (let i = 0; i < field.length; i++) if (field[i] === 0x2a || field[i] === 0) { end = i; break; }
  return field.subarray(0, end).toString('latin1');
}
