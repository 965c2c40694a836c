/**
 * Pipelined durable group commit (journal format 6): with 32 commits in flight the journal is
 * written in groups of about GROUP_SPLIT_INTENTS INTENTs, several of them syncing at once (each
 * while the others' commits run); still no commit is acknowledged before a sync issued after the
 * write of its INTENT completed, and every acknowledged value is there after a reopen.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { tmpDir, text } from '../helpers/tmp.js';
import { Pool } from '../../src/pool/pool.js';
import { Journal, JournalType, JOURNAL_SYNC_DEPTH } from '../../src/container/journal.js';
import { GROUP_SPLIT_INTENTS } from '../../src/container/storage.js';

const t = suite('journal pipeline');
const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20 };
const IN_FLIGHT = 32;
const PUTS = 3000;

t('pipelined groups: about GROUP_SPLIT_INTENTS INTENTs each, several syncs in flight, none acknowledged before a sync covering its INTENT, all there after a reopen', async () => {
  // what the journal is asked: each group's INTENT epochs (writeBatch), then syncs; a sync that
  // completes makes durable every INTENT written before it was issued
  const groups: number[] = [];
  const written: bigint[] = [];
  const synced = new Set<bigint>();
  let syncing = 0, mostSyncing = 0;
  const proto = Journal.prototype as unknown as { writeBatch(recs: Array<{ type: number; epoch: bigint }>): unknown; sync(): Promise<void> };
  const writeBatch = proto.writeBatch, sync = proto.sync;
  proto.writeBatch = function (this: unknown, recs) {
    const intents = recs.filter((r) => r.type === JournalType.Intent).map((r) => r.epoch);
    if (intents.length) groups.push(intents.length);
    written.push(...intents);
    return writeBatch.call(this, recs);
  };
  proto.sync = function (this: unknown) {
    const covered = written.length;
    mostSyncing = Math.max(mostSyncing, ++syncing);
    return sync.call(this).then(() => { syncing--; for (let i = 0; i < covered; i++) synced.add(written[i]!); }, (e: unknown) => { syncing--; throw e; });
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
    assert.is(early, 0, 'every put was acknowledged after a sync issued after its INTENT was written');
    const sorted = [...groups].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    assert.ok(JOURNAL_SYNC_DEPTH > 1, 'pipelined by default');
    assert.ok(median <= GROUP_SPLIT_INTENTS + 1 && median >= 2, `groups hold about GROUP_SPLIT_INTENTS INTENTs (median ${median}, ${groups.length} groups)`);
    assert.ok(mostSyncing > 1 && mostSyncing <= JOURNAL_SYNC_DEPTH, `several syncs in flight, at most JOURNAL_SYNC_DEPTH (${mostSyncing})`);
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
