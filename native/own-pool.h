/*
 * An addon's own worker threads (`own_pool_queue`), beside the libuv pool: jobs run on threads this
 * pool makes (as jobs find none idle, up to OWN_POOL_THREADS_MAX, kept) and are answered on the
 * JavaScript thread through a thread-safe function. Why: the threads' scheduling can be set without
 * touching libuv's pool, which the application's fs, dns and zlib share: SCHED_BATCH (waking one
 * never preempts the waker) or a lower priority (a nice value: the JavaScript thread, everything's
 * critical path, keeps its core while the threads copy bulk bytes). Only the first environment to
 * claim the pool (`own_pool_claim`, or its first `own_pool_queue`) owns the threads; another (a
 * worker) is refused and takes the libuv pool.
 *
 * A pool with a `run_cap` (the cores, for copy-bound jobs) runs at most that many jobs at once: a job
 * queued while as many run waits for one of them to finish instead of waking an idle thread or
 * making one, and a thread that finishes takes the next job without sleeping. Why: on a VM every
 * wake-up of a sleeping thread is an inter-processor interrupt through the host, and threads beyond
 * the cores only take turns on them (docs/performance.md, session 61). Work that may wait for the
 * device says so (`own_pool_blocking`): while it waits, its thread does not count, so device reads
 * still overlap as many as the pool has threads.
 *
 * Idle threads wait on a futex word, woken by one futex call made after the mutex is released: a
 * condition variable signalled under the mutex woke a thread that then blocked on the mutex the
 * waker still held (a second wake-up at the unlock), and glibc's pthread_cond_signal may itself
 * wait for an earlier waiter to leave, which a SCHED_BATCH thread may take milliseconds to do: the
 * JavaScript thread spent 12% of a rebuild's wall time inside the native call that queues its
 * steps (docs/performance.md, session 66).
 */
#ifndef CAIRN_OWN_POOL_H
#define CAIRN_OWN_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <node_api.h>

#define OWN_POOL_THREADS_MAX 8

/** A job's link: the first member of the user's job struct. */
typedef struct own_job { struct own_job *next; } own_job_t;

typedef struct own_pool {
  /* set by the user (OWN_POOL_INIT) */
  const char *name;                             /* the thread-safe function's resource name */
  const char *thread_name;                      /* its threads' name (at most 15 bytes: /proc/<pid>/task/<tid>/comm, perf, top -H) */
  int sched_batch;                              /* threads run SCHED_BATCH */
  int nice;                                     /* threads' nice value (0: left as made) */
  int run_cap;                                  /* most threads running jobs at once, those inside own_pool_blocking not counted (0: no cap; set before the first job) */
  void (*run)(own_job_t *job);                  /* on a pool thread */
  void (*done)(napi_env env, own_job_t *job);   /* on the JavaScript thread: answer it, free it */
  void (*drop)(own_job_t *job);                 /* free a job nobody will answer (teardown) */
  /* state (mu) */
  pthread_mutex_t mu;
  _Atomic uint32_t wake;                        /* futex word idle threads wait on: bumped (under mu) for every wake-up */
  own_job_t *head, *tail;
  int threads, idle, stop;
  int blocking;                                 /* threads inside own_pool_blocking(1) ... (0) */
  double blocked;                               /* own_pool_blocking(1) calls so far */
  pthread_t tid[OWN_POOL_THREADS_MAX];
  /* JavaScript thread only */
  napi_threadsafe_function tsfn;
  napi_env env;
  uint32_t out;                                 /* jobs queued and not answered yet */
} own_pool_t;

#define OWN_POOL_INIT(NAME, THREAD_NAME, SCHED_BATCH_, NICE, RUN, DONE, DROP) \
  { .name = (NAME), .thread_name = (THREAD_NAME), .sched_batch = (SCHED_BATCH_), .nice = (NICE), .run = (RUN), .done = (DONE), .drop = (DROP), \
    .mu = PTHREAD_MUTEX_INITIALIZER }

/**
 * Make `env` the pool's owner if none is yet (on its JavaScript thread): 1 when `env` owns it, 0 when
 * another environment does or the thread-safe function could not be made.
 */
int own_pool_claim(napi_env env, own_pool_t *p);

/**
 * Queue `job` for the pool's threads (claiming the pool first if no environment has): 1, or 0 when
 * it cannot be (another environment owns them, no function or thread could be made): the caller
 * then runs it on the libuv pool.
 */
int own_pool_queue(napi_env env, own_pool_t *p, own_job_t *job);

/**
 * Called on a pool thread around work that may wait for the device (begin 1, then 0): while inside,
 * the thread does not count against its pool's `run_cap`, so a queued job may start on another
 * thread. No-op on threads of no pool, or of a pool without a cap.
 */
void own_pool_blocking(int begin);

/** Whether the calling thread is a thread of a pool with a `run_cap` (whose blocking work is worth telling it of). */
int own_pool_capped(void);

/**
 * A thread of the addon's named `name` (at most 15 bytes, so profilers and /proc tell the addon's
 * threads apart from Node's, which are all `node`) running fn(arg), made with every signal blocked but the synchronous faults
 * (signals go to the process's own threads; a fault in a guarded copy reaches its handler): 1, or 0
 * when it could not be made. The pool's threads and the file syncers' (syncer.c) are made so.
 */
int own_thread_create(pthread_t *tid, const char *name, void *(*fn)(void *), void *arg);

/** Wait on futex word `w` while it still holds `seen` (returns at once if it changed; spurious returns happen: re-check). */
void own_futex_wait(_Atomic uint32_t *w, uint32_t seen);

/** Wake up to `n` threads waiting on futex word `w` (change the word first, so a waiter about to wait does not). */
void own_futex_wake(_Atomic uint32_t *w, int n);

#endif
