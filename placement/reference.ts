/**
 * Scalar TypeScript reference of the jump-map layout (assembly/placement/layout.ts), written for
 * clarity with bigints. Slow: for differential tests against the wasm core, not for production.
 */
import { jumpConsistentHashReference as jump } from './jump.js';
import { objectClassOf, objectGroupsOf } from './oid.js';
import { resolveGroups } from './classes.js';
import { ELIGIBLE_STATES, type PoolMap } from './poolmap.js';
import { PlacementError } from './errors.js';

const M = (1n << 64n) - 1n;

/** splitmix64 finaliser on bigints (mirrors fmix in assembly/placement/jump.ts). */
function fmix(x: bigint): bigint {
  x &= M;
  x ^= x >> 30n; x = (x * 0xbf58476d1ce4e5b9n) & M;
  x ^= x >> 27n; x = (x * 0x94d049bb133111ebn) & M;
  x ^= x >> 31n;
  return x;
}

const MAX_ATTEMPTS = 24;
const K_SHARD = 0x9e3779b97f4a7c15n;
const K_ATTEMPT = 0xd6e8feb86659fd93n;
const K_LEVEL = 0xa0761d6478bd642fn;
const K_SPARE = 0xe7037ed1a0b428dbn;
const K_SCAN = 0x8ebc6af09c88c6e3n;

/** Jump-map layout of `oid` on `pm` (groups of target ids) and its violation count. */
export function referenceLayout(pm: PoolMap, oid: bigint): { groups: number[][]; violations: number; domainLevel: string } {
  const oclass = objectClassOf(oid);
  const fixed = objectGroupsOf(oid);
  const groups = fixed || resolveGroups(oclass, pm);
  const gs = oclass.groupSize;
  const L = pm.levelNamesList.length;
  let level = pm.faultLevel;
  while (level < L && pm.domainCount(level) < gs) level++;
  const domOf = pm.domainOfTargets(level);
  const nd = pm.domainCount(level);
  const nt = pm.targets.length;
  const dStart: number[] = new Array(nd).fill(-1), dCount: number[] = new Array(nd).fill(0);
  for (let t = 0; t < nt; t++) { const d = domOf[t]!; if (dStart[d] === -1) dStart[d] = t; dCount[d]!++; }
  const eligible = (t: number) => ELIGIBLE_STATES.has(pm.stateList[t]!);
  const levels = Array.from({ length: L }, (_, l) => pm.levelArrays(l));

  const cand = (key: bigint, a: number): number => {
    let h = key ^ ((BigInt(a) * K_ATTEMPT) & M);
    let start = 0, count = pm.domainCount(0);
    for (let l = 0; l < L; l++) {
      h = fmix(h + K_LEVEL);
      const d = start + jump(h, count);
      start = levels[l]!.start[d]!; count = levels[l]!.count[d]!;
    }
    h = fmix(h + K_LEVEL);
    return start + jump(h, count);
  };
  const domainUsed = (out: number[], n: number, skip: number, dom: number) => {
    for (let j = 0; j < n; j++) if (j !== skip && domOf[out[j]!] === dom) return true;
    return false;
  };
  const pick = (out: number[], n: number, s: number, key: bigint, needEligible: boolean): number => {
    for (let a = 0; a < MAX_ATTEMPTS; a++) {
      const t = cand(key, a);
      if (needEligible && !eligible(t)) continue;
      if (!domainUsed(out, n, s, domOf[t]!)) return t;
    }
    const k2 = fmix(key ^ K_SCAN);
    const d0 = jump(k2, nd);
    for (let i = 0; i < nd; i++) {
      const d = (d0 + i) % nd;
      if (domainUsed(out, n, s, d)) continue;
      const o = jump(fmix(k2 + K_LEVEL), dCount[d]!);
      for (let k = 0; k < dCount[d]!; k++) {
        const t = dStart[d]! + ((o + k) % dCount[d]!);
        if (!needEligible || eligible(t)) return t;
      }
    }
    const t0 = jump(k2, nt);
    for (let i = 0; i < nt; i++) {
      const t = (t0 + i) % nt;
      if (needEligible && !eligible(t)) continue;
      if (!out.some((x, j) => j < n && j !== s && x === t)) return t;
    }
    throw new PlacementError('INSUFFICIENT_TARGETS', 'not enough eligible targets');
  };

  const lo = oid & M, hi = oid >> 64n;
  const objKey = fmix(lo ^ fmix((hi + K_SHARD) & M));
  const out: number[][] = [];
  let violations = 0;
  for (let g = 0; g < groups; g++) {
    const o: number[] = [];
    const keyOf = (s: number) => (objKey + BigInt(g * gs + s + 1) * K_SHARD) & M;
    for (let s = 0; s < gs; s++) o[s] = pick(o, s, s, keyOf(s), false);
    for (let s = 0; s < gs; s++) if (!eligible(o[s]!)) o[s] = pick(o, gs, s, keyOf(s) ^ K_SPARE, true);
    if (new Set(o.map((t) => domOf[t])).size !== gs) violations++;
    out.push(o);
  }
  return { groups: out, violations, domainLevel: pm.levelNamesList[level] ?? 'target' };
}
