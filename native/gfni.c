/*
 * gfni: GF(2^8) matrix times shards with the GFNI affine instruction (Cairn's EC encode/decode).
 *
 *   gfApply(matrix, rows, k, inputs, outputs, len) -> boolean
 *     outputs[r] = sum_j matrix[r * k + j] * inputs[j] over `len` bytes, in the field of ec/gf.ts
 *     (polynomial 0x11d), synchronously on the calling thread. False (nothing written) when this
 *     CPU has no GFNI with AVX-512 or the arguments do not fit: the caller runs its own kernel.
 *   gfApplyCopy(matrix, rows, k, inputs, copies, outputs, len) -> boolean
 *     gfApply, and copies[j] (k views) also receives inputs[j]'s `len` bytes, stored from the
 *     registers the encode loaded them into: an EC write's data cells go from the caller's buffer
 *     to the codec's stripe buffers and its parity is computed in one pass over them, instead of a
 *     memmove and then an encode reading the copies back (together 25% of the write's JS thread).
 *     (A function of its own: an addon without it cannot be handed copies it would ignore.)
 *
 *   parityFill(coeffs, cell, data, out) -> undefined
 *     One parity row of whole stripes: cell s of `out` = sum_j coeffs[j] * cell j of stripe s of
 *     `data` (k = coeffs.length cells of `cell` bytes per stripe), on the calling thread. The same
 *     fill runs on the thread pool inside a hashedBatch write that carries it (hashio.c): an EC
 *     write's parity computed where it is hashed and written, not on the JavaScript thread.
 *   fillKernel(mode?) -> 'gfni' | 'scalar'
 *     The kernel fills run on: GFNI with AVX-512, else a scalar reference (product tables);
 *     fillKernel('scalar') forces the reference (tests run both), fillKernel('single') turns off
 *     the pairing of two fills of the same data in one pool job (one pass for both rows: hashio.c
 *     run_batch, gf_parity_fill2), fillKernel('auto') undoes either.
 *
 * Multiplying a byte by a constant c is linear over GF(2), so it is an 8x8 bit matrix, which
 * VGF2P8AFFINEQB applies to 64 bytes at once (whatever the field's polynomial). Each 64-byte
 * column of the k inputs is loaded for every output row from L1. Measured here in the EC write
 * path (4+2, 1 MiB writes, perf of the whole process): the encode's share of the write's CPU went
 * from 12.9% (wasm, relaxed SIMD) to 7.5%, about 1.7x; the data was just copied into the codec's
 * memory, so this is the loop's own speed (one 512-bit affine a cycle). The matrices are built
 * per call (rows * k * 8 field products: nothing next to the bytes). Tails shorter than 64 bytes
 * go through a zeroed stack block. Written from the Intel SDM's description of GF2P8AFFINEQB.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

#define GF_MAX_SHARDS 64

static uint8_t gf_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  while (b) {
    if (b & 1) p ^= a;
    b >>= 1;
    a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1d : 0)); /* x^8 = x^4 + x^3 + x^2 + 1 (0x11d) */
  }
  return p;
}

/* The affine qword of "multiply by c": byte (7 - i) holds, in bit j, bit i of c * 2^j. */
static uint64_t affine_of(uint8_t c) {
  uint64_t q = 0;
  for (int j = 0; j < 8; j++) {
    uint8_t col = gf_mul(c, (uint8_t)(1u << j));
    for (int i = 0; i < 8; i++) if (col & (1u << i)) q |= (uint64_t)1 << (8 * (7 - i) + j);
  }
  return q;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

static int gfni_state; /* 0 not checked, 1 usable, -1 not */
static int gfni_ok(void) {
  if (gfni_state == 0) {
    __builtin_cpu_init();
    gfni_state = (__builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) ? 1 : -1;
  }
  return gfni_state == 1;
}

static __attribute__((target("avx512f,avx512bw,gfni"))) void apply_avx512(const uint64_t *aff, int rows, int k, uint8_t *const *in, uint8_t *const *out, size_t len) {
  size_t full = len & ~(size_t)63;
  for (size_t off = 0; off < full; off += 64) {
    for (int r = 0; r < rows; r++) {
      const uint64_t *a = aff + (size_t)r * k;
      __m512i acc = _mm512_gf2p8affine_epi64_epi8(_mm512_loadu_si512((const void *)(in[0] + off)), _mm512_set1_epi64((long long)a[0]), 0);
      for (int j = 1; j < k; j++) acc = _mm512_xor_si512(acc, _mm512_gf2p8affine_epi64_epi8(_mm512_loadu_si512((const void *)(in[j] + off)), _mm512_set1_epi64((long long)a[j]), 0));
      _mm512_storeu_si512((void *)(out[r] + off), acc);
    }
  }
  if (full < len) {
    size_t t = len - full;
    uint8_t tin[GF_MAX_SHARDS][64], tout[GF_MAX_SHARDS][64];
    uint8_t *pin[GF_MAX_SHARDS] = { 0 }, *pout[GF_MAX_SHARDS] = { 0 };
    for (int j = 0; j < k; j++) { memset(tin[j], 0, 64); memcpy(tin[j], in[j] + full, t); pin[j] = tin[j]; }
    for (int r = 0; r < rows; r++) pout[r] = tout[r];
    apply_avx512(aff, rows, k, pin, pout, 64);
    for (int r = 0; r < rows; r++) memcpy(out[r] + full, tout[r], t);
  }
}
/* apply_avx512 that also stores each input's bytes to cp[j] (the first row's loads). */
static __attribute__((target("avx512f,avx512bw,gfni"))) void apply_copy_avx512(const uint64_t *aff, int rows, int k, uint8_t *const *in, uint8_t *const *cp, uint8_t *const *out, size_t len) {
  size_t full = len & ~(size_t)63;
  for (size_t off = 0; off < full; off += 64) {
    __m512i x = _mm512_loadu_si512((const void *)(in[0] + off));
    _mm512_storeu_si512((void *)(cp[0] + off), x);
    __m512i acc = _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff[0]), 0);
    for (int j = 1; j < k; j++) {
      x = _mm512_loadu_si512((const void *)(in[j] + off));
      _mm512_storeu_si512((void *)(cp[j] + off), x);
      acc = _mm512_xor_si512(acc, _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff[j]), 0));
    }
    _mm512_storeu_si512((void *)(out[0] + off), acc);
    for (int r = 1; r < rows; r++) {
      const uint64_t *a = aff + (size_t)r * k;
      acc = _mm512_gf2p8affine_epi64_epi8(_mm512_loadu_si512((const void *)(in[0] + off)), _mm512_set1_epi64((long long)a[0]), 0);
      for (int j = 1; j < k; j++) acc = _mm512_xor_si512(acc, _mm512_gf2p8affine_epi64_epi8(_mm512_loadu_si512((const void *)(in[j] + off)), _mm512_set1_epi64((long long)a[j]), 0));
      _mm512_storeu_si512((void *)(out[r] + off), acc);
    }
  }
  if (full < len) {
    uint8_t *pin[GF_MAX_SHARDS] = { 0 }, *pout[GF_MAX_SHARDS] = { 0 };
    for (int j = 0; j < k; j++) { memmove(cp[j] + full, in[j] + full, len - full); pin[j] = in[j] + full; }
    for (int r = 0; r < rows; r++) pout[r] = out[r] + full;
    apply_avx512(aff, rows, k, pin, pout, len - full);
  }
}
/*
 * Two rows from one pass over the inputs (`apply_avx512` with rows 2 loads every input column once
 * per row): out0 = sum_j in[j] * aff0[j], out1 = sum_j in[j] * aff1[j]. The two parity rows of an
 * EC 4+2 write's deferred fills, when both are in one pool job (hashio.c run_batch): each 64-byte
 * column of the caller's bytes is loaded once for both rows instead of once per row.
 */
static __attribute__((target("avx512f,avx512bw,gfni"))) void apply2_avx512(const uint64_t *aff0, const uint64_t *aff1, int k, uint8_t *const *in, uint8_t *out0, uint8_t *out1, size_t len) {
  size_t full = len & ~(size_t)63;
  for (size_t off = 0; off < full; off += 64) {
    __m512i x = _mm512_loadu_si512((const void *)(in[0] + off));
    __m512i a0 = _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff0[0]), 0);
    __m512i a1 = _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff1[0]), 0);
    for (int j = 1; j < k; j++) {
      x = _mm512_loadu_si512((const void *)(in[j] + off));
      a0 = _mm512_xor_si512(a0, _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff0[j]), 0));
      a1 = _mm512_xor_si512(a1, _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)aff1[j]), 0));
    }
    _mm512_storeu_si512((void *)(out0 + off), a0);
    _mm512_storeu_si512((void *)(out1 + off), a1);
  }
  if (full < len) {
    uint8_t *pin[GF_MAX_SHARDS] = { 0 };
    for (int j = 0; j < k; j++) pin[j] = in[j] + full;
    uint8_t *o0 = out0 + full, *o1 = out1 + full;
    apply_avx512(aff0, 1, k, pin, &o0, len - full);
    apply_avx512(aff1, 1, k, pin, &o1, len - full);
  }
}
#else
static int gfni_ok(void) { return 0; }
static void apply2_avx512(const uint64_t *aff0, const uint64_t *aff1, int k, uint8_t *const *in, uint8_t *out0, uint8_t *out1, size_t len) { (void)aff0; (void)aff1; (void)k; (void)in; (void)out0; (void)out1; (void)len; }
static void apply_copy_avx512(const uint64_t *aff, int rows, int k, uint8_t *const *in, uint8_t *const *cp, uint8_t *const *out, size_t len) { (void)aff; (void)rows; (void)k; (void)in; (void)cp; (void)out; (void)len; }
static void apply_avx512(const uint64_t *aff, int rows, int k, uint8_t *const *in, uint8_t *const *out, size_t len) { (void)aff; (void)rows; (void)k; (void)in; (void)out; (void)len; }
#endif

static int view_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false; napi_typedarray_type tt; napi_value ab; size_t boff; void *d;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &tt, len, &d, &ab, &boff) != napi_ok || tt != napi_uint8_array) return 0;
  *data = d;
  return 1;
}

/* n views of at least `len` bytes from array `arr` into `out`; 0 when it is not that. */
static int views_of(napi_env env, napi_value arr, uint32_t n, size_t len, uint8_t **out) {
  bool is_arr = false; uint32_t have = 0;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &have) != napi_ok || have != n) return 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v; size_t l;
    if (napi_get_element(env, arr, i, &v) != napi_ok || !view_of(env, v, &out[i], &l) || l < len) return 0;
  }
  return 1;
}

/* Shared by gfApply and gfApplyCopy: `copies_at` is the argument index of the copies (0: none). */
static napi_value gf_apply_any(napi_env env, napi_callback_info info, int copies_at) {
  size_t argc = 7; napi_value argv[7], res;
  int32_t rows, k; double dlen; uint8_t *mat; size_t mlen;
  uint8_t *in[GF_MAX_SHARDS], *out[GF_MAX_SHARDS], *cp[GF_MAX_SHARDS];
  size_t want = copies_at ? 7 : 6, outs_at = copies_at ? 5 : 4, len_at = copies_at ? 6 : 5;
  const char *name = copies_at ? "gfApplyCopy" : "gfApply";
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want &&
    view_of(env, argv[0], &mat, &mlen) &&
    napi_get_value_int32(env, argv[1], &rows) == napi_ok && napi_get_value_int32(env, argv[2], &k) == napi_ok &&
    rows >= 1 && k >= 1 && rows <= GF_MAX_SHARDS && k <= GF_MAX_SHARDS && mlen >= (size_t)rows * (size_t)k &&
    napi_get_value_double(env, argv[len_at], &dlen) == napi_ok && dlen >= 0 && dlen <= 9007199254740991.0 && dlen == (double)(size_t)dlen;
  if (!ok) {
    napi_throw_type_error(env, NULL, copies_at ? "gfApplyCopy needs (matrix Uint8Array, rows 1-64, k 1-64, inputs, copies, outputs, len)" : "gfApply needs (matrix Uint8Array, rows 1-64, k 1-64, inputs, outputs, len)");
    return NULL;
  }
  size_t len = (size_t)dlen;
  if (!views_of(env, argv[3], (uint32_t)k, len, in) || !views_of(env, argv[outs_at], (uint32_t)rows, len, out)
    || (copies_at && !views_of(env, argv[copies_at], (uint32_t)k, len, cp))) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s needs k inputs%s and rows outputs of at least len bytes each", name, copies_at ? ", k copies" : "");
    napi_throw_type_error(env, NULL, msg); return NULL;
  }
  int done = 0;
  if (gfni_ok()) {
    uint64_t aff[GF_MAX_SHARDS * 8];
    if ((size_t)rows * (size_t)k <= sizeof aff / sizeof aff[0]) {
      for (int r = 0; r < rows; r++) for (int j = 0; j < k; j++) aff[r * k + j] = affine_of(mat[r * k + j]);
      if (len && copies_at) apply_copy_avx512(aff, rows, k, in, cp, out, len);
      else if (len) apply_avx512(aff, rows, k, in, out, len);
      done = 1;
    }
  }
  napi_get_boolean(env, done, &res);
  return res;
}

/* gfApply(matrix, rows, k, inputs, outputs, len) -> boolean */
static napi_value gf_apply(napi_env env, napi_callback_info info) { return gf_apply_any(env, info, 0); }
/* gfApplyCopy(matrix, rows, k, inputs, copies, outputs, len) -> boolean */
static napi_value gf_apply_copy(napi_env env, napi_callback_info info) { return gf_apply_any(env, info, 4); }

/* ------------------------------------------------------------------ parity fills */

/* 1: fills use the scalar reference below even where GFNI runs (fillKernel('scalar'): its tests). */
static int fill_scalar_forced;

/*
 * The scalar reference of a parity fill (and what runs on CPUs without GFNI): out = sum_j coef[j] *
 * in[j] over `len` bytes, one product table of 256 bytes per coefficient (gf_mul above, the field of
 * ec/gf.ts). Slow (a table lookup per byte and input) but plainly right: the tests hold the GFNI
 * kernel and this one to the same answers (the reference codec's).
 */
static void row_scalar(const uint8_t *coef, int k, uint8_t *const *in, uint8_t *out, size_t len) {
  uint8_t t[GF_MAX_SHARDS][256];
  for (int j = 0; j < k; j++) for (int x = 0; x < 256; x++) t[j][x] = gf_mul(coef[j], (uint8_t)x);
  for (size_t b = 0; b < len; b++) {
    uint8_t acc = t[0][in[0][b]];
    for (int j = 1; j < k; j++) acc ^= t[j][in[j][b]];
    out[b] = acc;
  }
}

/*
 * One parity row of whole stripes (hashio.c's deferred parity writes): `data` holds data_len / (k *
 * cell) stripes of k cells of `cell` bytes, one after another (an EC write's caller bytes); cell s of
 * `out` receives sum_j coef[j] * (cell j of stripe s). -1 when the shape does not fit (nothing
 * written). GFNI with AVX-512 where the CPU has it, else the scalar reference.
 */
int gf_parity_fill(const uint8_t *coef, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *out, size_t out_len) {
  if (k < 1 || k > GF_MAX_SHARDS || cell == 0 || data_len % ((size_t)k * cell) != 0 || out_len != data_len / (size_t)k) return -1;
  size_t stripes = data_len / ((size_t)k * cell);
  uint8_t *in[GF_MAX_SHARDS];
  uint64_t aff[GF_MAX_SHARDS];
  int simd = !fill_scalar_forced && gfni_ok();
  if (simd) for (int j = 0; j < k; j++) aff[j] = affine_of(coef[j]);
  for (size_t s = 0; s < stripes; s++) {
    for (int j = 0; j < k; j++) in[j] = (uint8_t *)data + (s * (size_t)k + (size_t)j) * cell;
    uint8_t *o = out + s * cell;
    if (simd) apply_avx512(aff, 1, k, in, &o, cell);
    else row_scalar(coef, k, in, o, cell);
  }
  return 0;
}

/* 1: two fills of the same data in one job are computed one after another, not paired (fillKernel('single'): A/B and tests). */
static int fill_pair_off;

/*
 * Two parity rows of the same whole stripes (`gf_parity_fill` for coef0 into out0 and coef1 into
 * out1, both out_len bytes) in one pass over `data` where GFNI runs; the scalar reference (or a
 * forced 'single' kernel) computes them one after another. -1 when the shape does not fit (nothing
 * written).
 */
int gf_parity_fill2(const uint8_t *coef0, const uint8_t *coef1, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *out0, uint8_t *out1, size_t out_len) {
  if (k < 1 || k > GF_MAX_SHARDS || cell == 0 || data_len % ((size_t)k * cell) != 0 || out_len != data_len / (size_t)k) return -1;
  if (fill_scalar_forced || fill_pair_off || !gfni_ok()) {
    if (gf_parity_fill(coef0, k, cell, data, data_len, out0, out_len) != 0) return -1;
    return gf_parity_fill(coef1, k, cell, data, data_len, out1, out_len);
  }
  size_t stripes = data_len / ((size_t)k * cell);
  uint8_t *in[GF_MAX_SHARDS];
  uint64_t aff0[GF_MAX_SHARDS], aff1[GF_MAX_SHARDS];
  for (int j = 0; j < k; j++) { aff0[j] = affine_of(coef0[j]); aff1[j] = affine_of(coef1[j]); }
  for (size_t s = 0; s < stripes; s++) {
    for (int j = 0; j < k; j++) in[j] = (uint8_t *)data + (s * (size_t)k + (size_t)j) * cell;
    apply2_avx512(aff0, aff1, k, in, out0 + s * cell, out1 + s * cell, cell);
  }
  return 0;
}

/* ------------------------------------------------------------------ fused stripes (parity + copy + XXH64) */

/* 1: EC writes are not fused (fillKernel('unfused'): A/B and tests of both ways). */
static int fill_fuse_off;

/** Whether hashio.c may use gf_fused_stripes (GFNI and AVX-512 DQ here, not forced off). */
int gf_fused_on(void) {
  return !fill_fuse_off && !fill_scalar_forced && gfni_ok() && __builtin_cpu_supports("avx512dq");
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FX_P1 0x9E3779B185EBCA87ULL
#define FX_P2 0xC2B2AE3D27D4EB4FULL

/* One XXH64 round of four lanes of two streams (the low 256 bits one stream's v1..v4, the high the other's). */
static inline __attribute__((always_inline, target("avx512f,avx512dq"))) __m512i fx_round(__m512i acc, __m512i in) {
  return _mm512_mullo_epi64(_mm512_rol_epi64(_mm512_add_epi64(acc, _mm512_mullo_epi64(in, _mm512_set1_epi64((long long)FX_P2))), 31), _mm512_set1_epi64((long long)FX_P1));
}

/*
 * The fused stripes of `K` data cells (a constant in each instance: the registers stay registers):
 * streams 0..K-1 are the data cells, K and K+1 the two parity rows. `nt`: non-temporal stores to
 * the streams of `nt_mask` (else ordinary ones); a NULL dst[j] is not stored.
 */
static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512dq,gfni")))
void fused_k(const int K, const int nt, const uint64_t *aff0, const uint64_t *aff1, size_t cell, size_t stripes,
             const uint8_t *data, uint8_t *const *dst, unsigned nt_mask, uint64_t (*v)[4]) {
  const int n = K + 2, pairs = (K + 3) / 2;
  __m512i acc[5], c0[6], c1[6];
  for (int j = 0; j < K; j++) { c0[j] = _mm512_set1_epi64((long long)aff0[j]); c1[j] = _mm512_set1_epi64((long long)aff1[j]); }
  for (int i = 0; i < pairs; i++) {
    const int a = 2 * i, b = 2 * i + 1 < n ? 2 * i + 1 : 2 * i;
    acc[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)v[a])), _mm256_loadu_si256((const __m256i *)v[b]), 1);
  }
  for (size_t s = 0; s < stripes; s++) {
    const uint8_t *in = data + s * (size_t)K * cell;
    uint8_t *d[8];
    for (int j = 0; j < n; j++) d[j] = dst[j] ? dst[j] + s * cell : NULL;
    for (size_t off = 0; off < cell; off += 64) {
      __m512i x[8];
      for (int j = 0; j < K; j++) {
        __builtin_prefetch(in + (size_t)j * cell + off + 2048);
        x[j] = _mm512_loadu_si512((const void *)(in + (size_t)j * cell + off));
      }
      __m512i p0 = _mm512_gf2p8affine_epi64_epi8(x[0], c0[0], 0), p1 = _mm512_gf2p8affine_epi64_epi8(x[0], c1[0], 0);
      for (int j = 1; j < K; j++) {
        p0 = _mm512_xor_si512(p0, _mm512_gf2p8affine_epi64_epi8(x[j], c0[j], 0));
        p1 = _mm512_xor_si512(p1, _mm512_gf2p8affine_epi64_epi8(x[j], c1[j], 0));
      }
      x[K] = p0; x[K + 1] = p1;
      for (int j = 0; j < n; j++) {
        if (nt && (nt_mask >> j & 1)) _mm512_stream_si512((void *)(d[j] + off), x[j]);
        else if (d[j]) _mm512_storeu_si512((void *)(d[j] + off), x[j]);
      }
      for (int i = 0; i < pairs; i++) {
        const __m512i a = x[2 * i], b = 2 * i + 1 < n ? x[2 * i + 1] : x[2 * i];
        acc[i] = fx_round(acc[i], _mm512_shuffle_i64x2(a, b, 0x44)); /* bytes 0-31 of each: one stripe of each stream */
        acc[i] = fx_round(acc[i], _mm512_shuffle_i64x2(a, b, 0xEE)); /* bytes 32-63 */
      }
    }
  }
  if (nt) _mm_sfence();
  for (int i = 0; i < pairs; i++) {
    _mm256_storeu_si256((__m256i *)v[2 * i], _mm512_castsi512_si256(acc[i]));
    if (2 * i + 1 < n) _mm256_storeu_si256((__m256i *)v[2 * i + 1], _mm512_extracti64x4_epi64(acc[i], 1));
  }
}

static __attribute__((target("avx512f,avx512bw,avx512dq,gfni"))) void fused_any(int K, int nt, const uint64_t *aff0, const uint64_t *aff1, size_t cell, size_t stripes, const uint8_t *data, uint8_t *const *dst, unsigned nt_mask, uint64_t (*v)[4]) {
  switch (K * 2 + (nt != 0)) {
    case 2: fused_k(1, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 3: fused_k(1, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 4: fused_k(2, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 5: fused_k(2, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 6: fused_k(3, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 7: fused_k(3, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 8: fused_k(4, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 9: fused_k(4, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 10: fused_k(5, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 11: fused_k(5, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    case 12: fused_k(6, 0, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
    default: fused_k(6, 1, aff0, aff1, cell, stripes, data, dst, nt_mask, v); break;
  }
}
#endif

/*
 * An EC write's whole stripes in one pass (hashio.c, a batch holding a write of every data cell and
 * both parity rows of the same stripes, all through writable mappings): for each 64-byte column of
 * the k data cells of each stripe, the bytes are loaded once, the two parity rows computed from
 * them (coef0, coef1: rows of the encoding matrix), and all k + 2 columns stored to their
 * destinations (dst[j] + s * cell for stripe s: data cell j's, then parity 0's and 1's; a NULL
 * dst[j] is not stored) and folded into their XXH64 lanes (v[j], the specification's v1..v4 of
 * each stream, advanced in place).
 * The unfused way reads each data byte twice (the fill, then the copy+hash) and stores and reloads
 * the parity; here the stores to the streams of `nt_mask` (a mapping's page cache, not read again
 * soon) are non-temporal when every one of them is 64-byte aligned (the lines are written whole,
 * not first read from memory); the others (a parity buffer pwritev reads next) ordinary. Measured here (C only, 6
 * cells of 256 KiB into a 512 MiB mapped file): 186-192 us per MiB of data unfused, 69-71 fused.
 * (hashio.c passes a NULL destination for a data cell it writes with pwritev, and the parity
 * buffer as a parity cell's destination then.)
 * -1 (nothing done) when the shape does not fit: k 1-6, cell a multiple of 64, whole stripes, or no
 * GFNI / AVX-512 here (gf_fused_on). The reference is the unfused way (gf_parity_fill then the
 * scalar XXH64), which the tests hold this to.
 */
int gf_fused_stripes(const uint8_t *coef0, const uint8_t *coef1, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *const *dst, unsigned nt_mask, uint64_t (*v)[4]) {
  if (k < 1 || k > 6 || cell == 0 || (cell & 63) != 0 || data_len % ((size_t)k * cell) != 0 || !gf_fused_on()) return -1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  uint64_t aff0[6], aff1[6];
  for (int j = 0; j < k; j++) { aff0[j] = affine_of(coef0[j]); aff1[j] = affine_of(coef1[j]); }
  int nt = nt_mask != 0;
  for (int j = 0; j < k + 2; j++) if ((nt_mask >> j & 1) && (!dst[j] || ((uintptr_t)dst[j] & 63) != 0)) nt = 0;
  fused_any(k, nt, aff0, aff1, cell, data_len / ((size_t)k * cell), data, dst, nt_mask, v);
  return 0;
#else
  (void)coef0; (void)coef1; (void)data; (void)dst; (void)v;
  return -1;
#endif
}

/* parityFill(coeffs, cell, data, out): gf_parity_fill on the calling thread (a deferred fill a write path needs now). */
static napi_value parity_fill(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  uint8_t *coef, *data, *out; size_t k, dlen, olen; double cell;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !view_of(env, argv[0], &coef, &k) ||
      napi_get_value_double(env, argv[1], &cell) != napi_ok || !(cell >= 1 && cell <= 1073741824.0) || cell != (double)(size_t)cell ||
      !view_of(env, argv[2], &data, &dlen) || !view_of(env, argv[3], &out, &olen) ||
      gf_parity_fill(coef, (int)k, (size_t)cell, data, dlen, out, olen) != 0) {
    napi_throw_type_error(env, NULL, "parityFill needs (coeffs Uint8Array of k, cell bytes, data of whole stripes, out of data.length / k bytes)");
    return NULL;
  }
  return NULL;
}

/*
 * fillKernel(mode?): 'gfni' or 'scalar', the kernel parity fills run on; mode 'scalar' forces the
 * reference, 'single' keeps GFNI but computes two fills of one job's same data one after another
 * (not paired: gf_parity_fill2), 'auto' undoes either.
 */
static napi_value fill_kernel(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], res; char mode[16] = { 0 }; size_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 &&
      napi_get_value_string_utf8(env, argv[0], mode, sizeof mode, &n) == napi_ok) { fill_scalar_forced = strcmp(mode, "scalar") == 0; fill_pair_off = strcmp(mode, "single") == 0; fill_fuse_off = strcmp(mode, "unfused") == 0; }
  const char *k = !fill_scalar_forced && gfni_ok() ? "gfni" : "scalar";
  napi_create_string_utf8(env, k, NAPI_AUTO_LENGTH, &res);
  return res;
}

/** Define gfApply, gfApplyCopy, parityFill and fillKernel on `exports` (called from cairn_uring.c init, after hashio_init). */
napi_status gfni_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "gfApply", NULL, gf_apply, NULL, NULL, NULL, napi_default, NULL },
    { "gfApplyCopy", NULL, gf_apply_copy, NULL, NULL, NULL, napi_default, NULL },
    { "parityFill", NULL, parity_fill, NULL, NULL, NULL, napi_default, NULL },
    { "fillKernel", NULL, fill_kernel, NULL, NULL, NULL, napi_default, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
