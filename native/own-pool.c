/* An addon's own worker threads: see own-pool.h. */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "own-pool.h"

static void *own_main(void *arg);

/* The pool of the calling thread, if it is a pool's (own_pool_blocking). */
static __thread own_pool_t *tl_pool;

/* Threads of `p` running jobs and not inside own_pool_blocking (under mu). */
static int running(const own_pool_t *p) { return p->threads - p->idle - p->blocking; }

void own_futex_wait(_Atomic uint32_t *w, uint32_t seen) {
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

void own_futex_wake(_Atomic uint32_t *w, int n) {
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * Start a queued job on another thread if the cap leaves room: make one when none is idle, else
 * answer 1: the caller wakes an idle one (`wake_one`) once it has released mu (under mu; none once
 * the pool stops: its teardown joins the threads it counted).
 */
static int start_another(own_pool_t *p) {
  if (p->stop || (p->run_cap > 0 && running(p) >= p->run_cap)) return 0;
  if (p->idle > 0) { atomic_fetch_add(&p->wake, 1); return 1; }
  if (p->threads < OWN_POOL_THREADS_MAX && own_thread_create(&p->tid[p->threads], p->thread_name, own_main, p)) p->threads++;
  return 0;
}

/* After start_another answered 1, with mu released: wake one idle thread. */
static void wake_one(own_pool_t *p) { own_futex_wake(&p->wake, 1); }

void own_pool_blocking(int begin) {
  own_pool_t *p = tl_pool;
  if (p == NULL || p->run_cap <= 0) return;
  int wake = 0;
  pthread_mutex_lock(&p->mu);
  if (begin) { p->blocking++; p->blocked++; if (p->head != NULL) wake = start_another(p); }
  else p->blocking--;
  pthread_mutex_unlock(&p->mu);
  if (wake) wake_one(p);
}

int own_pool_capped(void) { return tl_pool != NULL && tl_pool->run_cap > 0; }

static void *own_main(void *arg) {
  own_pool_t *p = arg;
  tl_pool = p;
  if (p->sched_batch) {
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp); /* (refused: an ordinary thread, as the pool's) */
  }
  /* (Linux: a thread's own priority; raising the nice value needs no privilege) */
  if (p->nice != 0) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    /* (past the cap, as when a thread's blocking work ended while others ran: leave the job to them) */
    while (!p->stop && (p->head == NULL || (p->run_cap > 0 && running(p) > p->run_cap))) {
      /* (the word read under mu: a wake-up decided after this, under mu too, changes it, so the wait returns at once) */
      const uint32_t seen = atomic_load(&p->wake);
      p->idle++;
      pthread_mutex_unlock(&p->mu);
      own_futex_wait(&p->wake, seen);
      pthread_mutex_lock(&p->mu);
      p->idle--;
    }
    if (p->stop) break;
    own_job_t *job = p->head;
    p->head = job->next;
    if (p->head == NULL) p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    p->run(job);
    /* (an unbounded queue never blocks; closing: the environment is going away, nobody to answer) */
    if (napi_call_threadsafe_function(p->tsfn, job, napi_tsfn_blocking) != napi_ok) p->drop(job);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/** A job's answer on the JavaScript thread (env NULL: the function is being torn down). */
static void own_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  own_pool_t *p = context;
  own_job_t *job = data;
  if (env == NULL) { p->drop(job); return; }
  p->done(env, job);
  if (--p->out == 0) napi_unref_threadsafe_function(env, p->tsfn);
}

/** The environment's teardown: the threads stopped (each ends the job it runs) and joined, jobs never run dropped, the function released. */
static void own_cleanup(void *arg) {
  own_pool_t *p = arg;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  atomic_fetch_add(&p->wake, 1);
  pthread_mutex_unlock(&p->mu);
  own_futex_wake(&p->wake, INT_MAX);
  for (int i = 0; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  while (p->head != NULL) { own_job_t *job = p->head; p->head = job->next; p->drop(job); }
  p->tail = NULL; p->threads = 0; p->stop = 0; p->blocking = 0;
  napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
  p->tsfn = NULL; p->env = NULL; p->out = 0;
}

int own_thread_create(pthread_t *tid, const char *name, void *(*fn)(void *), void *arg) {
  /* (made with every signal blocked but the synchronous faults, kept so: signals go to the
   * process's own threads; a SIGBUS in a guarded copy of a mapping must reach its handler here) */
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGBUS); sigdelset(&all, SIGSEGV); sigdelset(&all, SIGFPE); sigdelset(&all, SIGILL);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int made = pthread_create(tid, NULL, fn, arg) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (made && name != NULL) pthread_setname_np(*tid, name); /* (a name too long is refused: the thread keeps `node`) */
  return made;
}

int own_pool_claim(napi_env env, own_pool_t *p) {
  if (p->tsfn == NULL) {
    napi_value name;
    napi_create_string_utf8(env, p->name, NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, p, own_done, &p->tsfn) != napi_ok) { p->tsfn = NULL; return 0; }
    napi_unref_threadsafe_function(env, p->tsfn);
    p->env = env;
    napi_add_env_cleanup_hook(env, own_cleanup, p);
  }
  return p->env == env;
}

int own_pool_queue(napi_env env, own_pool_t *p, own_job_t *job) {
  if (!own_pool_claim(env, p)) return 0;
  pthread_mutex_lock(&p->mu);
  job->next = NULL;
  if (p->tail != NULL) p->tail->next = job; else p->head = job;
  p->tail = job;
  const int wake = start_another(p);
  if (p->threads == 0) { /* (no thread could be made: the caller runs it elsewhere) */
    p->head = p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    return 0;
  }
  pthread_mutex_unlock(&p->mu);
  if (wake) wake_one(p);
  if (p->out++ == 0) napi_ref_threadsafe_function(env, p->tsfn);
  return 1;
}
