// Batch layout of objects over a flattened pool map (header words: ./abi.ts, shared with
// placement/engine.ts). Per group, three steps:
//  1. base positions, state-blind (so a failure never disturbs a healthy shard):
//     - jump-map: a hierarchical jump hash over the *base* of the pool (its shape before the first
//       extension), retried until the shard's fault domain is unused by the group; then a weighted
//       reservoir (Chao's sampling with exact inclusion probabilities) over the domains appended
//       after the base, in pool order: domain j enters the group with probability pi_j and takes
//       the slot of one member, so an extension moves a shard only onto an added domain;
//     - jump-map on a base with fewer domains than the group: the reservoir from the first domain;
//     - ring: consistent-hash ring walked clockwise past used domains (comparison);
//     - straw2: CRUSH-like straw2 descent with retries, state-aware (comparison).
//  2. a spare for each shard whose target is not eligible (DOWN, DOWNOUT, DRAIN), avoiding the
//     domains of its siblings (jump-map, ring).
//  3. count groups with two shards in one domain.
import { jump, jump4, jump6, jump2v, fmix, jumpOutA, jumpOutB, jumpOutC, jumpOutD, jumpOutE, jumpOutF } from './jump';
import {
  LAYOUT_ABI_MAGIC, H_MAGIC, H_ALGO, H_LEVELS, H_NTARGETS, H_NDOMAINS, H_GROUPS, H_GROUPSIZE, H_LEVELINFO,
  H_ELIGIBLE, H_DOMAIN, H_DSTART, H_DCOUNT, H_RINGPTS, H_RINGTGT, H_RINGSIZE, H_BASE_NODES, H_BASE_TARGETS,
  H_BASE_DOMAINS, H_GROUP_MODE, H_RES_PROB, H_RES_C, H_RES_UNIFORM, H_DWEIGHT, H_SPARE_PROB, H_DUNIFORM,
  H_TCUM, H_LEVELWEIGHT, H_STRAW_LOG, H_SEED_MAP, H_LEVEL, H_LAYOUT_VERSION, H_LIFT_PREFIX, H_LIFT_END, H_LIFT_Q, LAYOUT_V2, LAYOUT_V4, ALGO_JUMP_MAP, ALGO_RING, MODE_JUMP_BASE, LAYOUT_ERR_NO_TARGETS, LAYOUT_ERR_ABI,
} from './abi';

/** Hash attempts before the deterministic scan takes over. */
const MAX_ATTEMPTS: i32 = 24;
/** Straw2 retries per shard before the scan (CRUSH's choose_total_tries is 50). */
const MAX_STRAW_TRIES: i32 = 50;
/** Attempts at a spare target inside a chosen domain before scanning it. */
const IN_DOMAIN_ATTEMPTS: i32 = 4;
/** Largest group (scratch arrays below). */
const MAX_GS: i32 = 32;
const K_SHARD: u64 = 0x9e3779b97f4a7c15;
const K_ATTEMPT: u64 = 0xd6e8feb86659fd93;
const K_LEVEL: u64 = 0xa0761d6478bd642f;
const K_SPARE: u64 = 0xe7037ed1a0b428db;
const K_SCAN: u64 = 0x8ebc6af09c88c6e3;
const K_GROUP: u64 = 0x589965cc75374cc3;
const K_STAGE: u64 = 0x1d8e4e27c47d124f;
const K_INDOM: u64 = 0x2127599bf4325c37;
const K_PERM: u64 = 0x880355f21e6d1965;
const K_LIFT: u64 = 0x3c79ac492ba7b653;
const TWO_M53: f64 = 1.0 / 9007199254740992.0;

@inline function hdr(map: usize, i: i32): i32 { return load<i32>(map + (<usize>i << 2)); }
@inline function ldi(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
@inline function ldf(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
/** Uniform integer in [0, n) from the low 32 bits of h. */
@inline function below(h: u64, n: i32): i32 { return <i32>(((h & 0xffffffff) * <u64>n) >> 32); }

/** Scratch of one group (static data: the core never allocates). */
const FIRST: usize = memory.data(4 * MAX_GS, 16);   // attempt-0 jump-map candidates
const SLOTDOM: usize = memory.data(4 * MAX_GS, 16); // domain of each shard's current target
const FRESH: usize = memory.data(4 * MAX_GS, 16);   // 1 if the reservoir moved the shard (2: moved, target already set)
const ORIG: usize = memory.data(4 * MAX_GS, 16);    // LAYOUT_V2 lift: each shard's position in the base's own layout
const PREV: usize = memory.data(4 * MAX_GS, 16);    // LAYOUT_V2 lift: each shard's target before the seed's last stage that moved it, or -1
const SEEDSPARE: usize = memory.data(4 * MAX_GS, 16); // LAYOUT_V2 lift: the spare the base's own layout gave a shard, or -1
const GHOST: usize = memory.data(4 * MAX_GS, 16);   // LAYOUT_V4 lift: each shard's ghost spare (its own target alone out), or -1
/** Whether SEEDSPARE holds the current group's spares (a LAYOUT_V2 lift seeded by the base alone). */
let seedSpares = false;
/** Most domains remembered as having been in a group (base positions, fill, reservoir entrants). */
const MAX_EVER: i32 = 128;
const EVER: usize = memory.data(4 * MAX_EVER, 16);
let everCount: i32 = 0;

/** Remember that domain d was in the current group at some stage. */
@inline function remember(d: i32): void {
  if (everCount < MAX_EVER) { store<i32>(EVER + (<usize>everCount << 2), d); everCount++; }
}

/** Whether domain d was in the current group at some stage. */
@inline function wasMember(d: i32): bool {
  for (let i = 0; i < everCount; i++) if (ldi(EVER, i) == d) return true;
  return false;
}

/** Jump-map candidate over the base: descend the domain tree with an independent jump per level. */
function candJump(map: usize, key: u64, attempt: i32): i32 {
  // `key` is already mixed (objKey + shard * K_SHARD): each level's fmix below decorrelates
  let h = key ^ (<u64>attempt * K_ATTEMPT);
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let start: i32 = 0;
  let count: i32 = hdr(map, H_BASE_NODES);
  for (let l = 0; l < levels; l++) {
    h = fmix(h + K_LEVEL);
    const d = start + jump(h, count);
    const base = info + <usize>(l * 12);
    start = ldi(<usize>load<i32>(base + 4), d);
    count = ldi(<usize>load<i32>(base + 8), d);
  }
  h = fmix(h + K_LEVEL);
  return start + jump(h, count);
}

/**
 * `candJump(map, key, attempt)`, or -1 as soon as the descent reaches a domain of the effective
 * level that a shard among the first n (but `skip`) uses: a rejected attempt skips the levels
 * below its domain. Accepted attempts return exactly candJump's target.
 */
function candJumpFree(map: usize, key: u64, attempt: i32, n: i32, skip: i32): i32 {
  let h = key ^ (<u64>attempt * K_ATTEMPT);
  const levels = hdr(map, H_LEVELS);
  const level = hdr(map, H_LEVEL);
  const info = <usize>hdr(map, H_LEVELINFO);
  let start: i32 = 0;
  let count: i32 = hdr(map, H_BASE_NODES);
  for (let l = 0; l < levels; l++) {
    h = fmix(h + K_LEVEL);
    const d = start + jump(h, count);
    if (l == level && domainUsed(n, skip, d)) return -1;
    const base = info + <usize>(l * 12);
    start = ldi(<usize>load<i32>(base + 4), d);
    count = ldi(<usize>load<i32>(base + 8), d);
  }
  h = fmix(h + K_LEVEL);
  const t = start + jump(h, count);
  return level >= levels && domainUsed(n, skip, t) ? -1 : t;
}

/**
 * Jump-map candidates of four keys at once (four descents over the base, SIMD jump): lane i
 * equals candJump of key i at attempt 0 (keys already carry their attempt). Only the first
 * `lanes` results are stored.
 */
function candJump4(map: usize, ka: u64, kb: u64, kc: u64, kd: u64, out: usize, lanes: i32): void {
  let ha = ka, hb = kb, hc = kc, hd = kd;
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let sa: i32 = 0, sb: i32 = 0, sc: i32 = 0, sd: i32 = 0;
  let ca: i32 = hdr(map, H_BASE_NODES), cb: i32 = ca, cc: i32 = ca, cd: i32 = ca;
  for (let l = 0; l < levels; l++) {
    ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL); hc = fmix(hc + K_LEVEL); hd = fmix(hd + K_LEVEL);
    jump4(ha, ca, hb, cb, hc, cc, hd, cd);
    const da = sa + jumpOutA, db = sb + jumpOutB, dc = sc + jumpOutC, dd = sd + jumpOutD;
    const base = info + <usize>(l * 12);
    const sp = <usize>load<i32>(base + 4), cp = <usize>load<i32>(base + 8);
    sa = ldi(sp, da); ca = ldi(cp, da);
    sb = ldi(sp, db); cb = ldi(cp, db);
    sc = ldi(sp, dc); cc = ldi(cp, dc);
    sd = ldi(sp, dd); cd = ldi(cp, dd);
  }
  ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL); hc = fmix(hc + K_LEVEL); hd = fmix(hd + K_LEVEL);
  jump4(ha, ca, hb, cb, hc, cc, hd, cd);
  store<i32>(out, sa + jumpOutA);
  if (lanes > 1) store<i32>(out + 4, sb + jumpOutB);
  if (lanes > 2) store<i32>(out + 8, sc + jumpOutC);
  if (lanes > 3) store<i32>(out + 12, sd + jumpOutD);
}

/**
 * Jump-map candidates of six keys at once (three vectors, SIMD jump): lane i equals candJump of
 * key i at attempt 0 (keys already carry their attempt); all six results are stored.
 */
function candJump6(map: usize, ka: u64, kb: u64, kc: u64, kd: u64, ke: u64, kf: u64, out: usize): void {
  let ha = ka, hb = kb, hc = kc, hd = kd, he = ke, hf = kf;
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let sa: i32 = 0, sb: i32 = 0, sc: i32 = 0, sd: i32 = 0, se: i32 = 0, sf: i32 = 0;
  let ca: i32 = hdr(map, H_BASE_NODES), cb: i32 = ca, cc: i32 = ca, cd: i32 = ca, ce: i32 = ca, cf: i32 = ca;
  for (let l = 0; l < levels; l++) {
    ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL); hc = fmix(hc + K_LEVEL); hd = fmix(hd + K_LEVEL); he = fmix(he + K_LEVEL); hf = fmix(hf + K_LEVEL);
    jump6(ha, ca, hb, cb, hc, cc, hd, cd, he, ce, hf, cf);
    const da = sa + jumpOutA, db = sb + jumpOutB, dc = sc + jumpOutC, dd = sd + jumpOutD, de = se + jumpOutE, df = sf + jumpOutF;
    const base = info + <usize>(l * 12);
    const sp = <usize>load<i32>(base + 4), cp = <usize>load<i32>(base + 8);
    sa = ldi(sp, da); ca = ldi(cp, da);
    sb = ldi(sp, db); cb = ldi(cp, db);
    sc = ldi(sp, dc); cc = ldi(cp, dc);
    sd = ldi(sp, dd); cd = ldi(cp, dd);
    se = ldi(sp, de); ce = ldi(cp, de);
    sf = ldi(sp, df); cf = ldi(cp, df);
  }
  ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL); hc = fmix(hc + K_LEVEL); hd = fmix(hd + K_LEVEL); he = fmix(he + K_LEVEL); hf = fmix(hf + K_LEVEL);
  jump6(ha, ca, hb, cb, hc, cc, hd, cd, he, ce, hf, cf);
  store<i32>(out, sa + jumpOutA);
  store<i32>(out + 4, sb + jumpOutB);
  store<i32>(out + 8, sc + jumpOutC);
  store<i32>(out + 12, sd + jumpOutD);
  store<i32>(out + 16, se + jumpOutE);
  store<i32>(out + 20, sf + jumpOutF);
}

/** Jump-map candidates of two keys at once (one vector): lane i equals candJump of key i at attempt 0; `lanes` results stored. */
function candJump2(map: usize, ka: u64, kb: u64, out: usize, lanes: i32): void {
  let ha = ka, hb = kb;
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let sa: i32 = 0, sb: i32 = 0;
  let ca: i32 = hdr(map, H_BASE_NODES), cb: i32 = ca;
  for (let l = 0; l < levels; l++) {
    ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL);
    jump2v(ha, ca, hb, cb);
    const da = sa + jumpOutA, db = sb + jumpOutB;
    const base = info + <usize>(l * 12);
    const sp = <usize>load<i32>(base + 4), cp = <usize>load<i32>(base + 8);
    sa = ldi(sp, da); ca = ldi(cp, da);
    sb = ldi(sp, db); cb = ldi(cp, db);
  }
  ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL);
  jump2v(ha, ca, hb, cb);
  store<i32>(out, sa + jumpOutA);
  if (lanes > 1) store<i32>(out + 4, sb + jumpOutB);
}

/** Ring candidate: the attempt-th point clockwise from the key's position (virtual nodes). */
function candRing(map: usize, key: u64, attempt: i32): i32 {
  const pts = <usize>hdr(map, H_RINGPTS);
  const n = hdr(map, H_RINGSIZE);
  const p = fmix(key);
  let lo = 0, hi = n; // first point >= p
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u64>(pts + (<usize>mid << 3)) < p) lo = mid + 1; else hi = mid;
  }
  let idx = lo + attempt;
  while (idx >= n) idx -= n;
  return ldi(<usize>hdr(map, H_RINGTGT), idx);
}

/** True if some shard j != skip among the first n of the group sits in domain `dom`. */
@inline function domainUsed(n: i32, skip: i32, dom: i32): bool {
  for (let j = 0; j < n; j++) {
    if (j != skip && ldi(SLOTDOM, j) == dom) return true;
  }
  return false;
}

@inline function targetUsed(out: usize, n: i32, skip: i32, t: i32): bool {
  for (let j = 0; j < n; j++) if (j != skip && ldi(out, j) == t) return true;
  return false;
}

/** Deterministic fallback after the hash attempts: a free domain by scan, else any unused target. */
function scanPick(map: usize, out: usize, n: i32, s: i32, key: u64, needEligible: bool, nd: i32, nt: i32): i32 {
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const ds = <usize>hdr(map, H_DSTART);
  const dc = <usize>hdr(map, H_DCOUNT);
  const k2 = fmix(key ^ K_SCAN);
  const d0 = jump(k2, nd);
  for (let i = 0; i < nd; i++) {
    let d = d0 + i; if (d >= nd) d -= nd;
    if (domainUsed(n, s, d)) continue;
    const st = ldi(ds, d), ct = ldi(dc, d);
    const o = jump(fmix(k2 + K_LEVEL), ct);
    for (let k = 0; k < ct; k++) {
      let x = o + k; if (x >= ct) x -= ct;
      const t = st + x;
      if (!needEligible || load<u8>(elig + <usize>t) != 0) return t;
    }
  }
  // No free domain: share one (a violation) but never a target.
  const t0 = jump(k2, nt);
  for (let i = 0; i < nt; i++) {
    let t = t0 + i; if (t >= nt) t -= nt;
    if (needEligible && load<u8>(elig + <usize>t) == 0) continue;
    if (!targetUsed(out, n, s, t)) return t;
  }
  return -1;
}

/**
 * A target for shard `s` whose domain no other shard among the first n uses (except `s` itself);
 * if `needEligible`, only eligible targets. Hash attempts first (jump-map over the base, or ring),
 * then the deterministic scan over the first `nd` domains / `nt` targets. -1 if none exists.
 */
function pick(map: usize, algo: i32, out: usize, n: i32, s: i32, key: u64, needEligible: bool, firstAttempt: i32, nd: i32, nt: i32): i32 {
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const dp = <usize>hdr(map, H_DOMAIN);
  for (let a = firstAttempt; a < MAX_ATTEMPTS; a++) {
    if (algo == ALGO_JUMP_MAP) {
      const t = candJumpFree(map, key, a, n, s);
      if (t >= 0 && (!needEligible || load<u8>(elig + <usize>t) != 0)) return t;
      continue;
    }
    const t = candRing(map, key, a);
    if (needEligible && load<u8>(elig + <usize>t) == 0) continue;
    if (!domainUsed(n, s, ldi(dp, t))) return t;
  }
  return scanPick(map, out, n, s, key, needEligible, nd, nt);
}

/** Index in [0, count) by the targets' weights (cumulative, inclusive) from 53 bits of h. */
function weightedIndex(cum: usize, start: i32, count: i32, h: u64): i32 {
  const total = ldf(cum, start + count - 1);
  const u = <f64>(h >> 11) * TWO_M53 * total;
  let lo = 0, hi = count - 1; // first index with cum > u
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ldf(cum, start + mid) > u) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/**
 * The target of a shard placed in domain `d` (reservoir positions and spares), by the targets'
 * weights; if `needEligible`, an eligible one (a few hashed attempts, then a scan), or -1.
 */
function inDomain(map: usize, d: i32, key: u64, needEligible: bool): i32 {
  const st = ldi(<usize>hdr(map, H_DSTART), d);
  const ct = ldi(<usize>hdr(map, H_DCOUNT), d);
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const uniform = load<u8>(<usize>hdr(map, H_DUNIFORM) + <usize>d) != 0;
  const cum = <usize>hdr(map, H_TCUM);
  let h = fmix(key ^ K_INDOM ^ (<u64>d * K_LEVEL));
  let x = ct == 1 ? 0 : uniform ? jump(h, ct) : weightedIndex(cum, st, ct, h);
  if (!needEligible || load<u8>(elig + <usize>(st + x)) != 0) return st + x;
  for (let a = 1; a < IN_DOMAIN_ATTEMPTS; a++) {
    h = fmix(h + K_ATTEMPT);
    x = ct == 1 ? 0 : uniform ? jump(h, ct) : weightedIndex(cum, st, ct, h);
    if (load<u8>(elig + <usize>(st + x)) != 0) return st + x;
  }
  for (let i = 1; i < ct; i++) {
    let y = x + i; if (y >= ct) y -= ct;
    if (load<u8>(elig + <usize>(st + y)) != 0) return st + y;
  }
  return -1;
}

/**
 * The slot a stage-j entrant replaces when removal is not uniform (weighted pools): member i is
 * removed with probability proportional to 1 - pi_i(j) / pi_i(j-1), which keeps every domain's
 * inclusion probability exactly at its capped share of the weight (Chao 1982).
 */
function removeWeighted(map: usize, gs: i32, j: i32, h: u64): i32 {
  const w = <usize>hdr(map, H_DWEIGHT);
  const cp = <usize>hdr(map, H_RES_C);
  const c1 = ldf(cp, j), c0 = ldf(cp, j - 1);
  let total: f64 = 0;
  for (let s = 0; s < gs; s++) {
    const wi = ldf(w, ldi(SLOTDOM, s));
    const p0 = min<f64>(1.0, c0 * wi), p1 = min<f64>(1.0, c1 * wi);
    total += max<f64>(0.0, 1.0 - p1 / p0);
  }
  if (!(total > 0)) return below(h, gs);
  let u = <f64>(h & 0xffffffff) * (1.0 / 4294967296.0) * total;
  let last = 0;
  for (let s = 0; s < gs; s++) {
    const wi = ldf(w, ldi(SLOTDOM, s));
    const p0 = min<f64>(1.0, c0 * wi), p1 = min<f64>(1.0, c1 * wi);
    const a = max<f64>(0.0, 1.0 - p1 / p0);
    if (a > 0) { last = s; if (u < a) return s; u -= a; }
  }
  return last;
}

/**
 * The slot a uniform stage evicts after a lift (LAYOUT_V2): the member of a uniform slot r when it
 * is outside the prefix (domains >= nP); for a prefix member, a prefix member whose slot moves
 * anyway (FRESH) if there is one, uniformly, else r. Each side keeps its uniform share, and the
 * prefix domains are alike and alike in the seed (a uniform sample of the prefix's targets), so
 * every inclusion probability stays exact; only the shards that stay put are evicted less often.
 */
function liftSlot(gs: i32, h: u64, nP: i32): i32 {
  const r = below(h, gs);
  if (ldi(SLOTDOM, r) >= nP) return r;
  let f = 0;
  for (let s = 0; s < gs; s++) if (ldi(FRESH, s) != 0 && ldi(SLOTDOM, s) < nP) f++;
  if (f == 0) return r;
  let k = below(fmix(h ^ K_PERM), f);
  for (let s = 0; s < gs; s++) {
    if (ldi(FRESH, s) != 0 && ldi(SLOTDOM, s) < nP) { if (k == 0) return s; k--; }
  }
  return r;
}

/** The slot domain j takes when it enters at its stage (hash h): see reservoir. */
@inline function stageSlot(map: usize, gs: i32, j: i32, h: u64, nP: i32): i32 {
  return load<u8>(<usize>hdr(map, H_RES_UNIFORM) + <usize>j) == 0 ? removeWeighted(map, gs, j, h)
    : nP == 0 ? below(h, gs) : liftSlot(gs, h, nP);
}

/**
 * Reservoir stages [from, nd): each domain j enters with its stage probability and takes a slot;
 * SLOTDOM holds the members, FRESH marks the slots that changed. `nP` > 0: uniform stages evict
 * by liftSlot (a lifted group, LAYOUT_V2).
 */
function reservoir(map: usize, gs: i32, gkey: u64, from: i32, nd: i32, nP: i32): void {
  const prob = <usize>hdr(map, H_RES_PROB);
  for (let j = from; j < nd; j++) {
    const h = fmix(gkey + <u64>j * K_STAGE);
    if (<f64>(h >> 32) < ldf(prob, j)) {
      const slot = stageSlot(map, gs, j, h, nP);
      store<i32>(SLOTDOM + (<usize>slot << 2), j);
      store<i32>(FRESH + (<usize>slot << 2), 1);
      remember(j);
    }
  }
}

@inline function shardKey(objKey: u64, g: i32, gs: i32, s: i32): u64 {
  return objKey + <u64>(g * gs + s + 1) * K_SHARD;
}

/**
 * The original jump-map positions of one group over the base described by `map` (its level,
 * base domains and targets) into out[0..gs), and their domains into SLOTDOM; false if impossible.
 */
function jumpBase(map: usize, objKey: u64, g: i32, gs: i32, o: usize): bool {
  const dp = <usize>hdr(map, H_DOMAIN);
  const ndB = hdr(map, H_BASE_DOMAINS), ntB = hdr(map, H_BASE_TARGETS);
  // attempt 0 of every shard first, four descents at a time (independent, so they overlap), the
  // last one or two in a two-lane call
  let s = 0;
  // six at a time (three chains) unless that leaves one or two (7 = 4 + 3, 8 = 4 + 4): 10 = 6 + 4,
  // 12 = 6 + 6, 16 = 6 + 6 + 4, 18 = 6 + 6 + 6
  for (; gs - s >= 6 && gs - s != 7 && gs - s != 8; s += 6) {
    const k = shardKey(objKey, g, gs, s);
    candJump6(map, k, k + K_SHARD, k + 2 * K_SHARD, k + 3 * K_SHARD, k + 4 * K_SHARD, k + 5 * K_SHARD, FIRST + (<usize>s << 2));
  }
  for (; s + 2 < gs; s += 4) {
    const k = shardKey(objKey, g, gs, s), lanes = min(4, gs - s);
    candJump4(map, k, k + K_SHARD, k + 2 * K_SHARD, lanes > 3 ? k + 3 * K_SHARD : k, FIRST + (<usize>s << 2), lanes);
  }
  if (s < gs) { const k = shardKey(objKey, g, gs, s); candJump2(map, k, k + K_SHARD, FIRST + (<usize>s << 2), gs - s); }
  // a 128-bit filter of the domains taken so far: a domain whose bit is clear is certainly free
  let m0: u64 = 0, m1: u64 = 0;
  for (s = 0; s < gs; s++) {
    const c = ldi(FIRST, s);
    const dc = ldi(dp, c);
    const bit = <u64>1 << <u64>(dc & 63);
    const hit = ((dc & 64) != 0 ? m1 : m0) & bit;
    const t = hit != 0 && domainUsed(s, s, dc) ? pick(map, ALGO_JUMP_MAP, o, s, s, shardKey(objKey, g, gs, s), false, 1, ndB, ntB) : c;
    if (t < 0) return false;
    const d = t == c ? dc : ldi(dp, t);
    store<i32>(o + (<usize>s << 2), t);
    store<i32>(SLOTDOM + (<usize>s << 2), d);
    const b2 = <u64>1 << <u64>(d & 63);
    if ((d & 64) != 0) m1 |= b2; else m0 |= b2;
  }
  return true;
}

/**
 * LAYOUT_V2 lift seeded by the base alone (the pool grew from its base): the spares the base's own
 * layout gave shards on targets out of service (as its spare step picks them, in shard order) into
 * SEEDSPARE, so the lifted layout can leave such a shard on its spare. out and SLOTDOM are put
 * back to the base positions.
 */
function baseSpares(seed: usize, objKey: u64, g: i32, gs: i32, o: usize): void {
  const elig = <usize>hdr(seed, H_ELIGIBLE);
  const dp = <usize>hdr(seed, H_DOMAIN);
  const nd = hdr(seed, H_NDOMAINS), nt = hdr(seed, H_NTARGETS);
  let any = false;
  for (let s = 0; s < gs; s++) {
    store<i32>(SEEDSPARE + (<usize>s << 2), -1);
    if (load<u8>(elig + <usize>ldi(o, s)) != 0) continue;
    const t = pick(seed, ALGO_JUMP_MAP, o, gs, s, shardKey(objKey, g, gs, s) ^ K_SPARE, true, 0, nd, nt);
    if (t < 0) continue;
    store<i32>(SEEDSPARE + (<usize>s << 2), t);
    store<i32>(o + (<usize>s << 2), t);
    store<i32>(SLOTDOM + (<usize>s << 2), ldi(dp, t));
    any = true;
  }
  if (!any) return;
  for (let s = 0; s < gs; s++) {
    store<i32>(o + (<usize>s << 2), ldi(ORIG, s));
    store<i32>(SLOTDOM + (<usize>s << 2), ldi(dp, ldi(ORIG, s)));
  }
  seedSpares = true;
}

/**
 * LAYOUT_V4 lift seeded by the base alone: every shard's ghost spare into GHOST, the spare the
 * base's own layout gives it when its own target alone is out of service (the first hash attempt
 * on a target of a domain no sibling uses, other than its own target; -1 if the attempts run
 * out). State-blind, so the lifted layout that uses it does not change when targets fail or come
 * back; it equals the real spare while a shard's target is the only one out. SLOTDOM must hold
 * the seed-level domains of ORIG.
 */
function ghostSpares(seed: usize, objKey: u64, g: i32, gs: i32): void {
  const dp = <usize>hdr(seed, H_DOMAIN);
  // attempt 0 of every shard at once (SIMD descents, as jumpBase), the few rejected ones by scalar attempts
  let s = 0;
  for (; s + 6 <= gs; s += 6) {
    const k = shardKey(objKey, g, gs, s);
    candJump6(seed, k ^ K_SPARE, (k + K_SHARD) ^ K_SPARE, (k + 2 * K_SHARD) ^ K_SPARE, (k + 3 * K_SHARD) ^ K_SPARE,
      (k + 4 * K_SHARD) ^ K_SPARE, (k + 5 * K_SHARD) ^ K_SPARE, GHOST + (<usize>s << 2));
  }
  for (; s + 2 < gs; s += 4) {
    const k = shardKey(objKey, g, gs, s), lanes = min(4, gs - s);
    candJump4(seed, k ^ K_SPARE, (k + K_SHARD) ^ K_SPARE, (k + 2 * K_SHARD) ^ K_SPARE, (lanes > 3 ? k + 3 * K_SHARD : k) ^ K_SPARE, GHOST + (<usize>s << 2), lanes);
  }
  if (s < gs) {
    const k = shardKey(objKey, g, gs, s);
    candJump2(seed, k ^ K_SPARE, (s + 1 < gs ? k + K_SHARD : k) ^ K_SPARE, GHOST + (<usize>s << 2), gs - s);
  }
  for (s = 0; s < gs; s++) {
    const own = ldi(ORIG, s), c = ldi(GHOST, s);
    if (c != own && !domainUsed(gs, s, ldi(dp, c))) continue; // attempt 0 is the ghost spare
    const key = shardKey(objKey, g, gs, s) ^ K_SPARE;
    let t = -1;
    for (let a = 1; a < MAX_ATTEMPTS; a++) {
      const x = candJumpFree(seed, key, a, gs, s);
      if (x >= 0 && x != own) { t = x; break; }
    }
    store<i32>(GHOST + (<usize>s << 2), t);
  }
}

const NEWSEL: usize = memory.data(4 * MAX_GS, 16);  // LAYOUT_V4 lift fill: offsets of the lifting extension's domains taken

/** Floyd's sample of c distinct values of [0, n) into NEWSEL[0..c) (each c-subset equally likely), from hashes of `key`. */
function floydSample(n: i32, c: i32, key: u64): void {
  let got = 0;
  for (let j = n - c; j < n; j++) {
    const t = below(fmix(key + <u64>(j + 1) * K_LIFT), j + 1);
    let seen = false;
    for (let i = 0; i < got; i++) if (ldi(NEWSEL, i) == t) { seen = true; break; }
    store<i32>(NEWSEL + (<usize>got << 2), seen ? j : t);
    got++;
  }
}

/**
 * LAYOUT_V4 lift fill (H_LIFT_END > 0; placement/reservoir.ts `liftFill`): after the keep step
 * (SLOTDOM: kept domains, -1 for shards that move), no kept shard moves; of the e moving shards,
 * x take free base domains (the forced max(0, e - N), then each other free one with probability
 * H_LIFT_Q; a uniform subset), the rest uniform domains of the lifting extension [nP, nL). A moving
 * shard whose ghost spare is on a taken free base domain goes there; the others take the taken
 * domains in order. Every domain keeps its exact inclusion probability (docs/placement.md).
 */
function liftFillGroup(map: usize, gs: i32, gkey: u64, nL: i32, o: usize): void {
  const dp = <usize>hdr(map, H_DOMAIN);
  const nP = hdr(map, H_LIFT_PREFIX); // < gs <= MAX_GS: base domains fit a 64-bit mask
  let used: u64 = 0; // base domains holding a shard (kept, then also the ones taken below)
  for (let s = 0; s < gs; s++) { const d = ldi(SLOTDOM, s); if (d >= 0) used |= <u64>1 << <u64>d; }
  const K = <i32>popcnt(used);
  const F = nP - K, e = gs - K, N = nL - nP;
  const xmin = max(0, e - N);
  const qT = <u64><u32>hdr(map, H_LIFT_Q);
  let x = xmin;
  for (let i = 0; i < F - xmin; i++) if ((fmix(gkey ^ (<u64>(i + 1) * K_LIFT)) >> 32) < qT) x++;
  // which free base domains: a uniform x-subset of the F free ones (in domain order)
  let chosen: u64 = 0;
  if (x > 0) {
    floydSample(F, x, gkey ^ K_SCAN);
    for (let i = 0; i < x; i++) {
      let r = ldi(NEWSEL, i);
      for (let d = 0; d < nP; d++) {
        if ((used >> <u64>d) & 1) continue;
        if (r == 0) { chosen |= <u64>1 << <u64>d; break; }
        r--;
      }
    }
    // moving shards onto their ghost spares where those are on taken free base domains
    for (let s = 0; s < gs; s++) {
      if (ldi(SLOTDOM, s) >= 0) continue;
      const gh = ldi(GHOST, s);
      if (gh < 0) continue;
      const d = ldi(dp, gh);
      if (d >= nP || ((chosen >> <u64>d) & 1) == 0) continue;
      chosen &= ~(<u64>1 << <u64>d);
      store<i32>(SLOTDOM + (<usize>s << 2), d);
      store<i32>(FRESH + (<usize>s << 2), 2);
      store<i32>(o + (<usize>s << 2), gh);
    }
    // the other taken free base domains, in order, to the other moving shards, in order
    let s = 0;
    while (chosen != 0) {
      const d = <i32>ctz(chosen);
      chosen &= chosen - 1;
      while (ldi(SLOTDOM, s) >= 0) s++;
      store<i32>(SLOTDOM + (<usize>s << 2), d);
      store<i32>(FRESH + (<usize>s << 2), 1);
    }
  }
  // the rest: a uniform subset of the lifting extension's domains, in ascending order
  const c = e - x;
  floydSample(N, c, gkey ^ K_SPARE);
  for (let i = 1; i < c; i++) { // insertion sort (c <= gs)
    const v = ldi(NEWSEL, i);
    let j = i - 1;
    while (j >= 0 && ldi(NEWSEL, j) > v) { store<i32>(NEWSEL + (<usize>(j + 1) << 2), ldi(NEWSEL, j)); j--; }
    store<i32>(NEWSEL + (<usize>(j + 1) << 2), v);
  }
  let s = 0;
  for (let i = 0; i < c; i++) {
    while (ldi(SLOTDOM, s) >= 0) s++;
    store<i32>(SLOTDOM + (<usize>s << 2), nP + ldi(NEWSEL, i));
    store<i32>(FRESH + (<usize>s << 2), 1);
  }
  for (let d = 0; d < nP; d++) remember(d);
  for (let i = 0; i < c; i++) remember(nP + ldi(NEWSEL, i));
}

/**
 * Jump-map base positions of one group into out[0..gs) (and SLOTDOM); false if impossible.
 * MODE_JUMP_BASE: the original jump-map over the base, then the reservoir over later domains.
 * MODE_RESERVOIR: the first gs domains fill the group, then the reservoir. The fill keeps the
 * layout the base had on its own (a finer level, as the base had too few domains at this one):
 * the first shard on each of its domains stays put, the others take the remaining fill domains.
 */
function jumpMapGroup(map: usize, objKey: u64, g: i32, gs: i32, o: usize): bool {
  const dp = <usize>hdr(map, H_DOMAIN);
  const nd = hdr(map, H_NDOMAINS);
  const gkey = fmix(objKey + <u64>(g + 1) * K_GROUP);
  for (let s = 0; s < gs; s++) store<i32>(FRESH + (<usize>s << 2), 0);
  everCount = 0;
  seedSpares = false;
  if (hdr(map, H_GROUP_MODE) == MODE_JUMP_BASE) {
    if (!jumpBase(map, objKey, g, gs, o)) return false;
    for (let s = 0; s < gs; s++) remember(ldi(SLOTDOM, s));
    const ndB = hdr(map, H_BASE_DOMAINS);
    if (nd > ndB) reservoir(map, gs, gkey, ndB, nd, 0);
  } else {
    const seed = <usize>hdr(map, H_SEED_MAP);
    const v2 = hdr(map, H_LAYOUT_VERSION) >= LAYOUT_V2;
    let from = gs; // the first reservoir stage
    if (seed != 0) {
      if (!jumpBase(seed, objKey, g, gs, o)) return false;
      // LAYOUT_V2: the seed is the prefix's whole layout at its level (its own reservoir too)
      const nds = hdr(seed, H_NDOMAINS), ndBs = hdr(seed, H_BASE_DOMAINS);
      for (let s = 0; s < gs; s++) store<i32>(ORIG + (<usize>s << 2), ldi(o, s));
      const v4 = hdr(map, H_LAYOUT_VERSION) >= LAYOUT_V4 && nds == ndBs;
      if (v4) ghostSpares(seed, objKey, g, gs);
      if (v2 && nds == ndBs) baseSpares(seed, objKey, g, gs, o);
      for (let s = 0; s < gs; s++) store<i32>(PREV + (<usize>s << 2), -1);
      if (v2 && nds > ndBs) {
        // the seed's own reservoir (as `reservoir`), each entrant's target at once, the one it replaced in PREV
        const prob = <usize>hdr(seed, H_RES_PROB);
        for (let j = ndBs; j < nds; j++) {
          const h = fmix(gkey + <u64>j * K_STAGE);
          if (<f64>(h >> 32) >= ldf(prob, j)) continue;
          const slot = stageSlot(seed, gs, j, h, 0);
          store<i32>(PREV + (<usize>slot << 2), ldi(o, slot));
          store<i32>(SLOTDOM + (<usize>slot << 2), j);
          store<i32>(o + (<usize>slot << 2), inDomain(seed, j, shardKey(objKey, g, gs, slot), false));
        }
      }
      // keep the first shard on each domain (of this level); mark the rest to move (-1)
      for (let s = 0; s < gs; s++) {
        const d = ldi(dp, ldi(o, s));
        store<i32>(SLOTDOM + (<usize>s << 2), domainUsed(s, -1, d) ? -1 : d);
      }
      // LAYOUT_V4: on a shared domain the first shard whose ghost spare is in that domain stays
      // instead (so while its target is out, its spare stays valid through the lift)
      if (v4) {
        for (let s = 0; s < gs; s++) {
          if (ldi(SLOTDOM, s) >= 0) continue;
          const gh = ldi(GHOST, s), d = ldi(dp, ldi(o, s));
          if (gh < 0 || ldi(dp, gh) != d) continue;
          let k = 0;
          while (ldi(SLOTDOM, k) != d) k++;
          const gk = ldi(GHOST, k);
          if (gk >= 0 && ldi(dp, gk) == d) continue;
          store<i32>(SLOTDOM + (<usize>k << 2), -1);
          store<i32>(SLOTDOM + (<usize>s << 2), d);
        }
      }
      const liftEnd = v4 ? hdr(map, H_LIFT_END) : 0;
      if (liftEnd > 0) {
        liftFillGroup(map, gs, gkey, liftEnd, o);
        from = liftEnd;
      }
      // LAYOUT_V2: a moved slot whose base position is on a domain no slot kept goes back there
      // (the pool may have grown straight from its base: that shard then stays put)
      // (else to where it was before the seed's last stage that moved it, when that domain is free)
      if (v2 && liftEnd == 0) {
        for (let pass = 0; pass < 2; pass++) {
          for (let s = 0; s < gs; s++) {
            if (ldi(SLOTDOM, s) >= 0) continue;
            const t = ldi(pass == 0 ? ORIG : PREV, s);
            if (t < 0) continue;
            const d = ldi(dp, t);
            if (domainUsed(gs, -1, d)) continue;
            store<i32>(SLOTDOM + (<usize>s << 2), d);
            store<i32>(FRESH + (<usize>s << 2), 2);
            store<i32>(o + (<usize>s << 2), t);
          }
        }
      }
      // LAYOUT_V4: a moved slot goes to its ghost spare when that target's domain is a free fill
      // domain of uniform target weight (the set of fill domains taken is the same)
      if (v4 && liftEnd == 0) {
        const du = <usize>hdr(map, H_DUNIFORM);
        for (let s = 0; s < gs; s++) {
          if (ldi(SLOTDOM, s) >= 0) continue;
          const gh = ldi(GHOST, s);
          if (gh < 0) continue;
          const d = ldi(dp, gh);
          if (d >= gs || load<u8>(du + <usize>d) == 0 || domainUsed(gs, -1, d)) continue;
          store<i32>(SLOTDOM + (<usize>s << 2), d);
          store<i32>(FRESH + (<usize>s << 2), 2);
          store<i32>(o + (<usize>s << 2), gh);
        }
      }
      // the fill domains 0..gs-1 not kept go to the moved slots, in order
      let next = 0;
      for (let s = 0; s < gs && liftEnd == 0; s++) {
        if (ldi(SLOTDOM, s) >= 0) continue;
        while (domainUsed(gs, -1, next)) next++;
        store<i32>(SLOTDOM + (<usize>s << 2), next);
        store<i32>(FRESH + (<usize>s << 2), 1);
        next++;
      }
    } else {
      // no base layout to keep: the fill domains in a hashed order of slots
      for (let s = 0; s < gs; s++) { store<i32>(SLOTDOM + (<usize>s << 2), s); store<i32>(FRESH + (<usize>s << 2), 1); }
      for (let i = gs - 1; i > 0; i--) {
        const r = below(fmix(gkey ^ (<u64>i * K_PERM)), i + 1);
        const a = ldi(SLOTDOM, i);
        store<i32>(SLOTDOM + (<usize>i << 2), ldi(SLOTDOM, r));
        store<i32>(SLOTDOM + (<usize>r << 2), a);
      }
    }
    if (from == gs) for (let d = 0; d < gs; d++) remember(d);
    reservoir(map, gs, gkey, from, nd, v2 && seed != 0 ? hdr(map, H_LIFT_PREFIX) : 0);
  }
  for (let s = 0; s < gs; s++) {
    if (ldi(FRESH, s) != 1) continue;
    store<i32>(o + (<usize>s << 2), inDomain(map, ldi(SLOTDOM, s), shardKey(objKey, g, gs, s), false));
  }
  return true;
}

/**
 * A spare for shard s of a jump-map group on a pool with domains beyond the base: each attempt
 * takes the base candidate (jump over the base) and carries it through a one-slot weighted
 * reservoir over the later domains, so spares spread by weight over the whole pool. Attempts
 * landing on a domain that was ever in the group (base position, fill or reservoir entrant; the
 * shard's own domain excepted) are refused too, not only those used now: an extension that moves a sibling away then frees no
 * domain the spare would prefer, so it moves a spare only onto an added domain.
 */
function spareExtended(map: usize, out: usize, gs: i32, s: i32, key: u64): i32 {
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const dp = <usize>hdr(map, H_DOMAIN);
  const nd = hdr(map, H_NDOMAINS), ndB = hdr(map, H_BASE_DOMAINS);
  const sp = <usize>hdr(map, H_SPARE_PROB);
  const own = ldi(SLOTDOM, s); // the shard's own domain stays allowed, as in the original pick
  for (let a = 0; a < MAX_ATTEMPTS; a++) {
    let t = candJump(map, key, a);
    let d = ldi(dp, t);
    const ka = fmix(key ^ (<u64>a * K_ATTEMPT) ^ K_STAGE);
    for (let j = ndB; j < nd; j++) {
      if (<f64>(fmix(ka + <u64>j * K_STAGE) >> 32) < ldf(sp, j)) { d = j; t = -1; }
    }
    if (domainUsed(gs, s, d) || (d != own && wasMember(d))) continue;
    if (t < 0) t = inDomain(map, d, ka, true);
    else if (load<u8>(elig + <usize>t) == 0) continue;
    if (t >= 0) return t;
  }
  return scanPick(map, out, gs, s, key, true, nd, hdr(map, H_NTARGETS));
}

/** CRUSH-like straw2 choice among items [start, start+count) of level l (weights at level l). */
function straw2(map: usize, l: i32, start: i32, count: i32, x: u64, useLog: bool): i32 {
  const wp = <usize>ldi(<usize>hdr(map, H_LEVELWEIGHT), l);
  let best = start;
  let bestDraw: f64 = -Infinity;
  let bestHash: u64 = 0;
  for (let i = start; i < start + count; i++) {
    const h = fmix(x ^ (<u64>((l << 24) + i + 1) * K_SHARD));
    if (useLog) {
      const u = (<f64>(h >> 11) + 1.0) * TWO_M53; // (0, 1]
      const draw = Math.log(u) / ldf(wp, i);
      if (draw > bestDraw) { bestDraw = draw; best = i; }
    } else if (h >= bestHash) { bestHash = h; best = i; }
  }
  return best;
}

/** Straw2 descent from the root to a target for replica rank r. */
function candStraw2(map: usize, gkey: u64, r: i32, useLog: bool): i32 {
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  const x = fmix(gkey + <u64>(r + 1) * K_ATTEMPT);
  let start: i32 = 0;
  let count: i32 = ldi(info, 0);
  for (let l = 0; l < levels; l++) {
    const d = straw2(map, l, start, count, x, useLog);
    const base = info + <usize>(l * 12);
    start = ldi(<usize>load<i32>(base + 4), d);
    count = ldi(<usize>load<i32>(base + 8), d);
  }
  return straw2(map, levels, start, count, x, useLog);
}

/** Straw2 group, CRUSH `chooseleaf indep` style: position s retries with r = s + gs * try. */
function straw2Group(map: usize, objKey: u64, g: i32, gs: i32, o: usize): bool {
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const dp = <usize>hdr(map, H_DOMAIN);
  const useLog = hdr(map, H_STRAW_LOG) != 0;
  const gkey = fmix(objKey + <u64>(g + 1) * K_GROUP);
  for (let s = 0; s < gs; s++) {
    let t = -1;
    for (let f = 0; f < MAX_STRAW_TRIES; f++) {
      const c = candStraw2(map, gkey, s + gs * f, useLog);
      if (load<u8>(elig + <usize>c) == 0 || domainUsed(s, s, ldi(dp, c))) continue;
      t = c; break;
    }
    if (t < 0) t = scanPick(map, o, s, s, shardKey(objKey, g, gs, s), true, hdr(map, H_NDOMAINS), hdr(map, H_NTARGETS));
    if (t < 0) return false;
    store<i32>(o + (<usize>s << 2), t);
    store<i32>(SLOTDOM + (<usize>s << 2), ldi(dp, t));
  }
  return true;
}

/** Groups in out[0..gs) with two shards in one domain: 0 or 1. */
@inline function violates(gs: i32): i32 {
  // a 128-bit filter first: no two domains share a bit in most groups, then no pair is equal
  let m0: u64 = 0, m1: u64 = 0, clash = false;
  for (let i = 0; i < gs; i++) {
    const d = ldi(SLOTDOM, i);
    const bit = <u64>1 << <u64>(d & 63);
    if ((d & 64) != 0) { clash |= (m1 & bit) != 0; m1 |= bit; } else { clash |= (m0 & bit) != 0; m0 |= bit; }
  }
  if (!clash) return 0;
  for (let i = 1; i < gs; i++) {
    const di = ldi(SLOTDOM, i);
    for (let j = 0; j < i; j++) if (ldi(SLOTDOM, j) == di) return 1;
  }
  return 0;
}

/**
 * Lay out `n` objects (oids as u64 pairs lo, hi at `oids`) into `out` (i32 target per shard,
 * object-major, then group, then shard). Returns the number of groups violating the fault domain
 * rule, LAYOUT_ERR_NO_TARGETS when a group cannot be placed at all (fewer eligible targets than
 * shards), or LAYOUT_ERR_ABI when the header was not written for this ABI.
 */
export function layoutObjects(map: usize, oids: usize, n: i32, out: usize): i32 {
  if (hdr(map, H_MAGIC) != LAYOUT_ABI_MAGIC) return LAYOUT_ERR_ABI;
  const algo = hdr(map, H_ALGO);
  const groups = hdr(map, H_GROUPS);
  const gs = hdr(map, H_GROUPSIZE);
  if (gs < 1 || gs > MAX_GS) return LAYOUT_ERR_ABI;
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const dp = <usize>hdr(map, H_DOMAIN);
  const nd = hdr(map, H_NDOMAINS), nt = hdr(map, H_NTARGETS);
  const extended = algo == ALGO_JUMP_MAP && (hdr(map, H_GROUP_MODE) != MODE_JUMP_BASE || hdr(map, H_BASE_DOMAINS) < nd);
  let violations = 0;
  let o = out;
  for (let i = 0; i < n; i++) {
    const lo = load<u64>(oids + (<usize>i << 4));
    const hi = load<u64>(oids + (<usize>i << 4) + 8);
    const objKey = fmix(lo ^ fmix(hi + K_SHARD));
    for (let g = 0; g < groups; g++) {
      if (algo == ALGO_JUMP_MAP) {
        if (!jumpMapGroup(map, objKey, g, gs, o)) return LAYOUT_ERR_NO_TARGETS;
      } else if (algo == ALGO_RING) {
        for (let s = 0; s < gs; s++) {
          const t = pick(map, ALGO_RING, o, s, s, shardKey(objKey, g, gs, s), false, 0, nd, nt);
          if (t < 0) return LAYOUT_ERR_NO_TARGETS;
          store<i32>(o + (<usize>s << 2), t);
          store<i32>(SLOTDOM + (<usize>s << 2), ldi(dp, t));
        }
      } else {
        if (!straw2Group(map, objKey, g, gs, o)) return LAYOUT_ERR_NO_TARGETS;
      }
      // spares for shards whose base target is not eligible (DOWN, DOWNOUT, DRAIN)
      for (let s = 0; s < gs; s++) {
        if (load<u8>(elig + <usize>ldi(o, s)) != 0) continue;
        const key = shardKey(objKey, g, gs, s) ^ K_SPARE;
        // a lifted shard still on its base position keeps the spare the base's layout gave it, if it may
        const ks = seedSpares && ldi(o, s) == ldi(ORIG, s) ? ldi(SEEDSPARE, s) : -1;
        const t = ks >= 0 && load<u8>(elig + <usize>ks) != 0 && !domainUsed(gs, s, ldi(dp, ks)) && !targetUsed(o, gs, s, ks) ? ks
          : extended ? spareExtended(map, o, gs, s, key) : pick(map, algo, o, gs, s, key, true, 0, nd, nt);
        if (t < 0) return LAYOUT_ERR_NO_TARGETS;
        store<i32>(o + (<usize>s << 2), t);
        store<i32>(SLOTDOM + (<usize>s << 2), ldi(dp, t));
      }
      violations += violates(gs);
      o += <usize>gs << 2;
    }
  }
  return violations;
}
