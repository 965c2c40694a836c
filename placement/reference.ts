/**
 * Scalar TypeScript reference of the layouts of the wasm core (assembly/placement/layout.ts),
 * written for clarity with bigints, for differential tests, not for production. It shares no code
 * with the engine: the reservoir's capped shares are recomputed here from scratch at every stage
 * by plain water-filling, and everything else is spelled out again.
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
const MAX_STRAW_TRIES = 50;
const IN_DOMAIN_ATTEMPTS = 4;
const K_SHARD = 0x9e3779b97f4a7c15n;
const K_ATTEMPT = 0xd6e8feb86659fd93n;
const K_LEVEL = 0xa0761d6478bd642fn;
const K_SPARE = 0xe7037ed1a0b428dbn;
const K_SCAN = 0x8ebc6af09c88c6e3n;
const K_GROUP = 0x589965cc75374cc3n;
const K_STAGE = 0x1d8e4e27c47d124fn;
const K_INDOM = 0x2127599bf4325c37n;
const K_PERM = 0x880355f21e6d1965n;
const K_LIFT = 0x3c79ac492ba7b653n;

/** Binomial coefficient, exact. */
function choose(n: number, r: number): bigint {
  if (r < 0 || r > n) return 0n;
  let b = 1n;
  for (let i = 1; i <= r; i++) b = (b * BigInt(n - r + i)) / BigInt(i);
  return b;
}

/**
 * Version 4 lift fill probability q (undefined: none in [0, 1]), from the exact law of K, the
 * domains a uniform draw of k of R x m targets covers: P(K = j) = C(R, j) sum_i (-1)^i C(j, i)
 * C((j - i) m, k) / C(R m, k) (inclusion-exclusion over the covered domains, in bigints).
 */
function liftQ(R: number, m: number, k: number, N: number): number | undefined {
  if (!(R >= 1 && m >= 1 && N >= 1 && k >= 2 && k <= R * m && k <= R + N)) return undefined;
  const all = choose(R * m, k);
  let eK = 0n, eMin = 0n, eRest = 0n;
  for (let j = 1; j <= R; j++) {
    let onto = 0n;
    for (let i = 0; i <= j; i++) onto += (i % 2 === 0 ? 1n : -1n) * choose(j, i) * choose((j - i) * m, k);
    const w = choose(R, j) * onto;
    const xmin = Math.max(0, k - j - N);
    eK += w * BigInt(j); eMin += w * BigInt(xmin); eRest += w * BigInt(R - j - xmin);
  }
  const f = (x: bigint) => Number(x) / Number(all);
  const mu = (R * k) / (R + N) - f(eK);
  if (eRest === 0n) return Math.abs(mu - f(eMin)) < 1e-12 ? 0 : undefined;
  const q = (mu - f(eMin)) / f(eRest);
  return q >= 0 && q <= 1 ? q : undefined;
}

/** Uniform integer in [0, n) from the low 32 bits of h. */
const below = (h: bigint, n: number): number => Number(((h & 0xffffffffn) * BigInt(n)) >> 32n);

/**
 * Capped shares after seeing `w` (in order) for groups of k: pi_i = min(1, c * w_i) with
 * sum pi = k, by repeated water-filling (cap whatever reaches 1, spread the rest again).
 */
function shares(w: readonly number[], k: number): { c: number; pi: number[]; capped: number } {
  if (w.length <= k) return { c: Infinity, pi: w.map(() => 1), capped: w.length };
  const capped = new Array<boolean>(w.length).fill(false);
  for (;;) {
    let left = k, rest = 0;
    w.forEach((x, i) => { if (capped[i]) left--; else rest += x; });
    const c = left / rest;
    let changed = false;
    w.forEach((x, i) => { if (!capped[i] && c * x >= 1) { capped[i] = true; changed = true; } });
    if (!changed) return { c, pi: w.map((x, i) => (capped[i] ? 1 : Math.min(1, c * x))), capped: capped.filter(Boolean).length };
  }
}

/** The layout of `oid` on `pm` with jump-map (default) or straw2-like, and its violation count. */
export function referenceLayout(pm: PoolMap, oid: bigint, algo: 'jump-map' | 'straw2-like' = 'jump-map'): { groups: number[][]; violations: number; domainLevel: string } {
  const oclass = objectClassOf(oid);
  const fixed = objectGroupsOf(oid);
  const groups = fixed || resolveGroups(oclass, pm);
  const gs = oclass.groupSize;
  const L = pm.levelNamesList.length;
  let level = pm.faultLevel;
  while (level < L && pm.domainCount(level) < gs) level++;
  const nt = pm.targets.length;
  const ntB = pm.baseTargets;
  const nodesB = pm.domainOfTargets(0)[ntB - 1]! + 1;
  /** Domains of one level: of every target, their first target and size, how many in the base. */
  const ctxOf = (lv: number) => {
    const domOf = pm.domainOfTargets(lv), nd = pm.domainCount(lv);
    const dStart: number[] = new Array(nd).fill(-1), dCount: number[] = new Array(nd).fill(0);
    for (let t = 0; t < nt; t++) { const d = domOf[t]!; if (dStart[d] === -1) dStart[d] = t; dCount[d]!++; }
    return { domOf, nd, dStart, dCount, ndB: domOf[ntB - 1]! + 1 };
  };
  type Ctx = ReturnType<typeof ctxOf>;
  const main = ctxOf(level);
  const { domOf, nd, dStart, dCount, ndB } = main;
  const tw = pm.targetWeights;
  const dWeight: number[] = new Array(nd).fill(0);
  for (let t = 0; t < nt; t++) dWeight[domOf[t]!] += tw[t]!;
  const eligible = (t: number) => ELIGIBLE_STATES.has(pm.stateList[t]!);
  const levels = Array.from({ length: L }, (_, l) => pm.levelArrays(l));
  const reservoirOnly = ndB < gs;
  const extended = algo === 'jump-map' && (reservoirOnly || ndB < nd);
  const v2 = pm.layoutVersion >= 2;
  const v4 = pm.layoutVersion >= 4;
  // the seed of a lifted group: the base's own layout at its own level (version 1), or (version 2)
  // the layout of the largest prefix of top-level domains with fewer than gs domains at this level
  let seedCtx: Ctx | undefined;
  let seedEnd = 0;    // version 2: domains of the seed level in the prefix (its reservoir runs to there)
  let seedTargets = nt; // targets the seed's own spare step scans
  let liftPrefix = 0; // version 2: domains of this level in an alike prefix (eviction preference)
  if (reservoirOnly && algo === 'jump-map' && v2) {
    const top = pm.domainOfTargets(0);
    let T = 0;
    if (pm.layoutVersion >= 3) { for (const e of pm.extents) if (domOf[e - 1]! + 1 < gs) T = e; } // rules 3: the pool before its lift
    else for (let t = 1; t <= nt; t++) if ((t === nt || top[t] !== top[t - 1]) && domOf[t - 1]! + 1 < gs) T = t;
    let sl = pm.faultLevel;
    while (sl < L && pm.domainOfTargets(sl)[T - 1]! + 1 < gs) sl++;
    if (T >= ntB && T >= gs && sl > level && pm.domainOfTargets(sl)[ntB - 1]! + 1 >= gs) {
      seedCtx = ctxOf(sl);
      seedEnd = seedCtx.domOf[T - 1]! + 1;
      seedTargets = T;
      const nP = domOf[T - 1]! + 1;
      const perDomain = new Map<number, number>(), perTop = new Map<number, number>();
      for (let t = 0; t < T; t++) { perDomain.set(domOf[t]!, (perDomain.get(domOf[t]!) ?? 0) + 1); perTop.set(top[t]!, (perTop.get(top[t]!) ?? 0) + 1); }
      const same = (m: Map<number, number>) => new Set(m.values()).size === 1;
      if (same(perDomain) && same(perTop) && pm.targetWeights.subarray(0, T).every((x) => x === pm.targetWeights[0])) liftPrefix = nP;
    }
  }
  // version 4 lift fill: seeded by the base alone at target level, every domain to the end of the lifting extension alike
  let liftEnd = 0, liftQT = 0n;
  if (v4 && seedCtx && liftPrefix > 0 && seedTargets === ntB && seedCtx.nd === nt) {
    const end = pm.extents.find((e) => e > ntB) ?? nt;
    const nL = domOf[end - 1]! + 1, m = ntB / liftPrefix;
    const alike = Number.isInteger(m) && dCount.slice(0, nL).every((c) => c === m) && tw.subarray(0, end).every((x) => x === tw[0]);
    const q = alike ? liftQ(liftPrefix, m, gs, nL - liftPrefix) : undefined;
    if (q !== undefined) { liftEnd = nL; liftQT = BigInt(Math.min(2 ** 32 - 1, Math.floor(q * 2 ** 32))); }
  }
  if (!seedCtx && reservoirOnly && ntB >= gs) {
    let lb = pm.faultLevel;
    while (lb < L && pm.domainOfTargets(lb)[ntB - 1]! + 1 < gs) lb++;
    seedCtx = ctxOf(lb);
  }

  const cand = (key: bigint, a: number): number => {
    let h = key ^ ((BigInt(a) * K_ATTEMPT) & M);
    let start = 0, count = nodesB;
    for (let l = 0; l < L; l++) {
      h = fmix(h + K_LEVEL);
      const d = start + jump(h, count);
      start = levels[l]!.start[d]!; count = levels[l]!.count[d]!;
    }
    h = fmix(h + K_LEVEL);
    return start + jump(h, count);
  };
  const domainUsedIn = (c: Ctx, out: number[], n: number, skip: number, dom: number) => {
    for (let j = 0; j < n; j++) if (j !== skip && c.domOf[out[j]!] === dom) return true;
    return false;
  };
  const domainUsed = (out: number[], n: number, skip: number, dom: number) => domainUsedIn(main, out, n, skip, dom);
  const scanIn = (c: Ctx, out: number[], n: number, s: number, key: bigint, needEligible: boolean, ndx: number, ntx: number): number => {
    const k2 = fmix(key ^ K_SCAN);
    const d0 = jump(k2, ndx);
    for (let i = 0; i < ndx; i++) {
      const d = (d0 + i) % ndx;
      if (domainUsedIn(c, out, n, s, d)) continue;
      const o = jump(fmix(k2 + K_LEVEL), c.dCount[d]!);
      for (let k = 0; k < c.dCount[d]!; k++) {
        const t = c.dStart[d]! + ((o + k) % c.dCount[d]!);
        if (!needEligible || eligible(t)) return t;
      }
    }
    const t0 = jump(k2, ntx);
    for (let i = 0; i < ntx; i++) {
      const t = (t0 + i) % ntx;
      if (needEligible && !eligible(t)) continue;
      if (!out.some((x, j) => j < n && j !== s && x === t)) return t;
    }
    throw new PlacementError('INSUFFICIENT_TARGETS', 'not enough eligible targets');
  };
  const scan = (out: number[], n: number, s: number, key: bigint, needEligible: boolean, ndx: number, ntx: number) => scanIn(main, out, n, s, key, needEligible, ndx, ntx);
  const pickIn = (c: Ctx, out: number[], n: number, s: number, key: bigint, needEligible: boolean, ndx: number, ntx: number): number => {
    for (let a = 0; a < MAX_ATTEMPTS; a++) {
      const t = cand(key, a);
      if (needEligible && !eligible(t)) continue;
      if (!domainUsedIn(c, out, n, s, c.domOf[t]!)) return t;
    }
    return scanIn(c, out, n, s, key, needEligible, ndx, ntx);
  };
  const pick = (out: number[], n: number, s: number, key: bigint, needEligible: boolean, ndx: number, ntx: number) => pickIn(main, out, n, s, key, needEligible, ndx, ntx);
  /** Weighted index in domain d of level context cx (inclusive cumulative weights, first above u). */
  const inDomainIndex = (cx: Ctx, d: number, h: bigint): number => {
    const c = cx.dCount[d]!;
    if (c === 1) return 0;
    const st = cx.dStart[d]!;
    let same = true;
    for (let t = st; t < st + c; t++) if (tw[t] !== tw[st]) same = false;
    if (same) return jump(h, c);
    const cum: number[] = [];
    let acc = 0;
    for (let t = st; t < st + c; t++) { acc += tw[t]!; cum.push(acc); }
    const u = Number(h >> 11n) * 2 ** -53 * acc;
    const i = cum.findIndex((x) => x > u);
    return i < 0 ? c - 1 : i;
  };
  const inDomain = (d: number, key: bigint, needEligible: boolean, cx: Ctx = main): number => {
    const st = cx.dStart[d]!, c = cx.dCount[d]!;
    let h = fmix(key ^ K_INDOM ^ ((BigInt(d) * K_LEVEL) & M));
    let x = inDomainIndex(cx, d, h);
    if (!needEligible || eligible(st + x)) return st + x;
    for (let a = 1; a < IN_DOMAIN_ATTEMPTS; a++) {
      h = fmix(h + K_ATTEMPT);
      x = inDomainIndex(cx, d, h);
      if (eligible(st + x)) return st + x;
    }
    for (let i = 1; i < c; i++) if (eligible(st + ((x + i) % c))) return st + ((x + i) % c);
    return -1;
  };
  // reservoir stages: shares before and after each domain, from scratch
  type Stage = { prob: number; uniform: boolean; before: number[]; after: number[] };
  const stagesOf = (weights: number[], n: number): Stage[] => Array.from({ length: n }, (_, j) => {
    const prev = shares(weights.slice(0, j), gs), cur = shares(weights.slice(0, j + 1), gs);
    const seen = weights.slice(0, j);
    const allCapped = j <= gs;
    const uniform = j === 0 || (allCapped ? seen.every((x) => x === seen[0]) : prev.capped === 0);
    return { prob: cur.pi[j]!, uniform, before: prev.pi, after: cur.pi };
  });
  const stage: Stage[] = algo === 'jump-map' && (reservoirOnly || ndB < nd) ? stagesOf(dWeight, nd) : [];
  /**
   * Stages [from, to) over `slotDom` (members) and `fresh` (slots that moved). nP > 0, uniform
   * stage: the member of a uniform slot if it is not among the first nP domains, else (if any) a
   * uniformly chosen fresh one among those.
   */
  const runStages = (st: Stage[], slotDom: number[], fresh: boolean[], gkey: bigint, from: number, to: number, nP: number, restored?: boolean[], onReplace?: (slot: number) => void) => {
    for (let j = from; j < to; j++) {
      const h = fmix(gkey + BigInt(j) * K_STAGE);
      const sj = st[j]!;
      if (Number(h >> 32n) >= sj.prob * 2 ** 32) continue;
      let slot: number;
      if (sj.uniform) {
        slot = below(h, gs);
        if (nP > 0 && slotDom[slot]! < nP) {
          const cands = slotDom.map((d, i) => (d < nP && fresh[i] ? i : -1)).filter((i) => i >= 0);
          if (cands.length > 0) slot = cands[below(fmix(h ^ K_PERM), cands.length)]!;
        }
      } else {
        const a = slotDom.map((d) => Math.max(0, 1 - sj.after[d]! / sj.before[d]!));
        const total = a.reduce((x, y) => x + y, 0);
        if (!(total > 0)) slot = below(h, gs);
        else {
          let u = Number(h & 0xffffffffn) / 2 ** 32 * total;
          slot = -1;
          let last = 0;
          for (let s = 0; s < gs && slot < 0; s++) {
            if (a[s]! > 0) { last = s; if (u < a[s]!) slot = s; else u -= a[s]!; }
          }
          if (slot < 0) slot = last;
        }
      }
      onReplace?.(slot);
      slotDom[slot] = j; fresh[slot] = true;
      if (restored) restored[slot] = false;
      remember(j);
    }
  };
  let seedStages: Stage[] = [];
  if (seedCtx && seedEnd > seedCtx.ndB) {
    const w: number[] = new Array(seedCtx.nd).fill(0);
    for (let t = 0; t < nt; t++) w[seedCtx.domOf[t]!] += tw[t]!;
    seedStages = stagesOf(w, seedEnd);
  }
  const spareProb = (j: number): number => {
    let W = 0;
    for (let i = 0; i <= j; i++) W += dWeight[i]!;
    return dWeight[j]! / W;
  };
  let ever: number[] = []; // domains that were in the current group at some stage
  const MAX_EVER = 128;
  const remember = (d: number) => { if (ever.length < MAX_EVER) ever.push(d); };
  const spareExtended = (out: number[], s: number, key: bigint): number => {
    const own = domOf[out[s]!]!;
    for (let a = 0; a < MAX_ATTEMPTS; a++) {
      let t = cand(key, a);
      let d = domOf[t]!;
      const ka = fmix(key ^ ((BigInt(a) * K_ATTEMPT) & M) ^ K_STAGE);
      for (let j = ndB; j < nd; j++) {
        if (Number(fmix(ka + BigInt(j) * K_STAGE) >> 32n) < spareProb(j) * 2 ** 32) { d = j; t = -1; }
      }
      if (domainUsed(out, gs, s, d) || (d !== own && ever.includes(d))) continue;
      if (t < 0) t = inDomain(d, ka, true);
      else if (!eligible(t)) continue;
      if (t >= 0) return t;
    }
    return scan(out, gs, s, key, true, nd, nt);
  };

  const lo = oid & M, hi = oid >> 64n;
  const objKey = fmix(lo ^ fmix((hi + K_SHARD) & M));
  const out: number[][] = [];
  let violations = 0;
  for (let g = 0; g < groups; g++) {
    const o: number[] = [];
    let orig: number[] | undefined;      // version 2 lift: base positions
    let seedSpare: number[] | undefined; // version 2 lift seeded by the base alone: the base layout's spares
    const keyOf = (s: number) => (objKey + BigInt(g * gs + s + 1) * K_SHARD) & M;
    const gkey = fmix(objKey + BigInt(g + 1) * K_GROUP);
    if (algo === 'straw2-like') {
      for (let s = 0; s < gs; s++) {
        let t = -1;
        for (let f = 0; f < MAX_STRAW_TRIES && t < 0; f++) {
          const c = straw2Descent(pm, gkey, s + gs * f);
          if (eligible(c) && !domainUsed(o, s, s, domOf[c]!)) t = c;
        }
        o[s] = t >= 0 ? t : scan(o, s, s, keyOf(s), true, nd, nt);
      }
    } else {
      const slotDom: number[] = [];
      const fresh: boolean[] = new Array(gs).fill(false);
      const restored: boolean[] = new Array(gs).fill(false); // fresh, but its target is already set
      let from: number;
      ever = [];
      if (!reservoirOnly) {
        for (let s = 0; s < gs; s++) { o[s] = pick(o, s, s, keyOf(s), false, ndB, ntB); slotDom[s] = domOf[o[s]!]!; }
        slotDom.forEach(remember);
        from = ndB;
      } else if (seedCtx) {
        // the base's own layout seeds the fill: first shard per domain stays, the rest take free fill domains
        for (let s = 0; s < gs; s++) o[s] = pickIn(seedCtx, o, s, s, keyOf(s), false, seedCtx.ndB, ntB);
        orig = o.slice();
        // version 4, seeded by the base alone: ghost spares (the spare each shard gets when its own target alone is out)
        let ghost: number[] | undefined;
        if (v4 && !(seedEnd > seedCtx.ndB)) {
          const base = orig;
          ghost = base.map((own, s) => {
            for (let a = 0; a < MAX_ATTEMPTS; a++) {
              const t = cand(keyOf(s) ^ K_SPARE, a);
              if (t !== own && !domainUsedIn(seedCtx!, base, gs, s, seedCtx!.domOf[t]!)) return t;
            }
            return -1;
          });
        }
        const prev: number[] = new Array(gs).fill(-1); // version 2: target before the seed's last stage that moved it
        if (v2 && !(seedEnd > seedCtx.ndB)) {
          // the spares the base's own layout gave shards on targets out of service, in shard order
          const sp: number[] = new Array(gs).fill(-1);
          for (let s = 0; s < gs; s++) {
            if (eligible(o[s]!)) continue;
            try { sp[s] = pickIn(seedCtx, o, gs, s, keyOf(s) ^ K_SPARE, true, seedCtx.ndB, seedTargets); } catch { continue; }
            o[s] = sp[s]!;
          }
          if (sp.some((x) => x >= 0)) seedSpare = sp;
          for (let s = 0; s < gs; s++) o[s] = orig[s]!;
        }
        if (seedEnd > seedCtx.ndB) {
          // version 2: the prefix's own reservoir at the seed level
          const sd = o.map((t) => seedCtx!.domOf[t]!), sf: boolean[] = new Array(gs).fill(false);
          // the target each stage replaces: the base position, or the one an earlier stage gave
          const targetNow = (x: number) => (sf[x] ? inDomain(sd[x]!, keyOf(x), false, seedCtx!) : orig![x]!);
          runStages(seedStages, sd, sf, gkey, seedCtx.ndB, seedEnd, 0, undefined, (x) => { prev[x] = targetNow(x); });
          for (let s = 0; s < gs; s++) if (sf[s]) o[s] = inDomain(sd[s]!, keyOf(s), false, seedCtx);
          ever = [];
        }
        for (let s = 0; s < gs; s++) {
          const d = domOf[o[s]!]!;
          slotDom[s] = slotDom.slice(0, s).includes(d) ? -1 : d;
        }
        // version 4: on a shared domain, the first shard whose ghost spare is in it stays (else the first)
        const ghostIn = (s: number, d: number) => ghost![s]! >= 0 && domOf[ghost![s]!] === d;
        if (ghost) {
          for (let s = 0; s < gs; s++) {
            const d = domOf[o[s]!]!;
            if (slotDom[s] !== -1 || !ghostIn(s, d)) continue;
            const k = slotDom.indexOf(d);
            if (ghostIn(k, d)) continue;
            slotDom[k] = -1; slotDom[s] = d;
          }
        }
        from = gs;
        if (ghost && liftEnd > 0) {
          // version 4 lift fill: nothing kept moves; x moving shards take free base domains (the
          // forced ones, then each other with probability q), the rest uniform domains of the lifting extension
          const nP = liftPrefix, N = liftEnd - nP;
          const free = Array.from({ length: nP }, (_, d) => d).filter((d) => !slotDom.includes(d));
          const e = gs - (nP - free.length), xmin = Math.max(0, e - N);
          let x = xmin;
          for (let i = 0; i < free.length - xmin; i++) if (fmix(gkey ^ ((BigInt(i + 1) * K_LIFT) & M)) >> 32n < liftQT) x++;
          const floyd = (n: number, c: number, key: bigint): number[] => {
            const got: number[] = [];
            for (let j = n - c; j < n; j++) {
              const t = below(fmix((key + BigInt(j + 1) * K_LIFT) & M), j + 1);
              got.push(got.includes(t) ? j : t);
            }
            return got;
          };
          const taken = new Set(floyd(free.length, x, gkey ^ K_SCAN).map((i) => free[i]!));
          for (let s = 0; s < gs; s++) {
            const t = ghost[s]!;
            if (slotDom[s] !== -1 || t < 0) continue;
            const d = domOf[t]!;
            if (d >= nP || !taken.has(d) || slotDom.includes(d)) continue;
            slotDom[s] = d; fresh[s] = true; restored[s] = true; o[s] = t;
          }
          for (const d of free) {
            if (!taken.has(d) || slotDom.includes(d)) continue;
            slotDom[slotDom.indexOf(-1)] = d; fresh[slotDom.indexOf(d)] = true;
          }
          const nw = floyd(N, e - x, gkey ^ K_SPARE).sort((a, b) => a - b);
          for (const t of nw) { const s = slotDom.indexOf(-1); slotDom[s] = nP + t; fresh[s] = true; }
          for (let d = 0; d < nP; d++) remember(d);
          for (const t of nw) remember(nP + t);
          from = liftEnd;
        }
        // version 2: a moved slot whose base position is on a domain nobody kept goes back there
        // (else to where it was before the seed's last stage that moved it, when that domain is free)
        if (v2 && from === gs) {
          for (const from of [orig!, prev]) {
            for (let s = 0; s < gs; s++) {
              if (slotDom[s] !== -1 || from[s]! < 0) continue;
              const d = domOf[from[s]!]!;
              if (slotDom.includes(d)) continue;
              slotDom[s] = d; fresh[s] = true; restored[s] = true; o[s] = from[s]!;
            }
          }
        }
        // version 4: a moved slot goes to its ghost spare if that is on a free fill domain of one target weight
        if (ghost && from === gs) {
          for (let s = 0; s < gs; s++) {
            const t = ghost[s]!;
            if (slotDom[s] !== -1 || t < 0) continue;
            const d = domOf[t]!;
            if (d >= gs || slotDom.includes(d)) continue;
            const st = dStart[d]!;
            if (!tw.subarray(st, st + dCount[d]!).every((x) => x === tw[st])) continue;
            slotDom[s] = d; fresh[s] = true; restored[s] = true; o[s] = t;
          }
        }
        const free = Array.from({ length: gs }, (_, d) => d).filter((d) => !slotDom.includes(d));
        for (let s = 0; s < gs; s++) if (slotDom[s] === -1) { slotDom[s] = free.shift()!; fresh[s] = true; }
      } else {
        for (let s = 0; s < gs; s++) { slotDom[s] = s; fresh[s] = true; }
        for (let i = gs - 1; i > 0; i--) {
          const r = below(fmix(gkey ^ ((BigInt(i) * K_PERM) & M)), i + 1);
          [slotDom[i], slotDom[r]] = [slotDom[r]!, slotDom[i]!];
        }
        from = gs;
      }
      if (reservoirOnly && from === gs) for (let d = 0; d < gs; d++) remember(d);
      runStages(stage, slotDom, fresh, gkey, from, nd, reservoirOnly && seedCtx ? liftPrefix : 0, restored);
      for (let s = 0; s < gs; s++) if (fresh[s] && !restored[s]) o[s] = inDomain(slotDom[s]!, keyOf(s), false);
    }
    if (algo === 'jump-map') {
      for (let s = 0; s < gs; s++) {
        if (eligible(o[s]!)) continue;
        const key = keyOf(s) ^ K_SPARE;
        // a lifted shard still on its base position keeps the spare the base's layout gave it, if it may
        const ks = seedSpare && o[s] === orig![s] ? seedSpare[s]! : -1;
        if (ks >= 0 && eligible(ks) && !domainUsed(o, gs, s, domOf[ks]!) && !o.some((x, j) => j !== s && x === ks)) { o[s] = ks; continue; }
        o[s] = extended ? spareExtended(o, s, key) : pick(o, gs, s, key, true, nd, nt);
      }
    }
    if (new Set(o.map((t) => domOf[t])).size !== gs) violations++;
    out.push(o);
  }
  return { groups: out, violations, domainLevel: pm.levelNamesList[level] ?? 'target' };
}

/** CRUSH-like straw2 descent (node, rank, target by weight) for replica rank r. */
function straw2Descent(pm: PoolMap, gkey: bigint, r: number): number {
  const L = pm.levelNamesList.length;
  const x = fmix(gkey + BigInt(r + 1) * K_ATTEMPT);
  const weights = Array.from({ length: L + 1 }, (_, l) => pm.domainWeights(l));
  const equalSiblings = weights.every((w, l) => {
    if (l === 0) return w.every((v) => v === w[0]);
    const { start, count } = pm.levelArrays(l - 1);
    return Array.from(start).every((s0, p) => Array.from(w.subarray(s0, s0 + count[p]!)).every((v) => v === w[s0]));
  });
  const choose = (l: number, start: number, count: number): number => {
    let best = start, bestDraw = -Infinity, bestHash = -1n;
    for (let i = start; i < start + count; i++) {
      const h = fmix(x ^ ((BigInt((l << 24) + i + 1) * K_SHARD) & M));
      if (!equalSiblings) {
        const draw = Math.log((Number(h >> 11n) + 1) * 2 ** -53) / weights[l]![i]!;
        if (draw > bestDraw) { bestDraw = draw; best = i; }
      } else if (h >= bestHash) { bestHash = h; best = i; }
    }
    return best;
  };
  let start = 0, count = pm.domainCount(0);
  for (let l = 0; l < L; l++) {
    const d = choose(l, start, count);
    start = pm.levelArrays(l).start[d]!; count = pm.levelArrays(l).count[d]!;
  }
  return choose(L, start, count);
}
