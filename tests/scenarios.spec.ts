import { expect } from 'chai';
import { SCENARIOS } from '../client-sim/scenarios/catalog.ts';
import { runScenario } from '../client-sim/scenarios/runner.ts';
import { describeCode } from '../client-sim/waspmote/codes.ts';

describe('scenario catalogue: one regression test per documented code (research/waspmote-ota.md §4)', function () {
  this.timeout(30_000);
  for (const s of SCENARIOS) {
    it(`${s.id}: ${s.title} → ${s.expect.code} ${s.expect.name}`, async () => {
      const out = await runScenario(s);
      expect(out.result.code, `${s.id}: ${out.result.name} ${out.result.notes.join('; ')}`).to.equal(s.expect.code);
      expect(out.result.name).to.equal(s.expect.name);
      expect(describeCode(s.module, s.expect.code, out.result.ok)?.name).to.equal(s.expect.name);
      if (out.result.ok) {
        expect(out.result.checkNewProgram).to.equal(1);
        const b = s.binary === undefined ? 'SENSAPP' : s.binary?.name;
        expect(out.device.sd.read(b!)?.equals(out.binary!)).to.equal(true);
      }
    });
  }
});
