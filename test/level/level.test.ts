/**
 * CairnLevel beyond the compliance suite: binary keys in byte order against a sorted model and
 * against classic-level (LevelDB) fed the same operations, batches committed at one epoch,
 * explicit snapshots as Cairn epochs (pinned against aggregation), sublevels and JSON encodings,
 * reopening a database from the same object, and bad input.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Rng } from '../../core/rng.js';
import { Pool } from '../../src/pool/pool.js';
import { CairnLevel } from '../../src/level/index.js';
import { tmpDir } from '../helpers/tmp.js';

const pool = await Pool.create(join(tmpDir('cairn-level-'), 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 64 << 20 });
const cont = await pool.createContainer('lvl', { oclass: 'EC_2P1G1', cellSize: 4096 });
const t = suite('cairn-level');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t('binary keys iterate in byte order, like LevelDB, in both directions and within ranges', async () => {
  const db = new CairnLevel<Uint8Array, Uint8Array>(cont, { object: 'binary', keyEncoding: 'view', valueEncoding: 'view' });
  const ref = new ClassicLevel<Uint8Array, Uint8Array>(join(tmpDir('cairn-classic-'), 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open(); await ref.open();
  const rng = new Rng(77);
  for (let round = 0; round < 5; round++) {
    const ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }> = [];
    for (let i = 0; i < 40; i++) {
      const key = rng.bytes(rng.int(4)); // includes the empty key and 0x00 / 0xff bytes
      if (rng.chance(0.2)) ops.push({ type: 'del', key }); else ops.push({ type: 'put', key, value: rng.bytes(rng.int(20)) });
    }
    await db.batch(ops); await ref.batch(ops);
  }
  const entries = async (d: { iterator(o: object): AsyncIterable<[Uint8Array, Uint8Array]> }, o: object) => {
    const out: string[] = [];
    for await (const [k, v] of d.iterator(o)) out.push(`${hex(k)}=${hex(v)}`);
    return out;
  };
  assert.ok((await entries(ref, {})).length > 50);
  for (let q = 0; q < 60; q++) {
    const o: Record<string, unknown> = { reverse: rng.chance(0.5) };
    if (rng.chance(0.6)) o[rng.chance(0.5) ? 'gt' : 'gte'] = rng.bytes(rng.int(3));
    if (rng.chance(0.6)) o[rng.chance(0.5) ? 'lt' : 'lte'] = rng.bytes(rng.int(3));
    if (rng.chance(0.4)) o.limit = rng.int(10);
    assert.equal(await entries(db, o), await entries(ref, o), JSON.stringify(o, (_k, v) => (v instanceof Uint8Array ? hex(v) : v)));
  }
  await db.close(); await ref.close();
});

t('a batch is one commit: a snapshot before it sees none of it, after it all of it', async () => {
  const db = new CairnLevel(cont, { object: 'atomic' });
  await db.put('a', '1');
  const before = db.snapshot();
  await db.batch([{ type: 'put', key: 'b', value: '2' }, { type: 'del', key: 'a' }, { type: 'put', key: 'c', value: '3' }]);
  const after = db.snapshot();
  assert.equal(await db.iterator({ snapshot: before }).all(), [['a', '1']]);
  assert.equal(await db.iterator({ snapshot: after }).all(), [['b', '2'], ['c', '3']]);
  assert.is(await db.get('a', { snapshot: before }), '1');
  assert.is(await db.get('a'), undefined);
  assert.equal(await db.getMany(['a', 'b'], { snapshot: before }), ['1', undefined]);
  // An explicit snapshot pins its epoch: aggregation keeps what it sees.
  await db.put('b', 'changed');
  await cont.aggregate();
  assert.is(await db.get('b', { snapshot: after }), '2');
  await before.close(); await after.close();
  await db.close();
});

t('implicit snapshots: an iterator reads the epoch it was created at', async () => {
  const db = new CairnLevel(cont, { object: 'implicit' });
  await db.batch([{ type: 'put', key: 'k1', value: 'v1' }, { type: 'put', key: 'k2', value: 'v2' }]);
  const it = db.iterator();
  await db.del('k1');
  await db.put('k3', 'v3');
  assert.equal(await it.all(), [['k1', 'v1'], ['k2', 'v2']]);
  assert.equal(await db.keys().all(), ['k2', 'k3']);
  const seeker = db.iterator();
  seeker.seek('k3');
  assert.equal(await seeker.next(), ['k3', 'v3']);
  await seeker.close();
  await db.close();
});

t('sublevels and JSON values; the data survives reopening from the same object', async () => {
  const db = new CairnLevel(cont, { object: 'app' });
  const users = db.sublevel<string, { name: string }>('users', { valueEncoding: 'json' });
  await users.put('u1', { name: 'ada' });
  await users.put('u2', { name: 'grace' });
  await db.put('zzz', 'outside');
  assert.equal(await users.values().all(), [{ name: 'ada' }, { name: 'grace' }]);
  await db.close();
  const again = new CairnLevel(cont, { object: 'app' });
  assert.equal(await again.sublevel<string, { name: string }>('users', { valueEncoding: 'json' }).get('u2'), { name: 'grace' });
  await again.close();
  await assert.not.throws(() => new CairnLevel(cont, { object: 'never-opened' }));
  const strict = new CairnLevel(cont, { object: 'never-opened', createIfMissing: false });
  try { await strict.open(); assert.unreachable(); } catch (err) { assert.match((err as { cause?: Error }).cause?.message ?? '', /does not exist/); }
});

t('bad input: no object name, keys longer than a dkey can hold', async () => {
  try { new CairnLevel(cont, {} as never); assert.unreachable(); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
  const db = new CairnLevel(cont, { object: 'limits' });
  await db.put('x'.repeat(4095), 'fits');
  assert.is(await db.get('x'.repeat(4095)), 'fits');
  try { await db.put('x'.repeat(4096), 'too long'); assert.unreachable(); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
  await db.close();
});

t.after(async () => { await pool.close(); });
t.run();
