/**
 * The record sizes of the array akeys a container has written since open (`ContState.recordSizes`),
 * found by (oid, dkey, akey) without building a string: every shard write of an EC or array update
 * looks its akey up here. Why not a `Map<string, number>`: the key string (the oid in hex, both keys
 * as latin1, concatenated) and its hash cost more than the rest of the check (perf, EC_4P2G1 1 MiB
 * writes, session 37: ~5 us of the JavaScript thread's ~82 us per MiB were that key's build and
 * lookup); here the bytes are hashed in place into a small integer and compared only on a hit.
 */
import { assert } from '../../core/errors.js';
import { sameBytes } from '../../core/bytes.js';

/** Record sizes one container keeps at most; the cache is emptied when a new one would pass it. */
export const RECORD_SIZES_MAX = 65_536;

interface Entry { readonly oid: bigint; readonly dkey: Uint8Array; readonly akey: Uint8Array; size: number; readonly next: Entry | undefined }

/**
 * A small integer (V8 keeps it unboxed as a Map key) from the keys' bytes and every bit of the oid
 * (FNV-1a, mixed). The oid's three 64-bit words are folded into one first: a store's oids are unit
 * object ids `(oid << 32) | shard` (io/shard-store.ts), whose low 32 bits are only the shard
 * index, so a slot of those bits alone put every object's akey of one shard, dkey and akey name in
 * one chain (a rebuild of 2,048 arrays: 2,756 entries in 40 slots, 33 compared a lookup, 15 us of
 * the JavaScript thread a rebuilt cell; docs/performance.md, session 66).
 */
function slotOf(oid: bigint, dkey: Uint8Array, akey: Uint8Array): number {
  let h = Math.imul(0x811c9dc5 ^ dkey.length, 0x01000193);
  for (let i = 0; i < dkey.length; i++) h = Math.imul(h ^ dkey[i]!, 0x01000193);
  h = Math.imul(h ^ akey.length, 0x01000193);
  for (let i = 0; i < akey.length; i++) h = Math.imul(h ^ akey[i]!, 0x01000193);
  const w = BigInt.asUintN(64, oid ^ (oid >> 64n) ^ (oid >> 128n)); // (oids are below 2^192)
  h = Math.imul(h ^ Number(w & 0xffffffffn), 0x01000193);
  h = Math.imul(h ^ Number(w >> 32n), 0x01000193);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/** Record size per (oid, dkey, akey), at most RECORD_SIZES_MAX of them. */
export class RecordSizes {
  /** Entries by slot, colliding ones chained through `next`. */
  private readonly slots = new Map<number, Entry>();
  private count = 0;

  /** Record sizes held. */
  get size(): number { return this.count; }

  /** The most entries one slot holds (a lookup compares at most this many): a check on the slot hash's spread. */
  longestChain(): number {
    let most = 0;
    for (const head of this.slots.values()) {
      let n = 0;
      for (let e: Entry | undefined = head; e !== undefined; e = e.next) n++;
      if (n > most) most = n;
    }
    return most;
  }

  /** The record size kept for the akey, or undefined. */
  get(oid: bigint, dkey: Uint8Array, akey: Uint8Array): number | undefined {
    for (let e = this.slots.get(slotOf(oid, dkey, akey)); e !== undefined; e = e.next) {
      if (e.oid === oid && sameBytes(e.dkey, dkey) && sameBytes(e.akey, akey)) return e.size;
    }
    return undefined;
  }

  /** Keep `size` for the akey (the keys are copied: callers reuse their buffers); empties the cache first when it is full. */
  set(oid: bigint, dkey: Uint8Array, akey: Uint8Array, size: number): void {
    assert(Number.isSafeInteger(size) && size >= 1, 'a kept record size is a positive integer', { size });
    const slot = slotOf(oid, dkey, akey);
    let head = this.slots.get(slot);
    for (let e = head; e !== undefined; e = e.next) {
      if (e.oid === oid && sameBytes(e.dkey, dkey) && sameBytes(e.akey, akey)) { e.size = size; return; }
    }
    if (this.count >= RECORD_SIZES_MAX) { this.slots.clear(); this.count = 0; head = undefined; }
    this.slots.set(slot, { oid, dkey: dkey.slice(), akey: akey.slice(), size, next: head });
    this.count++;
  }
}
