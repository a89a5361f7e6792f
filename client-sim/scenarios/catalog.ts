/**
 * The scenario catalogue: every documented requestOTA code of the requestOTA functions of Libelium/waspmoteapi v048 (codes.ts) that the simulator can
 * reproduce, as data (types.ts). One file per module; this one joins them and looks scenarios up.
 */
import { SCENARIOS_4G } from './catalog-4g.ts';
import { SCENARIOS_GPRS } from './catalog-gprs.ts';
import { SCENARIOS_3G } from './catalog-3g.ts';
import { SCENARIOS_WIFI_PRO } from './catalog-wifi-pro.ts';
import type { Scenario } from './types.ts';

/** Every scenario, in module order. */
export const SCENARIOS: readonly Scenario[] = [...SCENARIOS_4G, ...SCENARIOS_WIFI_PRO, ...SCENARIOS_3G, ...SCENARIOS_GPRS];

/** The scenario with this id; throws Error listing close ids when there is none. */
export function findScenario(id: string): Scenario {
  const s = SCENARIOS.find((x) => x.id === id);
  if (s) return s;
  const near = SCENARIOS.filter((x) => x.id.startsWith(id.split('-')[0] ?? '')).map((x) => x.id).slice(0, 8);
  throw new Error(`no scenario "${id}"${near.length ? ` (e.g. ${near.join(', ')})` : ''}; list them with: client-sim scenarios`);
}
