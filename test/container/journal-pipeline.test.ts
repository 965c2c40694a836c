/**
 * Durable group commit in two alternating groups (`LocalContainerStorage.pipeline`, forced here
 * with CAIRN_JOURNAL_PIPELINE=2): with 32 commits in flight the journal is written in groups of
 * about half of them, each synced while the other half's commits run; still no commit is
 * acknowledged before the sync that covers its INTENT has completed, and every acknowledged
 * value is there after a reopen.
 */
process.env.CAIRN_JOURNAL_PIPELINE = '2'; // (read when storage.ts loads: before the imports below)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { tmpDir, text } from '../helpers/tmp.js';

const { Pool } = await import('../../src/pool/pool.js');
const { Journal, JournalType } = await import('../../src/container/journal.js');

const t = suite('journal pipeline');
const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20 };
const IN_FLIGHT = 32;
const PUTS = 3000;

t('two alternating groups: groups of about half the commits in flight, none acknowledged before its sync, all there after a reopen', async () => {
  // what the journal is asked: each group's INTENT epochs (writeBatch), then the sync that covers them
  const groups: number[] = [];
  const synced = new Set<bigint>();
  let unsynced: bigint[] = [];
  const proto = Journal.prototype as unknown as { writeBatch(recs: Array<{ type: number; epoch: bigint }>): unknown; sync(): Promise<void> };
  const writeBatch = proto.writeBatch, sync = proto.sync;
  proto.writeBatch = function (this: unknown, recs) {
    const intents = recs.filter((r) => r.type === JournalType.Intent).map((r) => r.epoch);
    if (intents.length) groups.push(intents.length);
    unsynced.push(...intents);
    return writeBatch.call(this, recs);
  };
  proto.sync = function (this: unknown) {
    const covered = unsynced; unsynced = [];
    return sync.call(this).then(() => { for (const e of covered) synced.add(e); });
  };
  const dir = join(tmpDir(), 'pool');
  try {
    const pool = await Pool.create(dir, { ...SHAPE, durable: true });
    const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await c.openTargets();
    let next = 0, early = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PUTS) {
        const i = next++;
        const e = await c.kv(`o${i}`).put('k', `v${i}`);
        if (!synced.has(e)) early++;
      }
    }));
    assert.is(early, 0, 'every put was acknowledged after the sync of the group holding its INTENT');
    const sorted = [...groups].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    assert.ok(median <= IN_FLIGHT / 2 + 1 && median >= 2, `groups hold about half the commits in flight (median ${median} INTENTs, ${groups.length} groups)`);
    assert.ok(groups.length >= PUTS / (IN_FLIGHT / 2 + 1), `as many groups as halves (${groups.length})`);
    await pool.close();
  } finally {
    proto.writeBatch = writeBatch; proto.sync = sync;
  }
  const pool = await Pool.open(dir, { durable: true });
  const c = await pool.openContainer('c');
  for (let i = 0; i < PUTS; i += 7) assert.is(text(await c.kv(`o${i}`).get('k')), `v${i}`, `o${i}`);
  await pool.close();
});

t.run();
