/**
 * murmur3's 32-bit finaliser (fmix32): every input bit reaches every output bit. One definition for
 * the places that spread a hash or a seed over 32 bits (the slot checksum of the store's log, the
 * seeded generator, the engine's write-epoch table's key hashes).
 */
export function fmix32(v: number): number {
  v = Math.imul(v ^ (v >>> 16), 0x85ebca6b);
  v = Math.imul(v ^ (v >>> 13), 0xc2b2ae35);
  return (v ^ (v >>> 16)) >>> 0;
}
