/* xxh64x: several XXH64 streams' stripe rounds side by side (AVX-512); see xxh64x.c. */
#ifndef CAIRN_XXH64X_H
#define CAIRN_XXH64X_H
#include <stddef.h>
#include <stdint.h>

/** Streams one xxh64x_rounds call advances at most. */
#define XXH64X_MAX_STREAMS 8

/** Whether this CPU runs the vector rounds (AVX-512 F and DQ); checked once. */
int xxh64x_available(void);

/**
 * Advance `n` (1..XXH64X_MAX_STREAMS) XXH64 lane states `v[i]` (v1..v4 of the specification) over
 * `len` bytes of `src[i]` (a multiple of 32: whole stripes), copying those bytes to `dst[i]` when
 * `dst` is not NULL. 1 when done; 0 when it cannot be (no AVX-512, bad arguments): `v` untouched,
 * nothing copied, the caller uses the scalar rounds.
 */
int xxh64x_rounds(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len);

/**
 * xxh64x_rounds, and when `stream` is not 0 and `dst` given, the copies are stored with
 * non-temporal (streaming) stores where every dst[i] is 32-byte aligned (ordinary stores
 * otherwise), fenced before returning: for destinations not read again soon (a write into the page
 * cache through a mapping), whose lines are then not first read from memory (the RFO of an
 * ordinary store to a line not in cache).
 */
int xxh64x_rounds_to(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len, int stream);

#endif
