/**
 * The shape of one requestOTA result code in the catalogue (codes.ts, codes-gprs.ts), and the row builder both use.
 * Every entry names the library line that produces it (Libelium/waspmoteapi v048, e.g. `Wasp4G.cpp:7297`) and
 * whether the v048 code can return it at all.
 */
import type { WaspModule } from './upgrade-txt.ts';

/** One code of one module. */
export interface CodeEntry {
  module: WaspModule;
  /** The number the library returns (WiFi PRO: `_errorCode`). */
  code: number;
  /** True for the success value. */
  ok: boolean;
  /** SCREAMING_SNAKE name used in reports and scenario ids. */
  name: string;
  /** The library's condition, as its code has it. */
  condition: string;
  /** The library line(s) that produce it, e.g. `Wasp3G.cpp:4231`. */
  source: string;
  /** False when the v048 code can never return this value (listed because the guide or an older reading does). */
  reachable: boolean;
  /** Why it is unreachable (only when `reachable` is false). */
  unreachable?: string;
  /** The guide's wording for this condition, when the guide lists it. */
  guideText?: string;
  /** The guide's number for this condition when it differs from `code`. */
  guideCode?: number;
  /** Where guide and library disagree, or other caveats. */
  note?: string;
}

/** `[code, name, condition, source, guideText?, extra?]`. */
export type Row = [code: number, name: string, condition: string, source: string, guideText?: string, extra?: Partial<CodeEntry>];

/** Builds entries from rows; `reachable` defaults to true. */
export function rows(module: WaspModule, list: Row[], okCode: number): CodeEntry[] {
  return list.map(([code, name, condition, source, guideText, extra]) => ({
    module, code, ok: code === okCode && name === 'OK', name, condition, source, reachable: true,
    ...(guideText === undefined ? {} : { guideText }), ...extra,
  }));
}
