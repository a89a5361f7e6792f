/**
 * A Waspmote as the OTA procedure sees it: SD card, EEPROM, the running program, `Utils.loadOTA`, a simulated
 * reboot through the bootloader, and `Utils.checkNewProgram()` (WaspUtils.cpp loadOTA, main.cpp, checkNewProgram).
 *
 * Bootloader model (Libelium does not document its exact behaviour; this is our documented choice): when the OTA
 * flag EEPROM[1] is 1, it looks for the file named by the PID on the SD card; if the file is there and its size is
 * sane (1 byte to {@link MAX_PROGRAM_BYTES}), it flashes it and writes CID ← PID; otherwise it leaves the flash and
 * the CID as they were. Then `main.cpp` moves the flag to RAM and clears EEPROM[1].
 */
import { Eeprom, EE, idField } from './eeprom.ts';
import { SdCard, type SdFault } from './sd.ts';

/** Largest image the simulated bootloader flashes: 128 KiB of ATmega1281 flash minus an 8 KiB boot section. */
export const MAX_PROGRAM_BYTES = 120 * 1024;

/** What a device starts with. */
export interface DeviceOptions {
  /** Program ID of the running program (7 characters), default `OTA_APP`. */
  programId?: string;
  /** Its version, 0..255, default 1. */
  version?: number;
  /** false = no SD card in the slot. Default true. */
  sd?: boolean;
  /** SD faults to inject (see ./sd.ts). */
  sdFaults?: SdFault[];
}

/** `checkNewProgram()` values: 1 reprogramming OK, 0 reprogramming error, 2 normal start (WaspUtils.cpp loadOTA/checkNewProgram). */
export type CheckNewProgram = 0 | 1 | 2;

/** One simulated Waspmote. */
export class WaspmoteDevice {
  readonly sd: SdCard;
  readonly eeprom: Eeprom;
  /** The flashed program image, when one came from the SD card. */
  flash: Buffer | undefined;
  /** Number of reboots so far. */
  reboots = 0;
  private ramOtaFlag = false;

  constructor(opts: DeviceOptions = {}) {
    this.sd = new SdCard({ present: opts.sd ?? true, faults: opts.sdFaults });
    this.eeprom = Eeprom.running(opts.programId ?? 'OTA_APP', opts.version ?? 1);
  }

  /** `Utils.getProgramID()`: the stored program ID (EEPROM[2..8]). */
  programId(): string { return this.eeprom.programId(); }
  /** `Utils.getProgramVersion()`: EEPROM[225]. */
  programVersion(): number { return this.eeprom.version(); }

  /**
   * `Utils.loadOTA(name, version)`: PID ← name + `*` padding, OTA flag ← 1, retries ← 3, backup ← version,
   * version ← new (as an unsigned byte; GPRS passes its signed byte, stored as its two's complement), then reboot.
   */
  loadOTA(name: string, version: number): void {
    const e = this.eeprom;
    e.setField(EE.PID, idField(name));
    e.write(EE.OTA_FLAG, 1);
    e.write(EE.RETRIES, 3);
    e.write(EE.VERSION_BACKUP, e.read(EE.VERSION));
    e.write(EE.VERSION, version);
    this.reboot();
  }

  /** Power cycle: bootloader (see the module docstring), then `main.cpp`'s OTA flag hand-over. */
  reboot(): void {
    const e = this.eeprom;
    this.reboots++;
    if (e.read(EE.OTA_FLAG) === 1) {
      const pidName = e.programId();
      const image = this.sd.read(pidName);
      if (image !== undefined && image.length > 0 && image.length <= MAX_PROGRAM_BYTES) {
        this.flash = image;
        e.setField(EE.CID, e.field(EE.PID));
      }
    }
    this.ramOtaFlag = false;
    if (e.read(EE.OTA_FLAG) === 1) {
      this.ramOtaFlag = true;
      e.write(EE.OTA_FLAG, 0);
    }
  }

  /**
   * `Utils.checkNewProgram()` (WaspUtils.cpp loadOTA/checkNewProgram): copies CID to "last stable"; after an OTA reboot returns 1 when
   * PID == CID (and backup ← version) or 0 (and version ← backup); on a normal start returns 0 after restoring the
   * version when version ≠ backup, else 2.
   */
  checkNewProgram(): CheckNewProgram {
    const e = this.eeprom;
    e.setField(EE.LAST_STABLE, e.field(EE.CID));
    if (this.ramOtaFlag) {
      if (e.field(EE.PID).equals(e.field(EE.CID))) {
        e.write(EE.VERSION_BACKUP, e.read(EE.VERSION));
        return 1;
      }
      e.write(EE.VERSION, e.read(EE.VERSION_BACKUP));
      return 0;
    }
    if (e.read(EE.VERSION) !== e.read(EE.VERSION_BACKUP)) {
      e.write(EE.VERSION, e.read(EE.VERSION_BACKUP));
      return 0;
    }
    return 2;
  }
}
