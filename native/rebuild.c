/*
 * rebuild: one EC rebuild step as one job on the libuv pool (Cairn's fused rebuild, migrate.ts).
 *
 *   rebuildStep(k, cell, slots, rows, reads, writes) -> Promise<Array<bigint | number>>
 *     `reads`: k hashed reads prepared by the source stores (media HashedRead: fd, position,
 *     hashLen, seed, views), read j landing in slot j's cells of `slots` (whole stripes: cell j of
 *     stripe s at (s * k + j) * cell, the layout of migrate.ts `slotBuffer`). `writes`: one hashed
 *     write per lost shard prepared by its destination store (media HashedWrite), whose first view
 *     is that shard's output: cell s of write i = sum_j rows[i * k + j] * (cell j of stripe s), in
 *     GF(2^8) (gf_parity_fill, gfni.c). The job reads every source (preadv; past the end of the
 *     file reads zeros), then stripe by stripe hashes the k source cells side by side (XXH64 of each
 *     source's bytes: xxh64x.c) and decodes the stripe's output cells while its cells are in cache,
 *     then hashes each output and writes it with its zero tail (pwritev). Resolves with k + m
 *     answers in order (reads, then writes): the XXH64 of the request's `hashLen` bytes, or a
 *     negative errno. A read that fails stops the step before anything is decoded or written (the
 *     writes answer -ECANCELED).
 *
 * The caller verifies every read's hash against its checksum before it records any write (the
 * prepared write's `finish`): a write of bytes decoded from a damaged source lands in an extent
 * no record names, which the caller frees. So damage is never recorded, and never read as absent.
 *
 *   rebuildStepsStaged(args): the same steps without the caller's buffers (see the function): the
 *   job reads, decodes and writes in its pool thread's own memory (`stage_for`).
 *
 * Why one job: a rebuild step through the store's promise chains costs the JavaScript thread k
 * read chains, a decode plan and a write chain per step (eight steps per rebuilt MiB with 64 KiB
 * cells of 1 MiB chunks), and the pool two wake-ups and two completions; here it is one call and
 * one completion, and the decode reads the sources while they are in cache.
 *
 * XXH64 is written here from its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md);
 * the tests check it against the stores' own checksums (a wrong hash fails every located read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include "xxh64x.h"
#include "own-pool.h"

/* gfni.c */
int gf_parity_fill(const uint8_t *coef, int k, size_t cell, const uint8_t *data, size_t data_len, uint8_t *out, size_t out_len);

/** Most sources (k) and outputs (lost shards) of one step. */
#define RB_MAX 16
/** Most views of one request (the stripes of a step). */
#define RB_MAX_VIEWS 1024
/** Most arguments of one step in a list of steps (rebuildStepsFlat's 7; rebuildStepsStaged's 6). */
#define STEP_ARGS_MAX 7

/* ------------------------------------------------------------------ XXH64 */

#define Q1 0x9E3779B185EBCA87ULL
#define Q2 0xC2B2AE3D27D4EB4FULL
#define Q3 0x165667B19E3779F9ULL
#define Q4 0x85EBCA77C2B2AE63ULL
#define Q5 0x27D4EB2F165667C5ULL

static inline uint64_t rol(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t lane(uint64_t acc, uint64_t in) { return rol(acc + in * Q2, 31) * Q1; }

/** One stream: its four lanes, bytes seen, the partial stripe and the seed. */
typedef struct { uint64_t v[4]; uint64_t total; uint8_t buf[32]; unsigned held; uint64_t seed; } hs_t;

static void hs_init(hs_t *h, uint64_t seed) {
  h->v[0] = seed + Q1 + Q2; h->v[1] = seed + Q2; h->v[2] = seed; h->v[3] = seed - Q1;
  h->total = 0; h->held = 0; h->seed = seed;
}

static void hs_stripe(hs_t *h, const uint8_t *p) {
  h->v[0] = lane(h->v[0], ld64(p)); h->v[1] = lane(h->v[1], ld64(p + 8));
  h->v[2] = lane(h->v[2], ld64(p + 16)); h->v[3] = lane(h->v[3], ld64(p + 24));
}

static void hs_update(hs_t *h, const uint8_t *p, size_t n) {
  h->total += n;
  if (h->held) {
    size_t take = 32 - h->held < n ? 32 - h->held : n;
    memcpy(h->buf + h->held, p, take); h->held += (unsigned)take; p += take; n -= take;
    if (h->held < 32) return;
    hs_stripe(h, h->buf); h->held = 0;
  }
  while (n >= 32) { hs_stripe(h, p); p += 32; n -= 32; }
  if (n) { memcpy(h->buf, p, n); h->held = (unsigned)n; }
}

static uint64_t hs_digest(const hs_t *h) {
  uint64_t acc;
  if (h->total >= 32) {
    acc = rol(h->v[0], 1) + rol(h->v[1], 7) + rol(h->v[2], 12) + rol(h->v[3], 18);
    for (int i = 0; i < 4; i++) { acc ^= lane(0, h->v[i]); acc = acc * Q1 + Q4; }
  } else {
    acc = h->seed + Q5;
  }
  acc += h->total;
  const uint8_t *p = h->buf; unsigned n = h->held;
  while (n >= 8) { acc ^= lane(0, ld64(p)); acc = rol(acc, 27) * Q1 + Q4; p += 8; n -= 8; }
  if (n >= 4) { acc ^= (uint64_t)ld32(p) * Q1; acc = rol(acc, 23) * Q2 + Q3; p += 4; n -= 4; }
  while (n) { acc ^= (uint64_t)(*p) * Q5; acc = rol(acc, 11) * Q1; p++; n--; }
  acc ^= acc >> 33; acc *= Q2; acc ^= acc >> 29; acc *= Q3; acc ^= acc >> 32;
  return acc;
}

/**
 * Advance streams `h[0..n)` over `len` bytes of `src[i]` each: side by side (xxh64x) when they hold
 * no partial stripe and `len` is whole stripes, else one after another.
 */
static void hs_many(hs_t *h, int n, const uint8_t *const *src, size_t len) {
  if (n > 0 && n <= XXH64X_MAX_STREAMS && len > 0 && len % 32 == 0) {
    int clean = 1;
    for (int i = 0; i < n; i++) if (h[i].held) clean = 0;
    if (clean) {
      uint64_t v[XXH64X_MAX_STREAMS][4];
      for (int i = 0; i < n; i++) memcpy(v[i], h[i].v, sizeof v[i]);
      if (xxh64x_rounds(n, v, src, NULL, len)) {
        for (int i = 0; i < n; i++) { memcpy(h[i].v, v[i], sizeof v[i]); h[i].total += len; }
        return;
      }
    }
  }
  for (int i = 0; i < n; i++) hs_update(&h[i], src[i], len);
}

/* ------------------------------------------------------------------ the step */

typedef struct { int fd; uint64_t pos; size_t hash_len; uint64_t seed; int nv; size_t total; struct iovec *iov; } rq_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep;
  int k, m;
  size_t cell;
  uint8_t *slots; size_t slots_len;
  uint8_t rows[RB_MAX * RB_MAX];
  rq_t rq[2 * RB_MAX]; /* reads, then writes */
  uint64_t hash[2 * RB_MAX];
  int err[2 * RB_MAX];
  /* A staged step (`rebuildStepsStaged`): its reads' and outputs' first views hold offsets into a
     buffer of `staged` bytes the job takes when it runs (`stage_for`), `slots` NULL until then. */
  size_t staged;
  struct iovec iov[]; /* every request's views */
} step_t;

/**
 * preadv (`write` 0) or pwritev (1) of the request, retrying short transfers; a read past the end
 * of the file reads zeros, a write that makes no progress is -EIO. 0 or -errno.
 */
static int transfer_all(const rq_t *q, int write) {
  struct iovec v[RB_MAX_VIEWS];
  int cnt = q->nv;
  memcpy(v, q->iov, (size_t)cnt * sizeof *v);
  struct iovec *at = v;
  uint64_t pos = q->pos;
  while (cnt > 0) {
    int n = cnt > IOV_MAX ? IOV_MAX : cnt;
    ssize_t r = write ? pwritev(q->fd, at, n, (off_t)pos) : preadv(q->fd, at, n, (off_t)pos);
    if (r < 0) { if (errno == EINTR) continue; return -errno; }
    if (r == 0) {
      if (write) return -EIO;
      for (int i = 0; i < cnt; i++) memset(at[i].iov_base, 0, at[i].iov_len);
      return 0;
    }
    pos += (uint64_t)r;
    size_t left = (size_t)r;
    while (cnt > 0 && left >= at->iov_len) { left -= at->iov_len; at++; cnt--; }
    if (cnt > 0 && left) { at->iov_base = (uint8_t *)at->iov_base + left; at->iov_len -= left; }
  }
  return 0;
}

/* ------------------------------------------------------------------ direct writes */

/*
 * Rebuilt cells are written with O_DIRECT where the request and the file allow it (`write_out`):
 * through a second descriptor of the same file opened O_DIRECT (`direct_get`), so the rebuild
 * allocates no page cache for bytes nobody reads soon. Why: on this machine (a VM whose free
 * memory the host reclaims: virtio_balloon free page reporting) a buffered write into new page-cache
 * pages costs 0.2 ms CPU per MiB until about 2.5 GB of new pages were taken, then 3.4-5.5 ms per MiB
 * at 100-160 MB/s (every new page faulted in by the host; C micro, /tmp/rb27/cb/pw4.c); O_DIRECT
 * writes of the same 128 KiB blocks then cost 0.20-0.26 ms per MiB at 780-960 MB/s. A rebuild
 * always follows the fill of its pool (the bench writes 2.5-10 GB first), and perf of the bench's
 * rebuild showed 49% of all its samples on that one copy (copy_folio_from_iter_atomic).
 * A later read of a rebuilt cell reads it from the device (the kernel drops any cached page of the
 * range after the write), and its checksum is verified there as always; data is as durable as a
 * buffered write's once the store syncs (the device's cache is flushed by the same fdatasync).
 */

/** Alignment (position, address and length) of a direct write. */
#define DIRECT_ALIGN 4096
/** Files with a direct descriptor (or a refusal) kept at once. */
#define DIRECT_FILES 64

/** A file's direct descriptor (dfd < 0: the file refused O_DIRECT), and how many writes use it now; `used` 0: a free entry. */
typedef struct { int used; dev_t dev; ino_t ino; int dfd; int refs; } dfile_t;
static dfile_t dfiles[DIRECT_FILES];
static pthread_mutex_t dfiles_mu = PTHREAD_MUTEX_INITIALIZER;
/** Whether writes go direct where they can (`directWrites`). */
static volatile int direct_on = 1;

/** Free entry `i` (dfiles_mu held, refs 0), closing its descriptor. Entries never move (a holder keeps its index). */
static void dfile_drop(int i) {
  if (dfiles[i].dfd >= 0) close(dfiles[i].dfd);
  dfiles[i].used = 0;
}

/**
 * A free entry of `dfiles` (dfiles_mu held): when none is, the descriptors of files since unlinked
 * are closed first (a kept descriptor holds a deleted file's blocks), then, if still none, every
 * entry not in use. -1: every entry is in use.
 */
static int dfile_room(void) {
  for (int i = 0; i < DIRECT_FILES; i++) if (!dfiles[i].used) return i;
  int room = -1;
  for (int i = 0; i < DIRECT_FILES; i++) {
    struct stat st;
    if (dfiles[i].refs == 0 && (dfiles[i].dfd < 0 || (fstat(dfiles[i].dfd, &st) == 0 && st.st_nlink == 0))) { dfile_drop(i); room = i; }
  }
  if (room < 0) for (int i = 0; i < DIRECT_FILES; i++) if (dfiles[i].refs == 0) { dfile_drop(i); room = i; }
  return room;
}

/**
 * A descriptor of `fd`'s file open for O_DIRECT writes, held (give it back with `direct_put(*slot)`),
 * or -1 (not a regular file, the file refuses O_DIRECT, no room). The file is known by device and
 * inode, so a reused descriptor number never reaches another file: an entry's open descriptor keeps
 * its inode (and so its number) alive.
 */
static int direct_get(int fd, int *slot) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  pthread_mutex_lock(&dfiles_mu);
  int dfd = -1;
  for (int i = 0; i < DIRECT_FILES; i++) {
    if (dfiles[i].used && dfiles[i].dev == st.st_dev && dfiles[i].ino == st.st_ino) {
      if ((dfd = dfiles[i].dfd) >= 0) { dfiles[i].refs++; *slot = i; }
      pthread_mutex_unlock(&dfiles_mu);
      return dfd;
    }
  }
  int i = dfile_room();
  if (i >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
    struct stat dst;
    /* (the same inode, or the number changed hands between the fstat and the open: not kept) */
    if (dfd >= 0 && (fstat(dfd, &dst) != 0 || dst.st_dev != st.st_dev || dst.st_ino != st.st_ino)) { close(dfd); dfd = -1; }
    else {
      dfiles[i] = (dfile_t){ 1, st.st_dev, st.st_ino, dfd, dfd >= 0 ? 1 : 0 };
      if (dfd >= 0) *slot = i;
    }
  }
  pthread_mutex_unlock(&dfiles_mu);
  return dfd;
}

/** Give back the direct descriptor held at `slot`. */
static void direct_put(int slot) {
  pthread_mutex_lock(&dfiles_mu);
  dfiles[slot].refs--;
  pthread_mutex_unlock(&dfiles_mu);
}

/*
 * Where direct writes went (a lossy table of descriptor and position, one 64-bit key a slot): a
 * source read at such a place is read O_DIRECT too (`read_in`). Why: what a direct write wrote is
 * not in the page cache, and a buffered read of it allocates new page-cache pages, which on this
 * machine the host faults in one by one (see above): readahead took 10% of the pool threads'
 * samples of a measured rebuild that followed a rebuild with direct writes (perf, /tmp/rb27/pnew.data);
 * preadv2(RWF_NOWAIT) to find out first does not help (the kernel starts the readahead anyway).
 * Only speed depends on the table: a stale or colliding key reads a range O_DIRECT that another
 * write since put in the page cache, and the kernel writes any dirty page of it back first, so the
 * bytes are the same either way (and the caller verifies their hash against their checksum).
 */
#define DIRECT_SEEN 65536
static uint64_t direct_seen[DIRECT_SEEN];

/** The key of a place (descriptor, position in blocks), never 0. */
static inline uint64_t seen_key(int fd, uint64_t pos) { return ((uint64_t)(uint32_t)fd << 44 | (pos / DIRECT_ALIGN & ((1ULL << 44) - 1))) + 1; }
static inline size_t seen_slot(uint64_t key) { return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 48) % DIRECT_SEEN; }

/** Note that a direct write went to `pos` of `fd`. */
static void seen_note(int fd, uint64_t pos) {
  uint64_t key = seen_key(fd, pos);
  __atomic_store_n(&direct_seen[seen_slot(key)], key, __ATOMIC_RELAXED);
}

/** Whether a direct write went to `pos` of `fd` (as far as the table remembers). */
static int seen_has(int fd, uint64_t pos) {
  uint64_t key = seen_key(fd, pos);
  return __atomic_load_n(&direct_seen[seen_slot(key)], __ATOMIC_RELAXED) == key;
}

/** Whether request `q` can be written with O_DIRECT: its position and every view's address and length aligned. */
static int direct_fits(const rq_t *q) {
  if (q->pos % DIRECT_ALIGN) return 0;
  for (int i = 0; i < q->nv; i++) if ((uintptr_t)q->iov[i].iov_base % DIRECT_ALIGN || q->iov[i].iov_len % DIRECT_ALIGN) return 0;
  return 1;
}

/** Request `q` (transfer_all) through the file's direct descriptor; -EINVAL when it has none (or the file refuses it). */
static int via_direct(const rq_t *q, int write) {
  int slot = -1, dfd = direct_get(q->fd, &slot);
  if (dfd < 0) return -EINVAL;
  rq_t d = *q;
  d.fd = dfd;
  int r = transfer_all(&d, write);
  direct_put(slot);
  return r;
}

/**
 * Write request `q` (transfer_all): O_DIRECT through the file's direct descriptor when it fits,
 * else (or when the file refuses that write: EINVAL, nothing of it counted) buffered.
 */
static int write_out(const rq_t *q) {
  if (direct_on && direct_fits(q)) {
    int r = via_direct(q, 1);
    if (r == 0) seen_note(q->fd, q->pos);
    if (r != -EINVAL) return r;
  }
  return transfer_all(q, 1);
}

/**
 * Read request `q` (transfer_all): O_DIRECT through the file's direct descriptor when a direct
 * write went to its position and it aligns (see `direct_seen`), else (or when the file refuses
 * that read: EINVAL) buffered.
 */
static int read_in(const rq_t *q) {
  if (direct_on && seen_has(q->fd, q->pos) && direct_fits(q)) {
    int r = via_direct(q, 0);
    if (r != -EINVAL) return r;
  }
  return transfer_all(q, 0);
}

/** Hash the first `hash_len` bytes of a request's views (scalar stream). */
static uint64_t hash_views(const rq_t *q) {
  hs_t h; hs_init(&h, q->seed);
  size_t left = q->hash_len;
  for (int i = 0; i < q->nv && left; i++) {
    size_t n = q->iov[i].iov_len < left ? q->iov[i].iov_len : left;
    hs_update(&h, q->iov[i].iov_base, n); left -= n;
  }
  return hs_digest(&h);
}

/*
 * The memory of staged steps: a buffer of the pool thread's own (its stage), reused by every
 * staged step the thread runs, so the kernel's copy of the reads, the hash, the decode and the
 * write's copy work in lines the thread's cache still holds; and the JavaScript thread allocates
 * no buffers for such a step (its caller only looks at the answers). Grown once to the largest
 * step seen up to STAGE_MAX, kept for the thread's life; a larger step (or no memory) takes a
 * buffer of its own for the step. Measured (C, 8 preadv of 128 KiB out of the page cache then
 * their XXH64, thread CPU, load 15): 200-204 us per MiB read into one reused 1 MiB buffer against
 * 256-265 rotating over 32 MiB of buffers.
 */
#define STAGE_MAX ((size_t)64 << 20)
static __thread uint8_t *stage_buf;
static __thread size_t stage_cap;

/** The calling thread's stage of at least `n` bytes, or NULL (larger than STAGE_MAX, no memory). */
static uint8_t *stage_for(size_t n) {
  if (n > STAGE_MAX) return NULL;
  if (stage_cap < n) {
    size_t want = (n + 4095) & ~(size_t)4095;
    uint8_t *b = aligned_alloc(4096, want);
    if (!b) return NULL;
    free(stage_buf);
    stage_buf = b; stage_cap = want;
  }
  return stage_buf;
}

static void run_step_in(step_t *s);

static void run_step(napi_env env, void *data) {
  (void)env;
  step_t *s = data;
  if (!s->staged) { run_step_in(s); return; }
  /* A staged step: its views' offsets become addresses in the stage (or a buffer of its own). */
  uint8_t *own = NULL, *buf = stage_for(s->staged);
  if (!buf) buf = own = aligned_alloc(4096, (s->staged + 4095) & ~(size_t)4095);
  if (!buf) { for (int i = 0; i < s->k + s->m; i++) s->err[i] = i < s->k ? -ENOMEM : -ECANCELED; return; }
  for (int j = 0; j < s->k; j++)
    for (int v = 0; v < s->rq[j].nv; v++) s->rq[j].iov[v].iov_base = buf + (uintptr_t)s->rq[j].iov[v].iov_base;
  for (int i = 0; i < s->m; i++) s->rq[s->k + i].iov[0].iov_base = buf + (uintptr_t)s->rq[s->k + i].iov[0].iov_base;
  s->slots = buf;
  run_step_in(s);
  s->slots = NULL;
  free(own);
}

/**
 * Step `s`'s work before its writes (its views addresses): read, hash the sources, decode, hash the
 * outputs. 0: the writes may go; -1: a read failed (the writes answer -ECANCELED).
 */
static int step_compute(step_t *s) {
  const int k = s->k, m = s->m;
  for (int j = 0; j < k; j++) s->err[j] = read_in(&s->rq[j]);
  int failed = 0;
  for (int j = 0; j < k; j++) if (s->err[j]) failed = 1;
  if (failed) { for (int i = 0; i < m; i++) s->err[k + i] = -ECANCELED; return -1; }
  const size_t cell = s->cell, stripes = s->slots_len / ((size_t)k * cell);
  /* Sources hashed side by side stripe by stripe when every read is the step's stripes, one cell a view (the layout the caller gives). */
  int sideways = 1;
  for (int j = 0; j < k; j++) {
    const rq_t *q = &s->rq[j];
    if ((size_t)q->nv != stripes || q->hash_len != stripes * cell) sideways = 0;
    else for (int v = 0; v < q->nv; v++) if (q->iov[v].iov_len != cell) sideways = 0;
  }
  hs_t hs[RB_MAX];
  for (int j = 0; j < k; j++) hs_init(&hs[j], s->rq[j].seed);
  for (size_t st = 0; st < stripes; st++) {
    if (sideways) {
      const uint8_t *src[RB_MAX];
      for (int j = 0; j < k; j++) src[j] = s->rq[j].iov[st].iov_base;
      if (k <= XXH64X_MAX_STREAMS) hs_many(hs, k, src, cell);
      else for (int j = 0; j < k; j++) hs_update(&hs[j], src[j], cell);
    }
    const uint8_t *stripe = s->slots + st * (size_t)k * cell;
    for (int i = 0; i < m; i++) {
      uint8_t *out = (uint8_t *)s->rq[k + i].iov[0].iov_base + st * cell;
      gf_parity_fill(s->rows + i * k, k, cell, stripe, (size_t)k * cell, out, cell);
    }
  }
  for (int j = 0; j < k; j++) s->hash[j] = sideways ? hs_digest(&hs[j]) : hash_views(&s->rq[j]);
  /* Outputs: each first view holds the whole value (hash_len bytes), hashed side by side when they can be. */
  const uint8_t *osrc[RB_MAX];
  int whole = m <= XXH64X_MAX_STREAMS;
  size_t olen = m > 0 ? s->rq[k].hash_len : 0;
  for (int i = 0; i < m; i++) { osrc[i] = s->rq[k + i].iov[0].iov_base; if (s->rq[k + i].hash_len != olen || s->rq[k + i].iov[0].iov_len < olen) whole = 0; }
  if (whole && m > 0 && olen % 32 == 0) {
    hs_t oh[RB_MAX];
    for (int i = 0; i < m; i++) hs_init(&oh[i], s->rq[k + i].seed);
    hs_many(oh, m, osrc, olen);
    for (int i = 0; i < m; i++) s->hash[k + i] = hs_digest(&oh[i]);
  } else {
    for (int i = 0; i < m; i++) s->hash[k + i] = hash_views(&s->rq[k + i]);
  }
  return 0;
}

/** Run step `s` (its views addresses): read, hash, decode, hash and write (see the top of the file). */
static void run_step_in(step_t *s) {
  if (step_compute(s) == 0) for (int i = 0; i < s->m; i++) s->err[s->k + i] = write_out(&s->rq[s->k + i]);
}

/** The answers of one step (a hash per read and write, or -errno; -ECANCELED when the work was cancelled) as a new array. */
static napi_value answers_of(napi_env env, const step_t *s, napi_status status) {
  napi_value arr;
  napi_create_array_with_length(env, (size_t)(s->k + s->m), &arr);
  for (int i = 0; i < s->k + s->m; i++) {
    napi_value v;
    if (status != napi_ok) napi_create_int32(env, -ECANCELED, &v);
    else if (s->err[i]) napi_create_int32(env, s->err[i], &v);
    else napi_create_bigint_uint64(env, s->hash[i], &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  return arr;
}

static void done_step(napi_env env, napi_status status, void *data) {
  step_t *s = data;
  napi_value arr = answers_of(env, s, status);
  napi_resolve_deferred(env, s->deferred, arr);
  napi_delete_reference(env, s->keep);
  napi_delete_async_work(env, s->work);
  free(s);
}

static int u8_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is; napi_typedarray_type t; napi_value ab; size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  if (napi_get_typedarray_info(env, v, &t, len, (void **)data, &ab, &off) != napi_ok || t != napi_uint8_array) return -1;
  return 0;
}

static int prop(napi_env env, napi_value o, const char *name, napi_value *out) {
  return napi_get_named_property(env, o, name, out) == napi_ok ? 0 : -1;
}

/** One request from a HashedRead / HashedWrite record; its views appended at `iov`. -1: not one. */
static int request_of(napi_env env, napi_value o, rq_t *q, struct iovec *iov, size_t room) {
  napi_value v; double d; bool lossless; uint32_t n;
  if (prop(env, o, "fd", &v) || napi_get_value_int32(env, v, &q->fd) != napi_ok) return -1;
  if (prop(env, o, "position", &v) || napi_get_value_double(env, v, &d) != napi_ok || d < 0) return -1;
  q->pos = (uint64_t)d;
  if (prop(env, o, "hashLen", &v) || napi_get_value_double(env, v, &d) != napi_ok || d < 0) return -1;
  q->hash_len = (size_t)d;
  if (prop(env, o, "seed", &v) || napi_get_value_bigint_uint64(env, v, &q->seed, &lossless) != napi_ok) return -1;
  if (prop(env, o, "views", &v) || napi_get_array_length(env, v, &n) != napi_ok || n == 0 || n > RB_MAX_VIEWS || n > room) return -1;
  q->nv = (int)n; q->iov = iov; q->total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e; uint8_t *p; size_t len;
    if (napi_get_element(env, v, i, &e) != napi_ok || u8_of(env, e, &p, &len)) return -1;
    iov[i].iov_base = p; iov[i].iov_len = len; q->total += len;
  }
  return q->hash_len <= q->total ? 0 : -1;
}

/* rebuildStep(k, cell, slots, rows, reads, writes): see the top of the file. Throws TypeError on bad arguments. */
static napi_value rebuild_step(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t k, m; double cell; uint8_t *slots, *rows; size_t slots_len, rows_len; uint32_t nr, nw;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &k) != napi_ok || napi_get_value_double(env, argv[1], &cell) != napi_ok
      || u8_of(env, argv[2], &slots, &slots_len) || u8_of(env, argv[3], &rows, &rows_len)
      || napi_get_array_length(env, argv[4], &nr) != napi_ok || napi_get_array_length(env, argv[5], &nw) != napi_ok) {
    napi_throw_type_error(env, NULL, "rebuildStep(k, cell, slots, rows, reads, writes)");
    return NULL;
  }
  m = (int32_t)nw;
  if (k < 1 || k > RB_MAX || m < 1 || m > RB_MAX || (int32_t)nr != k || cell < 32 || (size_t)cell != cell
      || slots_len == 0 || slots_len % ((size_t)k * (size_t)cell) != 0 || rows_len != (size_t)(k * m)) {
    napi_throw_type_error(env, NULL, "rebuildStep: k reads, 1..16 writes, k * writes rows, whole stripes of cell >= 32");
    return NULL;
  }
  /* Views: count them first (one allocation for the step). */
  size_t views = 0;
  for (uint32_t i = 0; i < nr + nw; i++) {
    napi_value o, v; uint32_t n;
    if (napi_get_element(env, argv[i < nr ? 4 : 5], i < nr ? i : i - nr, &o) != napi_ok || prop(env, o, "views", &v) || napi_get_array_length(env, v, &n) != napi_ok) {
      napi_throw_type_error(env, NULL, "rebuildStep: every request has views");
      return NULL;
    }
    views += n;
  }
  step_t *s = calloc(1, sizeof *s + views * sizeof(struct iovec));
  if (!s) { napi_throw_error(env, NULL, "rebuildStep: out of memory"); return NULL; }
  s->k = k; s->m = m; s->cell = (size_t)cell; s->slots = slots; s->slots_len = slots_len;
  memcpy(s->rows, rows, rows_len);
  size_t used = 0;
  const size_t stripes = slots_len / ((size_t)k * (size_t)cell);
  for (uint32_t i = 0; i < nr + nw; i++) {
    napi_value o;
    napi_get_element(env, argv[i < nr ? 4 : 5], i < nr ? i : i - nr, &o);
    if (request_of(env, o, &s->rq[i], s->iov + used, views - used)) {
      free(s);
      napi_throw_type_error(env, NULL, "rebuildStep: a request needs fd, position, hashLen <= its views' bytes, a bigint seed and 1..1024 Uint8Array views");
      return NULL;
    }
    used += (size_t)s->rq[i].nv;
  }
  /* Every read lands exactly in its slot's cells (view s of read j at cell j of stripe s): the decode
     reads `slots`, and only bytes whose hash the caller checks may feed it. */
  for (int j = 0; j < k; j++) {
    const rq_t *q = &s->rq[j];
    int fits = (size_t)q->nv == stripes && q->hash_len == stripes * (size_t)cell;
    for (int v = 0; fits && v < q->nv; v++) fits = q->iov[v].iov_base == slots + ((size_t)v * (size_t)k + (size_t)j) * (size_t)cell && q->iov[v].iov_len == (size_t)cell;
    if (!fits) {
      free(s);
      napi_throw_type_error(env, NULL, "rebuildStep: read j's views must be cell j of each stripe of slots, in order");
      return NULL;
    }
  }
  /* Every output's first view holds the whole decoded value: stripes cells, inside nothing else of the step. */
  for (int i = 0; i < m; i++) {
    const rq_t *q = &s->rq[k + i];
    if (q->iov[0].iov_len < stripes * (size_t)cell || q->hash_len > q->total) {
      free(s);
      napi_throw_type_error(env, NULL, "rebuildStep: each write's first view holds the step's output cells");
      return NULL;
    }
  }
  napi_value promise, name, keep;
  napi_create_promise(env, &s->deferred, &promise);
  napi_create_array_with_length(env, 4, &keep);
  napi_set_element(env, keep, 0, argv[2]); napi_set_element(env, keep, 1, argv[3]);
  napi_set_element(env, keep, 2, argv[4]); napi_set_element(env, keep, 3, argv[5]);
  napi_create_reference(env, keep, 1, &s->keep);
  napi_create_string_utf8(env, "cairn.rebuildStep", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run_step, done_step, s, &s->work);
  napi_queue_async_work(env, s->work);
  return promise;
}

/** Zeros for the tails of flat writes (a value's block padding); aligned for direct writes. */
static const uint8_t zeros[65536] __attribute__((aligned(DIRECT_ALIGN)));

/**
 * A step of k reads and m writes from their numbers (rebuildStepFlat's nums: per read fd, position,
 * hashLen; per write fd, position, hashLen, total; seeds k + m): read j's views are the cells at
 * read_at + (stripe * k + j) * cell, write i's first view is its `stripes * cell` bytes at outs[i]
 * (outs NULL: at outs_at + i * that) then zeros up to its total. NULL with a TypeError thrown when
 * they do not fit. The caller sets `slots` (and `staged`).
 */
static step_t *numbered_step(napi_env env, int k, size_t m, size_t c, size_t stripes, const uint8_t *rows, const double *nums, const uint64_t *seeds, uintptr_t read_at, uint8_t *const *outs, uintptr_t outs_at) {
  const size_t len = stripes * c;
  if (stripes > RB_MAX_VIEWS) { napi_throw_type_error(env, NULL, "rebuild step: at most 1024 stripes"); return NULL; }
  /* views: k * stripes for the reads, per write its output and up to RB_MAX_VIEWS - 1 zero chunks */
  size_t views = (size_t)k * stripes;
  for (size_t i = 0; i < m; i++) {
    double total = nums[3 * k + 4 * i + 3];
    if (!(total >= (double)len) || total - (double)len > (double)(RB_MAX_VIEWS - 1) * sizeof zeros) { napi_throw_type_error(env, NULL, "rebuild step: a write's total below its value or its tail too long"); return NULL; }
    views += 1 + (size_t)((total - (double)len + sizeof zeros - 1) / sizeof zeros);
  }
  step_t *s = calloc(1, sizeof *s + views * sizeof(struct iovec));
  if (!s) { napi_throw_error(env, NULL, "rebuild step: out of memory"); return NULL; }
  s->k = k; s->m = (int)m; s->cell = c;
  memcpy(s->rows, rows, (size_t)k * m);
  struct iovec *iov = s->iov;
  for (int j = 0; j < k; j++) {
    rq_t *q = &s->rq[j];
    q->fd = (int)nums[3 * j]; q->pos = (uint64_t)nums[3 * j + 1]; q->hash_len = (size_t)nums[3 * j + 2]; q->seed = seeds[j];
    q->nv = (int)stripes; q->iov = iov; q->total = len;
    for (size_t st2 = 0; st2 < stripes; st2++) { iov->iov_base = (void *)(read_at + (st2 * (size_t)k + (size_t)j) * c); iov->iov_len = c; iov++; }
    if (nums[3 * j] < 0 || nums[3 * j + 1] < 0 || q->hash_len != len) { free(s); napi_throw_type_error(env, NULL, "rebuild step: a read hashes the whole step"); return NULL; }
  }
  for (size_t i = 0; i < m; i++) {
    rq_t *q = &s->rq[k + (int)i];
    const double *w = nums + 3 * k + 4 * i;
    if (w[0] < 0 || w[1] < 0 || (size_t)w[2] != len) { free(s); napi_throw_type_error(env, NULL, "rebuild step: each output is hashed whole"); return NULL; }
    q->fd = (int)w[0]; q->pos = (uint64_t)w[1]; q->hash_len = len; q->seed = seeds[k + (int)i];
    q->iov = iov; q->nv = 1; q->total = (size_t)w[3];
    iov->iov_base = outs ? (void *)outs[i] : (void *)(outs_at + i * len); iov->iov_len = len; iov++;
    for (size_t left = q->total - len; left > 0; ) {
      size_t n = left < sizeof zeros ? left : sizeof zeros;
      iov->iov_base = (void *)zeros; iov->iov_len = n; iov++; q->nv++; left -= n;
    }
  }
  return s;
}

/** One flat step parsed from its 7 arguments (see rebuildStepFlat); NULL with a TypeError thrown when they do not fit. */
static step_t *flat_step(napi_env env, size_t argc, napi_value *argv) {
  int32_t k; double cell; uint8_t *slots, *rows; size_t slots_len, rows_len; uint32_t m;
  void *nums_p, *seeds_p; size_t nums_len, seeds_len; napi_typedarray_type nt, st; napi_value ab; size_t off;
  bool is1 = false, is2 = false;
  if (argc < 7 || napi_get_value_int32(env, argv[0], &k) != napi_ok || napi_get_value_double(env, argv[1], &cell) != napi_ok
      || u8_of(env, argv[2], &slots, &slots_len) || u8_of(env, argv[3], &rows, &rows_len) || napi_get_array_length(env, argv[4], &m) != napi_ok
      || napi_is_typedarray(env, argv[5], &is1) != napi_ok || !is1 || napi_is_typedarray(env, argv[6], &is2) != napi_ok || !is2
      || napi_get_typedarray_info(env, argv[5], &nt, &nums_len, &nums_p, &ab, &off) != napi_ok || nt != napi_float64_array
      || napi_get_typedarray_info(env, argv[6], &st, &seeds_len, &seeds_p, &ab, &off) != napi_ok || st != napi_biguint64_array) {
    napi_throw_type_error(env, NULL, "rebuildStepFlat(k, cell, slots, rows, outs, nums: Float64Array, seeds: BigUint64Array)");
    return NULL;
  }
  if (k < 1 || k > RB_MAX || m < 1 || m > RB_MAX || cell < 32 || (size_t)cell != cell || slots_len == 0 || slots_len % ((size_t)k * (size_t)cell) != 0
      || rows_len != (size_t)k * m || nums_len != (size_t)(3 * k + 4 * (int)m) || seeds_len != (size_t)k + m) {
    napi_throw_type_error(env, NULL, "rebuildStepFlat: 1..16 reads and writes, k * writes rows, whole stripes of cell >= 32, 3k + 4m numbers, k + m seeds");
    return NULL;
  }
  const double *nums = nums_p; const uint64_t *seeds = seeds_p;
  const size_t c = (size_t)cell, stripes = slots_len / ((size_t)k * c), len = stripes * c;
  uint8_t *outs[RB_MAX];
  for (uint32_t i = 0; i < m; i++) {
    napi_value o; size_t olen;
    if (napi_get_element(env, argv[4], i, &o) != napi_ok || u8_of(env, o, &outs[i], &olen) || olen != len) {
      napi_throw_type_error(env, NULL, "rebuildStepFlat: each output holds the step's cells");
      return NULL;
    }
  }
  step_t *s = numbered_step(env, k, m, c, stripes, rows, nums, seeds, (uintptr_t)slots, outs, 0);
  if (s) { s->slots = slots; s->slots_len = slots_len; }
  return s;
}

/*
 * rebuildStepFlat(k, cell, slots, rows, outs, nums, seeds): rebuildStep with its requests as numbers
 * (a property read through N-API costs about as much as a step's JavaScript). Read j lands in cell
 * j of every stripe of `slots` (its views are implied); write i writes outs[i] (its whole length,
 * the value) then zeros up to its total. nums (Float64Array): per read fd, position, hashLen; then
 * per write fd, position, hashLen, total. seeds (BigUint64Array): k + m.
 */
static napi_value rebuild_step_flat(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  step_t *s = flat_step(env, argc, argv);
  if (!s) return NULL;
  napi_value promise, name, keep;
  napi_create_promise(env, &s->deferred, &promise);
  napi_create_array_with_length(env, 3, &keep);
  napi_set_element(env, keep, 0, argv[2]); napi_set_element(env, keep, 1, argv[3]); napi_set_element(env, keep, 2, argv[4]);
  napi_create_reference(env, keep, 1, &s->keep);
  napi_create_string_utf8(env, "cairn.rebuildStep", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run_step, done_step, s, &s->work);
  napi_queue_async_work(env, s->work);
  return promise;
}

/**
 * One staged step parsed from its 6 arguments (k, cell, len, rows, nums, seeds; see
 * rebuildStepsStaged); NULL with a TypeError thrown when they do not fit. Its views hold offsets
 * into the step's stage: read j's cell of stripe s at (s * k + j) * cell (the slots' layout),
 * output i at k * len + i * len, then zeros up to its total.
 */
static step_t *staged_step(napi_env env, size_t argc, napi_value *argv) {
  int32_t k; double cell, lend; uint8_t *rows; size_t rows_len;
  void *nums_p, *seeds_p; size_t nums_len, seeds_len; napi_typedarray_type nt, st; napi_value ab; size_t off;
  bool is1 = false, is2 = false;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &k) != napi_ok || napi_get_value_double(env, argv[1], &cell) != napi_ok || napi_get_value_double(env, argv[2], &lend) != napi_ok
      || u8_of(env, argv[3], &rows, &rows_len)
      || napi_is_typedarray(env, argv[4], &is1) != napi_ok || !is1 || napi_is_typedarray(env, argv[5], &is2) != napi_ok || !is2
      || napi_get_typedarray_info(env, argv[4], &nt, &nums_len, &nums_p, &ab, &off) != napi_ok || nt != napi_float64_array
      || napi_get_typedarray_info(env, argv[5], &st, &seeds_len, &seeds_p, &ab, &off) != napi_ok || st != napi_biguint64_array) {
    napi_throw_type_error(env, NULL, "rebuildStepsStaged: k, cell, len, rows, nums: Float64Array, seeds: BigUint64Array per step");
    return NULL;
  }
  const size_t m = k >= 1 && rows_len % (size_t)k == 0 ? rows_len / (size_t)k : 0;
  if (k < 1 || k > RB_MAX || m < 1 || m > RB_MAX || cell < 32 || (size_t)cell != cell || !(lend >= cell) || (size_t)lend != lend || (size_t)lend % (size_t)cell != 0
      || (size_t)lend / (size_t)cell > RB_MAX_VIEWS || nums_len != (size_t)(3 * k) + 4 * m || seeds_len != (size_t)k + m) {
    napi_throw_type_error(env, NULL, "rebuildStepsStaged: 1..16 reads and writes (rows: k per write), len whole cells >= 32 (at most 1024), 3k + 4m numbers, k + m seeds");
    return NULL;
  }
  const double *nums = nums_p; const uint64_t *seeds = seeds_p;
  const size_t c = (size_t)cell, len = (size_t)lend, stripes = len / c;
  step_t *s = numbered_step(env, k, m, c, stripes, rows, nums, seeds, 0, NULL, (uintptr_t)k * len);
  if (s) { s->slots = NULL; s->slots_len = (size_t)k * len; s->staged = ((size_t)k + m) * len; }
  return s;
}

/* ------------------------------------------------------------------ asynchronous direct writes */

/*
 * A batch's direct writes go without holding its pool thread (`run_batch_async`): each step's
 * writes are submitted to the thread's own io_uring (`aring_get`) and the thread goes on to read
 * and decode the next step while the disk writes; the batch answers only after every write of it
 * completed (its answers are the writes' results), so nothing is recorded before its bytes are
 * written, exactly as with the synchronous writes. A staged step's outputs stay in the stage until
 * their write completed (the stage holds the reads, reused step by step, then the batch's outputs
 * one after another, `AW_REGION` at most: a step that does not fit waits for every write in flight
 * first). A write that fails, falls short or is refused (EINVAL) is done again synchronously from
 * its start (`aw_done`: the same bytes at the same place), buffered when the direct descriptor
 * refuses it, as `write_out` does. No io_uring (an old kernel, a sandbox): the synchronous writes.
 * Why: quiet, a synchronous direct write held its pool thread until the disk answered (~0.15 ms
 * per 128 KiB), so direct writes lost to buffered ones (241-289 vs 355-365 MB/s, session 27's
 * finals) although they cost less CPU, and they avoid the page cache whose new pages the host of
 * this VM faults in (see `direct_get`).
 */

/** Submission entries of a thread's ring: writes in flight at most. */
#define AW_ENTRIES 64
/** Bytes of a batch's staged outputs kept in the stage at once (a larger step takes its own size). */
#define AW_REGION ((size_t)8 << 20)

/** A pool thread's ring (`aring_get`). */
typedef struct {
  int fd;
  unsigned entries;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  /** SQEs written and not yet published / not yet consumed by the kernel; writes whose CQE is not reaped. */
  unsigned tail, unsubmitted, inflight;
} aring_t;

static __thread aring_t *aring;
static __thread int aring_tried;
/** Writes a thread gathers before it submits them (0: asynchronous writes off; `asyncWrites`). */
static volatile int aw_kick = 4;

/** The calling thread's ring, made at its first use; NULL when io_uring is not available here (then every write is synchronous). */
static aring_t *aring_get(void) {
  if (aring_tried) return aring;
  aring_tried = 1;
  /* (one thread submits and waits, so completions may run only when it waits: no interrupt of the decode) */
  static const unsigned flag_sets[] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0 };
  struct io_uring_params p;
  int fd = -1;
  for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0] && fd < 0; i++) {
    memset(&p, 0, sizeof p);
    p.flags = flag_sets[i];
    fd = (int)syscall(__NR_io_uring_setup, AW_ENTRIES, &p);
  }
  if (fd < 0) return NULL;
  size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  const int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && cq_sz > sq_sz) sq_sz = cq_sz;
  uint8_t *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  uint8_t *cq = single ? sq : mmap(NULL, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  aring_t *r = calloc(1, sizeof *r);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED || !r) {
    if (sqes != MAP_FAILED) munmap(sqes, p.sq_entries * sizeof(struct io_uring_sqe));
    if (cq != MAP_FAILED && cq != sq) munmap(cq, cq_sz);
    if (sq != MAP_FAILED) munmap(sq, sq_sz);
    close(fd); free(r);
    return NULL;
  }
  r->fd = fd; r->entries = p.sq_entries;
  r->sq_head = (unsigned *)(sq + p.sq_off.head); r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head); r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask); r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  r->sqes = sqes;
  r->tail = *r->sq_tail;
  aring = r;
  return r;
}

/** One write of a batch in flight: its step, which output, the direct descriptor it holds. */
typedef struct { step_t *s; int i; int slot; int dfd; } awrite_t;

/** Write `q` through `dfd` (transfer_all), buffered through its own descriptor when that refuses it (EINVAL); notes a direct write. */
static int aw_sync(const rq_t *q, int dfd) {
  rq_t d = *q;
  d.fd = dfd;
  int r = transfer_all(&d, 1);
  if (r == 0) seen_note(q->fd, q->pos);
  if (r != -EINVAL) return r;
  return transfer_all(q, 1);
}

/** A write's completion (`res`: bytes written or -errno): its answer, done again synchronously unless whole. */
static void aw_done(awrite_t *a, int res) {
  const rq_t *q = &a->s->rq[a->s->k + a->i];
  int err;
  if (res >= 0 && (size_t)res == q->total) { err = 0; seen_note(q->fd, q->pos); }
  else err = aw_sync(q, a->dfd);
  direct_put(a->slot);
  a->s->err[a->s->k + a->i] = err;
}

/** Reap every completion the ring holds (`aw_done`). */
static void aring_reap(aring_t *r, awrite_t *aw) {
  unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
  for (; head != tail; head++) {
    const struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
    aw_done(&aw[c->user_data], c->res);
    r->inflight--;
  }
  __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
}

/**
 * Publish the SQEs written, submit them and wait until at most `left` writes are in flight (reaping
 * what completed). When the kernel refuses to take them (an error other than EINTR, EAGAIN or
 * EBUSY) they are taken back and written synchronously, and -1 answered: the caller stops using the
 * ring. 0 otherwise.
 */
static int aring_enter(aring_t *r, awrite_t *aw, unsigned left) {
  __atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
  for (;;) {
    unsigned want = r->inflight > left ? r->inflight - left : 0;
    int n = (int)syscall(__NR_io_uring_enter, r->fd, r->unsubmitted, want, IORING_ENTER_GETEVENTS, NULL, 0);
    if (n >= 0) r->unsubmitted -= (unsigned)n < r->unsubmitted ? (unsigned)n : r->unsubmitted;
    aring_reap(r, aw);
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
      /* (not consumed: the kernel reads the SQ ring only inside io_uring_enter) */
      unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
      for (unsigned h = head; h != r->tail; h++) {
        awrite_t *a = &aw[r->sqes[r->sq_array[h & *r->sq_mask]].user_data];
        const rq_t *q = &a->s->rq[a->s->k + a->i];
        a->s->err[a->s->k + a->i] = aw_sync(q, a->dfd);
        direct_put(a->slot);
        r->inflight--;
      }
      r->tail = head; r->unsubmitted = 0;
      __atomic_store_n(r->sq_tail, head, __ATOMIC_RELEASE);
      while (r->inflight > 0) {
        if (syscall(__NR_io_uring_enter, r->fd, 0, r->inflight, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) break;
        aring_reap(r, aw);
      }
      return -1;
    }
    if (r->unsubmitted == 0 && r->inflight <= left) return 0;
  }
}

/**
 * Write output `i` of step `s` (`aw[*used]` its record): submitted to the ring when it fits a direct
 * write (sent once `aw_kick` writes are gathered, or at once with `now`), else synchronously
 * (`write_out`). -1: the ring failed (stop using it).
 */
static int aw_write(aring_t *r, awrite_t *aw, unsigned *used, step_t *s, int i, int now) {
  const rq_t *q = &s->rq[s->k + i];
  int slot = -1, dfd = -1;
  if (!direct_fits(q) || q->nv > IOV_MAX || (dfd = direct_get(q->fd, &slot)) < 0) { s->err[s->k + i] = write_out(q); return 0; }
  if (r->inflight >= r->entries && aring_enter(r, aw, r->entries - 1) < 0) {
    s->err[s->k + i] = aw_sync(q, dfd); direct_put(slot);
    return -1;
  }
  const unsigned at = *used;
  aw[at] = (awrite_t){ s, i, slot, dfd };
  (*used)++;
  struct io_uring_sqe *e = &r->sqes[r->tail & *r->sq_mask];
  memset(e, 0, sizeof *e);
  e->opcode = IORING_OP_WRITEV; e->fd = dfd; e->addr = (uint64_t)(uintptr_t)q->iov; e->len = (unsigned)q->nv; e->off = q->pos; e->user_data = at;
  r->sq_array[r->tail & *r->sq_mask] = r->tail & *r->sq_mask;
  r->tail++; r->unsubmitted++; r->inflight++;
  if (now || r->unsubmitted >= (unsigned)aw_kick) return aring_enter(r, aw, r->entries) < 0 ? -1 : 0;
  return 0;
}

/**
 * Run the steps of a batch with their direct writes asynchronous (see above); 0, or -1 when the
 * ring cannot serve it (nothing done: the caller runs the batch synchronously).
 */
static int run_steps_async(aring_t *r, step_t **steps, uint32_t n) {
  size_t reads = 0, outs_total = 0, outs_max = 0;
  unsigned writes = 0;
  for (uint32_t x = 0; x < n; x++) {
    const step_t *s = steps[x];
    writes += (unsigned)s->m;
    if (!s->staged) continue;
    const size_t o = s->staged - s->slots_len;
    if (s->slots_len > reads) reads = s->slots_len;
    outs_total += o;
    if (o > outs_max) outs_max = o;
  }
  size_t region = outs_total < AW_REGION ? outs_total : AW_REGION;
  if (region < outs_max) region = outs_max;
  reads = (reads + 4095) & ~(size_t)4095;
  uint8_t *buf = NULL;
  if (reads + region > 0 && !(buf = stage_for(reads + region))) return -1;
  awrite_t *aw = calloc(writes ? writes : 1, sizeof *aw);
  if (!aw) return -1;
  unsigned used = 0;
  size_t off = 0;
  int ok = 1;
  for (uint32_t x = 0; x < n; x++) {
    step_t *s = steps[x];
    if (s->staged) {
      const size_t o = s->staged - s->slots_len;
      if (off + o > region) { if (ok && aring_enter(r, aw, 0) < 0) ok = 0; off = 0; }
      /* reads at their offsets in the stage; outputs (offset slots_len + i * len) at the region's next bytes */
      for (int j = 0; j < s->k; j++)
        for (int v = 0; v < s->rq[j].nv; v++) s->rq[j].iov[v].iov_base = buf + (uintptr_t)s->rq[j].iov[v].iov_base;
      for (int i = 0; i < s->m; i++) s->rq[s->k + i].iov[0].iov_base = buf + reads + off + ((uintptr_t)s->rq[s->k + i].iov[0].iov_base - s->slots_len);
      s->slots = buf;
      off += o;
    }
    /* (the batch's last `aw_kick` steps send their writes at once: the batch waits for every write at
       its end, and writes held back for a group would leave its thread idle there) */
    const int now = n - x <= (uint32_t)aw_kick;
    if (step_compute(s) == 0) {
      for (int i = 0; i < s->m; i++) {
        if (ok) { if (aw_write(r, aw, &used, s, i, now && i == s->m - 1) < 0) ok = 0; }
        else s->err[s->k + i] = write_out(&s->rq[s->k + i]);
      }
    }
    if (s->staged) s->slots = NULL;
  }
  if (ok) aring_enter(r, aw, 0);
  free(aw);
  return 0;
}

/** Several flat steps run one after another by one pool job (`rebuildStepsFlat`). */
typedef struct batch_s { own_job_t job; napi_async_work work; napi_deferred deferred; napi_ref keep; uint32_t n; step_t *steps[]; } batch_t;

static void run_batch(napi_env env, void *data) {
  batch_t *b = data;
  /* direct writes asynchronous where this thread has a ring (see run_steps_async), else one after another */
  aring_t *r = direct_on && aw_kick > 0 ? aring_get() : NULL;
  if (r && run_steps_async(r, b->steps, b->n) == 0) return;
  for (uint32_t i = 0; i < b->n; i++) run_step(env, b->steps[i]);
}


/** Resolve batch `b`'s promise with its steps' answers, then free it (the JavaScript thread). */
static void answer_batch(napi_env env, batch_t *b, napi_status status) {
  napi_value all;
  napi_create_array_with_length(env, b->n, &all);
  for (uint32_t i = 0; i < b->n; i++) { napi_set_element(env, all, i, answers_of(env, b->steps[i], status)); free(b->steps[i]); }
  napi_resolve_deferred(env, b->deferred, all);
  napi_delete_reference(env, b->keep);
  free(b);
}

/** Free batch `b` without answering it (its environment is going away). */
static void batch_free(batch_t *b) {
  for (uint32_t i = 0; i < b->n; i++) free(b->steps[i]);
  free(b);
}

static void done_batch(napi_env env, napi_status status, void *data) {
  batch_t *b = data;
  napi_delete_async_work(env, b->work);
  answer_batch(env, b, status);
}

/* ------------------------------------------------------------------ the addon's own threads */

/*
 * With `ownThreads(true)` a batch runs on a thread of this addon (own-pool.h) instead of the libuv
 * pool, and answers through a thread-safe function. Its threads run SCHED_BATCH: waking one never
 * preempts the thread that woke it. Why: on this 2-core machine the JavaScript thread, the critical
 * path of a rebuild (it locates, prepares, verifies and records every step), lost its core to the
 * pool thread each submission woke: --cpu-prof put 20-27% of its wall time inside the submitting call,
 * perf ~3% of its CPU. The batches and their answers are the libuv path's (`run_batch`,
 * `answer_batch`). An environment other than the first one to use it (a worker) takes the libuv pool.
 */
static void own_run(own_job_t *job) { run_batch(NULL, job); }
static void own_done(napi_env env, own_job_t *job) { answer_batch(env, (batch_t *)job, napi_ok); }
static void own_drop(own_job_t *job) { batch_free((batch_t *)job); }
static own_pool_t own_pool = OWN_POOL_INIT("cairn.rebuildSteps.own", "cairn-rebuild", 1, 0, own_run, own_done, own_drop);
/** Whether batches go to the addon's threads (`ownThreads`). */
static volatile int own_on;

/** Parses one step from its arguments (`argc` of them at `argv`): the step, or NULL with a TypeError thrown. */
typedef step_t *(*step_parser)(napi_env env, size_t argc, napi_value *argv);

/**
 * The steps of `list` (the call's first argument: `per` arguments a step, 1..64 steps, each parsed
 * by `parse`) queued as one pool job that runs them one after another (`run_batch`): its promise of
 * each step's answers, in order. Throws (TypeError, `usage`) before anything is queued when the list
 * or a step does not fit. Shared by rebuildStepsFlat and rebuildStepsStaged.
 */
static napi_value queue_steps(napi_env env, napi_callback_info info, uint32_t per, step_parser parse, const char *usage) {
  size_t argc = 1; napi_value list;
  napi_get_cb_info(env, info, &argc, &list, NULL, NULL);
  uint32_t len;
  if (argc < 1 || napi_get_array_length(env, list, &len) != napi_ok || len == 0 || len % per != 0 || len / per > 64) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  uint32_t n = len / per;
  batch_t *b = calloc(1, sizeof *b + n * sizeof(step_t *));
  if (!b) { napi_throw_error(env, NULL, "rebuild steps: out of memory"); return NULL; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value argv[STEP_ARGS_MAX];
    for (uint32_t a = 0; a < per; a++) napi_get_element(env, list, i * per + a, &argv[a]);
    b->steps[i] = parse(env, per, argv);
    if (!b->steps[i]) { for (uint32_t x = 0; x < i; x++) free(b->steps[x]); free(b); return NULL; }
    b->n = i + 1;
  }
  napi_value promise, name;
  napi_create_promise(env, &b->deferred, &promise);
  napi_create_reference(env, list, 1, &b->keep);
  if (own_on && own_pool_queue(env, &own_pool, &b->job)) return promise;
  napi_create_string_utf8(env, "cairn.rebuildSteps", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run_batch, done_batch, b, &b->work);
  napi_queue_async_work(env, b->work);
  return promise;
}

/*
 * rebuildStepsFlat(args) -> Promise<Array<Array<bigint | number>>>: the steps given as one array of
 * 7 arguments each (rebuildStepFlat's, one after another) run by one pool job, one after another,
 * answering each step's answers in order: one submission and one completion for several steps (a
 * submission wakes a pool thread, which on a busy 2-core machine can take the JavaScript thread's
 * core: measured 270 us per submission inside a rebuild against 4-8 us alone). A step that does not
 * fit throws (TypeError) before anything is queued.
 */
static napi_value rebuild_steps_flat(napi_env env, napi_callback_info info) {
  return queue_steps(env, info, 7, flat_step, "rebuildStepsFlat([k, cell, slots, rows, outs, nums, seeds, ...]): 1..64 steps of 7 arguments");
}

/*
 * rebuildStepsStaged(args) -> Promise<Array<Array<bigint | number>>>: rebuildStepsFlat's steps
 * without the caller's buffers: 6 arguments a step (k, cell, len, rows, nums, seeds: `len` bytes
 * read from each source and written to each output, whole cells; rows k per output; nums and seeds
 * as rebuildStepFlat's). The job reads, decodes and writes in the pool thread's own stage
 * (`stage_for`), so the caller allocates nothing for the step and only its answers come back (k
 * read hashes, then one per write, or negative errnos; a read that fails cancels the writes). A
 * step that does not fit throws (TypeError) before anything is queued.
 */
static napi_value rebuild_steps_staged(napi_env env, napi_callback_info info) {
  return queue_steps(env, info, 6, staged_step, "rebuildStepsStaged([k, cell, len, rows, nums, seeds, ...]): 1..64 steps of 6 arguments");
}

/** A boolean setting's call: `flag` set from the first argument when it is a boolean; answers the setting. */
static napi_value bool_setting(napi_env env, napi_callback_info info, volatile int *flag) {
  size_t argc = 1; napi_value arg, out;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  bool on;
  if (argc >= 1 && napi_get_value_bool(env, arg, &on) == napi_ok) *flag = on ? 1 : 0;
  napi_get_boolean(env, *flag != 0, &out);
  return out;
}

/*
 * directWrites(on?: boolean) -> boolean: whether rebuilt cells are written with O_DIRECT where they
 * can be (see `write_out`; default on); `on` switches it for the steps that run from then on.
 */
static napi_value direct_writes(napi_env env, napi_callback_info info) { return bool_setting(env, info, &direct_on); }

/*
 * asyncWrites(kick?: number) -> number: how many direct writes a batch's pool thread gathers before
 * it submits them to its io_uring (see `run_steps_async`); 0: a batch's direct writes are
 * synchronous, each holding its thread until the disk answers (as before). `kick` (0..64) sets it
 * for the batches that start from then on. Default 4 (same-process A/B, 512 objects, load 19: 5.26 vs
 * 6.01 ms CPU per rebuilt MiB with 1; 16 as 4).
 */
static napi_value async_writes(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value arg, out;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int32_t n;
  if (argc >= 1 && napi_get_value_int32(env, arg, &n) == napi_ok && n >= 0 && n <= AW_ENTRIES) aw_kick = n;
  napi_create_int32(env, aw_kick, &out);
  return out;
}

/*
 * ownThreads(on?: boolean) -> boolean: whether batches of steps (rebuildStepsFlat, rebuildStepsStaged)
 * run on the addon's own SCHED_BATCH threads instead of the libuv pool (see `own_pool`; default
 * off); `on` switches it for the batches queued from then on.
 */
static napi_value own_threads_fn(napi_env env, napi_callback_info info) { return bool_setting(env, info, &own_on); }

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "ownThreads", NAPI_AUTO_LENGTH, own_threads_fn, NULL, &fn);
  napi_set_named_property(env, exports, "ownThreads", fn);
  napi_create_function(env, "asyncWrites", NAPI_AUTO_LENGTH, async_writes, NULL, &fn);
  napi_set_named_property(env, exports, "asyncWrites", fn);
  napi_create_function(env, "directWrites", NAPI_AUTO_LENGTH, direct_writes, NULL, &fn);
  napi_set_named_property(env, exports, "directWrites", fn);
  napi_create_function(env, "rebuildStep", NAPI_AUTO_LENGTH, rebuild_step, NULL, &fn);
  napi_set_named_property(env, exports, "rebuildStep", fn);
  napi_create_function(env, "rebuildStepFlat", NAPI_AUTO_LENGTH, rebuild_step_flat, NULL, &fn);
  napi_set_named_property(env, exports, "rebuildStepFlat", fn);
  napi_create_function(env, "rebuildStepsFlat", NAPI_AUTO_LENGTH, rebuild_steps_flat, NULL, &fn);
  napi_set_named_property(env, exports, "rebuildStepsFlat", fn);
  napi_create_function(env, "rebuildStepsStaged", NAPI_AUTO_LENGTH, rebuild_steps_staged, NULL, &fn);
  napi_set_named_property(env, exports, "rebuildStepsStaged", fn);
  return exports;
}
