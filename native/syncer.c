/*
 * A file's fdatasync on a thread of its own that keeps syncing while syncs are asked for
 * (`syncerOpen`, `syncerRequest`): a request made while a sync runs is covered by the next sync,
 * which starts as soon as the running one returns (one fdatasync for every request made meanwhile);
 * the JavaScript thread signals the syncer only when it sleeps. Why: a durable journal's group syncs
 * through io_uring (punted to io-wq workers) completed later, as the JavaScript thread sees them,
 * than through this thread (median 0.18-0.23 against 0.15-0.17 ms), and durable puts are bound by
 * that latency (docs/performance.md, session 48).
 *
 * Given several descriptors of the file, it runs a thread on each: a request made while a thread
 * syncs starts a sync on a free one at once (session 49: two fdatasyncs of one file side
 * by side complete sooner here than one after the other). Each thread syncs a descriptor of its
 * own (a dup of the caller's, closed when it ends), so the caller may close its descriptors at any
 * time. `syncerClose` ends it without waiting: requests
 * already made are still synced and answered, then its threads close their descriptors and exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <node_api.h>
#include "own-pool.h"

/* Most threads a syncer runs (one sync each at a time). */
#define SYNCER_MAX_THREADS 4

/*
 * Requests take no lock (`syncerRequest`): the JavaScript thread adds to `requested`, bumps the
 * futex word `wake` and, only when a thread sleeps, wakes one with one futex call. A mutex and a
 * condition variable made a request wake a sleeping thread twice: the signal woke it, it blocked
 * on the mutex the signaller still held, and the unlock woke it again, each wake-up preempting
 * the JavaScript thread on this 2-core machine kind; glibc's pthread_cond_signal may also wait
 * for an earlier waiter to leave (measured in a durable put phase: 558 preemptions after the
 * unlock's wake and 126 sleeps inside the signal per 40k puts, together ~90 ms of a 770 ms phase;
 * docs/performance.md, session 66). A thread claims every request up to `requested` by moving
 * `covered` there (compare-and-swap), so each request is covered by exactly one started sync.
 * The mutex guards only the threads' start and end.
 */
typedef struct syncer {
  int fds[SYNCER_MAX_THREADS]; /* each thread's own descriptor, a file description of its own (see syncerOpen) */
  int threads;           /* threads started */
  int next_slot;         /* the next thread's slot in fds (taken under mu) */
  pthread_mutex_t mu;
  _Atomic uint64_t requested; /* requests made: generation numbers 1, 2, ... */
  _Atomic uint64_t covered;   /* the newest request a started sync covers */
  _Atomic uint64_t syncs;     /* fdatasyncs run */
  _Atomic uint32_t wake;      /* futex word: bumped by every request and by the end */
  _Atomic int sleeping;       /* threads about to wait, or waiting, on `wake` */
  _Atomic int stop;
  int closing;           /* the environment refused a call (torn down): the function is not used again */
  int refs;              /* the threads and the JavaScript handle (freed at 0; under mu) */
  int released;          /* threads that ended (the last releases the function; under mu) */
  napi_threadsafe_function tsfn;
} syncer_t;

typedef struct { double gen; int err; } done_t;

static void syncer_unref_mem(syncer_t *s) {
  pthread_mutex_lock(&s->mu);
  const int left = --s->refs;
  pthread_mutex_unlock(&s->mu);
  if (left > 0) return;
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void *syncer_main(void *arg) {
  syncer_t *s = arg;
  pthread_mutex_lock(&s->mu);
  const int fd = s->fds[s->next_slot++];
  pthread_mutex_unlock(&s->mu);
  for (;;) {
    uint64_t c = atomic_load(&s->covered);
    const uint64_t r = atomic_load(&s->requested);
    if (r != c) {
      if (!atomic_compare_exchange_strong(&s->covered, &c, r)) continue; /* (another thread claimed them) */
      atomic_fetch_add(&s->syncs, 1);
      const int rc = fdatasync(fd);
      done_t *d = malloc(sizeof *d);
      if (d && !s->closing) { d->gen = (double)r; d->err = rc < 0 ? errno : 0; const napi_status st = napi_call_threadsafe_function(s->tsfn, d, napi_tsfn_blocking); if (st != napi_ok) { free(d); if (st == napi_closing) s->closing = 1; } } else free(d);
      continue;
    }
    if (atomic_load(&s->stop)) break; /* stopped, every request covered by a sync (this thread's or another's) */
    const uint32_t seen = atomic_load(&s->wake);
    atomic_fetch_add(&s->sleeping, 1);
    /* (announced before the check: a request made after it sees `sleeping` and wakes; one made before it is seen here) */
    if (atomic_load(&s->requested) == atomic_load(&s->covered) && !atomic_load(&s->stop)) own_futex_wait(&s->wake, seen);
    atomic_fetch_sub(&s->sleeping, 1);
  }
  pthread_mutex_lock(&s->mu);
  const int last = ++s->released == s->threads;
  pthread_mutex_unlock(&s->mu);
  close(fd);
  /* (the last thread to end: every sync asked for has been answered or is queued on the function) */
  if (last && !s->closing) napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  syncer_unref_mem(s);
  return NULL;
}

static void syncer_call(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)ctx;
  done_t *d = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[2], undef;
    if (napi_create_double(env, d->gen, &argv[0]) == napi_ok && napi_create_int32(env, d->err, &argv[1]) == napi_ok && napi_get_undefined(env, &undef) == napi_ok)
      napi_call_function(env, undef, cb, 2, argv, NULL);
  }
  free(d);
}

static void syncer_end(syncer_t *s) {
  atomic_store(&s->stop, 1);
  atomic_fetch_add(&s->wake, 1);
  own_futex_wake(&s->wake, INT_MAX);
}

static void syncer_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  syncer_t *s = data;
  syncer_end(s); /* (a handle dropped unclosed: its thread ends once its requests are synced) */
  syncer_unref_mem(s);
}

/*
 * syncerOpen(fds, cb(gen, errno)): a syncer of the file the descriptors in fds name, one thread per
 * descriptor (1 to SYNCER_MAX_THREADS, each its own open file description), or undefined when none
 * could be made. Each thread syncs a dup of its descriptor, and a request made while every thread
 * syncs waits for the first to be free. Why several: two fdatasyncs of one file run side by side
 * complete ~1.5x as many syncs a second as one after another here (the device overlaps their
 * flushes), and a durable journal's cohorts of commits each wait on their own. Each thread's
 * descriptor must be a description of its own: a writeback error is reported once per
 * description, so threads sharing one could each miss an error the other took.
 */
static napi_value syncer_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2], out, name;
  napi_get_undefined(env, &out);
  napi_valuetype t;
  bool isArray = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function ||
      napi_is_array(env, argv[0], &isArray) != napi_ok || !isArray) { napi_throw_type_error(env, NULL, "syncerOpen(fds, cb)"); return NULL; }
  uint32_t len = 0;
  napi_get_array_length(env, argv[0], &len);
  if (len < 1 || len > SYNCER_MAX_THREADS) { napi_throw_range_error(env, NULL, "syncerOpen: 1 to 4 descriptors"); return NULL; }
  int32_t given[SYNCER_MAX_THREADS];
  const int n = (int)len;
  for (int i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, argv[0], (uint32_t)i, &e) != napi_ok || napi_get_value_int32(env, e, &given[i]) != napi_ok || given[i] < 0) { napi_throw_type_error(env, NULL, "syncerOpen: fds must be descriptors"); return NULL; }
  }
  syncer_t *s = calloc(1, sizeof *s);
  if (!s) return out;
  for (int i = 0; i < n; i++) {
    s->fds[i] = dup(given[i]);
    if (s->fds[i] < 0) { for (int j = 0; j < i; j++) close(s->fds[j]); free(s); return out; }
  }
  pthread_mutex_init(&s->mu, NULL);
  if (napi_create_string_utf8(env, "cairn.syncer", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, syncer_call, &s->tsfn) != napi_ok) {
    for (int i = 0; i < n; i++) close(s->fds[i]);
    pthread_mutex_destroy(&s->mu); free(s); return out;
  }
  napi_unref_threadsafe_function(env, s->tsfn);
  s->refs = 1; /* (the JavaScript handle; one more per thread started) */
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < n; i++) {
    pthread_t tid;
    s->refs++; s->threads++;
    if (!own_thread_create(&tid, "cairn-sync", syncer_main, s)) { s->refs--; s->threads--; break; }
    pthread_detach(tid);
  }
  const int started = s->threads;
  pthread_mutex_unlock(&s->mu);
  if (started == 0) { napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort); for (int i = 0; i < n; i++) close(s->fds[i]); pthread_mutex_destroy(&s->mu); free(s); return out; }
  for (int i = started; i < n; i++) close(s->fds[i]); /* (threads that could not be made: their descriptors) */
  if (napi_create_external(env, s, syncer_finalize, NULL, &out) != napi_ok) { syncer_finalize(env, s, NULL); napi_get_undefined(env, &out); }
  return out;
}

static syncer_t *syncer_of(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; void *p = NULL; napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || !p) { napi_throw_type_error(env, NULL, "not a syncer"); return NULL; }
  return p;
}

/*
 * syncerRequest(s): the request's generation number g; the callback gets (h, errno) once a sync
 * that started after every request up to h returned (h >= g answers this one). Throws once closed.
 */
static napi_value syncer_request(napi_env env, napi_callback_info info) {
  syncer_t *s = syncer_of(env, info);
  if (!s) return NULL;
  napi_value out;
  if (atomic_load(&s->stop)) { napi_throw_error(env, NULL, "syncer closed"); return NULL; }
  const double g = (double)(atomic_fetch_add(&s->requested, 1) + 1);
  atomic_fetch_add(&s->wake, 1);
  if (atomic_load(&s->sleeping) > 0) own_futex_wake(&s->wake, 1);
  napi_ref_threadsafe_function(env, s->tsfn); /* (the process waits for the answer) */
  napi_create_double(env, g, &out);
  return out;
}

/* syncerIdle(s): no request waits for its answer (the event loop need not wait for the syncer) */
static napi_value syncer_idle(napi_env env, napi_callback_info info) {
  syncer_t *s = syncer_of(env, info);
  if (!s) return NULL;
  napi_unref_threadsafe_function(env, s->tsfn);
  return NULL;
}

/* syncerSyncs(s): fdatasyncs run so far */
static napi_value syncer_syncs(napi_env env, napi_callback_info info) {
  syncer_t *s = syncer_of(env, info);
  if (!s) return NULL;
  const double n = (double)atomic_load(&s->syncs);
  napi_value out;
  napi_create_double(env, n, &out);
  return out;
}

/* syncerClose(s): no more requests; those made are synced and answered, then the thread ends */
static napi_value syncer_close(napi_env env, napi_callback_info info) {
  syncer_t *s = syncer_of(env, info);
  if (!s) return NULL;
  syncer_end(s);
  return NULL;
}

napi_status syncer_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "syncerOpen", NULL, syncer_open, NULL, NULL, NULL, napi_default, NULL },
    { "syncerRequest", NULL, syncer_request, NULL, NULL, NULL, napi_default, NULL },
    { "syncerIdle", NULL, syncer_idle, NULL, NULL, NULL, napi_default, NULL },
    { "syncerSyncs", NULL, syncer_syncs, NULL, NULL, NULL, napi_default, NULL },
    { "syncerClose", NULL, syncer_close, NULL, NULL, NULL, napi_default, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
