/*
 * xxh64x: several XXH64 streams advanced side by side with AVX-512 (Cairn's hashed batches).
 *
 * One XXH64 stream is four 64-bit lanes, each a chain of add, rotate and multiply per 32-byte
 * stripe; scalar code is bound by the multiplier (8 multiplies per stripe, one a cycle: about
 * 10-11 GB per CPU-second here, copy included). The cells of one EC read or write are separate
 * streams of the same length, so their lanes can share vector instructions: one 512-bit register
 * holds the four lanes of two streams, and up to four registers (eight streams) advance together,
 * which hides the vector multiply's latency. The stripes are loaded once, copied to a destination
 * when asked (a read out of a mapped file) and folded into their lanes in the same pass.
 *
 * Only the stripe rounds are here (whole 32-byte stripes, the stream's buffered tail empty): the
 * caller (hashio.c) finishes each stream, tail and digest, with the scalar code, which stays the
 * reference. Written from the XXH64 specification (github.com/Cyan4973/xxHash,
 * doc/xxhash_spec.md), as hashio.c's scalar version.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "xxh64x.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL

/* How far ahead of the stripes being hashed each source is prefetched (as hashio.c's copy+hash). */
#define XPREFETCH_BYTES 2048
/*
 * How far ahead each destination is prefetched for writing when the stripes are copied with
 * ordinary stores (a mapped read's copy into the caller's buffers): the lines are owned before the
 * stores reach them (a store to a line not in cache waits for it, the RFO). Measured in situ
 * (1 MiB EC_4P2G1 reads, base and this build in one process, perf share of rounds_any, load
 * 12-20): 1024 bytes ahead 35.7 -> 28.7%, 34.4 -> 30.3%; 512: 32.1 -> 29.0%; 2048: no change.
 */
#define XPREFETCH_DST 1024

/*
 * The rounds of `K` registers (2K streams) over `len` bytes (a multiple of 32). `src[i]`/`dst[i]`
 * for i < 2K (a stream may repeat another: its lanes are computed twice and its copy stored twice,
 * to the same place). `copy`: store each stripe to dst[i] too; 2: with non-temporal stores (every
 * dst[i] 32-byte aligned; the caller fences).
 */
static inline __attribute__((always_inline, target("avx512f,avx512dq")))
void rounds_k(int K, int copy, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len) {
  const __m512i p1 = _mm512_set1_epi64((long long)XP1), p2 = _mm512_set1_epi64((long long)XP2);
  __m512i acc[4];
  for (int j = 0; j < K; j++) acc[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)v[2 * j])), _mm256_loadu_si256((const __m256i *)v[2 * j + 1]), 1);
  for (size_t off = 0; off < len; off += 32) {
    if ((off & 63) == 0) { for (int i = 0; i < 2 * K; i++) __builtin_prefetch(src[i] + off + XPREFETCH_BYTES); if (copy == 1) for (int i = 0; i < 2 * K; i++) __builtin_prefetch(dst[i] + off + XPREFETCH_DST, 1); }
    for (int j = 0; j < K; j++) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(src[2 * j] + off));
      __m256i b = _mm256_loadu_si256((const __m256i *)(src[2 * j + 1] + off));
      if (copy == 2) { _mm256_stream_si256((__m256i *)(dst[2 * j] + off), a); _mm256_stream_si256((__m256i *)(dst[2 * j + 1] + off), b); }
      else if (copy) { _mm256_storeu_si256((__m256i *)(dst[2 * j] + off), a); _mm256_storeu_si256((__m256i *)(dst[2 * j + 1] + off), b); }
      __m512i in = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
      acc[j] = _mm512_mullo_epi64(_mm512_rol_epi64(_mm512_add_epi64(acc[j], _mm512_mullo_epi64(in, p2)), 31), p1);
    }
  }
  for (int j = 0; j < K; j++) {
    _mm256_storeu_si256((__m256i *)v[2 * j], _mm512_castsi512_si256(acc[j]));
    _mm256_storeu_si256((__m256i *)v[2 * j + 1], _mm512_extracti64x4_epi64(acc[j], 1));
  }
}

static __attribute__((target("avx512f,avx512dq"))) void rounds_any(int K, int copy, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len) {
  /* (constant K and copy in each call: the compiler keeps the accumulators in registers) */
  if (copy == 2) {
    switch (K) {
      case 1: rounds_k(1, 2, v, src, dst, len); break;
      case 2: rounds_k(2, 2, v, src, dst, len); break;
      case 3: rounds_k(3, 2, v, src, dst, len); break;
      default: rounds_k(4, 2, v, src, dst, len); break;
    }
    _mm_sfence();
    return;
  }
  switch (K * 2 + (copy != 0)) {
    case 2: rounds_k(1, 0, v, src, dst, len); break;
    case 3: rounds_k(1, 1, v, src, dst, len); break;
    case 4: rounds_k(2, 0, v, src, dst, len); break;
    case 5: rounds_k(2, 1, v, src, dst, len); break;
    case 6: rounds_k(3, 0, v, src, dst, len); break;
    case 7: rounds_k(3, 1, v, src, dst, len); break;
    case 8: rounds_k(4, 0, v, src, dst, len); break;
    default: rounds_k(4, 1, v, src, dst, len); break;
  }
}

static int avx512_state; /* 0 not checked, 1 usable, -1 not */

int xxh64x_available(void) {
  if (avx512_state == 0) {
    __builtin_cpu_init();
    avx512_state = (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) ? 1 : -1;
  }
  return avx512_state == 1;
}

int xxh64x_rounds(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len) {
  return xxh64x_rounds_to(n, v, src, dst, len, 0);
}

int xxh64x_rounds_to(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len, int stream) {
  if (n < 1 || n > XXH64X_MAX_STREAMS || (len & 31) != 0 || !xxh64x_available()) return 0;
  if (len == 0) return 1;
  /* An odd count repeats the last stream in the spare half (its lanes copied back from the first). */
  uint64_t lanes[XXH64X_MAX_STREAMS + 1][4];
  const uint8_t *s[XXH64X_MAX_STREAMS + 1];
  uint8_t *d[XXH64X_MAX_STREAMS + 1];
  int m = n + (n & 1);
  for (int i = 0; i < m; i++) {
    int k = i < n ? i : n - 1;
    memcpy(lanes[i], v[k], sizeof lanes[i]);
    s[i] = src[k];
    d[i] = dst ? dst[k] : NULL;
  }
  int copy = dst != NULL;
  if (copy && stream) {
    copy = 2;
    for (int i = 0; i < n; i++) if (((uintptr_t)dst[i] & 31) != 0) copy = 1; /* (streaming stores need aligned destinations) */
  }
  rounds_any(m / 2, copy, lanes, s, d, len);
  for (int i = 0; i < n; i++) memcpy(v[i], lanes[i], sizeof lanes[i]);
  return 1;
}

#else

int xxh64x_available(void) { return 0; }
int xxh64x_rounds(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len) { (void)n; (void)v; (void)src; (void)dst; (void)len; return 0; }
int xxh64x_rounds_to(int n, uint64_t (*v)[4], const uint8_t *const *src, uint8_t *const *dst, size_t len, int stream) { (void)n; (void)v; (void)src; (void)dst; (void)len; (void)stream; return 0; }

#endif
