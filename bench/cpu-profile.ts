/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and says where the time went: self time per function and
 * per "place" (an npm package, a project file, Node's internals, GC, idle). Used by `bench --cpu-prof`.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/**
 * Self time in ms, by function ("name url:line") and by place; `byOwner` charges time spent in Node internals and
 * native code to the nearest calling package or project file (so a `read` done for ftp-srv counts as ftp-srv's);
 * `totalMs` excludes idle.
 */
export interface ProfileSummary {
  totalMs: number; idleMs: number;
  byPlace: { place: string; ms: number; share: number }[];
  byOwner: { place: string; ms: number; share: number }[];
  byFunction: { fn: string; place: string; ms: number; share: number }[];
}

/** The place a frame belongs to: `pkg:<name>` for node_modules, `node:` internals, a project path, or a V8 pseudo-frame. */
export function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (mod) return `pkg:${mod[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  const project = /\/(server|bench|client-sim)\/(.+)$/.exec(url);
  return project ? `${project[1]}/${project[2]}` : url.replace(/^file:\/\//, '');
}

function ranked(m: Map<string, number>, top: number, share: (us: number) => number) {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([place, us]) => ({ place, ms: us / 1000, share: share(us) }));
}

/** Summarises a .cpuprofile file; `top` limits each list (default 15). Throws if the file is not a CPU profile. */
export async function summarizeCpuProfile(file: string, top = 15): Promise<ProfileSummary> {
  const prof = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(prof.nodes) || !Array.isArray(prof.samples)) throw new Error(`${file}: not a V8 CPU profile`);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owned = (place: string) => place.startsWith('pkg:') || /^(server|bench|client-sim)\//.test(place);
  const ownerOf = (id: number): string => {
    const own = placeOf(byId.get(id)!.callFrame.url, byId.get(id)!.callFrame.functionName);
    for (let cur: number | undefined = id, hops = 0; cur !== undefined && hops < 500; cur = parent.get(cur), hops++) {
      const f = byId.get(cur)!.callFrame;
      const place = placeOf(f.url, f.functionName);
      if (owned(place)) return place;
    }
    return own;
  };
  const owners = new Map<string, number>();
  const places = new Map<string, number>();
  const fns = new Map<string, { place: string; us: number }>();
  let idleUs = 0, totalUs = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') { idleUs += us; continue; }
    totalUs += us;
    const place = placeOf(f.url, f.functionName);
    places.set(place, (places.get(place) ?? 0) + us);
    const owner = ownerOf(id);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const key = `${f.functionName || '(anonymous)'} ${place}:${f.lineNumber + 1}`;
    const e = fns.get(key) ?? { place, us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const share = (us: number) => (totalUs ? us / totalUs : 0);
  return {
    totalMs: totalUs / 1000, idleMs: idleUs / 1000,
    byPlace: ranked(places, top, share),
    byOwner: ranked(owners, top, share),
    byFunction: [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, top)
      .map(([fn, e]) => ({ fn, place: e.place, ms: e.us / 1000, share: share(e.us) })),
  };
}

/** Text rendering of a summary: two ranked lists with ms and share of busy time. */
export function formatProfileSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  return [
    `CPU profile: ${s.totalMs.toFixed(0)} ms busy (${s.idleMs.toFixed(0)} ms idle); self time by place:`,
    ...s.byPlace.map((p) => `  ${pct(p.share)} ${p.ms.toFixed(0).padStart(7)} ms  ${p.place}`),
    'charged to the nearest calling package or project file:',
    ...s.byOwner.map((p) => `  ${pct(p.share)} ${p.ms.toFixed(0).padStart(7)} ms  ${p.place}`),
    'top functions by self time:',
    ...s.byFunction.map((f) => `  ${pct(f.share)} ${f.ms.toFixed(0).padStart(7)} ms  ${f.fn}`),
  ].join('\n');
}
