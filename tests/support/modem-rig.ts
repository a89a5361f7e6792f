/**
 * Shared mocha fixture of the modem dialect specs: a plain FTP server with given files for the whole suite, an
 * optional fault proxy in front of it per test, and the modem under test, all closed after each test / the suite.
 * Call {@link useModemRig} inside a `describe`.
 */
import type { Duplex } from 'node:stream';
import { startFaultProxy, type FaultProxy, type Faults } from '../../client-sim/net/fault-proxy.ts';
import { startPlainFtp, type PlainFtp } from './plain-ftp-server.ts';

/** The fixture's state (valid inside tests). */
export interface ModemRig {
  ftp: PlainFtp;
  /** The proxy of the current test, if `port(faults)` started one. */
  proxy?: FaultProxy;
  /** The port a modem should dial: the server's, or a new fault proxy's in front of it when `faults` are given. */
  port(faults?: Faults): Promise<number>;
  /** Registers the modem to destroy after the test; returns it. */
  adopt<T extends Duplex>(modem: T): T;
}

/** Installs before/after/afterEach hooks and returns the rig. */
export function useModemRig(files: Record<string, Buffer | string>): ModemRig {
  let modems: Duplex[] = [];
  const rig: ModemRig = {
    ftp: undefined as unknown as PlainFtp,
    async port(faults) {
      if (!faults) return rig.ftp.port;
      rig.proxy = await startFaultProxy({ target: { host: rig.ftp.host, port: rig.ftp.port }, faults });
      return rig.proxy.port;
    },
    adopt(modem) {
      modems.push(modem);
      return modem;
    },
  };
  before(async () => { rig.ftp = await startPlainFtp(files); });
  after(async () => { await rig.ftp.close(); });
  afterEach(async () => {
    for (const m of modems) m.destroy();
    modems = [];
    await rig.proxy?.close();
    rig.proxy = undefined;
  });
  return rig;
}
