/**
 * The public surface issue 16 asks for, at run time, through the package entry (index.ts) on a
 * real embedded pool: typed pool events really fire with the documented arguments, `await using`
 * closes pools and containers, snapshots and commit events survive `JSON.stringify` (epochs as
 * decimal strings), every error class is exported, and the bad inputs the issue lists give
 * CairnErrors with registry codes. (The compile-time side, typed listeners and `await using` in a
 * strict consumer project against the shipped declarations, is in pack.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import * as cairn from '../../index.js';
import { Pool, CairnError, isErrorCode, type PoolEvents, type RebuildStatus } from '../../index.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';

const dir = tmpDir();
const SHAPE = { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 };

const t = suite('public surface');

t('await using closes the pool and the container at the end of the block', async () => {
  const path = join(dir, 'dispose');
  let container: cairn.Container | undefined;
  {
    await using pool = await Pool.create(path, SHAPE);
    await using c = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await c.kv('k').put('a', 'b');
    container = c;
  }
  // both handles are closed: the container refuses use, and the pool opens again in this process
  await rejectsWith(async () => container!.kv('k').get('a'), 'POOL_CLOSED'); // "container c is closed"
  await using again = await Pool.open(path);
  const v = await (await again.openContainer('c')).kv('k').get('a');
  assert.is(Buffer.from(v!).toString(), 'b');
  assert.is(typeof again[Symbol.asyncDispose], 'function');
});

t("typed events fire with their documented arguments: 'map', 'rebuild', 'scrub'", async () => {
  await using pool = await Pool.create(join(dir, 'events'), SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_3G1', redundancyFactor: 1 });
  for (let i = 0; i < 6; i++) await c.kv('k').put(`key${i}`, `value${i}`);
  const maps: number[] = [];
  const rebuilds: RebuildStatus[] = [];
  const scrubs: Array<PoolEvents['scrub'][0]> = [];
  pool.on('map', (version) => maps.push(version));
  pool.on('rebuild', (s) => rebuilds.push({ ...s }));
  pool.on('scrub', (p) => scrubs.push(p));
  const before = pool.query().mapVersion;
  await pool.exclude(1);
  await pool.waitForRebuild();
  assert.ok(maps.length >= 1 && maps[0] === before + 1, `map events ${maps}`);
  assert.ok(maps.every((v) => Number.isInteger(v)));
  assert.ok(rebuilds.length > 0, 'rebuild progress events');
  assert.ok(rebuilds.every((s) => typeof s.state === 'string' && Number.isInteger(s.objectsDone) && Number.isInteger(s.objectsTotal)));
  assert.is(rebuilds[rebuilds.length - 1]!.state, 'idle');
  await pool.scrub();
  assert.ok(scrubs.length > 0, 'scrub progress events');
  const last = scrubs[scrubs.length - 1]!;
  assert.is(last.objectsDone, last.objectsTotal);
  // off() removes a typed listener
  const n = scrubs.length;
  const onScrub = () => { scrubs.push({ objectsDone: -1, objectsTotal: -1 }); };
  pool.on('scrub', onScrub);
  pool.off('scrub', onScrub);
  await pool.scrub();
  assert.not.ok(scrubs.slice(n).some((p) => p.objectsDone === -1));
});

t('snapshots and commit events are JSON-safe: epochs serialise as decimal strings and read back', async () => {
  await using pool = await Pool.create(join(dir, 'json'), SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  const from = c.readEpoch();
  const epoch = await c.kv('k').put('a', '1');
  const snap = await c.snapshot('s');
  const json = JSON.parse(JSON.stringify(snap)) as { name: string; epoch: string };
  assert.equal(json, { name: 's', epoch: snap.epoch.toString() });
  assert.is(typeof snap.epoch, 'bigint', 'the field itself stays a bigint');
  assert.is(BigInt(json.epoch), snap.epoch);
  assert.equal(JSON.parse(JSON.stringify(c.listSnapshots())), [json]);
  assert.equal(JSON.parse(JSON.stringify({ snap })), { snap: json });
  const ac = new AbortController();
  for await (const ev of c.watch({ from, signal: ac.signal })) {
    const j = JSON.parse(JSON.stringify(ev)) as { epoch: string; objects: string[] };
    assert.is(j.epoch, epoch.toString());
    assert.equal(j.objects, [c.kv('k').object.oid.toString()]);
    break;
  }
});

t('every error class is exported from the package entry and carries a registry code', () => {
  const classes = (Object.entries(cairn) as Array<[string, unknown]>)
    .filter((e): e is [string, { prototype: unknown }] => typeof e[1] === 'function' && /Error$/.test(e[0]));
  const names = classes.map(([n]) => n).sort();
  for (const want of ['CairnError', 'InvalidArgumentError', 'AbortedError', 'TimeoutError', 'CorruptionError', 'ObjectError', 'NetError', 'EtcdError', 'VosError', 'DfsError', 'S3Error']) {
    assert.ok(names.includes(want), `${want} is not exported (exported: ${names.join(', ')})`);
  }
  for (const [name, cls] of classes) {
    assert.ok(cls.prototype instanceof CairnError || cls === CairnError, `${name} is not a CairnError`);
  }
});

t('the bad inputs of the issue give CairnErrors with registry codes, never raw fs/Range/Type errors', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  const code = async (f: () => Promise<unknown>) => {
    try { await f(); } catch (err) {
      assert.instance(err, CairnError, `${(err as Error).name}: ${(err as Error).message}`);
      assert.ok(isErrorCode((err as CairnError).code), (err as CairnError).code);
      return (err as CairnError).code;
    }
    return 'resolved';
  };
  assert.is(await code(() => Pool.create(file, SHAPE)), 'INVALID_ARGUMENT'); // was a raw ENOTDIR
  assert.is(await code(() => Pool.create(join(file, 'sub'), SHAPE)), 'INVALID_ARGUMENT');
  await using pool = await Pool.create(join(dir, 'bad'), SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  assert.is(await code(() => c.array('a').read(0, 2 ** 40)), 'VALUE_TOO_LARGE'); // was a RangeError
  assert.is(await code(() => c.array('a').read(-1, 10)), 'INVALID_ARGUMENT');
  assert.is(await code(async () => c.kv(null as never)), 'INVALID_ARGUMENT');
  assert.is(await code(() => c.kv('k').put('x', 42 as never)), 'INVALID_ARGUMENT');
  assert.is(await code(() => pool.createContainer('c', { oclass: 'NO_SUCH_CLASS' })), 'EXISTS');
  assert.is(await code(() => pool.createContainer('d', { oclass: 'NO_SUCH_CLASS' })), 'UNKNOWN_OBJECT_CLASS');
  assert.is(await code(() => Pool.open(join(dir, 'missing'))), 'NOT_FOUND');
});

t.run();
