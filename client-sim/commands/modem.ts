/**
 * `client-sim modem --family <f>`: one emulated modem (client-sim/modem) driven by hand or by a host firmware under
 * test, without a SIM card.
 *
 * - Interactive (default): stdin → modem, modem → stdout, raw bytes both ways. When stdin is a terminal, the Enter
 *   key's `\n` is sent as `\r` (AT commands end in `\r`; the terminal's own line editing and echo stay on). After
 *   stdin ends (a piped script), the modem keeps running until it has been quiet for `--linger` ms, so replies and
 *   URCs to the last commands still come out; then the process exits 0.
 * - `--listen PORT`: serves the AT interface on 127.0.0.1:PORT (0 = any free port), one fresh modem per TCP
 *   connection, so a terminal program (`nc 127.0.0.1 PORT`) or a host firmware's serial-over-TCP can drive it. Prints
 *   `client-sim modem (<family>) listening on 127.0.0.1:<port>` on stdout once bound, runs until SIGINT/SIGTERM.
 * - `--trace`: every command, reply, URC, payload (as a byte count) and FTP control line on stderr with a timestamp,
 *   like a Waspmote serial monitor log (`15:24:08.715 <- AT+USORD=0,512`); in listen mode prefixed `[<connection>]`.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Argv, CommandModule } from 'yargs';
import { createModem, formatTrace, modemFamilies, type TraceEvent } from '../modem/index.ts';

/** Arguments of `client-sim modem`. */
export interface ModemArgs {
  family: string;
  timing: 'fast' | 'realistic';
  listen?: number;
  trace: boolean;
  echo: boolean;
  cmee?: number;
  linger: number;
}

/** The line printed once the listener is bound (tests and scripts parse it). */
export function listeningLine(family: string, port: number): string {
  return `client-sim modem (${family}) listening on 127.0.0.1:${port}`;
}

/** Builds one modem for the arguments; `tag` prefixes its trace lines. */
function makeModem(a: ModemArgs, tag?: string): Duplex {
  const trace = a.trace
    ? (ev: TraceEvent) => process.stderr.write(`${tag ? `[${tag}] ` : ''}${formatTrace(ev)}\n`)
    : undefined;
  return createModem(a.family, { timing: a.timing, trace, echo: a.echo, cmee: a.cmee as 0 | 1 | 2 | undefined });
}

/** Serves modems on 127.0.0.1:`port`; resolves with the server once listening. */
export async function serveModems(a: ModemArgs, port: number): Promise<net.Server> {
  let n = 0;
  const live = new Set<{ sock: net.Socket; modem: Duplex }>();
  const server = net.createServer((sock) => {
    const modem = makeModem(a, String(++n));
    const pair = { sock, modem };
    live.add(pair);
    sock.setNoDelay(true);
    sock.pipe(modem).pipe(sock);
    const end = (): void => {
      live.delete(pair);
      modem.destroy();
      sock.destroy();
    };
    sock.on('error', end);
    sock.on('close', end);
    modem.on('error', end);
  });
  server.on('close', () => { for (const p of live) { p.modem.destroy(); p.sock.destroy(); } });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  return server;
}

/** Runs an interactive session on stdin/stdout; resolves when it is over. */
async function interactive(a: ModemArgs): Promise<void> {
  const modem = makeModem(a);
  const tty = process.stdin.isTTY === true;
  let lastOutput = Date.now();
  modem.on('data', (d: Buffer) => { lastOutput = Date.now(); process.stdout.write(d); });
  process.stdin.on('data', (d: Buffer) => modem.write(tty ? Buffer.from(d.toString('latin1').replace(/\n/g, '\r'), 'latin1') : d));
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.once('SIGINT', resolve);
  });
  lastOutput = Math.max(lastOutput, Date.now());
  while (Date.now() - lastOutput < a.linger) await new Promise((r) => setTimeout(r, Math.min(100, a.linger)));
  modem.destroy();
  process.stdin.pause();
}

/** The `modem` command. */
export const modemCommand: CommandModule<object, ModemArgs> = {
  command: 'modem',
  describe: 'an emulated cellular modem: AT session on stdin/stdout, or on a loopback TCP port with --listen',
  builder: (y: Argv) => y
    .option('family', { alias: 'f', type: 'string', choices: modemFamilies(), demandOption: true, describe: 'modem family' })
    .option('timing', { choices: ['fast', 'realistic'] as const, default: 'fast' as const, describe: 'response delays and timeouts preset' })
    .option('listen', { type: 'number', describe: 'serve the AT interface on 127.0.0.1:PORT (0 = any free port)' })
    .option('trace', { type: 'boolean', default: false, describe: 'print commands, replies, URCs and FTP lines with timestamps (stderr)' })
    .option('echo', { type: 'boolean', default: false, describe: 'start with command echo on (ATE1)' })
    .option('cmee', { type: 'number', choices: [0, 1, 2], describe: 'initial AT+CMEE value (default 0, as after power-up)' })
    .option('linger', { type: 'number', default: 2000, describe: 'interactive: ms of modem silence to wait after stdin ends' })
    .check((a) => {
      if (a.listen !== undefined && (!Number.isInteger(a.listen) || a.listen < 0 || a.listen > 65535)) throw new Error('--listen must be a port 0..65535');
      if (!(a.linger >= 0)) throw new Error('--linger must be >= 0');
      return true;
    }) as unknown as Argv<ModemArgs>,
  handler: async (a) => {
    if (a.listen === undefined) { await interactive(a); return; }
    const server = await serveModems(a, a.listen);
    process.stdout.write(`${listeningLine(a.family, (server.address() as net.AddressInfo).port)}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => { server.close(() => resolve()); server.emit('close'); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
