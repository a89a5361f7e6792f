import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SCENARIOS, findScenario } from '../client-sim/scenarios/catalog.ts';
import { runScenario } from '../client-sim/scenarios/runner.ts';
import { parseFaults } from '../client-sim/scenarios/fault-spec.ts';
import fs from 'node:fs/promises';
import { describeCode, CODES } from '../client-sim/waspmote/codes.ts';
import { renderCodesDoc } from '../client-sim/commands/codes.ts';

const run = promisify(execFile);

/**
 * How many scenarios run at once. Each has its own firmdrop on its own temp root and spends its time in the library's
 * (time-scaled) waits, not on the CPU, so a few at a time finish the catalogue in a fraction of the time.
 */
const CONCURRENCY = 4;

/** Runs `fn` when fewer than CONCURRENCY such calls are running (a slot is handed straight to the next waiter). */
function pool(): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (running < CONCURRENCY) running++;
    else await new Promise<void>((r) => waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

describe('scenario catalogue: one regression test per documented code (the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts))', function () {
  this.timeout(60_000);
  const outcomes = new Map<string, ReturnType<typeof runScenario>>();
  before(() => {
    const limited = pool();
    for (const s of SCENARIOS) {
      const outcome = limited(() => runScenario(s));
      outcome.catch(() => undefined); // reported by the scenario's own test
      outcomes.set(s.id, outcome);
    }
  });
  for (const s of SCENARIOS) {
    it(`${s.id}: ${s.title} → ${s.expect.code} ${s.expect.name}`, async () => {
      const out = await outcomes.get(s.id)!;
      expect(out.result.code, `${s.id}: ${out.result.name} ${out.result.notes.join('; ')}`).to.equal(s.expect.code);
      expect(out.result.name).to.equal(s.expect.name);
      if (s.expect.code === null && s.expect.name === 'HUNG') expect(out.result.hung).to.equal(true);
      else if (s.expect.code === null) {
        expect(out.result.ok).to.equal(false);
        expect(out.result.undefinedBehaviour?.source).to.equal(s.expect.ub);
      } else expect(describeCode(s.module, s.expect.code, out.result.ok)?.name).to.equal(s.expect.name);
      if (out.result.ok) {
        expect(out.result.checkNewProgram).to.equal(1);
        const b = s.binary === undefined ? 'SENSAPP' : s.binary?.name;
        expect(out.device.sd.read(b!)?.equals(out.binary!)).to.equal(true);
      }
    });
  }
});

describe('scenario catalogue coverage and tools', function () {
  this.timeout(30_000);
  it('has a scenario for every 4G code 1–26, WiFi PRO 0010 and 0021–0030, and the 3G and GPRS tag codes', () => {
    const has = (module: string, code: number) => SCENARIOS.some((s) => s.module === module && s.expect.code === code);
    // 24 (SD size ≠ server size) cannot follow from the modem: the loop only ends when the counted bytes reach the size
    for (let c = 1; c <= 26; c++) if (c !== 24) expect(has('4g', c), `4G ${c}`).to.equal(true);
    for (const c of [10, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]) expect(has('wifi-pro', c), `WiFi PRO ${c}`).to.equal(true);
    expect(SCENARIOS.some((s) => s.module === 'wifi-pro' && (s.expect.code ?? 0) >= 505 && (s.expect.code ?? 0) <= 513), 'WiFi PRO open failure').to.equal(true);
    for (let c = -27; c <= -23; c++) expect(has('3g', c), `3G ${c}`).to.equal(true);
    for (let c = -70; c <= -66; c++) expect(has('gprs', c), `GPRS ${c}`).to.equal(true);
    for (const m of ['4g', 'wifi-pro', '3g', 'gprs']) expect(SCENARIOS.some((s) => s.module === m && s.expect.name === 'OK'), `${m} success`).to.equal(true);
    for (const m of ['4g', 'wifi-pro', '3g', 'gprs']) expect(SCENARIOS.some((s) => s.module === m && s.expect.name === 'UNDEFINED_BEHAVIOUR'), `${m} undefined behaviour`).to.equal(true);
  });

  it('no scenario expects a code v048 cannot return', () => {
    for (const s of SCENARIOS) {
      if (s.expect.code === null) continue;
      const entry = CODES.find((c) => c.module === s.module && c.code === s.expect.code && c.name === s.expect.name);
      expect(entry?.reachable, s.id).to.equal(true);
    }
  });

  it('docs/waspmote-codes.md is what `npm run docs:codes` prints from codes.ts (so the two cannot drift)', async () => {
    const committed = await fs.readFile('docs/waspmote-codes.md', 'utf8');
    expect(committed === renderCodesDoc(), 'docs/waspmote-codes.md is stale: run npm run docs:codes').to.equal(true);
  });

  it('ids are unique and every expected name is the code table\'s name for that code', () => {
    expect(new Set(SCENARIOS.map((s) => s.id)).size).to.equal(SCENARIOS.length);
    for (const s of SCENARIOS) {
      if (s.expect.code === null) { expect(s.expect.name, s.id).to.be.oneOf(['UNDEFINED_BEHAVIOUR', 'HUNG']); continue; }
      const names = CODES.filter((c) => c.module === s.module && c.code === s.expect.code).map((c) => c.name);
      expect(names, s.id).to.include(s.expect.name);
    }
  });

  it('the guide\'s numbers are recorded where the library differs (3G −30/−31)', () => {
    expect(findScenario('3g-30-getfile-error-binary').guide?.code).to.equal(-31);
    expect(findScenario('3g-31-ctxfile-file-not-existing').guide?.code).to.equal(-32);
    expect(() => findScenario('nope')).to.throw(/no scenario "nope"/);
  });

  it('parses the --fault mini-language into network, serial-line and SD faults', () => {
    const f = parseFaults(['cut:1000:reset@data2', 'refuse@control', 'at:#FTPRECV=cme621@2+1', 'at:+CFTPSERV=error', 'sd:write:SENSAPP:500']);
    expect(f.net).to.deep.equal([{ kind: 'cut', afterBytes: 1000, mode: 'reset', on: { data: 2 } }, { kind: 'refuse', on: 'control' }]);
    expect(f.at).to.deep.equal([{ command: '#FTPRECV', reply: { cme: 621 }, from: 2, times: 1 }, { command: '+CFTPSERV', reply: 'error' }]);
    expect(f.sd).to.deep.equal([{ op: 'write', name: 'SENSAPP', afterBytes: 500 }]);
    expect(() => parseFaults(['cut:x'])).to.throw(/--fault "cut:x": bytes/);
    expect(() => parseFaults(['sd:melt'])).to.throw(/SD operation/);
  });

  it('client-sim scenarios lists them all; client-sim scenario <id> --json runs one', async () => {
    const list = await run(process.execPath, ['--import', 'tsx', 'client-sim/cli.ts', 'scenarios']);
    for (const s of SCENARIOS) expect(list.stdout).to.contain(s.id);
    const one = await run(process.execPath, ['--import', 'tsx', 'client-sim/cli.ts', 'scenario', '4g-4-crlf', '--json']);
    const out = JSON.parse(one.stdout) as { passed: boolean; code: number; name: string };
    expect(out).to.include({ passed: true, code: 4, name: 'FILE_LENGTH' });
  });
});
