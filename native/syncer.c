/*
 * A file's fdatasync on a thread of its own that keeps syncing while syncs are asked for
 * (`syncerOpen`, `syncerRequest`): a request made while a sync runs is covered by the next sync,
 * which starts as soon as the running one returns (one fdatasync for every request made meanwhile);
 * the JavaScript thread signals the syncer only when it sleeps. Why: a durable journal's group syncs
 * through io_uring (punted to io-wq workers) completed later, as the JavaScript thread sees them,
 * than through this thread (median 0.18-0.23 against 0.15-0.17 ms), and durable puts are bound by
 * that latency (docs/performance.md, session 48).
 *
 * The syncer syncs a descriptor of its own (a dup of the caller's, closed when it ends), so the
 * caller may close its descriptor at any time. `syncerClose` ends it without waiting: requests
 * already made are still synced and answered, then its thread closes the descriptor and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <node_api.h>
#include "own-pool.h"

typedef struct syncer {
  int fd;                /* the syncer's own descriptor (dup) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  double requested;      /* requests made: generation numbers 1, 2, ... */
  double covered;        /* the newest request a started sync covers */
  double syncs;          /* fdatasyncs run */
  int sleeping, stop;
  int closing;           /* the environment refused a call (torn down): the function is not used again */
  int refs;              /* the thread and the JavaScript handle (freed at 0) */
  napi_threadsafe_function tsfn;
} syncer_t;

typedef struct { double gen; int err; } done_t;

static void syncer_unref_mem(syncer_t *s) {
  pthread_mutex_lock(&s->mu);
  const int left = --s->refs;
  pthread_mutex_unlock(&s->mu);
  if (left > 0) return;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

static void *syncer_main(void *arg) {
  syncer_t *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->requested == s->covered && !s->stop) { s->sleeping = 1; pthread_cond_wait(&s->cv, &s->mu); s->sleeping = 0; }
    if (s->requested == s->covered) break; /* stopped, every request answered */
    const double g = s->covered = s->requested;
    s->syncs++;
    pthread_mutex_unlock(&s->mu);
    const int r = fdatasync(s->fd);
    done_t *d = malloc(sizeof *d);
    if (d && !s->closing) { d->gen = g; d->err = r < 0 ? errno : 0; const napi_status st = napi_call_threadsafe_function(s->tsfn, d, napi_tsfn_blocking); if (st != napi_ok) { free(d); if (st == napi_closing) s->closing = 1; } } else free(d);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  close(s->fd);
  if (!s->closing) napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
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
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  if (s->sleeping) pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void syncer_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  syncer_t *s = data;
  syncer_end(s); /* (a handle dropped unclosed: its thread ends once its requests are synced) */
  syncer_unref_mem(s);
}

/* syncerOpen(fd, cb(gen, errno)): a syncer of the file fd names (undefined when none could be made) */
static napi_value syncer_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2], out, name;
  napi_get_undefined(env, &out);
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) { napi_throw_type_error(env, NULL, "syncerOpen(fd, cb)"); return NULL; }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) { napi_throw_type_error(env, NULL, "syncerOpen: fd must be a descriptor"); return NULL; }
  const int own = dup(fd);
  if (own < 0) return out;
  syncer_t *s = calloc(1, sizeof *s);
  if (!s) { close(own); return out; }
  s->fd = own;
  s->refs = 2;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (napi_create_string_utf8(env, "cairn.syncer", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, syncer_call, &s->tsfn) != napi_ok) {
    close(own); pthread_mutex_destroy(&s->mu); pthread_cond_destroy(&s->cv); free(s); return out;
  }
  napi_unref_threadsafe_function(env, s->tsfn);
  pthread_t tid;
  if (!own_thread_create(&tid, syncer_main, s)) { napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort); close(own); pthread_mutex_destroy(&s->mu); pthread_cond_destroy(&s->cv); free(s); return out; }
  pthread_detach(tid);
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
  pthread_mutex_lock(&s->mu);
  if (s->stop) { pthread_mutex_unlock(&s->mu); napi_throw_error(env, NULL, "syncer closed"); return NULL; }
  const double g = ++s->requested;
  if (s->sleeping) pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
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
  pthread_mutex_lock(&s->mu);
  const double n = s->syncs;
  pthread_mutex_unlock(&s->mu);
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
