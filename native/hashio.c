/*
 * hashio: checksummed positional I/O for Cairn's block device (N-API, C).
 *
 * Every value Cairn stores carries an xxhash64 (XXH64) checked on each read. Computed on the
 * JavaScript thread, that hash (plus copying the bytes into the hash's wasm memory) is the largest
 * single cost of a bulk read or write. These functions do it where the bytes already are, on the
 * libuv thread-pool next to the system call:
 *
 *   preadvHash(fd, views, position, hashLen, seed) -> Promise<bigint>
 *     preadv into `views` (in order; short reads retried; bytes past the end of the file read as
 *     zeros), then XXH64 of their first `hashLen` bytes.
 *   pwritevHash(fd, views, position, hashLen, seed) -> Promise<bigint>
 *     XXH64 of the first `hashLen` bytes of `views`, then pwritev of all of them (short writes
 *     retried).
 *   xxh64Parts(views, seed) -> bigint
 *     XXH64 of the concatenation of `views`, synchronously and in place (no copy).
 *   pwriteHashSync(fd, view, position, length, seed) -> bigint | -errno
 *     XXH64 of `view`, then a pwritev of it and zeros up to `length`, synchronously (small values
 *     into the page cache on the write path).
 *   hashedBatch(requests) -> Promise<Array<bigint | number>>
 *     Several of the above hashed transfers in ONE thread-pool job: each request is
 *     [op (0 read, 1 write), fd, views, position, hashLen, seed, map?] (map: see mapFile, reads
 *     only, optional); the answer holds, per request in
 *     order, its hash or its negative errno (one failing request does not stop the others). The
 *     cells of one EC read or write, or the sources of one rebuild step, go to the pool as one job:
 *     one queue, one wake-up and one completion instead of one per shard. The requests of a batch
 *     are carried out in no set order (cells hashed side by side go together): a batch never holds
 *     two requests on overlapping bytes (a store writes every value to a fresh allocation, and
 *     reads only what is written). A write may carry an 8th element, a deferred parity fill
 *     [coeffs, cell, data] (7th undefined): its first view is first computed as one parity row of
 *     the whole stripes in `data` (gfni.c gf_parity_fill), then hashed and written with the rest,
 *     so an EC write's parity is encoded on the pool thread that hashes and writes it, in the job
 *     the write goes in anyway (no dispatch of its own).
 *     When a batch holds a whole EC write through writable mappings (both parity rows' fills and
 *     every data cell's gather write of the same stripes), the fill, the copies and the hashes are
 *     one pass over the data (fused_pass, gfni.c gf_fused_stripes); the parity buffers are then
 *     left as they were (the file holds the parity).
 *   copyInto(dst, dstOffset, src) -> undefined
 *     memcpy of `src` into `dst` at `dstOffset`, synchronously. Views of shared WebAssembly memory
 *     (the codec's) are copied by V8 byte-relaxed (about half memcpy's speed here); this is memcpy.
 *   mapFile(fd, length, writable = false, zapBytes?) -> map | undefined
 *     `zapBytes` (read-only mappings only): the bytes of chunks first touched after which the
 *     mapping's page-table entries are dropped (map_used), instead of MAP_ZAP_BYTES; 0: never
 *     dropped (a reader whose working set is larger than 64 MiB and read again and again, as a
 *     client's reused reads of an engine's data file, would make its entries again after each drop).
 *     A shared mapping (read-only unless `writable`) of the first `length` bytes of a file, for hashedBatch reads: a
 *     read request carrying it (a 7th element) copies its bytes out of the mapping and hashes them
 *     in the same pass (the bytes are loaded once), instead of preadv (the kernel's copy) and then
 *     a second pass over the destination to hash. Measured here, C only, 256 KiB reads of a
 *     page-cached 1 GiB file: preadv + XXH64 4.8-5.2 GB per CPU-second, mapped copy+hash with the
 *     source prefetched 2 KiB ahead 9.4-10.2 (without the prefetch 5.9-6.5).
 *     A fault in the mapping (a file cut shorter behind our back, a page the disk cannot read:
 *     SIGBUS) is caught on that thread and the request is read again with preadv, whose answer
 *     (zeros past the end of the file, EIO) is the request's. Undefined when the mapping fails.
 *   unmapFile(map) -> undefined
 *     No new request uses `map`; it is unmapped once the batches using it have completed.
 *   setSocketBuffers(fd, sendBytes, receiveBytes) -> [send, receive]
 *     SO_SNDBUF / SO_RCVBUF of a connected socket (0 leaves one as it is); the kernel's answer
 *     (doubled, capped by wmem_max / rmem_max). Node sets neither on stream sockets (src/net).
 *   mapWriteHashSync(map, view, position, length, seed) -> bigint | -1
 *     A small value written through a writable mapping on the calling thread (XXH64 while copying,
 *     zeros up to `length`): no system call. A 4 KiB value measured here: pwrite + XXH64 3.6-4.6 us,
 *     a mapped copy + XXH64 0.8 us. A SIGBUS (a hole on a full filesystem, an unreadable page) is
 *     caught as for reads and -1 returned: the caller writes with pwriteHashSync, whose errno stands.
 *   mapReadHashSync(map, view | views, position, seed) -> bigint | -1
 *     A small value read out of a mapping on the calling thread: copied into `view` and XXH64 of it
 *     in the same pass, no system call (a 4 KiB fetch: pread + XXH64 in JS ~5-9 us CPU here, most
 *     of it the syscall). A SIGBUS is caught and -1 returned: the caller reads with pread. With an
 *     array of 1 to 64 views, the bytes at `position` go across them in order and one XXH64 of them
 *     all is returned (a located read whose bytes land in several places, an EC cell's stripes).
 *
 * Failures reject with the negative errno (the JS side maps it to a MediaError). The `views` array
 * is referenced until the work completes, so the buffers outlive the system calls. XXH64 is
 * written here from its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md); the JS
 * tests check it against xxhash-wasm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>
#include "xxh64x.h"
#include "own-pool.h"


/* ------------------------------------------------------------------ XXH64 (streaming) */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

typedef struct { uint64_t v[4]; uint64_t total; uint8_t mem[32]; unsigned memsize; uint64_t seed; } xxh64_t;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; } /* little-endian hosts */
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t xround(uint64_t acc, uint64_t in) { acc += in * P2; acc = rotl64(acc, 31); return acc * P1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t val) { acc ^= xround(0, val); return acc * P1 + P4; }

static void xxh64_init(xxh64_t *s, uint64_t seed) {
  s->v[0] = seed + P1 + P2; s->v[1] = seed + P2; s->v[2] = seed; s->v[3] = seed - P1;
  s->total = 0; s->memsize = 0; s->seed = seed;
}

static void xxh64_update(xxh64_t *s, const uint8_t *p, size_t len) {
  s->total += len;
  if (s->memsize + len < 32) { memcpy(s->mem + s->memsize, p, len); s->memsize += (unsigned)len; return; }
  const uint8_t *end = p + len;
  if (s->memsize) {
    size_t fill = 32 - s->memsize;
    memcpy(s->mem + s->memsize, p, fill);
    for (int i = 0; i < 4; i++) s->v[i] = xround(s->v[i], rd64(s->mem + 8 * i));
    p += fill; s->memsize = 0;
  }
  uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];
  while (p + 32 <= end) {
    /* the loop is bound by its multiplies: bytes not in cache are asked for ahead (see COPY_PREFETCH_BYTES;
       measured here on a 256 MiB working set 5.1 -> 8.3 GB/s, in cache unchanged; a prefetch never faults) */
    if (((uintptr_t)p & 63) < 32) __builtin_prefetch(p + 2048);
    v0 = xround(v0, rd64(p)); v1 = xround(v1, rd64(p + 8)); v2 = xround(v2, rd64(p + 16)); v3 = xround(v3, rd64(p + 24));
    p += 32;
  }
  s->v[0] = v0; s->v[1] = v1; s->v[2] = v2; s->v[3] = v3;
  if (p < end) { memcpy(s->mem, p, (size_t)(end - p)); s->memsize = (unsigned)(end - p); }
}

static uint64_t xxh64_digest(const xxh64_t *s) {
  uint64_t h;
  if (s->total >= 32) {
    h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
    for (int i = 0; i < 4; i++) h = xmerge(h, s->v[i]);
  } else {
    h = s->seed + P5;
  }
  h += s->total;
  const uint8_t *p = s->mem, *end = s->mem + s->memsize;
  while (p + 8 <= end) { h ^= xround(0, rd64(p)); h = rotl64(h, 27) * P1 + P4; p += 8; }
  if (p + 4 <= end) { h ^= (uint64_t)rd32(p) * P1; h = rotl64(h, 23) * P2 + P3; p += 4; }
  while (p < end) { h ^= (uint64_t)(*p) * P5; h = rotl64(h, 11) * P1; p++; }
  h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
  return h;
}

/** XXH64 of the first `n` bytes of `iov` (fewer if the vectors hold fewer). */
static uint64_t hash_iov(const struct iovec *iov, int cnt, size_t n, uint64_t seed) {
  xxh64_t s; xxh64_init(&s, seed);
  for (int i = 0; i < cnt && n > 0; i++) {
    size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;
    xxh64_update(&s, (const uint8_t *)iov[i].iov_base, take);
    n -= take;
  }
  return xxh64_digest(&s);
}

/*
 * How far ahead of the fused copy+hash the source is prefetched. The loop is bound by its
 * multiplies, so the hardware prefetcher alone does not keep page-cache bytes coming: measured
 * here (C only, 256 KiB reads out of a mapped 1 GiB file), no prefetch 5.9-6.5 GB/s, 512 bytes
 * ahead 7.2-7.6, 2 KiB ahead 9.4-10.2 (preadv + XXH64: 4.8-5.2).
 */
#define COPY_PREFETCH_BYTES 2048
/*
 * How far ahead the destination is prefetched for writing (as xxh64x.c does for its vector
 * copy): its lines are owned before the stores reach them. Measured on the client's located reads
 * (fresh, same-process A/B of two addon builds, mapReadHashSync into 8 reused 1 MiB buffers):
 * CPU per MiB x0.63-0.80 for working sets of 16-256 MiB.
 */
#define COPY_PREFETCH_DST 1024

/*
 * XXH64 of `len` bytes at `p` while copying them to `dst`: each 32-byte stripe is loaded once,
 * stored and hashed. Stripes are fused only when the state holds no buffered bytes (views whose
 * lengths are multiples of 32, the usual case); the rest is copied, then hashed from `dst`.
 * (Prefetches past the end of the source or the destination are harmless: a prefetch never faults.)
 */
static void xxh64_copy_update(xxh64_t *s, uint8_t *dst, const uint8_t *p, size_t len) {
  if (s->memsize == 0 && len >= 32) {
    size_t bulk = len & ~(size_t)31;
    uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];
    for (size_t i = 0; i < bulk; i += 32) {
      if ((i & 63) == 0) { __builtin_prefetch(p + i + COPY_PREFETCH_BYTES); __builtin_prefetch(dst + i + COPY_PREFETCH_DST, 1); }
      uint64_t a = rd64(p + i), b = rd64(p + i + 8), c = rd64(p + i + 16), d = rd64(p + i + 24);
      memcpy(dst + i, &a, 8); memcpy(dst + i + 8, &b, 8); memcpy(dst + i + 16, &c, 8); memcpy(dst + i + 24, &d, 8);
      v0 = xround(v0, a); v1 = xround(v1, b); v2 = xround(v2, c); v3 = xround(v3, d);
    }
    s->v[0] = v0; s->v[1] = v1; s->v[2] = v2; s->v[3] = v3;
    s->total += bulk;
    p += bulk; dst += bulk; len -= bulk;
  }
  if (len) { memcpy(dst, p, len); xxh64_update(s, dst, len); }
}

/* ------------------------------------------------------------------ mapped reads */

/**
 * Bytes of a file mapped by reads through one mapping after which its page-table entries are
 * dropped: the pages stay in the page cache, but the process's RSS (which counts mapped file
 * pages) stays within about this much per open data file instead of growing with everything read
 * (16 targets: ~1 GiB). Counted in MAP_CHUNK chunks first touched since the last drop (`map_used`):
 * a working set read again and again within the budget keeps its entries.
 */
#define MAP_ZAP_BYTES ((size_t)64 << 20)

/** Bytes of a mapping one bit of its touched map stands for. */
#define MAP_CHUNK ((size_t)64 << 10)

/**
 * Bytes of hashed batch writes a writable mapping sends to pwritev after a mapped write took page
 * faults on more than one page in MAP_FAULTY_SHARE (`mapped_faults`): page-table entries the
 * kernel's writeback write-protected (or dropped) make every page of a mapped write a fault and the
 * filesystem's page_mkwrite, dearer than pwritev's copy; the mapping is tried again after this.
 */
#define MAP_WRITE_BACKOFF_BYTES ((size_t)32 << 20)
#define MAP_FAULTY_SHARE 8

typedef struct {
  uint8_t *base;
  size_t len;
  int32_t refs;      /* batches in flight holding it (changed on the JS thread only) */
  int closed;        /* unmapFile was called: no new request takes it */
  int unmapped;
  int writable;      /* mapped PROT_WRITE too (mapFile's third argument): mapWriteHashSync may use it */
  int huge;          /* advised MADV_HUGEPAGE (mapFile's fifth argument): pages its faults bring into the page cache come as 2 MiB folios */
  atomic_size_t since_zap; /* bytes of MAP_CHUNK chunks first touched since the last drop (all bytes when `touched` is NULL) */
  uint8_t *touched;  /* one bit per MAP_CHUNK touched since the last drop (atomic byte operations; NULL: none) */
  size_t touched_len;
  atomic_size_t backoff; /* hashed batch writes: bytes left to send to pwritev (MAP_WRITE_BACKOFF_BYTES) */
  size_t zap_budget; /* a read-only mapping's own drop budget (mapFile's 4th argument; SIZE_MAX: never), 0: the default */
} fmap_t;

/** The drop budget of reads through `m` (map_used): its own (mapFile's zapBytes), else MAP_WRITE_ZAP_BYTES for a writable mapping and MAP_ZAP_BYTES for a read-only one. */
#define READ_ZAP_BUDGET(m) ((m)->zap_budget ? (m)->zap_budget : (m)->writable ? MAP_WRITE_ZAP_BYTES : MAP_ZAP_BYTES)

/*
 * Bytes written through one writable mapping between two drops of its page-table entries. Larger
 * than the reads' MAP_ZAP_BYTES: a small value's page is usually written again soon (an extent freed
 * and reused), and after a drop each such write first takes a page fault (with the filesystem's
 * page_mkwrite), which costs more than the copy itself.
 */
#define MAP_WRITE_ZAP_BYTES ((size_t)256 << 20)

/*
 * `bytes` at `position` went through mapping `m`: once `budget` bytes of chunks not touched since
 * the last drop have been, drop its page-table entries (a shared file mapping keeps its pages,
 * dirty ones included, in the page cache; RSS stops counting them). Chunks touched again count
 * once: RSS grows only with new pages, and a working set smaller than the budget keeps its entries
 * (dropping them made every later access fault again). A mapping no longer than the budget is
 * never dropped: its pages are resident at most once.
 */
static void map_used(fmap_t *m, uint64_t position, size_t bytes, size_t budget) {
  if (bytes == 0) return;
  size_t fresh = bytes;
  if (m->touched) {
    fresh = 0;
    for (size_t c = position / MAP_CHUNK, last = (position + bytes - 1) / MAP_CHUNK; c <= last && (c >> 3) < m->touched_len; c++) {
      const uint8_t bit = (uint8_t)(1u << (c & 7));
      if (!(__atomic_fetch_or(&m->touched[c >> 3], bit, __ATOMIC_RELAXED) & bit)) fresh += MAP_CHUNK;
    }
    if (fresh == 0) return;
  }
  if (m->len <= budget) return;
  if (atomic_fetch_add(&m->since_zap, fresh) + fresh >= budget) {
    atomic_store(&m->since_zap, 0);
    /* (a chunk another thread marks meanwhile may be cleared uncounted: it is counted at its next touch) */
    if (m->touched) for (size_t i = 0; i < m->touched_len; i++) __atomic_store_n(&m->touched[i], 0, __ATOMIC_RELAXED);
    madvise(m->base, m->len, MADV_DONTNEED);
  }
}

/** Whether every MAP_CHUNK of `bytes` at `position` was touched through `m` since its last drop (its page-table entries were made). */
static int map_seen(fmap_t *m, uint64_t position, size_t bytes) {
  if (!m->touched || bytes == 0) return 0;
  for (size_t c = position / MAP_CHUNK, last = (position + bytes - 1) / MAP_CHUNK; c <= last; c++) {
    if ((c >> 3) >= m->touched_len || !(__atomic_load_n(&m->touched[c >> 3], __ATOMIC_RELAXED) & (1u << (c & 7)))) return 0;
  }
  return 1;
}

/** Page faults this thread has taken so far (minor and major; -1 where unknown). */
static long thread_faults(void) {
#ifdef RUSAGE_THREAD
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) == 0) return ru.ru_minflt + ru.ru_majflt;
#endif
  return -1;
}

/**
 * A mapped write of `bytes` into pages whose entries had been made (`map_seen`) took the page
 * faults between `before` and `after` (thread_faults, -1 unknown): more than one page in
 * MAP_FAULTY_SHARE sends the mapping's next MAP_WRITE_BACKOFF_BYTES of batch writes to pwritev
 * (`map_backed_off`). (Faults of a first touch are expected once, and not counted.)
 */
static void mapped_faults(fmap_t *m, long before, long after, size_t bytes) {
  if (before < 0 || after < 0) return;
  if ((size_t)(after - before) * MAP_FAULTY_SHARE > bytes / 4096) atomic_store(&m->backoff, MAP_WRITE_BACKOFF_BYTES);
}

/** Whether a batch write of `bytes` through `m` goes to pwritev instead (the mapping faulted lately: `mapped_faults`); counts it off. */
static int map_backed_off(fmap_t *m, size_t bytes) {
  size_t b = atomic_load(&m->backoff);
  if (b == 0) return 0;
  atomic_store(&m->backoff, b > bytes ? b - bytes : 0); /* (racy with another job's: either count is fine) */
  return 1;
}

/* The jump buffer of a guarded copy running on this thread (NULL outside one). */
static __thread sigjmp_buf *guard_jmp;
static struct sigaction prev_bus;
static int bus_state; /* 0 not tried, 1 installed, -1 failed */

/*
 * SIGBUS: inside a guarded copy, abandon it (the request is read again with preadv); anywhere
 * else, what was there before: a previous handler is called, or the default action is restored
 * and the signal raised again (a SIGBUS that is not ours ends the process as it would have).
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  sigjmp_buf *j = guard_jmp;
  if (j) { guard_jmp = NULL; siglongjmp(*j, 1); }
  if (prev_bus.sa_flags & SA_SIGINFO) { if (prev_bus.sa_sigaction) { prev_bus.sa_sigaction(sig, si, uc); return; } }
  else if (prev_bus.sa_handler == SIG_IGN) return;
  else if (prev_bus.sa_handler != SIG_DFL) { prev_bus.sa_handler(sig); return; }
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS); /* (not blocked: SA_NODEFER) */
}

static int install_sigbus(void) {
  if (bus_state == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* NODEFER: leaving by siglongjmp keeps SIGBUS unblocked */
    sigemptyset(&sa.sa_mask);
    bus_state = sigaction(SIGBUS, &sa, &prev_bus) == 0 ? 1 : -1;
  }
  return bus_state == 1;
}

/** Copy `src` into `iov` in order, hashing the first `hash_len` bytes on the way (not inlined: the caller's sigsetjmp frame stays simple). */
static __attribute__((noinline)) void copy_hash_views(const uint8_t *src, const struct iovec *iov, int cnt, size_t hash_len, uint64_t seed, uint64_t *hash) {
  xxh64_t s; xxh64_init(&s, seed);
  size_t off = 0;
  for (int i = 0; i < cnt; i++) {
    uint8_t *d = iov[i].iov_base;
    size_t n = iov[i].iov_len;
    size_t h = off >= hash_len ? 0 : (hash_len - off < n ? hash_len - off : n);
    if (h) xxh64_copy_update(&s, d, src + off, h);
    if (n > h) memcpy(d + h, src + off + h, n - h);
    off += n;
  }
  *hash = xxh64_digest(&s);
}

/** A read out of mapping `m` at `position` into `iov`: 0 and *hash, or -1 when the mapping faulted (read it with preadv). */
static int mapped_read(fmap_t *m, uint64_t position, const struct iovec *iov, int cnt, size_t total, size_t hash_len, uint64_t seed, uint64_t *hash) {
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0)) { guard_jmp = NULL; return -1; }
  guard_jmp = &jb;
  copy_hash_views(m->base + position, iov, cnt, hash_len, seed, hash);
  guard_jmp = NULL;
  map_used(m, position, total, READ_ZAP_BUDGET(m));
  return 0;
}

/** Copy views `iov` to `dst` in order, hashing the first `hash_len` bytes on the way (not inlined: the caller's sigsetjmp frame stays simple). */
static __attribute__((noinline)) void copy_hash_out(uint8_t *dst, const struct iovec *iov, int cnt, size_t hash_len, uint64_t seed, uint64_t *hash) {
  xxh64_t s; xxh64_init(&s, seed);
  size_t off = 0;
  for (int i = 0; i < cnt; i++) {
    const uint8_t *src = iov[i].iov_base;
    size_t n = iov[i].iov_len;
    size_t h = off >= hash_len ? 0 : (hash_len - off < n ? hash_len - off : n);
    if (h) xxh64_copy_update(&s, dst + off, src, h);
    if (n > h) memcpy(dst + off + h, src + h, n - h);
    off += n;
  }
  *hash = xxh64_digest(&s);
}

/** A write of `iov` into writable mapping `m` at `position`: 0 and *hash, or -1 when the mapping faulted (write it with pwritev, whose answer stands). */
static int mapped_write_views(fmap_t *m, uint64_t position, const struct iovec *iov, int cnt, size_t total, size_t hash_len, uint64_t seed, uint64_t *hash) {
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0)) { guard_jmp = NULL; return -1; }
  const int seen = map_seen(m, position, total);
  const long f0 = seen ? thread_faults() : -1;
  guard_jmp = &jb;
  copy_hash_out(m->base + position, iov, cnt, hash_len, seed, hash);
  guard_jmp = NULL;
  if (seen) mapped_faults(m, f0, thread_faults(), total);
  map_used(m, position, total, MAP_WRITE_ZAP_BYTES);
  return 0;
}

static void unmap_now(fmap_t *m) {
  if (!m->unmapped) { munmap(m->base, m->len); m->unmapped = 1; }
}

static void finalize_map(napi_env env, void *data, void *hint) {
  fmap_t *m = data;
  /* Collected: no request can take it any more. A batch still holding it (only when the
     environment is torn down mid-job) keeps it mapped: the process is ending anyway. */
  if (m->refs == 0) { unmap_now(m); free(m->touched); free(m); }
}

/* ------------------------------------------------------------------ arguments */

#define MAX_VIEWS 1024

static int get_view(napi_env env, napi_value v, struct iovec *out) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type tt; size_t len; void *data; napi_value ab; size_t boff;
  if (napi_get_typedarray_info(env, v, &tt, &len, &data, &ab, &boff) != napi_ok || tt != napi_uint8_array) return 0;
  out->iov_base = data; out->iov_len = len;
  return 1;
}

/** Read `views` (an array of Uint8Array) into a malloc'd iovec array; NULL (and a thrown TypeError) on bad input. */
static struct iovec *get_views(napi_env env, napi_value arr, uint32_t *count, size_t *total) {
  bool is_arr = false;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr) { napi_throw_type_error(env, NULL, "views must be an array of Uint8Array"); return NULL; }
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  if (n == 0 || n > MAX_VIEWS) { napi_throw_type_error(env, NULL, "views must hold 1 to 1024 Uint8Array"); return NULL; }
  struct iovec *iov = malloc(sizeof *iov * n);
  if (!iov) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  size_t sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok || !get_view(env, v, &iov[i])) {
      free(iov); napi_throw_type_error(env, NULL, "views must be an array of Uint8Array"); return NULL;
    }
    sum += iov[i].iov_len;
  }
  *count = n; *total = sum;
  return iov;
}

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  bool lossless = true;
  return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok;
}

/* ------------------------------------------------------------------ async work */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref views_ref;
  int write;
  int fd;
  struct iovec *iov;
  uint32_t count;
  size_t total, hash_len;
  uint64_t position, seed, hash;
  int err; /* positive errno, 0 = ok */
} job_t;

static int hashed_transfer_pre(int write, int fd, const struct iovec *iov, uint32_t count, size_t total, uint64_t position, size_t hash_len, uint64_t seed, uint64_t *hash, int hashed);
static int transfer(int write, int fd, const struct iovec *iov, uint32_t count, size_t total, uint64_t position);

/** Advance `iov`/`cnt` past `n` bytes (after a short transfer); returns the new start index. */
static int skip_iov(struct iovec *iov, int cnt, int start, size_t n) {
  while (start < cnt && n >= iov[start].iov_len) { n -= iov[start].iov_len; start++; }
  if (start < cnt && n > 0) { iov[start].iov_base = (uint8_t *)iov[start].iov_base + n; iov[start].iov_len -= n; }
  return start;
}

/*
 * One hashed transfer: for a write, hash then pwritev; for a read, preadv then hash. Sets *hash, or
 * returns a positive errno. `iov` is left as it was (the transfer works on a copy).
 */
static int hashed_transfer(int write, int fd, const struct iovec *iov, uint32_t count, size_t total, uint64_t position, size_t hash_len, uint64_t seed, uint64_t *hash) {
  return hashed_transfer_pre(write, fd, iov, count, total, position, hash_len, seed, hash, 0);
}

/** `hashed_transfer`; `hashed`: a write whose *hash is computed already (hashed_batch's vector pass). */
static int hashed_transfer_pre(int write, int fd, const struct iovec *iov, uint32_t count, size_t total, uint64_t position, size_t hash_len, uint64_t seed, uint64_t *hash, int hashed) {
  int cnt = (int)count;
  if (write && !hashed) *hash = hash_iov(iov, cnt, hash_len, seed);
  int e = transfer(write, fd, iov, count, total, position);
  if (e) return e;
  if (!write) *hash = hash_iov(iov, cnt, hash_len, seed);
  return 0;
}

/*
 * Descriptors whose file takes no RWF_NOWAIT reads (tmpfs answers EOPNOTSUPP: its pages are memory,
 * never the device's), marked at the first refusal so that their reads skip the attempt. A
 * descriptor number reused by another file keeps the mark: its reads then count against the cap as
 * cached ones do (speed only, never the bytes).
 */
#define NOWAIT_REFUSED_FDS 4096
static atomic_uchar nowait_refused[NOWAIT_REFUSED_FDS];

/** pwritev / preadv of `iov` at `position`, short transfers retried (a read past the end of the file gives zeros); 0 or a positive errno. */
static int transfer(int write, int fd, const struct iovec *iov, uint32_t count, size_t total, uint64_t position) {
  int cnt = (int)count;
  /* The transfer mutates a copy of the vectors (short-transfer bookkeeping). */
  struct iovec *w = malloc(sizeof *w * count);
  if (!w) return ENOMEM;
  memcpy(w, iov, sizeof *w * count);
  size_t done = 0; int start = 0;
  /* A read on a capped pool thread first takes only what the page cache holds (RWF_NOWAIT); what it
   * lacks is read as the pool's blocking work, so that another job may run meanwhile. */
  int nowait = !write && own_pool_capped() && !(fd >= 0 && fd < NOWAIT_REFUSED_FDS && atomic_load_explicit(&nowait_refused[fd], memory_order_relaxed)), blocking = 0;
  while (done < total) {
    int n = cnt - start; if (n > IOV_MAX) n = IOV_MAX;
    ssize_t r = write ? pwritev(fd, w + start, n, (off_t)(position + done))
              : nowait ? preadv2(fd, w + start, n, (off_t)(position + done), RWF_NOWAIT) : preadv(fd, w + start, n, (off_t)(position + done));
    if (nowait && r < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
      /* (no such reads on this file, or this kernel: read it plainly, as cached) */
      nowait = 0;
      if (fd >= 0 && fd < NOWAIT_REFUSED_FDS) atomic_store_explicit(&nowait_refused[fd], 1, memory_order_relaxed);
      continue;
    }
    if (nowait && (r < 0 ? errno != EINTR : n == cnt - start && (size_t)r < total - done)) {
      /* (EAGAIN: not cached; short: the rest is not cached, or the file ends, which the plain read finds) */
      nowait = 0;
      own_pool_blocking(1); blocking = 1;
      if (r <= 0) continue;
    }
    if (r < 0) { if (errno == EINTR) continue; int e = errno; if (blocking) own_pool_blocking(0); free(w); return e; }
    if (r == 0) {
      if (write) { free(w); return EIO; }
      /* end of file: the rest reads as zeros */
      for (int i = start; i < cnt; i++) memset(w[i].iov_base, 0, w[i].iov_len);
      break;
    }
    done += (size_t)r;
    start = skip_iov(w, cnt, start, (size_t)r);
  }
  if (blocking) own_pool_blocking(0);
  free(w);
  return 0;
}

static void run_job(napi_env env, void *data) {
  job_t *j = data;
  j->err = hashed_transfer(j->write, j->fd, j->iov, j->count, j->total, j->position, j->hash_len, j->seed, &j->hash);
}

static void finish_job(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value v;
  if (status != napi_ok && j->err == 0) j->err = ECANCELED;
  if (j->err) {
    napi_create_int32(env, -j->err, &v);
    napi_reject_deferred(env, j->deferred, v);
  } else {
    napi_create_bigint_uint64(env, j->hash, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_reference(env, j->views_ref);
  napi_delete_async_work(env, j->work);
  free(j->iov);
  free(j);
}

/* (fd, views, position, hashLen, seed) */
static napi_value start_job(napi_env env, napi_callback_info info, int write) {
  size_t argc = 5; napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) { napi_throw_type_error(env, NULL, "needs (fd, views, position, hashLen, seed)"); return NULL; }
  int32_t fd; double pos, hlen; uint64_t seed;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_double(env, argv[2], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_double(env, argv[3], &hlen) != napi_ok || !(hlen >= 0 && hlen <= 9007199254740991.0) ||
      !get_u64(env, argv[4], &seed)) {
    napi_throw_type_error(env, NULL, "bad arguments: (fd, views, position, hashLen, seed bigint)"); return NULL;
  }
  uint32_t count; size_t total;
  struct iovec *iov = get_views(env, argv[1], &count, &total);
  if (!iov) return NULL;
  job_t *j = calloc(1, sizeof *j);
  if (!j) { free(iov); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  j->write = write; j->fd = fd; j->iov = iov; j->count = count; j->total = total;
  j->hash_len = (size_t)hlen; j->position = (uint64_t)pos; j->seed = seed;
  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &j->views_ref) != napi_ok ||
      napi_create_string_utf8(env, write ? "cairn.pwritevHash" : "cairn.preadvHash", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_job, finish_job, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    free(iov); free(j);
    napi_throw_error(env, NULL, "cannot queue hashed I/O");
    return NULL;
  }
  return promise;
}

static napi_value preadv_hash(napi_env env, napi_callback_info info) { return start_job(env, info, 0); }
static napi_value pwritev_hash(napi_env env, napi_callback_info info) { return start_job(env, info, 1); }

/* xxh64Parts(views, seed) */
static napi_value xxh64_parts(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  uint64_t seed;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !get_u64(env, argv[1], &seed)) {
    napi_throw_type_error(env, NULL, "xxh64Parts needs (views, seed bigint)"); return NULL;
  }
  uint32_t count; size_t total;
  struct iovec *iov = get_views(env, argv[0], &count, &total);
  if (!iov) return NULL;
  uint64_t h = hash_iov(iov, (int)count, total, seed);
  free(iov);
  napi_value v;
  napi_create_bigint_uint64(env, h, &v);
  return v;
}

/*
 * pwriteHashSync(fd, view, position, length, seed) -> bigint | number
 * XXH64 of `view`, then pwrite of `view` at `position` and zeros up to `length`, on the calling
 * thread: a small value is hashed where it is and copied into the page cache in one call. A
 * failure returns the negative errno (a number) instead of the hash.
 */
static const uint8_t zeros[65536];
static napi_value pwrite_hash_sync(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  int32_t fd; double pos, len; uint64_t seed; struct iovec v;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !get_view(env, argv[1], &v) ||
      napi_get_value_double(env, argv[2], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_double(env, argv[3], &len) != napi_ok || !(len >= (double)v.iov_len && len - (double)v.iov_len <= (double)sizeof zeros) ||
      !get_u64(env, argv[4], &seed)) {
    napi_throw_type_error(env, NULL, "pwriteHashSync needs (fd, Uint8Array, position, length >= its length (by at most 64 KiB), seed bigint)"); return NULL;
  }
  uint64_t h = hash_iov(&v, 1, v.iov_len, seed);
  struct iovec w[2] = { v, { (void *)zeros, (size_t)len - v.iov_len } };
  int cnt = w[1].iov_len ? 2 : 1, start = 0;
  size_t done = 0, total = (size_t)len;
  int err = 0;
  while (done < total) {
    ssize_t r = pwritev(fd, w + start, cnt - start, (off_t)((uint64_t)pos + done));
    if (r < 0) { if (errno == EINTR) continue; err = errno; break; }
    if (r == 0) { err = EIO; break; }
    done += (size_t)r;
    start = skip_iov(w, cnt, start, (size_t)r);
  }
  napi_value out;
  if (err) napi_create_int32(env, -err, &out);
  else napi_create_bigint_uint64(env, h, &out);
  return out;
}

/* ------------------------------------------------------------------ batches */

/** Requests one hashedBatch takes at most. */
#define MAX_BATCH 256
/** Data cells per stripe a parity fill takes at most (gfni.c GF_MAX_SHARDS). */
#define FILL_MAX_K 64

/* gfni.c: one parity row of whole stripes of `data` into `out` (-1: the shape does not fit). */
int gf_parity_fill(const uint8_t *coef, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *out, size_t out_len);
int gf_parity_fill2(const uint8_t *coef0, const uint8_t *coef1, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *out0, uint8_t *out1, size_t out_len);

typedef struct {
  int write, fd, err;
  struct iovec *iov;
  uint32_t count;
  size_t total, hash_len;
  uint64_t position, seed, hash;
  fmap_t *map; /* reads: the file's mapping (NULL: preadv); writes: its writable mapping (NULL: pwritev) */
  int done;     /* answered by the vector pass (multi_pass): a read copied or read and hashed, a write hashed and written */
  int nomap;    /* a write whose mapping backed off (map_backed_off): pwritev */
  /* writes: a deferred parity fill of the first view (fill_k 0: none), computed before the hash (gfni.c gf_parity_fill) */
  int fill_k;
  uint8_t fill_coef[FILL_MAX_K];
  size_t fill_cell, fill_len;
  const uint8_t *fill_data;
} breq_t;

typedef struct {
  own_job_t job;      /* (first: a batch queued on the addon's own threads, `hashed_pool`) */
  napi_async_work work; /* NULL on the addon's own threads */
  napi_deferred deferred;
  napi_ref reqs_ref;
  napi_ref extra_ref; /* hashedBatchFlat: its extras array (maps, fills), NULL when none */
  napi_ref out_ref;   /* hashedBatchFlat: its results array (`out`), NULL when none */
  uint64_t *out;      /* ... and its memory: n hashes, then n errnos (0: none) */
  uint32_t n;
  breq_t *r;
} batch_t;

/*
 * Request arrays kept for reuse, per thread (a batch is made and freed on its env's JavaScript
 * thread). Why: a batch's calloc of its requests (~200 bytes each, 16 in an EC write's batch) is a
 * large-bin request, and glibc consolidated its fast bins for it on most calls (perf, session 37,
 * EC_4P2G1 1 MiB writes: ~1.5 us of the JavaScript thread's ~82 per MiB in malloc_consolidate).
 * An array of up to REQ_POOL_CAP requests is always made REQ_POOL_CAP long, so any kept one fits.
 */
#define REQ_POOL_SLOTS 4
#define REQ_POOL_CAP 32
static __thread breq_t *req_pool[REQ_POOL_SLOTS];
static __thread int req_pooled;

/** `n` zeroed requests (NULL: out of memory). */
static breq_t *alloc_reqs(uint32_t n) {
  if (n <= REQ_POOL_CAP && req_pooled > 0) {
    breq_t *r = req_pool[--req_pooled];
    memset(r, 0, sizeof *r * n);
    return r;
  }
  return calloc(n <= REQ_POOL_CAP ? REQ_POOL_CAP : n, sizeof(breq_t));
}

/** Give back requests `alloc_reqs(n)` made: kept while the pool has room. */
static void free_reqs(breq_t *r, uint32_t n) {
  if (r && n <= REQ_POOL_CAP && req_pooled < REQ_POOL_SLOTS) { req_pool[req_pooled++] = r; return; }
  free(r);
}

static void free_batch(batch_t *b) {
  if (b->r) for (uint32_t i = 0; i < b->n; i++) {
    free(b->r[i].iov);
    fmap_t *m = b->r[i].map;
    if (m && --m->refs == 0 && m->closed) unmap_now(m);
  }
  free_reqs(b->r, b->n);
  free(b);
}

/*
 * The vector pass of a batch (xxh64x.c): the cells of one EC read or write are separate XXH64
 * streams of the same length, hashed side by side, MULTI_GROUP at a time, about 1.8x the scalar
 * rate (copy included: 1.4x; measured here, C only, 256 KiB cells). Three kinds of group:
 * - reads without a mapping: each request of the group is read with preadv, then the group's
 *   destinations are hashed side by side where they are (still in cache: about a megabyte);
 * - mapped reads: copied out of their mappings and hashed in one pass (guarded as mapped_read: a
 *   fault leaves the group to the per-request path, which repeats it and falls back to preadv);
 * - writes: hashed view by view where they are, then written at once (pwritev): a gather write of an
 *   EC data cell (the caller's pieces of its stripes, one view each) as much as a single view.
 * Fewer than MULTI_MIN streams run no faster side by side (the vector multiply's latency), so they
 * stay scalar, as does anything the pass does not take (short requests; views split inside a
 * 32-byte stripe are finished by the scalar code from there).
 */
#define MULTI_GROUP 4
#define MULTI_MIN 3
#define MULTI_MIN_BYTES 4096

/** How a group of the vector pass gets its bytes (MULTI_MAPPED_WRITE: copied into the file's writable mapping while hashed). */
enum { MULTI_WRITE = 0, MULTI_MAPPED = 1, MULTI_PREAD = 2, MULTI_MAPPED_WRITE = 3 };

/** The kind of group request `q` can join (-1: none): not answered yet, long enough; a write's hashed bytes in its views; a mapped read wholly hashed. */
static int multi_kind(const breq_t *q) {
  if (q->done || q->hash_len < MULTI_MIN_BYTES) return -1; /* (done: answered by the fused pass) */
  if (q->write) return q->hash_len <= q->total ? (q->map && !q->nomap ? MULTI_MAPPED_WRITE : MULTI_WRITE) : -1;
  if (q->map) return q->hash_len == q->total ? MULTI_MAPPED : -1;
  return q->hash_len <= q->total ? MULTI_PREAD : -1;
}

/** Copy+hash `src` into views `iov` from view `vi`, offset `vo` on (source byte `pos`), hashing up to `hash_len` (as copy_hash_views from there). */
static void copy_hash_rest(xxh64_t *s, const uint8_t *src, const struct iovec *iov, int cnt, int vi, size_t vo, size_t pos, size_t hash_len) {
  for (int j = vi; j < cnt; j++, vo = 0) {
    uint8_t *d = (uint8_t *)iov[j].iov_base + vo;
    size_t n = iov[j].iov_len - vo;
    size_t h = pos >= hash_len ? 0 : (hash_len - pos < n ? hash_len - pos : n);
    if (h) xxh64_copy_update(s, d, src + pos, h);
    if (n > h) memcpy(d + h, src + pos + h, n - h);
    pos += n;
  }
}

/** Copy views `iov` from view `vi`, offset `vo` on (stream byte `pos`) to `dst` + pos on, hashing up to `hash_len` (a mapped write's rest). */
static void copy_hash_out_rest(xxh64_t *s, uint8_t *dst, const struct iovec *iov, int cnt, int vi, size_t vo, size_t pos, size_t hash_len) {
  for (int j = vi; j < cnt; j++, vo = 0) {
    const uint8_t *src = (const uint8_t *)iov[j].iov_base + vo;
    size_t n = iov[j].iov_len - vo;
    size_t h = pos >= hash_len ? 0 : (hash_len - pos < n ? hash_len - pos : n);
    if (h) xxh64_copy_update(s, dst + pos, src, h);
    if (n > h) memcpy(dst + pos + h, src + h, n - h);
    pos += n;
  }
}

/** Hash views `iov` in place from view `vi`, offset `vo` on (stream byte `pos`) up to `hash_len`. */
static void hash_rest(xxh64_t *s, const struct iovec *iov, int cnt, int vi, size_t vo, size_t pos, size_t hash_len) {
  for (int j = vi; j < cnt && pos < hash_len; j++, vo = 0) {
    size_t n = iov[j].iov_len - vo;
    if (n > hash_len - pos) n = hash_len - pos;
    xxh64_update(s, (const uint8_t *)iov[j].iov_base + vo, n);
    pos += n;
  }
}

/*
 * Whether mapped batch writes store into the mapping with non-temporal stores (xxh64x_rounds_to):
 * the page cache's lines are written whole without first being read from memory (an ordinary
 * store to a line not in cache reads it: the RFO), and a written cell is not read again soon.
 * Measured here (C only, an EC 4+2 write's 6 cells of 256 KiB, fill then copy+hash in groups of 3,
 * into a 512 MiB mapped file): 186-192 us per MiB of data with ordinary stores, 148-149 with these.
 * (EC writes whose cells the fused pass takes do not come here: fused_pass.) CAIRN_MAP_STREAM=0
 * turns it off (A/B).
 */
static int map_stream_on(void) {
  static int state; /* 0 not decided, 1 on, -1 off */
  if (state == 0) { const char *e = getenv("CAIRN_MAP_STREAM"); state = e && strcmp(e, "0") == 0 ? -1 : 1; }
  return state > 0;
}

/*
 * Bytes each stream of a vector group runs behind the one before it (multi_streams). The cells of
 * one EC read or write lie at the same offset of their targets' data files (every target allocates
 * alike under a uniform load), so streams advanced in lockstep touch addresses equal in their low
 * bits at the same moment; with 2 MiB folios the physical addresses too. Measured here (C only,
 * one thread, 4 streams of 64 KiB views out of 16 page-cached files written through huge mappings,
 * copied and hashed): sources at the same offsets 115-118 us per MiB; each 256 bytes further than
 * the one before 79, 2 KiB 73, 4 KiB 53-54 (as far as 128 KiB: 55-59); hashed in place without a
 * copy, 79 against 53-60. Staggering the streams by this much gives the same spread in time.
 * CAIRN_HASH_STAGGER=<bytes> (a multiple of 32 up to 64 KiB; 0: lockstep) sets it (A/B).
 */
#define MULTI_STAGGER_BYTES 4096

static size_t multi_stagger(void) {
  static long state = -1;
  if (state < 0) {
    const char *e = getenv("CAIRN_HASH_STAGGER");
    long x = e ? strtol(e, NULL, 10) : MULTI_STAGGER_BYTES;
    state = x >= 0 && x <= 65536 && (x & 31) == 0 ? x : MULTI_STAGGER_BYTES;
  }
  return (size_t)state;
}

/*
 * Hash `n` requests `g` side by side (`kind` as multi_kind): mapped reads are copied out of their
 * mappings into their views in the same pass, reads already in their views and writes are hashed
 * there (all go view by view, as long as the streams' view boundaries fall on 32-byte stripes —
 * the views of one EC cell read or gather write are its stripes' pieces — and the scalar code
 * finishes the rest). Not inlined: the caller's sigsetjmp frame stays simple.
 */
static __attribute__((noinline)) int multi_streams(breq_t **g, int n, int kind, uint64_t *out) {
  const uint8_t *base[MULTI_GROUP], *src[MULTI_GROUP]; uint8_t *dst[MULTI_GROUP]; uint64_t v[MULTI_GROUP][4], w[MULTI_GROUP][4]; xxh64_t st[MULTI_GROUP];
  int vi[MULTI_GROUP], act[MULTI_GROUP]; size_t vo[MULTI_GROUP], pos[MULTI_GROUP];
  size_t common = (size_t)-1;
  const int copy = kind == MULTI_MAPPED || kind == MULTI_MAPPED_WRITE;
  for (int i = 0; i < n; i++) {
    base[i] = copy ? g[i]->map->base + g[i]->position : NULL;
    vi[i] = 0; vo[i] = 0; pos[i] = 0;
    if (g[i]->hash_len < common) common = g[i]->hash_len;
    xxh64_init(&st[i], g[i]->seed);
    memcpy(v[i], st[i].v, sizeof v[i]);
  }
  common &= ~(size_t)31;
  /* stream i covers [0, common) while the clock runs over [i * lag, i * lag + common) (MULTI_STAGGER_BYTES) */
  const size_t lag = multi_stagger(), end = common + (size_t)(n - 1) * lag;
  int started = 0;
  for (size_t t = 0; t < end;) {
    size_t step = end - t;
    int na = 0;
    for (int i = 0; i < n; i++) {
      const size_t from = (size_t)i * lag;
      if (t < from) { if (from - t < step) step = from - t; continue; }
      if (pos[i] >= common) continue;
      const size_t avail = g[i]->iov[vi[i]].iov_len - vo[i];
      if (common - pos[i] < step) step = common - pos[i];
      if (avail < step) step = avail;
      act[na++] = i;
    }
    step &= ~(size_t)31;
    if (step == 0) break; /* a view boundary inside a stripe: the scalar code takes each stream's rest */
    if (na > 0) {
      for (int a = 0; a < na; a++) {
        const int i = act[a];
        uint8_t *view = (uint8_t *)g[i]->iov[vi[i]].iov_base + vo[i];
        src[a] = kind == MULTI_MAPPED ? base[i] + pos[i] : view;
        dst[a] = kind == MULTI_MAPPED_WRITE ? base[i] + pos[i] : view;
        memcpy(w[a], v[i], sizeof w[a]);
      }
      if (!xxh64x_rounds_to(na, w, src, copy ? dst : NULL, step, kind == MULTI_MAPPED_WRITE && map_stream_on())) { if (!started) return 0; break; }
      started = 1;
      for (int a = 0; a < na; a++) {
        const int i = act[a];
        memcpy(v[i], w[a], sizeof v[i]);
        pos[i] += step; vo[i] += step;
        if (vo[i] == g[i]->iov[vi[i]].iov_len) { vi[i]++; vo[i] = 0; }
      }
    }
    t += step;
  }
  for (int i = 0; i < n; i++) {
    memcpy(st[i].v, v[i], sizeof v[i]);
    st[i].total = pos[i];
    if (kind == MULTI_MAPPED) copy_hash_rest(&st[i], base[i], g[i]->iov, (int)g[i]->count, vi[i], vo[i], pos[i], g[i]->hash_len);
    else if (kind == MULTI_MAPPED_WRITE) copy_hash_out_rest(&st[i], base[i], g[i]->iov, (int)g[i]->count, vi[i], vo[i], pos[i], g[i]->hash_len);
    else hash_rest(&st[i], g[i]->iov, (int)g[i]->count, vi[i], vo[i], pos[i], g[i]->hash_len);
    out[i] = xxh64_digest(&st[i]);
  }
  return 1;
}

/*
 * One group through the vector pass: its requests answered (reads) or hashed (writes); 0 when it
 * was not (a fault, no AVX-512; reads read with preadv are answered even then, by the scalar hash).
 */
static int multi_group(breq_t **g, int n, int kind) {
  uint64_t out[MULTI_GROUP];
  if (kind == MULTI_PREAD) {
    /* read every request of the group, then hash the ones read (a failed one is answered with its errno) */
    breq_t *ok[MULTI_GROUP]; int m = 0;
    for (int i = 0; i < n; i++) {
      breq_t *q = g[i];
      q->err = transfer(0, q->fd, q->iov, q->count, q->total, q->position);
      q->done = 1;
      if (q->err == 0) ok[m++] = q;
    }
    if (m > 0 && !multi_streams(ok, m, kind, out)) for (int i = 0; i < m; i++) out[i] = hash_iov(ok[i]->iov, (int)ok[i]->count, ok[i]->hash_len, ok[i]->seed);
    for (int i = 0; i < m; i++) ok[i]->hash = out[i];
    return 1;
  }
  const int mapped = kind == MULTI_MAPPED || kind == MULTI_MAPPED_WRITE;
  sigjmp_buf jb;
  if (mapped) {
    if (sigsetjmp(jb, 0)) { guard_jmp = NULL; return 0; }
    guard_jmp = &jb;
  }
  int seen = kind == MULTI_MAPPED_WRITE;
  for (int i = 0; i < n && seen; i++) seen = map_seen(g[i]->map, g[i]->position, g[i]->total);
  const long f0 = seen ? thread_faults() : -1;
  int ok = multi_streams(g, n, kind, out);
  guard_jmp = NULL;
  if (!ok) return 0;
  if (seen) {
    /* (the group's faults are charged to each of its mappings as if all its bytes were that one's) */
    const long f1 = thread_faults();
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += g[i]->total;
    for (int i = 0; i < n; i++) mapped_faults(g[i]->map, f0, f1, bytes);
  }
  for (int i = 0; i < n; i++) {
    breq_t *q = g[i];
    q->hash = out[i];
    /* a write goes out right after its group is hashed: its bytes are still in this core's cache
     * for the kernel's copy (hashing the whole batch first left the first cells of a 1.5 MiB EC
     * write to be copied back from L3) */
    if (!mapped) { q->err = transfer(1, q->fd, q->iov, q->count, q->total, q->position); q->done = 1; continue; }
    /* (a mapped write is in the page cache now, as after pwritev: same readers, fdatasync and crash safety) */
    q->err = 0; q->done = 1;
    map_used(q->map, q->position, q->total, q->write ? MAP_WRITE_ZAP_BYTES : READ_ZAP_BUDGET(q->map));
  }
  return 1;
}

/** The vector pass over a batch: its reads (read with preadv, then mapped ones), then its writes, in groups of MULTI_MIN to MULTI_GROUP. */
static void multi_pass(batch_t *b) {
  static int state; /* 0 not decided, 1 on, -1 off (CAIRN_HASH_VECTOR=0 or no AVX-512) */
  if (state == 0) { const char *e = getenv("CAIRN_HASH_VECTOR"); state = (e && strcmp(e, "0") == 0) || !xxh64x_available() ? -1 : 1; }
  if (b->n < MULTI_MIN || state < 0) return;
  static const int kinds[] = { MULTI_PREAD, MULTI_MAPPED, MULTI_WRITE, MULTI_MAPPED_WRITE };
  for (int k = 0; k < 4; k++) {
    const int kind = kinds[k];
    breq_t *g[MULTI_GROUP]; int n = 0;
    uint32_t left = 0;
    for (uint32_t i = 0; i < b->n; i++) if (multi_kind(&b->r[i]) == kind) left++;
    /* group sizes: all of them up to MULTI_GROUP, else halves of up to 8 (6 cells: 3 + 3, not 4 + 2 scalar) */
    uint32_t size = left <= MULTI_GROUP ? left : left <= 2 * MULTI_GROUP ? (left + 1) / 2 : MULTI_GROUP;
    for (uint32_t i = 0; i < b->n && left >= MULTI_MIN; i++) {
      breq_t *q = &b->r[i];
      if (multi_kind(q) != kind) continue;
      g[n++] = q;
      if ((uint32_t)n == size || (uint32_t)n == left) {
        left -= (uint32_t)n;
        if (!multi_group(g, n, kind) && (kind == MULTI_MAPPED || kind == MULTI_MAPPED_WRITE)) { /* a fault: every later mapped request of the kind goes the per-request way (preadv / pwritev) */ left = 0; }
        n = 0;
        size = left <= MULTI_GROUP ? left : left <= 2 * MULTI_GROUP ? (left + 1) / 2 : MULTI_GROUP;
      }
    }
  }
}

/* gfni.c: an EC write's stripes in one pass (parity, copy into the mappings, XXH64), and whether it runs here. */
int gf_fused_on(void);
int gf_fused_stripes(const uint8_t *coef0, const uint8_t *coef1, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *const *dst, unsigned nt_mask, uint64_t (*v)[4]);

/** Whether `q` is a write the fused pass can take: through a writable mapping (or one backed off: then pwritev), wholly hashed, not answered yet. */
static int fusable(const breq_t *q) {
  return q->write && !q->done && q->map && q->hash_len == q->total;
}

/** Guarded gf_fused_stripes into the mappings (not inlined: the caller's sigsetjmp frame stays simple); 0, or -1 on a fault or a shape it refused. */
static __attribute__((noinline)) int fused_guarded(const breq_t *p0, const breq_t *p1, uint8_t *const *dst, unsigned nt_mask, uint64_t (*v)[4]) {
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0)) { guard_jmp = NULL; return -1; }
  guard_jmp = &jb;
  const int r = gf_fused_stripes(p0->fill_coef, p1->fill_coef, p0->fill_k, p0->fill_cell, p0->fill_data, p0->fill_len, dst, nt_mask, v);
  guard_jmp = NULL;
  return r;
}

/*
 * The EC writes of a batch in one pass each (gfni.c gf_fused_stripes): two writes carrying fills
 * of the same stripes (the two parity rows) and, for each of the k data cells, a write whose views
 * are that cell of every stripe, in order (a gather write of the caller's bytes), all through
 * writable mappings. Their parity is computed from the data as it is copied into the mappings and
 * every cell hashed in the same pass: each data byte is loaded once (the unfused way loads it for
 * the fill, then again for the copy+hash, and stores and reloads the parity). The parity buffers
 * are left as they were (only the file's bytes are read later: fills.ts). A cell whose mapping is
 * backed off (its writes faulted lately: map_backed_off) is hashed in the pass too, its parity
 * stored into its buffer, and written with pwritev right after. A fault (SIGBUS) leaves the
 * writes to the unfused way, which repeats them (and falls back to pwritev).
 */
static void fused_pass(batch_t *b) {
  if (!gf_fused_on()) return;
  for (uint32_t i = 0; i < b->n; i++) {
    breq_t *q = &b->r[i];
    if (!q->fill_k || q->fill_k > 6 || !fusable(q) || q->count != 1) continue;
    breq_t *m = NULL;
    for (uint32_t j = i + 1; j < b->n && m == NULL; j++) {
      breq_t *x = &b->r[j];
      if (x->fill_k == q->fill_k && x->fill_data == q->fill_data && x->fill_len == q->fill_len && x->fill_cell == q->fill_cell
          && fusable(x) && x->count == 1 && x->total == q->total && x->iov[0].iov_base != q->iov[0].iov_base) m = x;
    }
    if (m == NULL) continue;
    const int k = q->fill_k;
    const size_t cell = q->fill_cell, stripes = q->fill_len / ((size_t)k * cell);
    const uint8_t *data = q->fill_data;
    breq_t *cells[8] = { 0 };
    int found = 0;
    for (uint32_t j = 0; j < b->n && found < k; j++) {
      breq_t *x = &b->r[j];
      if (x->fill_k || !fusable(x) || x->count != stripes || x->total != stripes * cell) continue;
      const uint8_t *v0 = x->iov[0].iov_base;
      if (v0 < data || v0 >= data + (size_t)k * cell || (size_t)(v0 - data) % cell != 0) continue;
      const size_t c = (size_t)(v0 - data) / cell;
      if (cells[c]) continue;
      int ok = 1;
      for (size_t t = 0; t < stripes && ok; t++) ok = x->iov[t].iov_base == data + (t * (size_t)k + c) * cell && x->iov[t].iov_len == cell;
      if (ok) { cells[c] = x; found++; }
    }
    if (found < k) continue;
    cells[k] = q; cells[k + 1] = m;
    /* mapped cells: stored into their mappings (streaming stores); backed-off ones: data not stored
       (pwritev takes it from the caller's bytes), parity into its buffer (ordinary stores: read next) */
    uint8_t *dst[8]; uint64_t v[8][4]; xxh64_t st[8];
    unsigned nt_mask = 0;
    int seen = 1, mapped = 0;
    for (int j = 0; j < k + 2; j++) {
      breq_t *x = cells[j];
      if (!x->nomap) { dst[j] = x->map->base + x->position; nt_mask |= 1u << j; mapped++; }
      else dst[j] = j < k ? NULL : x->iov[0].iov_base;
      xxh64_init(&st[j], x->seed);
      memcpy(v[j], st[j].v, sizeof v[j]);
      if (!x->nomap) seen = seen && map_seen(x->map, x->position, x->total);
    }
    seen = seen && mapped > 0;
    const long f0 = seen ? thread_faults() : -1;
    if (fused_guarded(q, m, dst, nt_mask, v) != 0) continue; /* (the unfused way repeats it) */
    if (seen) {
      const long f1 = thread_faults();
      for (int j = 0; j < k + 2; j++) if (!cells[j]->nomap) mapped_faults(cells[j]->map, f0, f1, (size_t)mapped * q->total);
    }
    for (int j = 0; j < k + 2; j++) {
      breq_t *x = cells[j];
      memcpy(st[j].v, v[j], sizeof v[j]);
      st[j].total = x->total;
      x->hash = xxh64_digest(&st[j]);
      x->done = 1;
      if (x->nomap) { x->err = transfer(1, x->fd, x->iov, x->count, x->total, x->position); continue; }
      x->err = 0;
      map_used(x->map, x->position, x->total, MAP_WRITE_ZAP_BYTES);
    }
  }
}

static void run_batch(napi_env env, void *data) {
  batch_t *b = data;
  for (uint32_t i = 0; i < b->n; i++) if (b->r[i].write && b->r[i].map && map_backed_off(b->r[i].map, b->r[i].total)) b->r[i].nomap = 1;
  fused_pass(b);
  /* deferred parity first: each fill's output is its write's first view, hashed and written below.
   * Two fills of the same stripes (the parity rows of one EC write) go in one pass over them. */
  uint8_t filled[MAX_BATCH];
  memset(filled, 0, b->n);
  for (uint32_t i = 0; i < b->n; i++) {
    breq_t *q = &b->r[i];
    if (!q->fill_k || filled[i] || q->done) continue;
    filled[i] = 1;
    breq_t *m = NULL;
    for (uint32_t j = i + 1; j < b->n && m == NULL; j++) {
      breq_t *x = &b->r[j];
      if (!filled[j] && !x->done && x->fill_k == q->fill_k && x->fill_data == q->fill_data && x->fill_len == q->fill_len && x->fill_cell == q->fill_cell
          && x->iov[0].iov_len == q->iov[0].iov_len && x->iov[0].iov_base != q->iov[0].iov_base) { m = x; filled[j] = 1; }
    }
    if (m != NULL) gf_parity_fill2(q->fill_coef, m->fill_coef, q->fill_k, q->fill_cell, q->fill_data, q->fill_len, q->iov[0].iov_base, m->iov[0].iov_base, q->iov[0].iov_len);
    else gf_parity_fill(q->fill_coef, q->fill_k, q->fill_cell, q->fill_data, q->fill_len, q->iov[0].iov_base, q->iov[0].iov_len);
  }
  multi_pass(b);
  for (uint32_t i = 0; i < b->n; i++) {
    breq_t *q = &b->r[i];
    if (q->done) continue;
    /* (a mapped request that faults, here or in its vector group, is done with preadv / pwritev, whose answer stands) */
    if (q->map && !q->nomap && (q->write ? mapped_write_views(q->map, q->position, q->iov, (int)q->count, q->total, q->hash_len, q->seed, &q->hash)
                            : mapped_read(q->map, q->position, q->iov, (int)q->count, q->total, q->hash_len, q->seed, &q->hash)) == 0) { q->err = 0; continue; }
    q->err = hashed_transfer_pre(q->write, q->fd, q->iov, q->count, q->total, q->position, q->hash_len, q->seed, &q->hash, 0);
  }
}

static void finish_batch(napi_env env, napi_status status, void *data) {
  batch_t *b = data;
  napi_value out, v;
  if (b->out) {
    /* results into the caller's array (hashedBatchFlat's `out`): no value per request; the promise answers the errors' count */
    uint32_t errs = 0;
    for (uint32_t i = 0; i < b->n; i++) {
      breq_t *q = &b->r[i];
      int err = q->err ? q->err : (status != napi_ok ? ECANCELED : 0);
      b->out[i] = err ? 0 : q->hash;
      b->out[b->n + i] = (uint64_t)err;
      errs += err != 0;
    }
    napi_create_uint32(env, errs, &out);
    napi_resolve_deferred(env, b->deferred, out);
  } else if (napi_create_array_with_length(env, b->n, &out) != napi_ok) {
    napi_get_undefined(env, &out);
    napi_reject_deferred(env, b->deferred, out);
  } else {
    for (uint32_t i = 0; i < b->n; i++) {
      breq_t *q = &b->r[i];
      int err = q->err ? q->err : (status != napi_ok ? ECANCELED : 0);
      if (err) napi_create_int32(env, -err, &v); else napi_create_bigint_uint64(env, q->hash, &v);
      napi_set_element(env, out, i, v);
    }
    napi_resolve_deferred(env, b->deferred, out);
  }
  napi_delete_reference(env, b->reqs_ref);
  if (b->extra_ref) napi_delete_reference(env, b->extra_ref);
  if (b->out_ref) napi_delete_reference(env, b->out_ref);
  if (b->work) napi_delete_async_work(env, b->work);
  free_batch(b);
}

/*
 * Hashed batches run on the addon's own threads (own-pool.h) at nice HASHED_OWN_NICE, not on the
 * libuv pool (`hashedOwnThreads`, on by default). Why: on 2 cores the JavaScript thread is the
 * critical path of bulk writes (it plans, commits and records every shard write), and the pool
 * threads' copies took its core: EC_4P2G1 1 MiB writes, 8 in flight, spent 77-87 us of its CPU and
 * 23-36 us waiting for a core per MiB; renicing every other thread to 10 cut the wait to 4-6 us and
 * raised the median round from 11.3 and 8.9 to 13.3 and 12.2 GB/s (session 37). The copies lose
 * nothing while the JavaScript thread waits for them. libuv's own threads, which the application's
 * fs, dns and zlib share, keep their priority. Nice 5 and 19 ran slower than 10 (11.3/9.4 and
 * 12.0/11.1 against 12.6/11.8 GB/s); CAIRN_HASHED_OWN_NICE sets another value.
 */
#define HASHED_OWN_NICE 10
/*
 * The pool runs at most one job per core at once (`run_cap`, own-pool.h): its jobs copy and hash
 * page-cached bytes, CPU work that more threads than cores only interleave, while a job queued to
 * an idle thread paid for waking it (an interrupt through the host on this VM). A read that has to
 * wait for the device (preadv2 with RWF_NOWAIT found its pages absent: `transfer`) does not count
 * while it waits. Measured (io bench EC_4P2G1 1 MiB reads into reused buffers, 8 in flight, 2
 * cores, alternating processes): 0.69/0.66x plain file reads uncapped against 0.80/0.84x capped at
 * 2; cold reads of a new process alike (docs/performance.md, session 61).
 * CAIRN_HASHED_OWN_RUN_CAP (0-8, 0: no cap) sets another value.
 */
static int hashed_run_cap(void) {
  const char *v = getenv("CAIRN_HASHED_OWN_RUN_CAP");
  char *end = NULL;
  long n = v ? strtol(v, &end, 10) : -1;
  if (v && *v && end && *end == '\0' && n >= 0 && n <= OWN_POOL_THREADS_MAX) return (int)n;
  cpu_set_t set;
  long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
  return cores < 1 ? 1 : cores > OWN_POOL_THREADS_MAX ? OWN_POOL_THREADS_MAX : (int)cores;
}
static void hashed_own_run(own_job_t *job) { run_batch(NULL, job); }
static void hashed_own_done(napi_env env, own_job_t *job) { finish_batch(env, napi_ok, job); }
static void hashed_own_drop(own_job_t *job) { free_batch((batch_t *)job); }
static own_pool_t hashed_pool = OWN_POOL_INIT("cairn.hashedBatch.own", "cairn-hash", 0, HASHED_OWN_NICE, hashed_own_run, hashed_own_done, hashed_own_drop);
/*
 * Whether batches go to `hashed_pool` (`hashedOwnThreads`); only its owner's do. The owner is the
 * first environment to call `hashedOwnThreads(true)` (own_pool_claim: the main thread's; JavaScript
 * never calls it from a worker, whose batches take the libuv pool, so a merge worker that queues
 * first cannot leave the event loop's batches on it); batches are never queued to an unclaimed pool.
 */
static volatile int hashed_own_on = 1;

/*
 * hashedOwnThreads(on?: boolean) -> boolean: whether this environment's hashed batches run on the
 * addon's own threads (see `hashed_pool`; on once the environment called it with true, if no other
 * did first) instead of the libuv pool; `on` switches it for the batches queued from then on.
 */
static napi_value hashed_own_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value arg, out;
  bool on;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) == napi_ok && argc >= 1 && napi_get_value_bool(env, arg, &on) == napi_ok) {
    if (hashed_pool.env == NULL && on) {
      /* CAIRN_HASHED_OWN_NICE (0-19) sets the threads' nice value instead of HASHED_OWN_NICE (read once, before any is made) */
      const char *nv = getenv("CAIRN_HASHED_OWN_NICE");
      char *end = NULL;
      long n = nv ? strtol(nv, &end, 10) : -1;
      if (nv && *nv && end && *end == '\0' && n >= 0 && n <= 19) hashed_pool.nice = (int)n;
      hashed_pool.run_cap = hashed_run_cap();
      own_pool_claim(env, &hashed_pool);
    }
    if (hashed_pool.env == env) hashed_own_on = on ? 1 : 0;
  }
  napi_get_boolean(env, hashed_pool.env == env && hashed_own_on != 0, &out);
  return out;
}

/* hashedOwnStats() -> { runCap, threads, blocked }: the own pool's cap on jobs running at once, the threads it made, and the reads so far that waited for the device outside the cap */
static napi_value hashed_own_stats(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&hashed_pool.mu);
  const double cap = hashed_pool.run_cap, threads = hashed_pool.threads, blocked = hashed_pool.blocked;
  pthread_mutex_unlock(&hashed_pool.mu);
  napi_value out, v;
  if (napi_create_object(env, &out) != napi_ok) return NULL;
  napi_create_double(env, cap, &v); napi_set_named_property(env, out, "runCap", v);
  napi_create_double(env, threads, &v); napi_set_named_property(env, out, "threads", v);
  napi_create_double(env, blocked, &v); napi_set_named_property(env, out, "blocked", v);
  return out;
}

#define FILL_SHAPE_ERROR "a hashedBatch write's fill is [coeffs Uint8Array(1-64), cell, data of whole stripes] and its first view data.length / k bytes"

/* A write's deferred parity fill [coeffs, cell, data] into `r` (whose views are read); 0 when it is not one that fits. */
static int get_fill(napi_env env, napi_value fv, breq_t *r) {
  bool fa = false; uint32_t fl = 0;
  napi_value c, cl, d; struct iovec cv, dv; double cell;
  if (napi_is_array(env, fv, &fa) != napi_ok || !fa || napi_get_array_length(env, fv, &fl) != napi_ok || fl < 3 ||
      napi_get_element(env, fv, 0, &c) != napi_ok || !get_view(env, c, &cv) || cv.iov_len < 1 || cv.iov_len > FILL_MAX_K ||
      napi_get_element(env, fv, 1, &cl) != napi_ok || napi_get_value_double(env, cl, &cell) != napi_ok || !(cell >= 1 && cell <= 1073741824.0) || cell != (double)(size_t)cell ||
      napi_get_element(env, fv, 2, &d) != napi_ok || !get_view(env, d, &dv) ||
      dv.iov_len % (cv.iov_len * (size_t)cell) != 0 || r->iov[0].iov_len != dv.iov_len / cv.iov_len) return 0;
  r->fill_k = (int)cv.iov_len; memcpy(r->fill_coef, cv.iov_base, cv.iov_len);
  r->fill_cell = (size_t)cell; r->fill_data = dv.iov_base; r->fill_len = dv.iov_len;
  return 1;
}

/* A request's mapping (mapFile's external) into `r` when it covers the request and, for a write, is writable (else preadv / pwritev). */
static void get_map(napi_env env, napi_value mv, breq_t *r) {
  napi_valuetype mt; void *mp = NULL;
  if (napi_typeof(env, mv, &mt) == napi_ok && mt == napi_external && napi_get_value_external(env, mv, &mp) == napi_ok && mp) {
    fmap_t *m = mp;
    if (!m->closed && !m->unmapped && (!r->write || m->writable) && r->position <= m->len && r->total <= m->len - r->position) { r->map = m; m->refs++; }
  }
}

/* Queue batch `b` (its requests parsed) as one thread-pool job; its promise, or NULL (thrown, `b` freed). `keep_out`: the results array whose memory is b->out. */
static napi_value queue_batch(napi_env env, batch_t *b, napi_value keep, napi_value keep_extra, napi_value keep_out) {
  napi_value promise, name;
  if (napi_create_promise(env, &b->deferred, &promise) != napi_ok ||
      napi_create_reference(env, keep, 1, &b->reqs_ref) != napi_ok ||
      (keep_extra && napi_create_reference(env, keep_extra, 1, &b->extra_ref) != napi_ok) ||
      (keep_out && napi_create_reference(env, keep_out, 1, &b->out_ref) != napi_ok)) {
    free_batch(b);
    napi_throw_error(env, NULL, "cannot queue hashed I/O");
    return NULL;
  }
  if (hashed_own_on && env == hashed_pool.env && own_pool_queue(env, &hashed_pool, &b->job)) return promise;
  if (napi_create_string_utf8(env, "cairn.hashedBatch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_batch, finish_batch, b, &b->work) != napi_ok ||
      napi_queue_async_work(env, b->work) != napi_ok) {
    free_batch(b);
    napi_throw_error(env, NULL, "cannot queue hashed I/O");
    return NULL;
  }
  return promise;
}

/*
 * Where a flattened batch's views come from: the elements of a views array (two N-API calls each),
 * or (hashedBatchBases) [base, byte offset, length] triples of numbers into a few base views (the k
 * cells of an EC read land in one caller's buffer, the data cells of an EC write are pieces of the
 * caller's bytes: two N-API calls per distinct buffer instead of per view).
 */
typedef struct { napi_value views; const double *vt; struct iovec *bases; uint32_t nbases; } viewsrc_t;

/** View `vi` of `s` into `out`; 0 when it is not one (not a Uint8Array; a triple outside its base). */
static int source_view(napi_env env, const viewsrc_t *s, uint32_t vi, struct iovec *out) {
  if (s->vt == NULL) { napi_value v; return napi_get_element(env, s->views, vi, &v) == napi_ok && get_view(env, v, out); }
  const double *t = s->vt + (size_t)vi * 3;
  const double b = t[0], off = t[1], len = t[2];
  if (!(b >= 0 && b < (double)s->nbases && b == (double)(uint32_t)b) || !(off >= 0 && off <= 9007199254740991.0 && off == (double)(size_t)off) ||
      !(len >= 0 && len <= 9007199254740991.0 && len == (double)(size_t)len)) return 0;
  const struct iovec *base = &s->bases[(uint32_t)b];
  if ((size_t)off > base->iov_len || (size_t)len > base->iov_len - (size_t)off) return 0;
  out->iov_base = (uint8_t *)base->iov_base + (size_t)off; out->iov_len = (size_t)len;
  return 1;
}

#define BASES_USAGE "hashedBatchBases needs (n 1-256, Float64Array of [op 0|1, fd, position, hashLen, viewCount] per request, BigUint64Array of seeds, up to 256 base Uint8Arrays, Float64Array of [base, byteOffset, length] per view within its base, extras?, out? BigUint64Array of 2n)"
#define FLAT_USAGE "hashedBatchFlat needs (n 1-256, Float64Array of [op 0|1, fd, position, hashLen, viewCount] per request, BigUint64Array of seeds, the views in order, extras?, out? BigUint64Array of 2n)"

/*
 * The common part of hashedBatchFlat and hashedBatchBases: `a` holds (n, nums, seeds), then the
 * views' source (already in `src`, `nviews` of them; `keep` is what holds their memory), then
 * extras?, out? at a[3], a[4] of `rest` (rest_argc of them).
 */
/* A write's deferred parity fill given as numbers (hashedBatchBases' `fills`): views `ci` (coeffs) and `di` (data) of `src`, `cell` bytes; 0 when it does not fit (as get_fill). */
static int num_fill(napi_env env, const viewsrc_t *src, double ci, double cell, double di, breq_t *r) {
  struct iovec cv, dv;
  if (!(ci >= 0 && ci == (double)(uint32_t)ci && di >= 0 && di == (double)(uint32_t)di) || !(cell >= 1 && cell <= 1073741824.0) || cell != (double)(size_t)cell ||
      !source_view(env, src, (uint32_t)ci, &cv) || cv.iov_len < 1 || cv.iov_len > FILL_MAX_K || !source_view(env, src, (uint32_t)di, &dv) ||
      dv.iov_len % (cv.iov_len * (size_t)cell) != 0 || r->count < 1 || r->iov[0].iov_len != dv.iov_len / cv.iov_len) return 0;
  r->fill_k = (int)cv.iov_len; memcpy(r->fill_coef, cv.iov_base, cv.iov_len);
  r->fill_cell = (size_t)cell; r->fill_data = dv.iov_base; r->fill_len = dv.iov_len;
  return 1;
}

static napi_value flat_batch(napi_env env, napi_value *a, const viewsrc_t *src, uint32_t nviews, napi_value keep, napi_value *rest, size_t rest_argc) {
  uint32_t n = 0, nextra = 0;
  napi_typedarray_type tt; size_t len; void *p; napi_value ab; size_t boff;
  const double *nums; const uint64_t *seeds;
  bool is_arr = false, has_extra = false;
  napi_valuetype et = napi_undefined;
  if (napi_get_value_uint32(env, a[0], &n) != napi_ok || n == 0 || n > MAX_BATCH ||
      napi_get_typedarray_info(env, a[1], &tt, &len, &p, &ab, &boff) != napi_ok || tt != napi_float64_array || len < (size_t)n * 5) goto bad0;
  nums = p;
  if (napi_get_typedarray_info(env, a[2], &tt, &len, &p, &ab, &boff) != napi_ok || tt != napi_biguint64_array || len < n) goto bad0;
  seeds = p;
  if (rest_argc >= 1 && napi_typeof(env, rest[0], &et) == napi_ok && et != napi_undefined) {
    if (napi_is_array(env, rest[0], &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, rest[0], &nextra) != napi_ok) goto bad0;
    has_extra = true;
  }
  uint64_t *outp = NULL;
  if (rest_argc >= 2 && napi_typeof(env, rest[1], &et) == napi_ok && et != napi_undefined) {
    if (napi_get_typedarray_info(env, rest[1], &tt, &len, &p, &ab, &boff) != napi_ok || tt != napi_biguint64_array || len < (size_t)n * 2) goto bad0;
    outp = p;
  }
  /* hashedBatchBases' fills: [coeffs view, cell, data view] per request (-1 first: none), the views of `src` */
  const double *fills = NULL;
  if (src->vt && rest_argc >= 3 && napi_typeof(env, rest[2], &et) == napi_ok && et != napi_undefined) {
    if (napi_get_typedarray_info(env, rest[2], &tt, &len, &p, &ab, &boff) != napi_ok || tt != napi_float64_array || len < (size_t)n * 3) goto bad0;
    fills = p;
  }
  batch_t *b = calloc(1, sizeof *b);
  if (!b || !(b->r = alloc_reqs(n))) { free(b); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  b->n = n;
  b->out = outp;
  uint32_t vi = 0;
  for (uint32_t i = 0; i < n; i++) {
    const double *f = nums + (size_t)i * 5;
    double op = f[0], fd = f[1], pos = f[2], hlen = f[3], cnt = f[4];
    if (!(op == 0 || op == 1) || !(fd >= 0 && fd <= 2147483647.0 && fd == (double)(int32_t)fd) ||
        !(pos >= 0 && pos <= 9007199254740991.0) || !(hlen >= 0 && hlen <= 9007199254740991.0) ||
        !(cnt >= 1 && cnt <= MAX_VIEWS && cnt == (double)(uint32_t)cnt) || vi + (uint32_t)cnt > nviews) goto bad;
    breq_t *r = &b->r[i];
    r->count = (uint32_t)cnt;
    if (!(r->iov = malloc(sizeof *r->iov * r->count))) goto bad;
    size_t total = 0;
    for (uint32_t j = 0; j < r->count; j++, vi++) {
      if (!source_view(env, src, vi, &r->iov[j])) goto bad;
      total += r->iov[j].iov_len;
    }
    r->total = total;
    r->write = (int)op; r->fd = (int)fd; r->position = (uint64_t)pos; r->hash_len = (size_t)hlen; r->seed = seeds[i];
    if (has_extra && i < nextra) {
      napi_value x; napi_valuetype xt;
      if (napi_get_element(env, rest[0], i, &x) != napi_ok || napi_typeof(env, x, &xt) != napi_ok) goto bad;
      if (xt == napi_external) get_map(env, x, r); /* a read's mapping, or a write's writable one */
      else if (xt != napi_undefined) {
        /* a write's fill, [coeffs, cell, data], and its writable mapping as a 4th element when it has one */
        if (!r->write || !get_fill(env, x, r)) { free_batch(b); napi_throw_type_error(env, NULL, FILL_SHAPE_ERROR); return NULL; }
        uint32_t xl = 0; napi_value mv;
        if (napi_get_array_length(env, x, &xl) == napi_ok && xl >= 4 && napi_get_element(env, x, 3, &mv) == napi_ok) get_map(env, mv, r);
      }
    }
    if (fills && fills[(size_t)i * 3] != -1 && (r->fill_k || !r->write || !num_fill(env, src, fills[(size_t)i * 3], fills[(size_t)i * 3 + 1], fills[(size_t)i * 3 + 2], r))) {
      free_batch(b); napi_throw_type_error(env, NULL, FILL_SHAPE_ERROR); return NULL;
    }
  }
  return queue_batch(env, b, keep, has_extra ? rest[0] : NULL, outp ? rest[1] : NULL);
bad:
  free_batch(b);
bad0:
  napi_throw_type_error(env, NULL, src->vt ? BASES_USAGE : FLAT_USAGE);
  return NULL;
}

/*
 * hashedBatchFlat(n, nums, seeds, views, extras?, out?): hashedBatch with its requests flattened, so a
 * batch costs a few N-API calls and two per view instead of a dozen per request: nums (Float64Array)
 * holds [op, fd, position, hashLen, viewCount] per request, seeds (BigUint64Array) one per request,
 * views every request's views in order, extras (absent, or one element per request) a read's
 * mapping or a write's fill. The same job and answer as hashedBatch; with `out` (a BigUint64Array of
 * at least 2n) the answer goes into it instead, [n hashes, then n errnos, 0 for none], and the
 * promise resolves with the number of requests that failed: 2 N-API calls for the batch's results
 * instead of 2 per request and an array (a request's BigInt then comes from the typed array).
 */
static napi_value hashed_batch_flat(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  bool is_arr = false; uint32_t nviews = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_is_array(env, argv[3], &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, argv[3], &nviews) != napi_ok) {
    napi_throw_type_error(env, NULL, FLAT_USAGE); return NULL;
  }
  viewsrc_t src = { argv[3], NULL, NULL, 0 };
  return flat_batch(env, argv, &src, nviews, argv[3], argv + 4, argc - 4);
}

/** Base views one hashedBatchBases call takes at most. */
#define MAX_BASES 256

/*
 * hashedBatchBases(n, nums, seeds, bases, viewTriples, extras?, out?, fills?): hashedBatchFlat whose
 * views are given as [base index, byte offset, length] (Float64Array, 3 numbers per view, in order)
 * into `bases` (an array of up to 256 Uint8Arrays, typically each a whole ArrayBuffer): the same
 * job and answer; a triple outside its base is a TypeError. The views of one buffer then cost no
 * N-API call each (an EC write's 4 data cells x their stripes, an EC read's k cells in one `into`).
 * `fills` (Float64Array, 3 numbers per request): a write's deferred parity fill as [coeffs view,
 * cell bytes, data view], views indexed among the triples after the requests' own (-1 first: no
 * fill); its mapping then stands alone in `extras`. A fill that does not fit is a TypeError.
 */
static napi_value hashed_batch_bases(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  bool is_arr = false; uint32_t nb = 0;
  napi_typedarray_type tt; size_t len = 0; void *p = NULL; napi_value ab; size_t boff;
  struct iovec bases[MAX_BASES];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_is_array(env, argv[3], &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, argv[3], &nb) != napi_ok || nb > MAX_BASES ||
      napi_get_typedarray_info(env, argv[4], &tt, &len, &p, &ab, &boff) != napi_ok || tt != napi_float64_array || len % 3 != 0 || len / 3 > (size_t)MAX_BATCH * MAX_VIEWS) goto bad;
  for (uint32_t i = 0; i < nb; i++) {
    napi_value v;
    if (napi_get_element(env, argv[3], i, &v) != napi_ok || !get_view(env, v, &bases[i])) goto bad;
  }
  viewsrc_t src = { NULL, p, bases, nb };
  return flat_batch(env, argv, &src, (uint32_t)(len / 3), argv[3], argv + 5, argc - 5);
bad:
  napi_throw_type_error(env, NULL, BASES_USAGE);
  return NULL;
}

/* hashedBatch([[op, fd, views, position, hashLen, seed, map?], ...]) */
static napi_value hashed_batch(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  bool is_arr = false; uint32_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_array(env, argv[0], &is_arr) != napi_ok || !is_arr ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0 || n > MAX_BATCH) {
    napi_throw_type_error(env, NULL, "hashedBatch needs an array of 1 to 256 requests"); return NULL;
  }
  batch_t *b = calloc(1, sizeof *b);
  if (!b || !(b->r = alloc_reqs(n))) { free(b); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  b->n = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value q, f[6];
    bool qa = false; uint32_t ql = 0;
    int32_t op, fd; double pos, hlen; uint64_t seed;
    if (napi_get_element(env, argv[0], i, &q) != napi_ok || napi_is_array(env, q, &qa) != napi_ok || !qa ||
        napi_get_array_length(env, q, &ql) != napi_ok || ql < 6) goto bad;
    for (uint32_t k = 0; k < 6; k++) if (napi_get_element(env, q, k, &f[k]) != napi_ok) goto bad;
    if (napi_get_value_int32(env, f[0], &op) != napi_ok || (op != 0 && op != 1) ||
        napi_get_value_int32(env, f[1], &fd) != napi_ok || fd < 0 ||
        napi_get_value_double(env, f[3], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
        napi_get_value_double(env, f[4], &hlen) != napi_ok || !(hlen >= 0 && hlen <= 9007199254740991.0) ||
        !get_u64(env, f[5], &seed)) goto bad;
    breq_t *r = &b->r[i];
    r->iov = get_views(env, f[2], &r->count, &r->total);
    if (!r->iov) { free_batch(b); return NULL; } /* (get_views threw) */
    r->write = op; r->fd = fd; r->position = (uint64_t)pos; r->hash_len = (size_t)hlen; r->seed = seed;
    if (ql >= 8 && op == 1) {
      /* optional 8th element of a write: a deferred parity fill [coeffs Uint8Array(k), cell, data] of its first view */
      napi_value fv;
      if (napi_get_element(env, q, 7, &fv) != napi_ok) goto bad;
      napi_valuetype ft;
      if (napi_typeof(env, fv, &ft) != napi_ok) goto bad;
      if (ft != napi_undefined && !get_fill(env, fv, r)) {
        free_batch(b);
        napi_throw_type_error(env, NULL, FILL_SHAPE_ERROR);
        return NULL;
      }
    }
    if (ql >= 7) {
      /* optional 7th element: the file's mapping (mapFile; writable for a write); used when it covers the whole request */
      napi_value mv;
      if (napi_get_element(env, q, 6, &mv) == napi_ok) get_map(env, mv, r);
    }
  }
  return queue_batch(env, b, argv[0], NULL, NULL);
bad:
  free_batch(b);
  napi_throw_type_error(env, NULL, "hashedBatch requests are [op 0|1, fd, views, position, hashLen, seed bigint]");
  return NULL;
}

/* copyInto(dst, dstOffset, src): memcpy of src into dst at dstOffset. */
static napi_value copy_into(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  struct iovec d, s; double off;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      !get_view(env, argv[0], &d) || napi_get_value_double(env, argv[1], &off) != napi_ok || !get_view(env, argv[2], &s) ||
      !(off >= 0 && off <= (double)d.iov_len && (double)s.iov_len <= (double)d.iov_len - off) || off != (double)(size_t)off) {
    napi_throw_range_error(env, NULL, "copyInto needs (dst Uint8Array, offset, src Uint8Array) with src fitting at offset"); return NULL;
  }
  if (s.iov_len) memmove((uint8_t *)d.iov_base + (size_t)off, s.iov_base, s.iov_len);
  return NULL;
}

/*
 * setSocketBuffers(fd, sendBytes, receiveBytes) -> [send, receive]
 * SO_SNDBUF / SO_RCVBUF of a connected socket (a value of 0 leaves that one as it is), answering
 * the sizes the kernel then reports (it doubles what is asked, capped by net.core.wmem_max /
 * rmem_max). Node sets neither on stream sockets. A Unix stream socket's sender may queue only
 * its send buffer (about 208 KiB by default): a 512 KiB RPC reply then leaves in ~4 pieces, each
 * a wake-up of the reader and then of the writer. Throws a RangeError on bad arguments and an
 * Error naming errno when setsockopt fails.
 */
static napi_value set_socket_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3], out, v;
  int32_t fd, snd, rcv;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int32(env, argv[1], &snd) != napi_ok || snd < 0 ||
      napi_get_value_int32(env, argv[2], &rcv) != napi_ok || rcv < 0) {
    napi_throw_range_error(env, NULL, "setSocketBuffers needs (fd >= 0, sendBytes >= 0, receiveBytes >= 0)"); return NULL;
  }
  if ((snd > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd) != 0) ||
      (rcv > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) != 0)) {
    char msg[64]; snprintf(msg, sizeof msg, "setsockopt failed: errno %d", errno);
    napi_throw_error(env, NULL, msg); return NULL;
  }
  int got[2] = { 0, 0 }; socklen_t len = sizeof got[0];
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got[0], &len);
  len = sizeof got[1];
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got[1], &len);
  if (napi_create_array_with_length(env, 2, &out) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 2; i++) { napi_create_int32(env, got[i], &v); napi_set_element(env, out, i, v); }
  return out;
}

/*
 * mapFile(fd, length, writable = false, zapBytes?, huge = false) -> external | undefined
 * `huge`: advise MADV_HUGEPAGE (see FileBlockDevice.bulkMapOnce for why; mapHuge answers whether the
 * kernel took it).
 */
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5], out;
  int32_t fd; double len, zap = -1; bool writable = false, huge = false;
  napi_valuetype zt = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_double(env, argv[1], &len) != napi_ok || !(len >= 1 && len <= 9007199254740991.0) || len != (double)(size_t)len ||
      (argc >= 3 && napi_typeof(env, argv[2], &zt) == napi_ok && zt != napi_undefined && napi_get_value_bool(env, argv[2], &writable) != napi_ok) ||
      (argc >= 4 && napi_typeof(env, argv[3], &zt) == napi_ok && zt != napi_undefined &&
        (writable || napi_get_value_double(env, argv[3], &zap) != napi_ok || !(zap >= 0 && zap <= 9007199254740991.0) || zap != (double)(size_t)zap)) ||
      (argc >= 5 && napi_typeof(env, argv[4], &zt) == napi_ok && zt != napi_undefined && napi_get_value_bool(env, argv[4], &huge) != napi_ok)) {
    napi_throw_type_error(env, NULL, "mapFile needs (fd, length >= 1, writable?: boolean, zapBytes?: integer >= 0, read-only mappings only, huge?: boolean)"); return NULL;
  }
  napi_get_undefined(env, &out);
  if (!install_sigbus()) return out;
  void *p = mmap(NULL, (size_t)len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return out;
  fmap_t *m = calloc(1, sizeof *m);
  if (!m) { munmap(p, (size_t)len); return out; }
  m->base = p; m->len = (size_t)len; m->writable = writable;
  m->huge = huge && madvise(p, (size_t)len, MADV_HUGEPAGE) == 0; /* (EINVAL: a kernel without transparent huge pages) */
  m->zap_budget = zap < 0 ? 0 : zap == 0 ? SIZE_MAX : (size_t)zap;
  atomic_init(&m->since_zap, 0);
  atomic_init(&m->backoff, 0);
  m->touched_len = (m->len + MAP_CHUNK * 8 - 1) / (MAP_CHUNK * 8);
  /* (NULL: every byte counts, as before; so for mappings past 4 TiB, whose bits would be over 8 MiB) */
  m->touched = m->touched_len <= ((size_t)8 << 20) ? calloc(m->touched_len, 1) : NULL;
  if (napi_create_external(env, m, finalize_map, NULL, &out) != napi_ok) { munmap(p, (size_t)len); free(m->touched); free(m); napi_get_undefined(env, &out); }
  return out;
}

/* mapHuge(map) -> boolean: whether the mapping was advised MADV_HUGEPAGE (mapFile's `huge`, taken by the kernel) */
static napi_value map_huge(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], out; napi_valuetype t; void *mp = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &mp) != napi_ok || !mp) {
    napi_throw_type_error(env, NULL, "mapHuge needs a map from mapFile"); return NULL;
  }
  napi_get_boolean(env, ((fmap_t *)mp)->huge != 0, &out);
  return out;
}

/*
 * mapPrefault(map, position, length) -> boolean: map [position, position + length) of a writable
 * mapping writable in this process's page tables in one call (MADV_POPULATE_WRITE, Linux 5.14+),
 * before a writer stores into it in order: a store into a page not mapped writable traps into the
 * kernel, ~10-13 us a page on this VM, against ~0.2-0.5 us a page here. The range must lie inside
 * the file (it fails, never raising SIGBUS, where it does not). False when it did nothing (an older
 * kernel, a range outside the mapping, an error): the stores then fault page by page as ever.
 */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static napi_value map_prefault(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3], out; napi_valuetype t; void *mp = NULL;
  double pos, len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &mp) != napi_ok || !mp ||
      napi_get_value_double(env, argv[1], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_double(env, argv[2], &len) != napi_ok || !(len >= 0 && len <= 9007199254740991.0)) {
    napi_throw_type_error(env, NULL, "mapPrefault needs (map, position >= 0, length >= 0)"); return NULL;
  }
  fmap_t *m = mp;
  const size_t page = 4096;
  size_t from = (size_t)pos / page * page, to = (size_t)(pos + len);
  bool ok = false;
  if (!m->closed && !m->unmapped && m->writable && to <= m->len && to > from) ok = madvise(m->base + from, to - from, MADV_POPULATE_WRITE) == 0;
  napi_get_boolean(env, ok, &out);
  return out;
}

/*
 * prefaultBuffer(view) -> boolean: make the whole pages inside `view`'s bytes (an ArrayBufferView:
 * fresh anonymous memory from the JavaScript heap's allocator) present and writable in one call
 * (MADV_POPULATE_WRITE), before they are filled: a first store into each such page traps, ~10-15
 * us a page on this VM, against well under a microsecond a page this way. The bytes are left as
 * they are. False when it did nothing (an older kernel, or no whole page inside the view).
 */
static napi_value prefault_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], out; bool is = false;
  void *data = NULL; size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "prefaultBuffer needs a typed array"); return NULL;
  }
  napi_typedarray_type tt; size_t n = 0; napi_value ab; size_t off = 0;
  if (napi_get_typedarray_info(env, argv[0], &tt, &n, &data, &ab, &off) != napi_ok) {
    napi_throw_type_error(env, NULL, "prefaultBuffer needs a typed array"); return NULL;
  }
  size_t elem = 1;
  switch (tt) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: elem = 1;
  }
  len = n * elem;
  const uintptr_t page = 4096;
  uintptr_t from = ((uintptr_t)data + page - 1) / page * page, to = ((uintptr_t)data + len) / page * page;
  bool ok = false;
  if (data != NULL && to > from) ok = madvise((void *)from, to - from, MADV_POPULATE_WRITE) == 0;
  napi_get_boolean(env, ok, &out);
  return out;
}

/* unmapFile(map) */
static napi_value unmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; napi_valuetype t; void *mp = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &mp) != napi_ok || !mp) {
    napi_throw_type_error(env, NULL, "unmapFile needs a map from mapFile"); return NULL;
  }
  fmap_t *m = mp;
  m->closed = 1;
  if (m->refs == 0) unmap_now(m);
  return NULL;
}

/** Copy `n` bytes of `src` to `dst` hashing them, then zeros up to `total` (not inlined: the caller's sigsetjmp frame stays simple). */
static __attribute__((noinline)) void copy_hash_zero(uint8_t *dst, const uint8_t *src, size_t n, size_t total, uint64_t seed, uint64_t *hash) {
  xxh64_t s; xxh64_init(&s, seed);
  if (n) xxh64_copy_update(&s, dst, src, n);
  if (total > n) memset(dst + n, 0, total - n);
  *hash = xxh64_digest(&s);
}

/*
 * Memory protection keys: the kernel enters a signal handler with the default PKRU (every key but
 * 0 access-disabled) and restores the thread's own only at sigreturn. Leaving the SIGBUS handler by
 * siglongjmp skips that, so a thread that runs V8's code (which guards its memory with keys, on CPUs
 * that have them) must put its PKRU back itself, or its next WebAssembly call faults (SIGSEGV).
 */
#if defined(__x86_64__)
#include <cpuid.h>
static int pkeys_on(void) {
  static int on = -1;
  if (on < 0) { unsigned a, b, c, d; on = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 4)) ? 1 : 0; } /* OSPKE */
  return on;
}
static inline uint32_t read_pkru(void) { uint32_t a, d; __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(a), "=d"(d) : "c"(0)); return a; }
static inline void write_pkru(uint32_t v) { __asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0) : "memory"); }
#else
static int pkeys_on(void) { return 0; }
static inline uint32_t read_pkru(void) { return 0; }
static inline void write_pkru(uint32_t v) { (void)v; }
#endif

/** A write into writable mapping `m` at `position` (on the JavaScript thread): 0 and *hash, or -1 when the mapping faulted. */
static int mapped_write(fmap_t *m, uint64_t position, const struct iovec *v, size_t total, uint64_t seed, uint64_t *hash) {
  sigjmp_buf jb;
  const int keys = pkeys_on();
  const uint32_t pkru = keys ? read_pkru() : 0;
  if (sigsetjmp(jb, 0)) { guard_jmp = NULL; if (keys) write_pkru(pkru); return -1; }
  guard_jmp = &jb;
  copy_hash_zero(m->base + position, v->iov_base, v->iov_len, total, seed, hash);
  guard_jmp = NULL;
  map_used(m, position, total, MAP_WRITE_ZAP_BYTES);
  return 0;
}

/*
 * mapWriteHashSync(map, view, position, length, seed) -> bigint | -1
 * A small value written through the file's writable mapping (mapFile(fd, length, true)) on the
 * calling thread: XXH64 of `view` while it is copied to `position`, then zeros up to `length`. No
 * system call, and the same page cache as pwrite's (reads, preadv and fdatasync see it). -1 when
 * the mapping cannot take it (closed, read-only, out of range) or faulted (SIGBUS: a hole on a
 * full filesystem, an I/O error, the file cut short): write it with pwriteHashSync, whose answer
 * stands.
 */
static napi_value map_write_hash_sync(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5], out; napi_valuetype t; void *mp = NULL;
  double pos, len; uint64_t seed; struct iovec v;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &mp) != napi_ok || !mp ||
      !get_view(env, argv[1], &v) ||
      napi_get_value_double(env, argv[2], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_double(env, argv[3], &len) != napi_ok || !(len >= (double)v.iov_len && len - (double)v.iov_len <= (double)sizeof zeros) ||
      !get_u64(env, argv[4], &seed)) {
    napi_throw_type_error(env, NULL, "mapWriteHashSync needs (map, Uint8Array, position, length >= its length (by at most 64 KiB), seed bigint)"); return NULL;
  }
  fmap_t *m = mp;
  uint64_t h;
  if (m->closed || m->unmapped || !m->writable || pos + len > (double)m->len ||
      mapped_write(m, (uint64_t)pos, &v, (size_t)len, seed, &h) != 0) {
    napi_create_int32(env, -1, &out);
    return out;
  }
  napi_create_bigint_uint64(env, h, &out);
  return out;
}

/** A read out of mapping `m` at `position` into the `cnt` views `v` (`total` bytes) on the JavaScript thread: 0 and *hash (of all of them, in order), or -1 when the mapping faulted. */
static int mapped_read_sync(fmap_t *m, uint64_t position, const struct iovec *v, int cnt, size_t total, uint64_t seed, uint64_t *hash) {
  sigjmp_buf jb;
  const int keys = pkeys_on();
  const uint32_t pkru = keys ? read_pkru() : 0;
  if (sigsetjmp(jb, 0)) { guard_jmp = NULL; if (keys) write_pkru(pkru); return -1; }
  guard_jmp = &jb;
  copy_hash_views(m->base + position, v, cnt, total, seed, hash);
  guard_jmp = NULL;
  map_used(m, position, total, READ_ZAP_BUDGET(m));
  return 0;
}

/** Views a synchronous mapped read takes at most (mapReadHashSync's list form: an EC read's cells, each a few stripes' pieces). */
#define SYNC_READ_MAX_VIEWS 64

/*
 * mapReadHashSync(map, view, position, seed) -> bigint | -1
 * A small value read out of the file's mapping (mapFile) on the calling thread: the bytes at
 * `position` copied into `view` (all of it) and XXH64 of them in the same pass. No system call:
 * a 4 KiB value read with pread costs a syscall (3-5 us of CPU here, most of a small fetch); out of
 * a mapping whose page-table entries exist (pages written through the same writable mapping) it is
 * a copy. The mapping shows the page cache, so bytes changed behind the store (pwrite by another
 * descriptor) are what is hashed. -1 when the mapping cannot take it (closed, out of range) or
 * faulted (SIGBUS: the file cut short, an unreadable page): read it with pread, whose answer stands.
 */
static napi_value map_read_hash_sync(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4], out; napi_valuetype t; void *mp = NULL;
  double pos; uint64_t seed; struct iovec v[SYNC_READ_MAX_VIEWS];
  uint32_t cnt = 1; size_t total = 0;
  bool is_arr = false;
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 4 &&
      napi_typeof(env, argv[0], &t) == napi_ok && t == napi_external && napi_get_value_external(env, argv[0], &mp) == napi_ok && mp;
  if (ok && napi_is_array(env, argv[1], &is_arr) == napi_ok && is_arr) {
    /* a list of views: the bytes at `position` go across them in order, one XXH64 over all */
    ok = napi_get_array_length(env, argv[1], &cnt) == napi_ok && cnt >= 1 && cnt <= SYNC_READ_MAX_VIEWS;
    for (uint32_t i = 0; ok && i < cnt; i++) {
      napi_value e;
      ok = napi_get_element(env, argv[1], i, &e) == napi_ok && get_view(env, e, &v[i]);
      if (ok) total += v[i].iov_len;
    }
  } else if (ok) {
    ok = get_view(env, argv[1], &v[0]);
    total = v[0].iov_len;
  }
  if (!ok || napi_get_value_double(env, argv[2], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      !get_u64(env, argv[3], &seed)) {
    napi_throw_type_error(env, NULL, "mapReadHashSync needs (map, Uint8Array or an array of 1 to 64 Uint8Array, position, seed bigint)"); return NULL;
  }
  fmap_t *m = mp;
  uint64_t h;
  if (m->closed || m->unmapped || pos + (double)total > (double)m->len ||
      mapped_read_sync(m, (uint64_t)pos, v, (int)cnt, total, seed, &h) != 0) {
    napi_create_int32(env, -1, &out);
    return out;
  }
  napi_create_bigint_uint64(env, h, &out);
  return out;
}

/** Define preadvHash, hashedOwnStats, pwritevHash, xxh64Parts, pwriteHashSync, hashedBatch, hashedBatchFlat, hashedBatchBases, copyInto, mapFile, mapWriteHashSync, mapReadHashSync, unmapFile, setSocketBuffers and mappedBatchWrites on `exports` (called from cairn_uring.c init). */
napi_status hashio_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "preadvHash", NULL, preadv_hash, NULL, NULL, NULL, napi_default, NULL },
    { "hashedOwnStats", NULL, hashed_own_stats, NULL, NULL, NULL, napi_default, NULL },
    { "pwritevHash", NULL, pwritev_hash, NULL, NULL, NULL, napi_default, NULL },
    { "xxh64Parts", NULL, xxh64_parts, NULL, NULL, NULL, napi_default, NULL },
    { "pwriteHashSync", NULL, pwrite_hash_sync, NULL, NULL, NULL, napi_default, NULL },
    { "hashedBatch", NULL, hashed_batch, NULL, NULL, NULL, napi_default, NULL },
    { "hashedBatchFlat", NULL, hashed_batch_flat, NULL, NULL, NULL, napi_default, NULL },
    { "hashedBatchBases", NULL, hashed_batch_bases, NULL, NULL, NULL, napi_default, NULL },
    { "hashedOwnThreads", NULL, hashed_own_threads, NULL, NULL, NULL, napi_default, NULL },
    { "copyInto", NULL, copy_into, NULL, NULL, NULL, napi_default, NULL },
    { "mapFile", NULL, map_file, NULL, NULL, NULL, napi_default, NULL },
    { "unmapFile", NULL, unmap_file, NULL, NULL, NULL, napi_default, NULL },
    { "mapHuge", NULL, map_huge, NULL, NULL, NULL, napi_default, NULL },
    { "mapPrefault", NULL, map_prefault, NULL, NULL, NULL, napi_default, NULL },
    { "prefaultBuffer", NULL, prefault_buffer, NULL, NULL, NULL, napi_default, NULL },
    { "mapWriteHashSync", NULL, map_write_hash_sync, NULL, NULL, NULL, napi_default, NULL },
    { "mapReadHashSync", NULL, map_read_hash_sync, NULL, NULL, NULL, napi_default, NULL },
    { "setSocketBuffers", NULL, set_socket_buffers, NULL, NULL, NULL, napi_default, NULL },
    { "mappedBatchWrites", NULL, NULL, NULL, NULL, NULL, napi_enumerable, NULL }, /* (value set below) */
    { "mapBudgetByChunks", NULL, NULL, NULL, NULL, NULL, napi_enumerable, NULL }, /* (value set below) */
  };
  /* mappedBatchWrites: true — hashed batch writes take a writable mapping (a write's extra, or a
     fill's 4th element); JavaScript checks it so an addon built before this never gets one */
  napi_value yes;
  if (napi_get_boolean(env, true, &yes) != napi_ok) return napi_generic_failure;
  props[sizeof props / sizeof props[0] - 2].value = yes;
  /* mapBudgetByChunks: true — a mapping's entries are dropped by chunks first touched (map_used), not bytes moved */
  props[sizeof props / sizeof props[0] - 1].value = yes;
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
