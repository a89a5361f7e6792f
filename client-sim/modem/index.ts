/**
 * Entry point of the modem emulators: `createModem(family, options)` for every registered family.
 * Importing a dialect file registers it. Families here: telit, simcom900 (and simcom800), simcom5215,
 * ichip, ublox, quectel.
 */
import './telit.ts';
import './simcom900.ts';
import './simcom5215.ts';
import './ichip.ts';
import './ublox.ts';
import './quectel.ts';

export { createModem, registerFamily, modemFamilies, type ModemFactory } from './registry.ts';
export * from './core.ts';
