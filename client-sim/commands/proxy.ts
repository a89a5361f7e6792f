/**
 * `client-sim proxy --target HOST:PORT`: the FTP-aware fault proxy (client-sim/net/fault-proxy.ts) on its own, so a
 * modem emulator (`client-sim modem`), a real device's FTP client or any FTP client can reach an FTP server through
 * a shaped, faulty link: `--profile gprs|3g|catm1|nbiot|cat1` and network `--fault` strings of the mini-language in
 * client-sim/scenarios/fault-spec.ts (`cut:40000`, `stall:1000:5000@data2`, `flip:100:255`, `split:3@control`, ...).
 *
 * Prints `client-sim proxy listening on 127.0.0.1:<port> -> <target>` on stdout once bound; on SIGINT/SIGTERM
 * prints the proxy's statistics (connections, bytes, fault events) as one JSON line and exits 0.
 */
import type { Argv, CommandModule } from 'yargs';
import { startFaultProxy } from '../net/fault-proxy.ts';
import { LINK_PROFILES } from '../net/profiles.ts';
import { parseFaults } from '../scenarios/fault-spec.ts';

/** Arguments of `client-sim proxy`. */
export interface ProxyArgs { target: string; listen: number; profile?: string; fault: string[] }

/** Parses `HOST:PORT`; throws Error naming the bad value. */
export function parseTarget(s: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`--target "${s}": expected HOST:PORT`);
  return { host: m[1]!, port };
}

/** Network faults from `--fault` strings; serial-line and SD faults are refused here (they belong to `ota`). */
function netFaults(specs: string[]) {
  const set = parseFaults(specs);
  if (set.at.length > 0 || set.sd.length > 0) throw new Error('client-sim proxy takes network faults only (no at: or sd: faults)');
  return set.net;
}

/** The `proxy` command. */
export const proxyCommand: CommandModule<object, ProxyArgs> = {
  command: 'proxy',
  describe: 'an FTP-aware fault proxy on loopback in front of an FTP server (cellular link profiles, network faults)',
  builder: (y: Argv) => y
    .option('target', { type: 'string', demandOption: true, describe: 'the FTP server, HOST:PORT' })
    .option('listen', { type: 'number', default: 0, describe: 'port on 127.0.0.1 (0 = any free port)' })
    .option('profile', { type: 'string', choices: Object.keys(LINK_PROFILES), describe: 'cellular link profile' })
    .option('fault', { type: 'string', array: true, default: [] as string[], describe: 'network fault (fault-spec mini-language), repeatable' })
    .check((a) => {
      parseTarget(a.target as string);
      netFaults(a.fault as string[]);
      if (!Number.isInteger(a.listen) || (a.listen as number) < 0 || (a.listen as number) > 65535) throw new Error('--listen must be a port 0..65535');
      return true;
    }) as unknown as Argv<ProxyArgs>,
  handler: async (a) => {
    const proxy = await startFaultProxy({ target: parseTarget(a.target), faults: netFaults(a.fault), profile: a.profile });
    process.stdout.write(`client-sim proxy listening on 127.0.0.1:${proxy.port} -> ${a.target}\n`);
    await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
    await proxy.close();
    process.stdout.write(`${JSON.stringify(proxy.stats)}\n`);
  },
};
