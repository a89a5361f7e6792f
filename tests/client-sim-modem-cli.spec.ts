import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'basic-ftp';
import { Writable } from 'node:stream';
import { AtSerial } from './support/at-serial.ts';
import { startRigFtp, type RigFtp } from './support/modem-rig.ts';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'client-sim.js');
const FW = Buffer.alloc(50_000);
for (let i = 0; i < FW.length; i++) FW[i] = (i * 97 + 5) & 0xff;
FW.write('\r\n+UUFTPCR: 6,1\r\nOK\r\n', 4000, 'latin1');

/** Output of a finished child: exit code and both streams. */
interface Finished { code: number | null; stdout: string; stderr: string }

function collect(child: ChildProcess): { out: () => string; err: () => string; done: Promise<Finished> } {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<Finished>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { out: () => stdout, err: () => stderr, done };
}

async function waitFor(get: () => string, re: RegExp, ms = 15_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(get());
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms; got ${JSON.stringify(get().slice(-500))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('client-sim modem and proxy (CLI, bin/client-sim.js)', function () {
  this.timeout(30_000);
  let ftp: RigFtp;
  const children: ChildProcess[] = [];
  before(async () => { ftp = await startRigFtp({ 'FW.bin': FW }); });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await ftp.close();
  });

  it('--listen 0 prints the port; a TCP client drives a u-blox FTP session byte-exact; --trace logs it; SIGTERM exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'modem', '--family', 'ublox', '--listen', '0', '--trace', '--cmee', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const io = collect(child);
    const port = Number((await waitFor(io.out, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const at = new AtSerial(sock);
    for (const c of ['AT+UFTP=0,"127.0.0.1"', `AT+UFTP=7,${ftp.port}`, 'AT+UFTP=2,"anonymous"', 'AT+UFTP=3,"x"', 'AT+UFTP=6,1']) {
      expect((await at.command(c)).final, c).to.equal('OK');
    }
    await at.command('AT+UFTPC=1');
    await at.until(/^\r\n\+UUFTPCR: 1,1\r\n/);
    at.send('AT+UFTPC=6,"FW.bin"');
    await at.until(/^\r\nCONNECT\r\n/);
    expect((await at.take(FW.length)).equals(FW)).to.equal(true);
    await at.until(/^\r\n\+UUFTPCR: 6,1\r\n/);
    await at.command('AT+UFTPC=0');
    await at.until(/^\r\n\+UUFTPCR: 0,1\r\n/);
    sock.destroy();
    const trace = io.err();
    expect(trace).to.match(/^\[1\] \d\d:\d\d:\d\d\.\d{3} <- AT\+UFTPC=1$/m);
    expect(trace).to.match(/^\[1\] \d\d:\d\d:\d\d\.\d{3} -> \+UUFTPCR: 1,1$/m);
    expect(trace).to.match(/^\[1\] \d\d:\d\d:\d\d\.\d{3} ftp > RETR FW\.bin$/m);
    expect(trace).to.contain(`<${FW.length} bytes>`);
    child.kill('SIGTERM');
    expect((await io.done).code).to.equal(0);
  });

  it('a second connection gets its own fresh modem', async () => {
    const child = spawn(process.execPath, [BIN, 'modem', '-f', 'quectel', '--listen', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const io = collect(child);
    const port = Number((await waitFor(io.out, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    const aSock = net.connect(port, '127.0.0.1');
    const a = new AtSerial(aSock);
    expect((await a.command('AT+CMEE=1')).final).to.equal('OK');
    expect((await a.command('AT+QFTPCFG="account","u","p"')).final).to.equal('OK');
    const bSock = net.connect(port, '127.0.0.1');
    const b = new AtSerial(bSock);
    expect((await b.command('AT+QFTPCFG="account"')).lines).to.deep.equal(['+QFTPCFG: "account","",""']);
    expect((await b.command('AT+CMEE?')).lines).to.deep.equal(['+CMEE: 0']);
    bSock.destroy();
    aSock.destroy();
    child.kill('SIGTERM');
    expect((await io.done).code).to.equal(0);
  });

  it('interactive: commands piped on stdin, replies on stdout, exits 0 after stdin ends', async () => {
    const child = spawn(process.execPath, [BIN, 'modem', '--family', 'telit', '--linger', '200'], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const io = collect(child);
    child.stdin!.end('AT\rATI\rAT+CMEE=1\rAT#FTPFSIZE="x"\r');
    const r = await io.done;
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('\r\nOK\r\n\r\nTelit\r\n\r\nLE910 (firmdrop emulator)\r\n\r\nOK\r\n\r\nOK\r\n\r\n+CME ERROR: 607\r\n');
  });

  it('client-sim proxy: a flip fault and a profile through the CLI; SIGINT prints the statistics as JSON', async () => {
    const child = spawn(process.execPath, [BIN, 'proxy', '--target', `127.0.0.1:${ftp.port}`, '--profile', 'cat1', '--fault', 'flip:100:255'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const io = collect(child);
    const port = Number((await waitFor(io.out, /listening on 127\.0\.0\.1:(\d+) -> /))[1]);
    const client = new Client(10_000);
    const parts: Buffer[] = [];
    try {
      await client.access({ host: '127.0.0.1', port, user: 'anonymous', password: 'x' });
      await client.downloadTo(new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }), 'FW.bin');
    } finally {
      client.close();
    }
    const got = Buffer.concat(parts);
    expect(got.length).to.equal(FW.length);
    expect(got[100]).to.equal(FW[100]! ^ 0xff);
    expect(Buffer.concat([got.subarray(0, 100), got.subarray(101)]).equals(Buffer.concat([FW.subarray(0, 100), FW.subarray(101)]))).to.equal(true);
    child.kill('SIGINT');
    const r = await io.done;
    expect(r.code).to.equal(0);
    const stats = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(stats.events.map((e: { kind: string }) => e.kind)).to.include('flip');
    expect(stats.dataConnections).to.equal(1);
  });

  it('an unknown family is a usage error (exit 2, one message naming the choices)', async () => {
    const child = spawn(process.execPath, [BIN, 'modem', '--family', 'nokia'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const r = await collect(child).done;
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^client-sim: .*family.*"nokia".*ublox/s);
  });
});
