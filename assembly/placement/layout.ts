// Batch layout of objects over a flattened pool map (see placement/engine.ts for the memory format).
// Two steps per group: a base position for every shard computed from the whole map regardless of
// target state (hierarchical jump hash with retries so no two shards share a fault domain), then a
// spare for each shard whose base target is not eligible, avoiding the domains of its siblings.
import { jump, jump2, fmix, jumpOutA, jumpOutB } from './jump';

// Map header: i32 words at the map pointer (kept in sync with placement/engine.ts).
const H_ALGO = 0;        // 0 = jump-map, 1 = ring
const H_LEVELS = 1;      // number of domain levels above targets (>= 1)
const H_NTARGETS = 2;
const H_NDOMAINS = 3;    // domains at the effective fault level
const H_GROUPS = 4;
const H_GROUPSIZE = 5;
const H_LEVELINFO = 6;   // ptr: per level [count, childStartPtr, childCountPtr]
const H_ELIGIBLE = 7;    // ptr: u8 per target
const H_DOMAIN = 8;      // ptr: i32 per target, its domain index at the effective fault level
const H_DSTART = 9;      // ptr: i32 per domain, first target
const H_DCOUNT = 10;     // ptr: i32 per domain, number of targets
const H_RINGPTS = 11;    // ptr: u64 sorted ring points
const H_RINGTGT = 12;    // ptr: i32 target of each ring point
const H_RINGSIZE = 13;

/** Hash attempts before the deterministic scan takes over. */
const MAX_ATTEMPTS: i32 = 24;
const K_SHARD: u64 = 0x9e3779b97f4a7c15;
const K_ATTEMPT: u64 = 0xd6e8feb86659fd93;
const K_LEVEL: u64 = 0xa0761d6478bd642f;
const K_SPARE: u64 = 0xe7037ed1a0b428db;
const K_SCAN: u64 = 0x8ebc6af09c88c6e3;

@inline function hdr(map: usize, i: i32): i32 { return load<i32>(map + (<usize>i << 2)); }
@inline function ldi(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

/** Jump-map candidate: descend the domain tree with an independent jump hash per level. */
function candJump(map: usize, key: u64, attempt: i32): i32 {
  // `key` is already mixed (objKey + shard * K_SHARD): each level's fmix below decorrelates
  let h = key ^ (<u64>attempt * K_ATTEMPT);
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let start: i32 = 0;
  let count: i32 = ldi(info, 0);
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

/** Attempt-0 jump-map candidates of shards s and s+1 at once (two interleaved descents). */
function candJumpPair(map: usize, keyA: u64, keyB: u64, out: usize): void {
  let ha = keyA, hb = keyB;
  const levels = hdr(map, H_LEVELS);
  const info = <usize>hdr(map, H_LEVELINFO);
  let sa: i32 = 0, sb: i32 = 0;
  let ca: i32 = ldi(info, 0), cb: i32 = ca;
  for (let l = 0; l < levels; l++) {
    ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL);
    jump2(ha, ca, hb, cb);
    const da = sa + jumpOutA, db = sb + jumpOutB;
    const base = info + <usize>(l * 12);
    const sp = <usize>load<i32>(base + 4), cp = <usize>load<i32>(base + 8);
    sa = ldi(sp, da); ca = ldi(cp, da);
    sb = ldi(sp, db); cb = ldi(cp, db);
  }
  ha = fmix(ha + K_LEVEL); hb = fmix(hb + K_LEVEL);
  jump2(ha, ca, hb, cb);
  store<i32>(out, sa + jumpOutA);
  store<i32>(out + 4, sb + jumpOutB);
}

/** Scratch for attempt-0 candidates of one group (static data: the core never allocates). */
const FIRST: usize = memory.data(4 * 32, 16);

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

@inline function cand(map: usize, algo: i32, key: u64, attempt: i32): i32 {
  return algo == 0 ? candJump(map, key, attempt) : candRing(map, key, attempt);
}

/** True if some shard j != skip among out[0..n) sits in domain `dom`. */
@inline function domainUsed(map: usize, out: usize, n: i32, skip: i32, dom: i32): bool {
  const dp = <usize>hdr(map, H_DOMAIN);
  for (let j = 0; j < n; j++) {
    if (j != skip && ldi(dp, ldi(out, j)) == dom) return true;
  }
  return false;
}

@inline function targetUsed(out: usize, n: i32, skip: i32, t: i32): bool {
  for (let j = 0; j < n; j++) if (j != skip && ldi(out, j) == t) return true;
  return false;
}

/**
 * A target for shard `s` whose domain no other shard among out[0..n) uses (except `s` itself);
 * if `needEligible`, only eligible targets. Hash attempts first, then a deterministic scan over
 * domains, then (violating the fault domain rule) any unused target. -1 if none exists.
 */
function pick(map: usize, algo: i32, out: usize, n: i32, s: i32, key: u64, needEligible: bool, firstAttempt: i32): i32 {
  const elig = <usize>hdr(map, H_ELIGIBLE);
  const dp = <usize>hdr(map, H_DOMAIN);
  for (let a = firstAttempt; a < MAX_ATTEMPTS; a++) {
    const t = cand(map, algo, key, a);
    if (needEligible && load<u8>(elig + <usize>t) == 0) continue;
    if (!domainUsed(map, out, n, s, ldi(dp, t))) return t;
  }
  const nd = hdr(map, H_NDOMAINS);
  const ds = <usize>hdr(map, H_DSTART);
  const dc = <usize>hdr(map, H_DCOUNT);
  const k2 = fmix(key ^ K_SCAN);
  const d0 = jump(k2, nd);
  for (let i = 0; i < nd; i++) {
    let d = d0 + i; if (d >= nd) d -= nd;
    if (domainUsed(map, out, n, s, d)) continue;
    const st = ldi(ds, d), ct = ldi(dc, d);
    const o = jump(fmix(k2 + K_LEVEL), ct);
    for (let k = 0; k < ct; k++) {
      let x = o + k; if (x >= ct) x -= ct;
      const t = st + x;
      if (!needEligible || load<u8>(elig + <usize>t) != 0) return t;
    }
  }
  // No free domain: share one (a violation) but never a target.
  const nt = hdr(map, H_NTARGETS);
  const t0 = jump(k2, nt);
  for (let i = 0; i < nt; i++) {
    let t = t0 + i; if (t >= nt) t -= nt;
    if (needEligible && load<u8>(elig + <usize>t) == 0) continue;
    if (!targetUsed(out, n, s, t)) return t;
  }
  return -1;
}

/** Groups in out[0..gs) with two shards in one domain: 0 or 1. */
@inline function violates(map: usize, out: usize, gs: i32): i32 {
  const dp = <usize>hdr(map, H_DOMAIN);
  for (let i = 1; i < gs; i++) {
    const di = ldi(dp, ldi(out, i));
    for (let j = 0; j < i; j++) if (ldi(dp, ldi(out, j)) == di) return 1;
  }
  return 0;
}

/**
 * Lay out `n` objects (oids as u64 pairs lo, hi at `oids`) into `out` (i32 target per shard,
 * object-major, then group, then shard). Returns the number of groups violating the fault domain
 * rule, or -1 when a group cannot be placed at all (fewer eligible targets than shards).
 */
export function layoutObjects(map: usize, oids: usize, n: i32, out: usize): i32 {
  const algo = hdr(map, H_ALGO);
  const groups = hdr(map, H_GROUPS);
  const gs = hdr(map, H_GROUPSIZE);
  const elig = <usize>hdr(map, H_ELIGIBLE);
  let violations = 0;
  let o = out;
  for (let i = 0; i < n; i++) {
    const lo = load<u64>(oids + (<usize>i << 4));
    const hi = load<u64>(oids + (<usize>i << 4) + 8);
    const objKey = fmix(lo ^ fmix(hi + K_SHARD));
    for (let g = 0; g < groups; g++) {
      // base positions: state-blind, so failures never disturb healthy shards
      // attempt 0 of every shard first, two descents at a time (independent, so they overlap)
      if (algo == 0) {
        let s = 0;
        for (; s + 1 < gs; s += 2) {
          const ka = objKey + <u64>(g * gs + s + 1) * K_SHARD;
          candJumpPair(map, ka, ka + K_SHARD, FIRST + (<usize>s << 2));
        }
        if (s < gs) store<i32>(FIRST + (<usize>s << 2), candJump(map, objKey + <u64>(g * gs + s + 1) * K_SHARD, 0));
      }
      for (let s = 0; s < gs; s++) {
        const key = objKey + <u64>(g * gs + s + 1) * K_SHARD;
        let t: i32 = -1;
        if (algo == 0) {
          const c = ldi(FIRST, s);
          t = domainUsed(map, o, s, s, ldi(<usize>hdr(map, H_DOMAIN), c)) ? pick(map, algo, o, s, s, key, false, 1) : c;
        } else t = pick(map, algo, o, s, s, key, false, 0);
        if (t < 0) return -1;
        store<i32>(o + (<usize>s << 2), t);
      }
      // spares for shards whose base target is not eligible (DOWN, DOWNOUT, DRAIN)
      for (let s = 0; s < gs; s++) {
        if (load<u8>(elig + <usize>ldi(o, s)) != 0) continue;
        const key = (objKey + <u64>(g * gs + s + 1) * K_SHARD) ^ K_SPARE;
        const t = pick(map, algo, o, gs, s, key, true, 0);
        if (t < 0) return -1;
        store<i32>(o + (<usize>s << 2), t);
      }
      violations += violates(map, o, gs);
      o += <usize>gs << 2;
    }
  }
  return violations;
}
