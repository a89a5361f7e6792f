/**
 * Plain ftp-srv 4.6.3 over a root, as a separate process for the bench's "plain ftp-srv" row:
 *   node --import tsx bench/ftp-srv-server.ts --root DIR --port PORT [--pasv-min N --pasv-max N] [--nodelay]
 * Anonymous and any user/password log in, to `root`. Nothing of firmdrop's is used; `--nodelay` only sets
 * TCP_NODELAY on each control socket (the "+ TCP_NODELAY" row of the comparison table). Prints "listening <port>" when ready.
 */
import { FtpSrv } from 'ftp-srv';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' },
    'pasv-min': { type: 'string', default: '20000' }, 'pasv-max': { type: 'string', default: '29999' },
    nodelay: { type: 'boolean', default: false },
  },
});
if (!values.root) { console.error('ftp-srv-server: --root is required'); process.exit(2); }

const server = new FtpSrv({
  url: `ftp://${values.host}:${values.port}`,
  pasv_url: values.host,
  pasv_min: Number(values['pasv-min']),
  pasv_max: Number(values['pasv-max']),
  anonymous: true,
  greeting: 'ftp-srv bench',
});
server.on('login', (_data, resolve) => resolve({ root: values.root! }));
if (values.nodelay) {
  // The .d.ts does not declare 'connect'; at run time it passes { connection }.
  (server as unknown as NodeJS.EventEmitter).on('connect', ({ connection }: { connection: { commandSocket: import('node:net').Socket } }) => {
    connection.commandSocket.setNoDelay(true);
  });
}
await server.listen();
const address = (server as unknown as { server: import('node:net').Server }).server.address();
console.log(`listening ${typeof address === 'object' && address ? address.port : values.port}`);
