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

t.run();
