// Placement core of Cairn: jump consistent hash and batch object layout (jump-map or ring).
// Memory is managed by the TypeScript side (placement/engine.ts): it writes the flattened pool map,
// object ids and output buffers after `heapBase()` and grows memory itself.
import { jump, jump2, jumpOutA, jumpOutB } from './placement/jump';
import { layoutObjects } from './placement/layout';

/** First free byte after static data: the TypeScript side allocates from here. */
export function heapBase(): usize { return __heap_base; }

/** Jump consistent hash of one unsigned 64-bit key into [0, buckets). */
export function jumpHash(key: u64, buckets: i32): i32 { return jump(key, buckets); }

/** Jump consistent hash of `n` u64 keys at `keys` into i32 buckets at `out`. */
export function jumpHashBatch(keys: usize, n: i32, buckets: i32, out: usize): void {
  let i = 0;
  for (; i + 1 < n; i += 2) { // two interleaved chains: the CPU overlaps their latency
    jump2(load<u64>(keys + (<usize>i << 3)), buckets, load<u64>(keys + (<usize>i << 3) + 8), buckets);
    store<i32>(out + (<usize>i << 2), jumpOutA);
    store<i32>(out + (<usize>i << 2) + 4, jumpOutB);
  }
  for (; i < n; i++) {
    store<i32>(out + (<usize>i << 2), jump(load<u64>(keys + (<usize>i << 3)), buckets));
  }
}

/** Lay out `n` objects; see placement/layout.ts. */
export function layoutBatch(map: usize, oids: usize, n: i32, out: usize): i32 {
  return layoutObjects(map, oids, n, out);
}
