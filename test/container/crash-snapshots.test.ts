/**
 * Crash consistency of snapshots and rollback: a writer taking and destroying snapshots, rolling
 * back to them and committing transactions between them is killed with SIGKILL at seeded moments;
 * after every reopen, each acknowledged snapshot reads what it read when acknowledged, an
 * acknowledged rollback is in effect, and the operation in flight is wholly in effect or not at
 * all (the objects, the snapshots and what each snapshot reads); a rollback and an aggregation
 * on the reopened container then leave it exactly as the model says.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sweep } from './crash-snapshots-child.js';

const t = suite('crash-snapshots');
const SEED = Number(process.env.CAIRN_CRASH_SEED ?? 20261206);

t('SIGKILL during snapshots, destroys and rollbacks: acknowledged ones hold, the one in flight is all or nothing', async () => {
  const { kinds } = await sweep({ mode: 'snapshots', seed: SEED, rounds: 10, maxDelayMs: 5 });
  console.log('kills landed in:', Object.fromEntries(kinds));
  assert.ok(kinds.size > 1, 'the kills landed in more than one kind of operation');
});

t('SIGKILL inside a rollback, as a seeded k-th target store starts its discard: the rollback is all or nothing', async () => {
  const { kinds } = await sweep({ mode: 'snapshots', seed: SEED + 1, rounds: 5, maxDelayMs: 120_000, steps: 'discard' });
  assert.is(kinds.get('rollback'), 5, 'every kill landed inside a rollback');
});

t('durable pool: SIGKILL inside a rollback, as a seeded k-th target store starts its discard: the rollback is all or nothing', async () => {
  const { kinds } = await sweep({ mode: 'snapshots', seed: SEED + 2, rounds: 3, maxDelayMs: 120_000, steps: 'discard', durable: true });
  assert.is(kinds.get('rollback'), 3, 'every kill landed inside a rollback');
});

t.run();
