/*
 * cairn_uring: a minimal io_uring binding for Cairn's block device (N-API, C, no liburing).
 *
 * One ring per JS engine. JS prepares SQEs (read, write, fdatasync) tagged with a slot number
 * and submits them in batches with ringSubmit (one io_uring_enter). Completions are reaped on
 * the libuv event loop: an eventfd is registered with the ring (IORING_REGISTER_EVENTFD) and
 * watched with uv_poll; the poll callback copies (slot, res) pairs into a JS Int32Array and calls
 * the JS completion function once per batch through napi_make_callback (so promise reactions run
 * right after). The uv handle is referenced only while requests are in flight, so an idle ring
 * never keeps the process alive. Buffers are kept alive by the JS side until completion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include <uv.h>
/* native/hashio.c: checksummed positional I/O on the thread-pool (preadvHash, pwritevHash, xxh64Parts). */
napi_status hashio_init(napi_env env, napi_value exports);
napi_status syncer_init(napi_env env, napi_value exports);
napi_status gfni_init(napi_env env, napi_value exports);

#define MAX_ENTRIES 4096

typedef struct ring {
  int ring_fd, event_fd;
  unsigned sq_entries, cq_entries;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *sq_ptr, *cq_ptr;
  size_t sq_sz, cq_sz, sqes_sz;
  unsigned sq_local_tail, to_submit, inflight;
  int in_reap, close_pending, closed, referenced;
  int handle_closed, gc_dropped; /* freed when both: uv handle closed and JS external collected */
  uv_poll_t poll;
  napi_env env;
  napi_ref cb_ref, completions_ref;
  napi_async_context actx;
  int32_t *completions;
  size_t completions_pairs;
} ring_t;

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "N-API call failed: " #call); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (errno %d)", what, strerror(err), err);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int sys_setup(unsigned entries, struct io_uring_params *p) { return (int)syscall(__NR_io_uring_setup, entries, p); }
static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}
static int sys_register(int fd, unsigned op, void *arg, unsigned nr) { return (int)syscall(__NR_io_uring_register, fd, op, arg, nr); }

static void unmap_ring(ring_t *r) {
  if (r->sqes && r->sqes != MAP_FAILED) munmap(r->sqes, r->sqes_sz);
  if (r->cq_ptr && r->cq_ptr != MAP_FAILED && r->cq_ptr != r->sq_ptr) munmap(r->cq_ptr, r->cq_sz);
  if (r->sq_ptr && r->sq_ptr != MAP_FAILED) munmap(r->sq_ptr, r->sq_sz);
  if (r->ring_fd >= 0) close(r->ring_fd);
  r->sqes = NULL; r->cq_ptr = NULL; r->sq_ptr = NULL; r->ring_fd = -1;
}

static void on_poll_closed(uv_handle_t *h) {
  ring_t *r = (ring_t *)h->data;
  if (r->event_fd >= 0) close(r->event_fd);
  if (r->cb_ref) napi_delete_reference(r->env, r->cb_ref);
  if (r->completions_ref) napi_delete_reference(r->env, r->completions_ref);
  if (r->actx) napi_async_destroy(r->env, r->actx);
  r->cb_ref = NULL; r->completions_ref = NULL; r->actx = NULL;
  r->handle_closed = 1;
  if (r->gc_dropped) free(r);
}

/* Finalizer of the JS external. While the ring is open the JS callback reference keeps the
 * external reachable, so this runs only after close; the struct is freed once both are done,
 * so a stale JS handle never points at freed memory. */
static void finalize_ring(napi_env env, void *data, void *hint) {
  ring_t *r = (ring_t *)data;
  r->gc_dropped = 1;
  if (r->handle_closed) free(r);
}

static void do_close(ring_t *r) {
  if (r->closed) return;
  r->closed = 1;
  uv_poll_stop(&r->poll);
  unmap_ring(r);
  uv_close((uv_handle_t *)&r->poll, on_poll_closed);
}

static void set_ref(ring_t *r, int want) {
  if (want && !r->referenced) { uv_ref((uv_handle_t *)&r->poll); r->referenced = 1; }
  else if (!want && r->referenced) { uv_unref((uv_handle_t *)&r->poll); r->referenced = 0; }
}

/* Copy up to completions_pairs CQEs into the JS completions array; returns how many. */
static size_t drain_cq(ring_t *r) {
  unsigned head = *r->cq_head;
  unsigned tail = atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire);
  size_t n = 0;
  while (head != tail && n < r->completions_pairs) {
    struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
    r->completions[2 * n] = (int32_t)cqe->user_data;
    r->completions[2 * n + 1] = cqe->res;
    n++; head++;
  }
  atomic_store_explicit((_Atomic unsigned *)r->cq_head, head, memory_order_release);
  r->inflight -= (unsigned)n;
  return n;
}

/* Drain the completion queue into JS, one napi_make_callback per batch (event-loop path). */
static void reap(ring_t *r) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  r->in_reap = 1;
  while (!r->close_pending && !r->closed) {
    size_t n = drain_cq(r);
    if (n == 0) break;
    napi_value cb, recv, arg, result;
    napi_get_reference_value(env, r->cb_ref, &cb);
    napi_get_global(env, &recv);
    napi_create_uint32(env, (uint32_t)n, &arg);
    if (napi_make_callback(env, r->actx, recv, cb, 1, &arg, &result) != napi_ok) {
      /* A JS exception escaped the completion handler: surface it like any uncaught error. */
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) { napi_value exc; napi_get_and_clear_last_exception(env, &exc); napi_fatal_exception(env, exc); }
    }
  }
  r->in_reap = 0;
  if (r->close_pending) do_close(r);
  else if (r->inflight == 0) set_ref(r, 0);
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  ring_t *r = (ring_t *)h->data;
  uint64_t v;
  while (read(r->event_fd, &v, sizeof v) < 0 && errno == EINTR) {}
  reap(r);
}

static ring_t *get_ring(napi_env env, napi_value v) {
  ring_t *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || r == NULL) { napi_throw_type_error(env, NULL, "not a ring"); return NULL; }
  if (r->closed || r->close_pending) { napi_throw_error(env, NULL, "ring is closed"); return NULL; }
  return r;
}

/* ringCreate(entries, completions: Int32Array, onComplete) -> external */
static napi_value ring_create(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t entries;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &entries) != napi_ok || entries == 0 || entries > MAX_ENTRIES) {
    napi_throw_range_error(env, NULL, "entries must be in [1, 4096]"); return NULL;
  }
  napi_typedarray_type tt; size_t tlen; void *tdata; napi_value tab; size_t toff;
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, argv[1], &tt, &tlen, &tdata, &tab, &toff) != napi_ok || tt != napi_int32_array || tlen < 2) {
    napi_throw_type_error(env, NULL, "completions must be an Int32Array"); return NULL;
  }
  napi_valuetype ft; napi_typeof(env, argv[2], &ft);
  if (ft != napi_function) { napi_throw_type_error(env, NULL, "onComplete must be a function"); return NULL; }

  ring_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "calloc", ENOMEM);
  r->ring_fd = -1; r->event_fd = -1; r->env = env;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = sys_setup(entries, &p);
  if (fd < 0) { int e = errno; free(r); return throw_errno(env, "io_uring_setup", e); }
  r->ring_fd = fd;
  r->sq_entries = p.sq_entries; r->cq_entries = p.cq_entries;
  r->sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) { if (r->cq_sz > r->sq_sz) r->sq_sz = r->cq_sz; r->cq_sz = r->sq_sz; }
  r->sq_ptr = mmap(NULL, r->sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (r->sq_ptr == MAP_FAILED) { int e = errno; unmap_ring(r); free(r); return throw_errno(env, "mmap sq ring", e); }
  r->cq_ptr = single ? r->sq_ptr : mmap(NULL, r->cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  if (r->cq_ptr == MAP_FAILED) { int e = errno; unmap_ring(r); free(r); return throw_errno(env, "mmap cq ring", e); }
  r->sqes_sz = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) { int e = errno; unmap_ring(r); free(r); return throw_errno(env, "mmap sqes", e); }
  char *sq = r->sq_ptr, *cq = r->cq_ptr;
  r->sq_head = (unsigned *)(sq + p.sq_off.head); r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head); r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  r->sq_local_tail = *r->sq_tail;

  r->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->event_fd < 0) { int e = errno; unmap_ring(r); free(r); return throw_errno(env, "eventfd", e); }
  if (sys_register(fd, IORING_REGISTER_EVENTFD, &r->event_fd, 1) < 0) {
    int e = errno; close(r->event_fd); unmap_ring(r); free(r); return throw_errno(env, "io_uring_register eventfd", e);
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &r->poll, r->event_fd) != 0) {
    close(r->event_fd); unmap_ring(r); free(r); napi_throw_error(env, NULL, "uv_poll_init failed"); return NULL;
  }
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)&r->poll);
  r->completions = (int32_t *)tdata;
  r->completions_pairs = tlen / 2;
  napi_create_reference(env, argv[1], 1, &r->completions_ref);
  napi_create_reference(env, argv[2], 1, &r->cb_ref);
  napi_value name; napi_create_string_utf8(env, "cairn_uring", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->actx);
  napi_value ext;
  CHECK(napi_create_external(env, r, finalize_ring, NULL, &ext));
  return ext;
}

static struct io_uring_sqe *next_sqe(napi_env env, ring_t *r) {
  unsigned head = atomic_load_explicit((_Atomic unsigned *)r->sq_head, memory_order_acquire);
  if (r->sq_local_tail - head >= r->sq_entries) { napi_throw_error(env, NULL, "submission queue full"); return NULL; }
  if (r->inflight >= r->cq_entries) { napi_throw_error(env, NULL, "too many requests in flight"); return NULL; }
  unsigned idx = r->sq_local_tail & *r->sq_mask;
  struct io_uring_sqe *sqe = &r->sqes[idx];
  memset(sqe, 0, sizeof *sqe);
  r->sq_array[idx] = idx;
  return sqe;
}

static void publish(ring_t *r) {
  r->sq_local_tail++;
  atomic_store_explicit((_Atomic unsigned *)r->sq_tail, r->sq_local_tail, memory_order_release);
  r->to_submit++;
  r->inflight++;
  set_ref(r, 1);
}

/*
 * An SQE's `flags` argument (optional argument `i`): 0 when absent or undefined; IOSQE_IO_LINK (the
 * next SQE starts only once this one completed in full; a failed or short one cancels the rest of
 * its chain with -ECANCELED) is the only flag taken. 1 and *out, or 0 with a TypeError thrown.
 */
static int get_sqe_flags(napi_env env, size_t argc, napi_value *argv, size_t i, uint8_t *out) {
  *out = 0;
  if (argc <= i) return 1;
  napi_valuetype t;
  if (napi_typeof(env, argv[i], &t) == napi_ok && t == napi_undefined) return 1;
  uint32_t f;
  if (napi_get_value_uint32(env, argv[i], &f) != napi_ok || (f & ~(uint32_t)IOSQE_IO_LINK) != 0) {
    napi_throw_type_error(env, NULL, "SQE flags: only IOSQE_IO_LINK (4) is taken"); return 0;
  }
  *out = (uint8_t)f;
  return 1;
}

/* ringPrepRw(ring, op 0=read 1=write, fd, view, position, slot, flags?) */
static napi_value ring_prep_rw(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) { napi_throw_type_error(env, NULL, "ringPrepRw needs 6 arguments"); return NULL; }
  ring_t *r = get_ring(env, argv[0]); if (!r) return NULL;
  uint32_t op, slot; int32_t fd; double pos;
  if (napi_get_value_uint32(env, argv[1], &op) != napi_ok || op > 1 || napi_get_value_int32(env, argv[2], &fd) != napi_ok || fd < 0 ||
      napi_get_value_double(env, argv[4], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_uint32(env, argv[5], &slot) != napi_ok) {
    napi_throw_type_error(env, NULL, "bad ringPrepRw arguments"); return NULL;
  }
  bool is_ta = false; napi_is_typedarray(env, argv[3], &is_ta);
  napi_typedarray_type tt; size_t len; void *data; napi_value ab; size_t boff;
  if (!is_ta || napi_get_typedarray_info(env, argv[3], &tt, &len, &data, &ab, &boff) != napi_ok || tt != napi_uint8_array || len > 0x7fffffffu) {
    napi_throw_type_error(env, NULL, "view must be a Uint8Array under 2 GiB"); return NULL;
  }
  uint8_t flags;
  if (!get_sqe_flags(env, argc, argv, 6, &flags)) return NULL;
  struct io_uring_sqe *sqe = next_sqe(env, r); if (!sqe) return NULL;
  sqe->opcode = op ? IORING_OP_WRITE : IORING_OP_READ;
  sqe->flags = flags;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)data;
  sqe->len = (uint32_t)len;
  sqe->off = (uint64_t)pos;
  sqe->user_data = slot;
  publish(r);
  return NULL;
}

/* ringPrepFsync(ring, fd, slot, flags?): fdatasync */
static napi_value ring_prep_fsync(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) { napi_throw_type_error(env, NULL, "ringPrepFsync needs 3 arguments"); return NULL; }
  ring_t *r = get_ring(env, argv[0]); if (!r) return NULL;
  int32_t fd; uint32_t slot;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 || napi_get_value_uint32(env, argv[2], &slot) != napi_ok) {
    napi_throw_type_error(env, NULL, "bad ringPrepFsync arguments"); return NULL;
  }
  uint8_t flags;
  if (!get_sqe_flags(env, argc, argv, 3, &flags)) return NULL;
  struct io_uring_sqe *sqe = next_sqe(env, r); if (!sqe) return NULL;
  sqe->opcode = IORING_OP_FSYNC;
  sqe->flags = flags;
  sqe->fd = fd;
  sqe->fsync_flags = IORING_FSYNC_DATASYNC;
  sqe->user_data = slot;
  publish(r);
  return NULL;
}

/*
 * ringSubmit(ring, reapInline) -> number of completions copied into the completions array.
 * Requests that complete inline during io_uring_enter (e.g. buffered writes) are delivered here
 * without an event-loop round trip; the eventfd wake-up they also cause then finds the CQ empty.
 * (IORING_REGISTER_EVENTFD_ASYNC would avoid that wake-up but never signals O_DIRECT completions,
 * which are not posted from io-wq workers.)
 */
static napi_value ring_submit(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) { napi_throw_type_error(env, NULL, "ringSubmit(ring, reapInline)"); return NULL; }
  ring_t *r = get_ring(env, argv[0]); if (!r) return NULL;
  bool reap_inline = false; napi_get_value_bool(env, argv[1], &reap_inline);
  while (r->to_submit > 0) {
    int n = sys_enter(r->ring_fd, r->to_submit, 0, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return throw_errno(env, "io_uring_enter", errno);
    }
    if (n == 0) break;
    r->to_submit -= (unsigned)n;
  }
  size_t done = reap_inline ? drain_cq(r) : 0;
  if (r->inflight == 0) set_ref(r, 0);
  napi_value out; napi_create_uint32(env, (uint32_t)done, &out);
  return out;
}

/* ringReap(ring) -> number of completions copied into the completions array (no JS callback). */
static napi_value ring_reap(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, NULL, "ringReap(ring)"); return NULL; }
  ring_t *r = get_ring(env, argv[0]); if (!r) return NULL;
  size_t done = drain_cq(r);
  if (r->inflight == 0) set_ref(r, 0);
  napi_value out; napi_create_uint32(env, (uint32_t)done, &out);
  return out;
}

/* ringClose(ring): stop polling, unmap, close. Deferred to the end of a reap in progress. */
static napi_value ring_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ring_t *r = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || !r) { napi_throw_type_error(env, NULL, "not a ring"); return NULL; }
  if (r->closed || r->close_pending) return NULL;
  if (r->in_reap) r->close_pending = 1;
  else do_close(r);
  return NULL;
}

/* alignmentOf(view, align) -> address % align */
static napi_value alignment_of(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_ta = false; if (argc >= 1) napi_is_typedarray(env, argv[0], &is_ta);
  napi_typedarray_type tt; size_t len; void *data; napi_value ab; size_t boff; uint32_t align;
  if (!is_ta || napi_get_typedarray_info(env, argv[0], &tt, &len, &data, &ab, &boff) != napi_ok ||
      argc < 2 || napi_get_value_uint32(env, argv[1], &align) != napi_ok || align == 0) {
    napi_throw_type_error(env, NULL, "alignmentOf(view, align)"); return NULL;
  }
  napi_value out; napi_create_uint32(env, (uint32_t)((uintptr_t)data % align), &out);
  return out;
}

static void free_aligned(napi_env env, void *data, void *hint) {
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, NULL);
  free(data);
}

/* allocAligned(bytes, align) -> zeroed external ArrayBuffer */
static napi_value alloc_aligned(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double bytes; uint32_t align;
  if (argc < 2 || napi_get_value_double(env, argv[0], &bytes) != napi_ok || !(bytes >= 1 && bytes <= (double)(1u << 31)) ||
      napi_get_value_uint32(env, argv[1], &align) != napi_ok || align < sizeof(void *) || (align & (align - 1))) {
    napi_throw_range_error(env, NULL, "allocAligned(bytes in [1, 2^31], align a power of two)"); return NULL;
  }
  size_t n = (size_t)bytes;
  void *p = NULL;
  int e = posix_memalign(&p, align, n);
  if (e) return throw_errno(env, "posix_memalign", e);
  memset(p, 0, n);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, n, free_aligned, (void *)(uintptr_t)n, &ab) != napi_ok) {
    free(p); napi_throw_error(env, NULL, "napi_create_external_arraybuffer failed"); return NULL;
  }
  int64_t adj; napi_adjust_external_memory(env, (int64_t)n, &adj);
  return ab;
}

/* The one argument `bytes` in [1, 2^31] of an allocator (0, a RangeError thrown naming `usage`, when not). */
static size_t alloc_bytes_arg(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1; napi_value argv[1];
  double bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_double(env, argv[0], &bytes) != napi_ok || !(bytes >= 1 && bytes <= (double)(1u << 31))) {
    napi_throw_range_error(env, NULL, usage); return 0;
  }
  return (size_t)bytes;
}

/* An allocTable mapping's length rides in the finaliser's hint. */
static void free_table(napi_env env, void *data, void *hint) {
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, NULL);
  munmap(data, (size_t)(uintptr_t)hint);
}

/*
 * allocTable(bytes) -> an external ArrayBuffer of `bytes` zeros, mapped anonymously and advised
 * for huge pages: its pages are made on first touch, 2 MiB at a time where the kernel can (one
 * fault and one TLB entry where 4 KiB pages took 512 of each). For large tables probed at random
 * (the engine's write epochs): a probe that missed the TLB walked the page tables too, and each
 * first touch of a 4 KiB page costs 7-15 us of CPU on this VM.
 */
static napi_value alloc_table(napi_env env, napi_callback_info info) {
  const size_t n = alloc_bytes_arg(env, info, "allocTable(bytes in [1, 2^31])");
  if (n == 0) return NULL;
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", errno);
#ifdef MADV_HUGEPAGE
  (void)madvise(p, n, MADV_HUGEPAGE); /* (advice only: refused, the table still works on 4 KiB pages) */
#endif
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, n, free_table, (void *)(uintptr_t)n, &ab) != napi_ok) {
    munmap(p, n); napi_throw_error(env, NULL, "napi_create_external_arraybuffer failed"); return NULL;
  }
  int64_t adj; napi_adjust_external_memory(env, (int64_t)n, &adj);
  return ab;
}

/*
 * Recycled output buffers: large read results handed to callers (`allocRecycled`). A buffer the
 * GC frees goes back to a bounded free list with its pages still mapped, and the next output of
 * the same size class takes it: a new 1 MiB buffer straight from malloc is fresh memory (glibc
 * maps it, or trims its heap after the GC frees a batch), and its first touch costs a page fault
 * per 4 KiB page (7-15 us of CPU each on this VM: 2-4 ms per MiB), where the read itself costs
 * ~0.2 ms. The list is shared by every thread that loads the addon (workers), under a mutex.
 */
/** Sizes are rounded up to this (a class per multiple), so near sizes share buffers. */
#define RECYCLE_GRAIN_BYTES (64u << 10)
/* The capacity a buffer of `n` bytes takes on the free list (whole grains). */
static inline size_t grain_cap(size_t n) { return (n + RECYCLE_GRAIN_BYTES - 1) / RECYCLE_GRAIN_BYTES * RECYCLE_GRAIN_BYTES; }
/**
 * Most bytes kept on the free list; a buffer freed past it goes back to malloc. It must hold what
 * one GC frees at once: V8 collects once external memory has grown by about 64 MiB, so a reader
 * dropping 1 MiB results frees them in batches of that size. Measured (1 MiB outputs, 8 live,
 * 256 per round): 32 MiB served none from the list (3.3-3.7 ms CPU per MiB), 64 MiB most (0.5-0.7,
 * 16 faults per MiB), 128 MiB all but a few (0.16-0.30, 0-5 faults). The cost: a process that
 * read large results keeps up to this much mapped after it stops.
 */
#define RECYCLE_MAX_BYTES ((size_t)128 << 20)
/** Most buffers kept on the free list. */
#define RECYCLE_MAX_ENTRIES 512
static pthread_mutex_t recycle_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { void *p; size_t cap; } recycle_list[RECYCLE_MAX_ENTRIES];
static size_t recycle_n, recycle_bytes;
static uint64_t recycle_hits, recycle_misses, recycle_freed;
/*
 * Whether each output also allocates a 1-byte ArrayBuffer through V8 (alloc_recycled says why):
 * CAIRN_OUTPUT_SCAVENGE=0 turns it off. 1 MiB EC_4P2G1 reads without `into`, 8 in flight, 160 MiB
 * heap, load 11-18: 1.44-2.03 ms of CPU per MiB (most of it V8's marking threads) with 4-6 full
 * collections per 256 MiB, against 0.12-0.34 ms with 10-12 scavenges and no full collection
 * (reads into a reused buffer: 0.07-0.15 ms).
 */
static int recycle_poke = -1;
/*
 * Output bytes between two such 1-byte allocations (per environment). V8 collects its young
 * generation when that check finds two semi-spaces' worth (32 MiB here) of young ArrayBuffers. Made
 * at every output, it collected every ~22 outputs of 1 MiB (32 MiB less those still in flight),
 * about three reads' time at 8 in flight: an output still held at two collections (a read that
 * waited on a page fault or a full collection's pause) is promoted, and then only a full
 * collection frees it. Every 64 MiB, a collection comes every ~64 outputs (fewer, and fewer
 * promoted). Measured (1 MiB EC reads without `into`, 8 in flight): the io bench's new-buffer row
 * 8.71, 9.94, 9.21, 8.82 GB/s against 7.72, 7.98, 7.82, 6.33 (four alternating pairs); it does not
 * end the runs of full collections bench/output-gc-probe.ts counts (5 of 12 runs either way). The
 * cost: up to 64 MiB more of dropped outputs wait for their collection (within the free list's
 * bound). CAIRN_OUTPUT_POKE_MIB=N: every N MiB (0: every output).
 */
#define POKE_EVERY_BYTES ((int64_t)64 << 20)
static int64_t poke_every = -1;
/*
 * Outputs kept out of V8's external-memory total (alloc_recycled says why), at most this many bytes
 * of them outstanding at once (handed out and not yet released): past it an output counts as any
 * ArrayBuffer does, so results a reader holds and then drops in bulk still drive full collections.
 * It bounds what V8 may leave uncollected without knowing (the free list's own bound, RECYCLE_MAX_BYTES).
 * CAIRN_OUTPUT_HIDE=0: none kept out.
 */
#define HIDE_MAX_BYTES ((size_t)128 << 20)
static size_t hidden_bytes;
static int recycle_hide = -1;
/*
 * Outputs V8 frees while kept out lower its total for good (it took their bytes out twice), and the
 * baseline it measures growth from follows that down: meanwhile growth of other external memory
 * (Buffers promoted and then dropped, say) would go unseen. So the total as it would be without
 * that drift is watched: once it is this much above its lowest since the last look, that growth
 * (no more) is given back to V8, which then sees it and collects as it would have.
 * Why only the growth: the drift is every hidden output freed since the last give-back, gigabytes
 * after a few seconds of reads (18-24 GB measured at once), and V8 measures a rise from the
 * baseline that followed it down: the whole drift at once was a rise past its hard limit (half the
 * old generation's maximum), a full collection that shrinks the heap to its minimum, and full
 * collections every ~100 ms after it. Why 256 MiB: the total without drift dips by the outputs V8
 * has freed whose release has not run yet (up to HIDE_MAX_BYTES), the lowest point follows the dip,
 * and the rise back from it is no growth: each give-back past the bound starts a full collection.
 */
#define HIDE_UNMASK_BYTES ((int64_t)256 << 20)
/* Per environment (each worker's isolate has its own total); never freed, being tiny (an
   environment's finalizers may run after its instance data's). */
typedef struct { int64_t drift, low; int seen; int64_t poke_since; } output_env;

static output_env *output_env_of(napi_env env) {
  output_env *o = NULL;
  if (napi_get_instance_data(env, (void **)&o) != napi_ok) return NULL;
  if (o == NULL) {
    o = calloc(1, sizeof *o);
    if (o == NULL) return NULL;
    if (napi_set_instance_data(env, o, NULL, NULL) != napi_ok) { free(o); return NULL; }
  }
  return o;
}

/* Before an output is handed out: give the drift back when the total without it grew past HIDE_UNMASK_BYTES. */
static void drift_check(napi_env env, output_env *o) {
  int64_t total;
  if (napi_adjust_external_memory(env, 0, &total) != napi_ok) return;
  int64_t drift = __atomic_load_n(&o->drift, __ATOMIC_RELAXED);
  int64_t undrifted = total + drift;
  if (!o->seen || undrifted < o->low) { o->low = undrifted; o->seen = 1; return; }
  int64_t grown = undrifted - o->low;
  if (grown <= HIDE_UNMASK_BYTES) return;
  int64_t back = grown < drift ? grown : drift;
  if (back > 0) napi_adjust_external_memory(env, back, &total);
  __atomic_sub_fetch(&o->drift, back, __ATOMIC_RELAXED); o->low = undrifted;
}

/*
 * A freed output's bytes back to the free list (else to malloc), from any thread; `hidden`: it was
 * kept out of V8's total, and its environment's drift (`o`) grows by its length (not given back to
 * V8's total: see alloc_recycled).
 */
static void give_back(void *data, size_t n, int hidden, output_env *o) {
  size_t cap = grain_cap(n);
  pthread_mutex_lock(&recycle_mu);
  recycle_freed++;
  if (hidden) hidden_bytes -= cap;
  if (recycle_n < RECYCLE_MAX_ENTRIES && recycle_bytes + cap <= RECYCLE_MAX_BYTES) {
    recycle_list[recycle_n].p = data; recycle_list[recycle_n].cap = cap;
    recycle_n++; recycle_bytes += cap; data = NULL;
  }
  pthread_mutex_unlock(&recycle_mu);
  free(data);
  if (hidden && o) __atomic_add_fetch(&o->drift, (int64_t)n, __ATOMIC_RELAXED);
}

/* The finalize hint of an N-API output: its length, times two, plus one when it is kept out of V8's total. */
static void recycle_release(napi_env env, void *data, void *hint) {
  size_t n = (size_t)(uintptr_t)hint >> 1;
  int hidden = (int)((uintptr_t)hint & 1);
  give_back(data, n, hidden, hidden ? output_env_of(env) : NULL);
}

/*
 * Outputs are V8 backing stores with a deleter (native/output-v8.cc), not N-API external
 * ArrayBuffers, so that a result can move to a new ArrayBuffer when its read completes
 * (`adoptOutput`). Why that matters: V8 11's full collection promotes every live young object to
 * the old generation, and the reads in flight hold their outputs; an output promoted there is freed
 * only by the next full collection, however soon its reader drops it. A reader dropping 1 MiB
 * results then fell, in 2-7 of 16 runs (bench/output-gc-probe.ts), into a loop: promoted outputs
 * held past the hidden bound count in V8's total, which starts the next full collection, which
 * promotes the outputs then in flight, while the free list runs dry and fresh outputs page-fault
 * (3-5 GB/s against 9-12, a full collection every ~40 ms, for as long as the reads ran). Adopted at
 * completion, the buffer a full collection promoted is an empty shell, and the reader's is young:
 * 0 of 56 runs fell in (3 of 16 without, in the same hour). An N-API external ArrayBuffer cannot
 * move: its free callback hangs on a weak handle to the first one. CAIRN_OUTPUT_V8=0 makes N-API outputs (and no adoption).
 */
static int recycle_v8 = -1;
static void read_output_v8(void) { if (recycle_v8 < 0) { const char *e = getenv("CAIRN_OUTPUT_V8"); recycle_v8 = !(e && strcmp(e, "0") == 0); } }
napi_value cairn_v8_output(napi_env env, void *data, size_t length, void *deleter_data);

/* The deleter of a V8 output (any thread): `deleter_data` is its environment's output_env, plus one when kept out of V8's total. */
void cairn_output_freed(void *data, size_t length, void *deleter_data) {
  uintptr_t d = (uintptr_t)deleter_data;
  give_back(data, length, (int)(d & 1), (output_env *)(d & ~(uintptr_t)1));
}

/* allocRecycled(bytes) -> external ArrayBuffer of `bytes` at a page-aligned address, contents unspecified */
static napi_value alloc_recycled(napi_env env, napi_callback_info info) {
  size_t n = alloc_bytes_arg(env, info, "allocRecycled(bytes in [1, 2^31])");
  if (n == 0) return NULL;
  size_t cap = grain_cap(n);
  void *p = NULL;
  if (recycle_hide < 0) { const char *e = getenv("CAIRN_OUTPUT_HIDE"); recycle_hide = !(e && strcmp(e, "0") == 0); }
  if (recycle_poke < 0) { const char *e = getenv("CAIRN_OUTPUT_SCAVENGE"); recycle_poke = !(e && strcmp(e, "0") == 0); }
  if (poke_every < 0) { const char *e = getenv("CAIRN_OUTPUT_POKE_MIB"); int mib = e && *e ? atoi(e) : -1; poke_every = mib >= 0 && mib <= 4096 ? (int64_t)mib << 20 : POKE_EVERY_BYTES; }
  output_env *st = recycle_hide || recycle_poke ? output_env_of(env) : NULL; /* (napi calls outside the lock) */
  output_env *oe = recycle_hide ? st : NULL;
  pthread_mutex_lock(&recycle_mu);
  for (size_t i = recycle_n; i-- > 0;) {
    if (recycle_list[i].cap != cap) continue;
    p = recycle_list[i].p;
    recycle_list[i] = recycle_list[--recycle_n];
    recycle_bytes -= cap;
    break;
  }
  if (p) recycle_hits++; else recycle_misses++;
  int hide = oe != NULL && hidden_bytes + cap <= HIDE_MAX_BYTES;
  if (hide) hidden_bytes += cap;
  pthread_mutex_unlock(&recycle_mu);
  if (oe) drift_check(env, oe);
  if (!p) {
    int e = posix_memalign(&p, 4096, cap);
    if (e) return throw_errno(env, "posix_memalign", e);
  }
  read_output_v8();
  napi_value ab = NULL;
  if (recycle_v8) ab = cairn_v8_output(env, p, n, (void *)((uintptr_t)oe | (uintptr_t)(hide && oe)));
  else if (napi_create_external_arraybuffer(env, p, n, recycle_release, (void *)(uintptr_t)(n << 1 | (size_t)hide), &ab) != napi_ok) ab = NULL;
  if (ab == NULL) {
    if (hide) { pthread_mutex_lock(&recycle_mu); hidden_bytes -= cap; pthread_mutex_unlock(&recycle_mu); }
    free(p); napi_throw_error(env, NULL, "allocRecycled: the ArrayBuffer could not be made"); return NULL;
  }
  /* V8 counts every ArrayBuffer's bytes in its external-memory total, and V8 11 (Node 20) adds what
     that total grew by since the last full collection to the old generation's size when it decides
     to start one (Heap::OldGenerationSpaceAvailable). Outputs read and dropped are freed by
     scavenges in batches of 32 MiB (below), so the total rises by ~32 MiB between two of them. A
     full collection made while little old-generation memory is being allocated (reads into reused
     buffers, an idle stretch) sets the old generation's limit only ~8-16 MiB above its size; that
     rise then starts the next full collection within a few outputs, whose limit is as tight again:
     a full collection every ~20 ms (16-29 per 800 MiB read, ~1 ms of CPU per MiB against 0.25),
     until one happens to set a wider limit. Taking an output's bytes back out of the total here
     keeps outputs from raising it. Its release does not add them back: V8 takes them out again when
     it frees the buffer, which only lowers the total (the baseline follows it down; adding them back
     after that is the same rise again: measured, as many full collections as counting them). That
     drift would hide other external growth meanwhile: drift_check gives it back when there is some.
     Scavenges are unaffected: V8 triggers them from its young ArrayBuffers' own byte count, which
     still has every output. */
  if (hide) { int64_t adj; napi_adjust_external_memory(env, -(int64_t)n, &adj); }
  int due = recycle_poke; /* (every output when the environment's state is not to be had) */
  if (due && st != NULL) { st->poke_since += (int64_t)n; due = st->poke_since >= poke_every; if (due) st->poke_since = 0; }
  if (due) {
    /* A backing store V8 allocates itself first checks its young ArrayBuffers: holding two
       semi-spaces' worth (32 MiB here) it scavenges, which frees the dropped young ones (and brings
       them back to this list). This external buffer skips that check, so outputs read and dropped
       were only freed once they grew V8's external count by 64 MiB: a full collection, marking the
       whole heap, each time. A 1-byte one runs the check (every POKE_EVERY_BYTES of outputs). */
    napi_value poke;
    napi_create_arraybuffer(env, 1, NULL, &poke);
  }
  return ab;
}

napi_value cairn_v8_adopt(napi_env env, napi_value value);
/*
 * adoptOutput(arrayBuffer) -> a new ArrayBuffer over the bytes of an output of allocRecycled, that
 * one detached; undefined when outputs are N-API ones (CAIRN_OUTPUT_V8=0) or it cannot be moved.
 * Only for outputs of allocRecycled whose every other view is done with (recycle_v8 says why).
 */
static napi_value adopt_output(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  read_output_v8();
  napi_value r = argc >= 1 && recycle_v8 ? cairn_v8_adopt(env, argv[0]) : NULL;
  if (r == NULL) napi_get_undefined(env, &r);
  return r;
}

/*
 * recycleStats() -> [buffers on the free list, their bytes, allocations served from it, allocations
 * that were not, bytes of outputs kept out of V8's total now (hidden_bytes), this environment's drift,
 * outputs freed by the GC so far]
 */
static napi_value recycle_stats(napi_env env, napi_callback_info info) {
  output_env *o = output_env_of(env);
  pthread_mutex_lock(&recycle_mu);
  double v[7] = { (double)recycle_n, (double)recycle_bytes, (double)recycle_hits, (double)recycle_misses, (double)hidden_bytes, o ? (double)__atomic_load_n(&o->drift, __ATOMIC_RELAXED) : 0, (double)recycle_freed };
  pthread_mutex_unlock(&recycle_mu);
  napi_value out; napi_create_array_with_length(env, 7, &out);
  for (uint32_t i = 0; i < 7; i++) { napi_value x; napi_create_double(env, v[i], &x); napi_set_element(env, out, i, x); }
  return out;
}

/*
 * fallocate(fd, offset, length) -> 0 or an errno: reserves the file's blocks for [offset, offset+length)
 * (extending it) without writing them, so a mapped file grows with no page of zeros through the
 * page cache and a full filesystem still shows here (ENOSPC), never as SIGBUS at a later store.
 */
static napi_value fs_fallocate(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1; double off = -1, len = -1;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_double(env, argv[1], &off) != napi_ok ||
      napi_get_value_double(env, argv[2], &len) != napi_ok || fd < 0 || !(off >= 0) || !(len > 0) || off + len > 9007199254740991.0) {
    napi_throw_type_error(env, NULL, "fallocate(fd, offset, length): fd >= 0, offset >= 0, length > 0");
    return NULL;
  }
  int e = 0;
  while (fallocate(fd, 0, (off_t)off, (off_t)len) != 0) { e = errno; if (e != EINTR) break; e = 0; }
  napi_value out; napi_create_int32(env, e, &out);
  return out;
}

/* 16-byte records compared as unsigned bytes (memcmp: big-endian ids sort numerically) */
static int cmp_record16(const void *a, const void *b) { return memcmp(a, b, 16); }

/* Below this many records `qsort` sorts them; from it, a radix sort does (below). */
#define RADIX_MIN_RECORDS 256

/*
 * Sort `n` 16-byte records ascending by their bytes: an LSD radix sort, one stable counting pass
 * per byte from the last, a byte every record holds alike skipped (an id's high bytes, its object
 * class, mostly are). qsort with a memcmp comparator took ~17 ms for the ~90k ids of a plain
 * pool's checkpoint (a call per comparison). `tmp`: room for n records.
 */
static void radix_sort_records16(unsigned char *r, unsigned char *tmp, size_t n) {
  unsigned char *src = r, *dst = tmp;
  size_t count[256];
  for (int b = 15; b >= 0; b--) {
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) count[src[16 * i + (size_t)b]]++;
    if (count[src[b]] == n) continue; /* one digit for all: this pass would move nothing */
    size_t sum = 0;
    for (int k = 0; k < 256; k++) { size_t c = count[k]; count[k] = sum; sum += c; }
    for (size_t i = 0; i < n; i++) memcpy(dst + 16 * count[src[16 * i + (size_t)b]]++, src + 16 * i, 16);
    unsigned char *t = src; src = dst; dst = t;
  }
  if (src != r) memcpy(r, src, 16 * n);
}

/*
 * sortIdRecords(view): sort the 16-byte records of `view` in place, ascending by their bytes, and
 * move each distinct record once to the front; returns how many there are. A checkpoint sorts the
 * ids it folds into the object registry (~23k a time): JavaScript runs that code cold every time.
 */
static napi_value sort_id_records(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_ta = false;
  napi_typedarray_type type; size_t length = 0; void *data = NULL; napi_value ab; size_t off = 0;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &off) != napi_ok || type != napi_uint8_array || length % 16 != 0) {
    napi_throw_type_error(env, NULL, "sortIdRecords(view): a Uint8Array of whole 16-byte records");
    return NULL;
  }
  size_t n = length / 16, m = 0;
  unsigned char *r = (unsigned char *)data;
  unsigned char *tmp = n >= RADIX_MIN_RECORDS ? (unsigned char *)malloc(16 * n) : NULL;
  if (tmp != NULL) { radix_sort_records16(r, tmp, n); free(tmp); }
  else if (n > 1) qsort(r, n, 16, cmp_record16); /* (few records, or no memory for the radix sort's copy) */
  for (size_t i = 0; i < n; i++) {
    if (m > 0 && memcmp(r + 16 * (m - 1), r + 16 * i, 16) == 0) continue;
    if (m != i) memcpy(r + 16 * m, r + 16 * i, 16);
    m++;
  }
  napi_value out; napi_create_double(env, (double)m, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "ringCreate", NULL, ring_create, NULL, NULL, NULL, napi_default, NULL },
    { "ringPrepRw", NULL, ring_prep_rw, NULL, NULL, NULL, napi_default, NULL },
    { "ringPrepFsync", NULL, ring_prep_fsync, NULL, NULL, NULL, napi_default, NULL },
    { "ringSubmit", NULL, ring_submit, NULL, NULL, NULL, napi_default, NULL },
    { "ringReap", NULL, ring_reap, NULL, NULL, NULL, napi_default, NULL },
    { "ringClose", NULL, ring_close, NULL, NULL, NULL, napi_default, NULL },
    { "alignmentOf", NULL, alignment_of, NULL, NULL, NULL, napi_default, NULL },
    { "allocAligned", NULL, alloc_aligned, NULL, NULL, NULL, napi_default, NULL },
    { "allocTable", NULL, alloc_table, NULL, NULL, NULL, napi_default, NULL },
    { "allocRecycled", NULL, alloc_recycled, NULL, NULL, NULL, napi_default, NULL },
    { "adoptOutput", NULL, adopt_output, NULL, NULL, NULL, napi_default, NULL },
    { "recycleStats", NULL, recycle_stats, NULL, NULL, NULL, napi_default, NULL },
    { "fallocate", NULL, fs_fallocate, NULL, NULL, NULL, napi_default, NULL },
    { "sortIdRecords", NULL, sort_id_records, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  /* sqeFlags: true — ringPrepRw / ringPrepFsync take the SQE flags argument (IOSQE_IO_LINK); an addon
     built before ignores it, so JavaScript links requests only where this says so */
  napi_value yes;
  if (napi_get_boolean(env, true, &yes) != napi_ok || napi_set_named_property(env, exports, "sqeFlags", yes) != napi_ok) return NULL;
  if (hashio_init(env, exports) != napi_ok) return NULL;
  if (gfni_init(env, exports) != napi_ok) return NULL;
  if (syncer_init(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
