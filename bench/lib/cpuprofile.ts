/**
 * Summary of a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof` or the inspector's
 * Profiler.stop): self time per function and per source file, largest first. Self time of a node
 * is the sum of the time deltas of the samples taken while it was on top of the stack. Samples
 * under a `node:inspector` frame (the profiler serialising itself on Profiler.stop) are left out.
 */

/** The parts of a .cpuprofile this reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time per function and per file, in microseconds. */
export interface ProfileSummary {
  /** Sampled time, idle included. */
  totalUs: number;
  idleUs: number;
  functions: Array<{ name: string; where: string; selfUs: number }>;
  files: Array<{ file: string; selfUs: number }>;
}

/** Summarize `profile`; file paths under `root` are shown relative to it. */
export function summarizeProfile(profile: CpuProfile, root: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const profilerOwn = new Map<number, boolean>();
  const isProfilerOwn = (id: number): boolean => {
    let v = profilerOwn.get(id);
    if (v === undefined) {
      const p = parent.get(id);
      v = byId.get(id)!.callFrame.url === 'node:inspector' || (p !== undefined && isProfilerOwn(p));
      profilerOwn.set(id, v);
    }
    return v;
  };
  const selfById = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    if (isProfilerOwn(profile.samples[i]!)) continue;
    total += dt;
    selfById.set(profile.samples[i]!, (selfById.get(profile.samples[i]!) ?? 0) + dt);
  }
  const rootUrl = `file://${root}/`;
  const short = (url: string) => (url.startsWith(rootUrl) ? url.slice(rootUrl.length) : url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/')) || '(native)';
  const fns = new Map<string, { name: string; where: string; selfUs: number }>();
  const files = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfById) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') { idle += us; continue; }
    const file = short(cf.url);
    const where = cf.url ? `${file}:${cf.lineNumber + 1}` : '';
    const name = cf.functionName || '(anonymous)';
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? fns.set(key, { name, where, selfUs: 0 }).get(key)!;
    f.selfUs += us;
    const fileKey = cf.url ? file : name; // (garbage collector), (program) ... stand for themselves
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  return {
    totalUs: total, idleUs: idle,
    functions: [...fns.values()].sort((a, b) => b.selfUs - a.selfUs),
    files: [...files].map(([file, selfUs]) => ({ file, selfUs })).sort((a, b) => b.selfUs - a.selfUs),
  };
}
