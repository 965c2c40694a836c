/**
 * The concurrency primitives of core: the one semaphore (FIFO, bounded waiters, abort, idle), the
 * bounded parallel loop, event waits with deadlines (TIMEOUT, no polling), bounded keyed locks and
 * batchers (OVERLOADED), the swallowed-error counter and the one extent merger.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Semaphore, runBounded } from '../../core/semaphore.js';
import { Notifier } from '../../core/wait.js';
import { KeyedMutex, KeyedRwLock } from '../../core/keyed-mutex.js';
import { Batcher } from '../../core/batcher.js';
import { swallowed, swallow, swallowedCounts } from '../../core/log.js';
import { mergeExtents } from '../../core/extents.js';
import { CairnError } from '../../core/errors.js';

const t = suite('core-concurrency');
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));
const codeOf = async (p: Promise<unknown>) => { try { await p; return 'resolved'; } catch (e) { return (e as CairnError).code; } };

t('Semaphore: at most `limit` holders, FIFO, abort leaves the queue, idle once drained', async () => {
  const s = new Semaphore(2);
  let running = 0, max = 0;
  const order: number[] = [];
  const job = (i: number) => s.with(async () => { running++; max = Math.max(max, running); order.push(i); await tick(); running--; });
  await Promise.all([0, 1, 2, 3, 4, 5].map(job));
  assert.is(max, 2);
  assert.equal(order, [0, 1, 2, 3, 4, 5], 'first come first served');
  assert.ok(s.tryAcquire() && s.tryAcquire());
  assert.not.ok(s.tryAcquire(), 'both slots taken');
  const ac = new AbortController();
  const aborted = s.acquire(ac.signal);
  const later = s.acquire();
  ac.abort();
  assert.is(await codeOf(aborted), 'ABORTED');
  s.release();
  assert.is(await codeOf(later), 'resolved', 'the slot skips the aborted waiter');
  let idle = false;
  const drained = s.idle().then(() => { idle = true; });
  await tick();
  assert.not.ok(idle);
  s.release(); s.release();
  await drained;
  assert.ok(idle);
  assert.throws(() => s.release(), (e: CairnError) => e.code === 'ASSERTION_FAILED', 'a slot released twice is a bug');
});

t('Semaphore: the wait queue is bounded (OVERLOADED)', async () => {
  const s = new Semaphore(1, { maxWaiters: 2, what: 'test' });
  await s.acquire();
  const w1 = s.acquire(), w2 = s.acquire();
  assert.is(await codeOf(s.acquire()), 'OVERLOADED');
  s.release(); await w1; s.release(); await w2; s.release();
});

t('runBounded: bounded concurrency, every item attempted, first error after all settle', async () => {
  let running = 0, max = 0;
  const seen: number[] = [];
  const err = await runBounded([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
    running++; max = Math.max(max, running);
    await tick();
    seen.push(x);
    running--;
    if (x === 2 || x === 5) throw new Error(`bad ${x}`);
  }).then(() => undefined, (e: Error) => e.message);
  assert.is(max, 3);
  assert.equal(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.is(err, 'bad 2');
});

t('Notifier: waits on state changes, not polling; TIMEOUT after the deadline; abortable; bounded', async () => {
  const n = new Notifier(1);
  let state = 0;
  const done = n.until(() => state === 2, { timeoutMs: 5000, what: 'state 2' });
  state = 1; n.notify();
  state = 2; n.notify();
  await done;
  const started = Date.now();
  const e = await n.until(() => false, { timeoutMs: 30, what: 'never', info: { x: 1 } }).catch((err: CairnError) => err);
  assert.is((e as CairnError).code, 'TIMEOUT');
  assert.is((e as CairnError).info?.x, 1);
  assert.ok(Date.now() - started >= 25, 'the deadline is honoured');
  const ac = new AbortController();
  const w = n.until(() => false, { timeoutMs: 5000, what: 'aborted', signal: ac.signal });
  assert.is(await codeOf(n.until(() => false, { timeoutMs: 5000, what: 'second' })), 'OVERLOADED', 'one waiter at most');
  ac.abort();
  assert.is(await codeOf(w), 'ABORTED');
  assert.is(n.waiting, 0);
});

t('KeyedMutex and KeyedRwLock: bounded waiters (OVERLOADED), the lock still works after', async () => {
  const m = new KeyedMutex(1);
  let release!: () => void;
  const held = m.withLocks(['k'], () => new Promise<void>((r) => (release = r)));
  await tick();
  const waiter = m.withLocks(['k'], async () => 'second');
  assert.is(await codeOf(m.withLocks(['k'], async () => 'third')), 'OVERLOADED');
  release();
  await held;
  assert.is(await waiter, 'second');
  const l = new KeyedRwLock(1);
  let releaseX!: () => void;
  const x = l.with([], ['o'], () => new Promise<void>((r) => (releaseX = r)));
  await tick();
  const s1 = l.with(['o'], [], async () => 's1');
  assert.is(await codeOf(l.with(['o'], [], async () => 's2')), 'OVERLOADED');
  releaseX();
  await x;
  assert.is(await s1, 's1');
});

t('Batcher: queue and batches in flight are bounded', async () => {
  let inFlight = 0, max = 0;
  const gates: Array<() => void> = [];
  const b = new Batcher<number, number>(async (xs) => {
    inFlight++; max = Math.max(max, inFlight);
    await new Promise<void>((r) => gates.push(r));
    inFlight--;
    return xs;
  }, { maxBatch: 2, maxInFlight: 2, maxQueued: 4 });
  const ps = [1, 2, 3, 4].map((x) => b.add(x));
  assert.is(await codeOf(b.add(5)), 'OVERLOADED', 'the fifth item finds the queue full');
  await tick();
  assert.is(max, 2);
  const more = [6, 7].map((x) => b.add(x));
  while (gates.length) { gates.shift()!(); await tick(5); }
  assert.equal(await Promise.all([...ps, ...more]), [1, 2, 3, 4, 6, 7]);
  assert.ok(max <= 2, `at most two batches in flight, saw ${max}`);
});

t('swallowed errors are counted per reason; swallow() fits .catch', async () => {
  const before = swallowedCounts()['test.reason'] ?? 0;
  swallowed('test.reason', new Error('x'));
  await Promise.reject(new Error('y')).catch(swallow('test.reason'));
  assert.is(swallowedCounts()['test.reason'], before + 2);
});

t('mergeExtents: sorted, overlapping and adjacent extents merged, input untouched', () => {
  const xs = [{ index: 10, count: 5 }, { index: 0, count: 4 }, { index: 4, count: 2 }, { index: 12, count: 10 }, { index: 30, count: 1 }];
  assert.equal(mergeExtents(xs), [{ index: 0, count: 6 }, { index: 10, count: 12 }, { index: 30, count: 1 }]);
  assert.equal(xs[0], { index: 10, count: 5 });
  assert.throws(() => mergeExtents([{ index: -1, count: 1 }]), (e: CairnError) => e.code === 'ASSERTION_FAILED');
});

t.run();
