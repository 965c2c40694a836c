/**
 * Crash consistency of aggregation while snapshots exist: a writer committing transactions,
 * taking and destroying snapshots and aggregating (most of its time) is killed with SIGKILL at
 * seeded moments (a seeded delay into a seeded k-th operation), and at a seeded k-th target
 * store's aggregation; after every reopen the
 * current state and every snapshot read exactly as the model says, and a rollback and an
 * aggregation on the reopened container leave it so again. Durable pools too (their aggregation
 * first checkpoints the redo journal).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sweep } from './crash-snapshots-child.js';

const t = suite('crash-aggregate');
const SEED = Number(process.env.CAIRN_CRASH_SEED ?? 20261206);

t('SIGKILL at a seeded operation of a writer aggregating between commits and snapshots: every snapshot and the current state read as acknowledged', async () => {
  const { kinds } = await sweep({ mode: 'aggregate', seed: SEED + 2, rounds: 6, maxDelayMs: 5 });
  console.log('kills landed in:', Object.fromEntries(kinds));
});

t('SIGKILL as a seeded k-th target store starts its aggregation: every snapshot and the current state read as acknowledged', async () => {
  const { kinds } = await sweep({ mode: 'aggregate', seed: SEED + 3, rounds: 4, maxDelayMs: 120_000, steps: 'aggregate' });
  assert.is(kinds.get('aggregate'), 4, 'every kill landed inside an aggregation');
});

t('durable pool: SIGKILL as a seeded k-th target store starts its aggregation (after its checkpoint)', async () => {
  const { kinds } = await sweep({ mode: 'aggregate', seed: SEED + 4, rounds: 3, maxDelayMs: 120_000, steps: 'aggregate', durable: true });
  assert.is(kinds.get('aggregate'), 3, 'every kill landed inside an aggregation');
});

t.run();
