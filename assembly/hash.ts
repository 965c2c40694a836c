// XXH64 for short inputs, written from its specification (github.com/Cyan4973/xxHash,
// doc/xxhash_spec.md). The caller copies its input into this module's buffer (`buffer()`, at
// INPUT_OFFSET) and reads the hash back from the buffer's first 8 bytes (little-endian, unsigned):
// a call takes no pointer arithmetic or memory sizing on the JavaScript side, and the answer is
// unsigned without a BigInt mask. core/xxhash.ts checks it against xxhash-wasm.

const PRIME64_1: u64 = 0x9E3779B185EBCA87;
const PRIME64_2: u64 = 0xC2B2AE3D27D4EB4F;
const PRIME64_3: u64 = 0x165667B19E3779F9;
const PRIME64_4: u64 = 0x85EBCA77C2B2AE63;
const PRIME64_5: u64 = 0x27D4EB2F165667C5;

/** Bytes of input one call takes (core/xxhash.ts hashes longer inputs with xxhash-wasm). */
const INPUT_MAX_BYTES: i32 = 65536;
/** Where the input starts in the buffer (the hash is written at its start). */
const INPUT_OFFSET: i32 = 16;

const BUF: usize = memory.data(INPUT_OFFSET + INPUT_MAX_BYTES, 16);

/** Address of the buffer: the hash at [0, 8), the input from INPUT_OFFSET. */
export function buffer(): usize { return BUF; }
/** Bytes of input one call takes. */
export function inputMax(): i32 { return INPUT_MAX_BYTES; }
/** Offset of the input in the buffer. */
export function inputOffset(): i32 { return INPUT_OFFSET; }

// @ts-ignore: decorator
@inline function round(acc: u64, lane: u64): u64 {
  acc += lane * PRIME64_2;
  acc = rotl<u64>(acc, 31);
  return acc * PRIME64_1;
}

// @ts-ignore: decorator
@inline function merge(acc: u64, v: u64): u64 {
  acc ^= round(0, v);
  return acc * PRIME64_1 + PRIME64_4;
}

/** XXH64 of the `len` bytes at INPUT_OFFSET with `seed`, written at the buffer's start. */
export function xxh64(len: i32, seed: u64): void {
  let p: usize = BUF + <usize>INPUT_OFFSET;
  const end: usize = p + <usize>len;
  let acc: u64;
  if (len >= 32) {
    let v1 = seed + PRIME64_1 + PRIME64_2;
    let v2 = seed + PRIME64_2;
    let v3 = seed;
    let v4 = seed - PRIME64_1;
    const limit: usize = end - 32;
    do {
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p, 8));
      v3 = round(v3, load<u64>(p, 16));
      v4 = round(v4, load<u64>(p, 24));
      p += 32;
    } while (p <= limit);
    acc = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    acc = merge(acc, v1);
    acc = merge(acc, v2);
    acc = merge(acc, v3);
    acc = merge(acc, v4);
  } else {
    acc = seed + PRIME64_5;
  }
  acc += <u64>len;
  while (p + 8 <= end) {
    acc ^= round(0, load<u64>(p));
    acc = rotl<u64>(acc, 27) * PRIME64_1 + PRIME64_4;
    p += 8;
  }
  if (p + 4 <= end) {
    acc ^= (<u64>load<u32>(p)) * PRIME64_1;
    acc = rotl<u64>(acc, 23) * PRIME64_2 + PRIME64_3;
    p += 4;
  }
  while (p < end) {
    acc ^= (<u64>load<u8>(p)) * PRIME64_5;
    acc = rotl<u64>(acc, 11) * PRIME64_1;
    p += 1;
  }
  acc ^= acc >> 33;
  acc *= PRIME64_2;
  acc ^= acc >> 29;
  acc *= PRIME64_3;
  acc ^= acc >> 32;
  store<u64>(BUF, acc);
}
