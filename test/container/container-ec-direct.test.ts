/**
 * A small EC single value (stored whole: the same piece on data role 0 and the p parity roles)
 * is committed like a replica set's put (container.ts `commitSingleDirect`): its INTENT names what
 * recovery checks on the p + 1 holders (dkey, akey, the piece's hash, the shards), a commit whose
 * DONE is missing is completed when the holders hold the piece and rolled back when they do not,
 * in plain and durable pools; a value too large to be stored whole is planned as before.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Journal, JournalType, type JournalRecord } from '../../src/container/journal.js';
import { EC_WHOLE_SINGLE_MAX_BYTES } from '../../src/io/io.js';
import { COPY_SUFFIX } from '../../core/record-file.js';
import { initXxhash } from '../../core/xxhash.js';
import { tmpDir, text } from '../helpers/tmp.js';

await initXxhash();
const t = suite('container EC direct singles');
const SHAPE = { nodes: 3, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 32 << 20, dataBytes: 64 << 20 };
const BIG = 'x'.repeat(EC_WHOLE_SINGLE_MAX_BYTES + 1);

/** Rewrite both copies of the journal at `path` with `edit` applied to its records. */
function rewriteJournal(path: string, edit: (rs: JournalRecord[]) => JournalRecord[]): JournalRecord[] {
  const { records } = Journal.read(path);
  const kept = edit(records);
  rmSync(path); rmSync(path + COPY_SUFFIX);
  const { journal } = Journal.open(path);
  journal.appendBatch(kept.map((r) => ({ type: r.type, epoch: r.epoch, payload: r.payload })));
  journal.close();
  return records;
}

/** A pool with one container of `oclass`: `k` written 'v1' then 'v2', then a large value, then other objects. */
async function puts(oclass: string, durable: boolean): Promise<{ dir: string; journal: string; e2: bigint; eBig: bigint }> {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, { ...SHAPE, durable });
  const c = await pool.createContainer('c', { oclass });
  const kv = c.kv('obj');
  await kv.put('k', 'v1');
  const e2 = await kv.put('k', 'v2');
  const eBig = await kv.put('big', BIG);
  for (let i = 0; i < 20; i++) await c.kv(`other-${i}`).put('k', `x${i}`);
  const journal = join(dir, 'containers', c.uuid, 'journal');
  await pool.close();
  return { dir, journal, e2, eBig };
}

for (const [oclass, p] of [['EC_2P1G1', 1], ['EC_4P2G1', 2]] as const) {
  for (const durable of [false, true]) {
    const name = `${oclass}${durable ? ', durable' : ''}`;
    t(`${name}: a small put names its p + 1 holders in its INTENT; without DONE it is completed`, async () => {
      const { dir, journal, e2, eBig } = await puts(oclass, durable);
      const before = rewriteJournal(journal, (rs) => rs.filter((r) => !(r.type === JournalType.Done && r.epoch === e2)));
      const intent = before.find((r) => r.type === JournalType.Intent && r.epoch === e2);
      assert.ok(intent, 'the put wrote an INTENT');
      const single = intent!.payload.single as { d: string; a: string; h: string; s: number[][] } | undefined;
      assert.ok(single && single.s.length === p + 1, `the INTENT of a small EC put names what recovery checks on its ${p + 1} holders (${JSON.stringify(single?.s)})`);
      assert.is(new Set(single!.s.map((x) => x[1])).size, p + 1, 'distinct shards');
      const big = before.find((r) => r.type === JournalType.Intent && r.epoch === eBig);
      assert.ok(big && big.payload.single === undefined, 'a value too large to be stored whole is planned (striped)');
      const pool = await Pool.open(dir, { durable });
      const c = await pool.openContainer('c');
      assert.is(text(await c.kv('obj').get('k')), 'v2');
      assert.is(text(await c.kv('obj').get('big')), BIG);
      for (let i = 0; i < 20; i++) assert.is(text(await c.kv(`other-${i}`).get('k')), `x${i}`);
      await pool.close();
      const after = Journal.read(journal).records;
      assert.ok(after.some((r) => r.type === JournalType.Done && r.epoch === e2), 'recovery wrote the missing DONE');
      assert.not.ok(after.some((r) => r.type === JournalType.Abort && r.epoch === e2), 'and no ABORT');
    });

    t(`${name}: a small put without DONE whose holders hold other bytes is rolled back`, async () => {
      const { dir, journal, e2 } = await puts(oclass, durable);
      rewriteJournal(journal, (rs) => rs
        .filter((r) => !(r.type === JournalType.Done && r.epoch === e2))
        .map((r) => (r.type === JournalType.Intent && r.epoch === e2 ? { ...r, payload: { ...r.payload, single: { ...(r.payload.single as object), h: '1234' } } } : r)));
      const pool = await Pool.open(dir, { durable });
      const c = await pool.openContainer('c');
      assert.is(text(await c.kv('obj').get('k')), 'v1', 'the unfinished put is discarded on every holder');
      for (let i = 0; i < 20; i++) assert.is(text(await c.kv(`other-${i}`).get('k')), `x${i}`);
      await pool.close();
      const after = Journal.read(journal).records;
      assert.ok(after.some((r) => r.type === JournalType.Abort && r.epoch === e2), 'recovery recorded the abort');
    });
  }
}

t('small EC puts read back at every epoch, through each holder alone', async () => {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'EC_2P1G1' });
  const epochs: bigint[] = [];
  for (let v = 0; v < 5; v++) epochs.push(await c.kv('obj').put('k', `v${v}`));
  for (let v = 0; v < 5; v++) assert.is(text(await c.kv('obj').get('k', { epoch: epochs[v] })), `v${v}`);
  await pool.close();
});

t.run();
