/** Keyed locks: mutual exclusion per key, shared/exclusive semantics, FIFO, no deadlock in sorted order. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyedMutex, KeyedRwLock } from '../../core/keyed-mutex.js';

const t = suite('keyed-locks');
const tick = () => new Promise((r) => setTimeout(r, 1));

t('KeyedMutex serialises one key and lets other keys run', async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const job = (k: string, name: string) => m.withLocks([k], async () => { log.push(`${name}+`); await tick(); log.push(`${name}-`); });
  await Promise.all([job('a', 'A1'), job('a', 'A2'), job('b', 'B')]);
  assert.ok(log.indexOf('A1-') < log.indexOf('A2+'), log.join(' '));
  assert.ok(log.indexOf('B+') < log.indexOf('A1-'), 'b did not wait for a');
});

t('KeyedRwLock: shared holders overlap, exclusive waits for them and blocks later ones (FIFO)', async () => {
  const l = new KeyedRwLock();
  const log: string[] = [];
  const job = (name: string, ex: boolean) => l.with(ex ? [] : ['o'], ex ? ['o'] : [], async () => { log.push(`${name}+`); await tick(); await tick(); log.push(`${name}-`); });
  await Promise.all([job('S1', false), job('S2', false), job('X', true), job('S3', false)]);
  assert.ok(log.indexOf('S2+') < log.indexOf('S1-'), 'shared holders overlap');
  assert.ok(log.indexOf('X+') > log.indexOf('S1-') && log.indexOf('X+') > log.indexOf('S2-'), 'exclusive waits for shared');
  assert.ok(log.indexOf('S3+') > log.indexOf('X-'), 'later shared waits for the queued exclusive');
});

t('many concurrent lockers over overlapping key sets all finish', async () => {
  const l = new KeyedRwLock();
  let done = 0;
  await Promise.all(Array.from({ length: 200 }, (_, i) => l.with([`k${i % 3}`], [`k${(i + 1) % 3}`].filter(() => i % 5 === 0), async () => { await tick(); done++; })));
  assert.is(done, 200);
});

t('KeyedMutex: a lock taken without waiting (tryAcquire/tryLock) is waited for in order, handed to the oldest waiter, then free', async () => {
  const m = new KeyedMutex();
  assert.ok(m.tryAcquire('k'));
  assert.not.ok(m.tryAcquire('k'), 'held');
  assert.is(m.tryLock('k'), undefined, 'held (handle form)');
  const log: string[] = [];
  const w1 = m.withLocks(['k'], async () => { log.push('w1+'); await tick(); log.push('w1-'); });
  const w2 = m.withLocks(['k'], async () => { log.push('w2+'); });
  await tick();
  assert.equal(log, [], 'waiters wait for the holder');
  m.release('k');
  assert.not.ok(m.tryAcquire('k'), 'handed to the oldest waiter, not free');
  await Promise.all([w1, w2]);
  assert.equal(log, ['w1+', 'w1-', 'w2+']);
  const rel = m.tryLock('k');
  assert.ok(rel, 'free once every waiter has run');
  rel!(); rel!(); // idempotent: the second call must not free a later holder's lock
  assert.ok(m.tryAcquire('k'));
  assert.not.ok(m.tryAcquire('k'));
  m.release('k');
  let code: unknown;
  try { m.release('k'); } catch (e) { code = (e as { code?: string }).code; }
  assert.is(code, 'ASSERTION_FAILED', 'releasing a free key is refused');
});

t('KeyedRwLock: shared counts without waiting, exclusive waits for every one, later shared waits for it; then free again', async () => {
  const l = new KeyedRwLock();
  assert.ok(l.trySharedAcquire('o'));
  const rel = l.tryShared('o');
  assert.ok(rel, 'shared holders overlap');
  const log: string[] = [];
  const x = l.with([], ['o'], async () => { log.push('X+'); await tick(); log.push('X-'); });
  await tick();
  assert.not.ok(l.trySharedAcquire('o'), 'an exclusive waiter is not overtaken');
  const s = l.with(['o'], [], async () => { log.push('S+'); });
  l.releaseShared('o');
  await tick();
  assert.equal(log, [], 'one shared holder is left');
  rel!(); rel!(); // idempotent
  await Promise.all([x, s]);
  assert.equal(log, ['X+', 'X-', 'S+']);
  // a holder granted from the queue releases correctly after the key went back to a plain count
  let releaseA!: () => void;
  const a = l.with(['o'], [], () => new Promise<void>((r) => (releaseA = r)));
  await tick();
  assert.ok(l.trySharedAcquire('o'), 'shared with a queued-then-granted holder');
  l.releaseShared('o');
  releaseA();
  await a;
  let exclusiveRan = false;
  await l.with([], ['o'], async () => { exclusiveRan = true; assert.not.ok(l.trySharedAcquire('o'), 'held exclusively'); });
  assert.ok(exclusiveRan);
  assert.ok(l.trySharedAcquire('o'), 'free at the end');
  l.releaseShared('o');
  let code: unknown;
  try { l.releaseShared('o'); } catch (e) { code = (e as { code?: string }).code; }
  assert.is(code, 'ASSERTION_FAILED', 'releasing a free key is refused');
});

t.run();
