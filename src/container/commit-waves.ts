/**
 * The order of a commit's ops. All ops of a commit share one epoch; within it a store orders two
 * versions of one key by arrival (its sequence number), so two ops of a commit that touch the same
 * key must reach every target in the order they were given: an update then a punch of its akey,
 * dkey or object (the key stays punched), a punch then an update under it, two updates of one key
 * (the second wins), two array writes of one akey (their overlap is the later's, and an
 * erasure-coded stripe's read-modify-write must see the earlier). Writes of a commit go out at
 * once, and their arrival order is not theirs to choose (a connected pool's requests are handled
 * as each engine takes them), so:
 * - `orderOps` first drops the ops a later one of the commit overwrites whole (a punch of their
 *   key or above, a later single value of the same akey), and makes one write of the
 *   erasure-coded array writes of one akey (planned from the stripes as they were, read once; an
 *   engine holding this commit's earlier writes undecided would make a read of them wait for the
 *   commit itself), whose stripes are taken as holes when the commit punched them first;
 * - `commitWaves` then puts the ops that must still follow others in later waves: each wave is
 *   applied, and acknowledged, before the next is sent. None of them reads what an earlier wave
 *   wrote.
 */
import type { Op } from './ops.js';

/** Bytes as a string, one character each (latin1 maps bytes one to one). */
function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** An object and dkey as one map key, self-delimiting (the dkey's length first), so an akey may follow. */
function dkeyName(oid: bigint, dkey: Uint8Array): string {
  return `${oid.toString(16)}:${dkey.length}:${latin1(dkey)}`;
}

/** FNV-1a of `b`, continuing from `h`. */
function fnv(h: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return Math.imul(h ^ 0xff, 0x01000193); // (a byte past the end: "ab"+"c" and "a"+"bc" differ)
}

/**
 * Whether `ops` (one commit) are updates of distinct akeys and nothing else: then neither
 * `orderOps` nor `commitWaves` has anything to do (the common commit of several ops, a KV batch or
 * a transaction of distinct keys). Checked by a 32-bit hash per key: a clash only sends the commit
 * the long way.
 */
export function distinctWrites(ops: readonly Op[]): boolean {
  const seen = new Set<number>();
  for (const op of ops) {
    if (op.kind !== 'single' && op.kind !== 'array') return false;
    const h = fnv(fnv(Number(op.oid & 0xffffffffn) ^ 0x811c9dc5, op.dkey), op.akey);
    if (seen.has(h)) return false;
    seen.add(h);
  }
  return true;
}

/**
 * The wave of each op of `ops` (0 first): one more than the latest wave of an earlier op it must
 * follow, 0 when it follows none. Undefined when every op is in wave 0 (the common case: a
 * transaction or batch whose ops touch distinct keys), so the caller keeps its one-wave path.
 */
export function commitWaves(ops: readonly Op[]): Int32Array | undefined {
  if (ops.length < 2) return undefined;
  // the latest wave of any op on an object / a dkey / an akey, and of a punch of an object / a dkey
  const objAny = new Map<bigint, number>(), objPunch = new Map<bigint, number>();
  const dkeyAny = new Map<string, number>(), dkeyPunch = new Map<string, number>();
  const akeyAny = new Map<string, number>();
  const waves = new Int32Array(ops.length);
  let later = false;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const oid = op.oid;
    let after = objPunch.get(oid) ?? -1;
    let w: number;
    if (op.kind === 'punchObject') {
      w = (objAny.get(oid) ?? -1) + 1;
      objPunch.set(oid, w);
    } else {
      const d = dkeyName(oid, op.dkey);
      if (op.kind === 'punchDkey') {
        after = Math.max(after, dkeyAny.get(d) ?? -1);
        w = after + 1;
        dkeyPunch.set(d, w);
      } else {
        const a = d + latin1(op.akey);
        after = Math.max(after, dkeyPunch.get(d) ?? -1, akeyAny.get(a) ?? -1);
        w = after + 1;
        akeyAny.set(a, w);
      }
      if (w > (dkeyAny.get(d) ?? -1)) dkeyAny.set(d, w);
    }
    if (w > (objAny.get(oid) ?? -1)) objAny.set(oid, w);
    waves[i] = w;
    if (w > 0) later = true;
  }
  return later ? waves : undefined;
}

type ArrayOp = Extract<Op, { kind: 'array' }>;

/**
 * The ops that write what `ops` (one commit, in order) mean, in the same order: ops a later one
 * overwrites whole are left out, and the array writes of one erasure-coded akey (`ec(oid)`) become
 * one (`pieces` when they leave gaps; `zeroBase` when a punch of the commit covers it). `ops`
 * itself when nothing changes. Conflict checks and commit events still use `ops`.
 */
export function orderOps(ops: readonly Op[], ec: (oid: bigint) => boolean): readonly Op[] {
  if (ops.length < 2) return ops;
  // each op's dkey and akey names, made once for the passes below ('' where the op has none)
  const dnames = ops.map((op) => (op.kind === 'punchObject' ? '' : dkeyName(op.oid, op.dkey)));
  const anames = ops.map((op, i) => (op.kind === 'punchObject' || op.kind === 'punchDkey' ? '' : dnames[i]! + latin1(op.akey)));
  const keep = new Array<boolean>(ops.length);
  const objPunched = new Set<bigint>(), dkeyPunched = new Set<string>(), akeyPunched = new Set<string>(), singleLater = new Set<string>();
  let dropped = 0;
  // newest first: what a later op hides
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    let hidden = objPunched.has(op.oid);
    if (op.kind === 'punchObject') objPunched.add(op.oid);
    else {
      const d = dnames[i]!;
      hidden ||= dkeyPunched.has(d);
      if (op.kind === 'punchDkey') dkeyPunched.add(d);
      else {
        const a = anames[i]!;
        hidden ||= akeyPunched.has(a) || (op.kind === 'single' && singleLater.has(a));
        if (op.kind === 'punchAkey') akeyPunched.add(a);
        else if (op.kind === 'single') singleLater.add(a);
      }
    }
    keep[i] = !hidden;
    if (hidden) dropped++;
  }
  // erasure-coded array writes by akey (oldest first), and the punches each comes after
  const arrays = new Map<string, number[]>();
  const punchedBefore = new Set<string>(); // akeys a kept punch of this commit covers before their first array write
  const objP = new Set<bigint>(), dkeyP = new Set<string>(), akeyP = new Set<string>();
  let merges = false;
  for (let i = 0; i < ops.length; i++) {
    if (!keep[i]) continue;
    const op = ops[i]!;
    if (op.kind === 'punchObject') { objP.add(op.oid); continue; }
    const d = dnames[i]!;
    if (op.kind === 'punchDkey') { dkeyP.add(d); continue; }
    const a = anames[i]!;
    if (op.kind === 'punchAkey') { akeyP.add(a); continue; }
    if (op.kind !== 'array' || !ec(op.oid)) continue;
    const list = arrays.get(a);
    if (list === undefined) {
      arrays.set(a, [i]);
      if (objP.has(op.oid) || dkeyP.has(d) || akeyP.has(a)) { punchedBefore.add(a); merges = true; }
    } else { list.push(i); merges = true; }
  }
  if (dropped === 0 && !merges) return ops;
  const out: Op[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (!keep[i]) continue;
    const op = ops[i]!;
    if (op.kind !== 'array' || !ec(op.oid)) { out.push(op); continue; }
    const a = anames[i]!;
    const list = arrays.get(a)!;
    if (list[0] !== i) continue; // (joined to the first)
    const zeroBase = punchedBefore.has(a);
    if (list.length === 1) { out.push(zeroBase ? { ...op, zeroBase } : op); continue; }
    out.push(joinArrayWrites(list.map((j) => ops[j] as ArrayOp), zeroBase));
  }
  return out;
}

/** One write of an akey's array writes (in order, later bytes over earlier): contiguous when they leave no gap, else with `pieces`. */
function joinArrayWrites(list: readonly ArrayOp[], zeroBase: boolean): ArrayOp {
  let lo = Infinity, hi = 0;
  for (const w of list) { lo = Math.min(lo, w.offset); hi = Math.max(hi, w.offset + w.data.length); }
  const data = new Uint8Array(hi - lo);
  for (const w of list) data.set(w.data, w.offset - lo);
  // (gaps: the writes sorted by offset leave a byte unwritten)
  const sorted = list.map((w) => [w.offset, w.offset + w.data.length] as const).sort((x, y) => x[0] - y[0]);
  let reach = lo, gaps = false;
  for (const [from, to] of sorted) { if (from > reach) { gaps = true; break; } reach = Math.max(reach, to); }
  const first = list[0]!;
  return {
    kind: 'array', oid: first.oid, dkey: first.dkey, akey: first.akey, offset: lo, data,
    ...(gaps ? { pieces: list.map((w) => ({ offset: w.offset, data: w.data })) } : {}),
    ...(zeroBase ? { zeroBase } : {}),
  };
}
