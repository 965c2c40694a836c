// Placement core of Cairn: jump consistent hash and batch object layout (jump-map or ring).
// Memory is managed by the TypeScript side (placement/engine.ts): it writes the flattened pool map,
// object ids and output buffers after `heapBase()` and grows memory itself.
import { jump } from './placement/jump';
import { layoutObjects } from './placement/layout';

/** First free byte after static data: the TypeScript side allocates from here. */
export function heapBase(): usize { return __heap_base; }

/** Jump consistent hash of one unsigned 64-bit key into [0, buckets). */
export function jumpHash(key: u64, buckets: i32): i32 { return jump(key, buckets); }

/** Jump consistent hash of `n` u64 keys at `keys` into i32 buckets at `out`. */
export function jumpHashBatch(keys: usize, n: i32, buckets: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    store<i32>(out + (<usize>i << 2), jump(load<u64>(keys + (<usize>i << 3)), buckets));
  }
}

/** Lay out `n` objects; see placement/layout.ts. */
export function layoutBatch(map: usize, oids: usize, n: i32, out: usize): i32 {
  return layoutObjects(map, oids, n, out);
}
