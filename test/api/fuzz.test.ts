/**
 * Bad input through the public API (issues 11, 13, 16): a seeded fuzzer calls every public method
 * of Pool, Container, CairnObject, KeyValue, ArrayObject, Transaction, TxObject, the codec, the
 * pool map and the placement helpers with wrong types and ranges (null, undefined, strings,
 * numbers, NaN, Infinity, -1, 2^53, bigints, functions, huge sizes, objects), mixed with valid
 * arguments so that deeper checks are reached too. Every failure must be a CairnError whose code
 * is in ERROR_CODES (never a raw TypeError / RangeError / fs error), no call may hang, nothing may
 * escape as an unhandled rejection, and afterwards the pool still works and holds no
 * half-created container. Everything runs against a real embedded pool in a temporary directory.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readdirSync, writeFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import {
  Pool, CairnError, ERROR_CODES, isErrorCode, createCodec, PoolMap, createPlacement, jumpConsistentHash, makeObjectId, objectClassOf,
  parseObjectClass, toObjectClass, resolveGroups, dkeyGroup, type Container, type Codec, type Transaction,
} from '../../index.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('api fuzz');
const root = tmpDir('cairn-fuzz-');
/** Calls of the fuzzer (issue 16: ~1,000 or more). */
const CALLS = Number(process.env.CAIRN_FUZZ_CALLS ?? 1500);
/** Longest one call may take before it counts as a hang. */
const CALL_TIMEOUT_MS = 30_000;
/** How long an async iterator or stream is followed (a watch waits for commits by design). */
const ITERATE_MS = 300;
const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 32 << 20 };

/** Wrong types and ranges of every kind, as fresh values. */
const BAD: Array<() => unknown> = [
  () => null, () => undefined, () => '', () => 'x', () => 'a b/c', () => 'nul\0byte', () => 'k'.repeat(5000),
  () => 0, () => -1, () => 1.5, () => NaN, () => Infinity, () => -Infinity, () => 2 ** 53, () => 2 ** 40, () => 1e15, () => -0,
  () => 0n, () => -1n, () => 2n ** 64n, () => 2n ** 200n, () => 7n,
  () => () => 1, () => async () => 1, () => ({}), () => [], () => [1, 'a', null], () => ({ name: 5 }), () => ({ name: null, epoch: 'x' }),
  () => ({ epoch: -1n }), () => ({ epoch: 2n ** 64n }), () => ({ epoch: 5 }), () => ({ snapshot: null }), () => ({ snapshot: 5n }),
  () => ({ from: true }), () => ({ from: -5n }), () => ({ recx: { index: -1, count: 2 ** 40 } }), () => ({ recx: { index: 0, count: 2 ** 40 } }),
  () => ({ recx: null, data: 5 }), () => ({ signal: 'abort' }), () => ({ signal: {} }), () => ({ nodes: -1 }), () => ({ nodes: 2 ** 40 }),
  () => ({ oclass: 5n }), () => ({ oclass: 'NOPE' }), () => ({ cellSize: 0 }), () => ({ cellSize: 2 ** 40, chunkSize: -1 }),
  () => ({ limit: -1, reverse: 'yes' }), () => ({ gt: 5, lt: null }), () => ({ type: 'put', key: null, value: 5 }),
  () => ({ dataShards: 0, parityShards: 1 }), () => ({ dataShards: 2 ** 40, parityShards: -1 }),
  () => new Uint8Array(0), () => new Uint8Array(5000), () => true, () => new Date(0), () => Object.create(null), () => new Map([[1, 2]]),
  () => [new Uint8Array(4), null, 5], () => new BigUint64Array(3), () => Symbol.iterator,
];

const rng = new Rng(Number(process.env.CAIRN_FUZZ_SEED ?? 0x5eedc0de));
const bad = () => rng.pick(BAD)();

type Spec = { what: string; call: (args: unknown[]) => unknown; valid: Array<() => unknown> };

let pool: Pool;
let cont: Container;
let tx: Transaction;
let codec: Codec;
let map: PoolMap;
const rawErrors: string[] = [];
const unhandled: string[] = [];
const codes = new Map<string, number>();
let calls = 0, failures = 0, successes = 0;
let dirs = 0;

process.on('unhandledRejection', (err) => { unhandled.push(`unhandled rejection: ${String((err as Error)?.stack ?? err)}`); });

/** A raw error (not a CairnError with a registered code) is recorded with the call that threw it. */
function check(what: string, args: unknown[], err: unknown): void {
  failures++;
  if (err instanceof CairnError && isErrorCode(err.code) && Object.prototype.hasOwnProperty.call(ERROR_CODES, err.code)) {
    codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
    return;
  }
  rawErrors.push(`${what}(${args.map(show).join(', ')}) threw ${(err as Error)?.constructor?.name ?? typeof err} ${(err as { code?: unknown })?.code ?? ''}: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
}

function show(v: unknown): string {
  try {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'string') return JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v);
    if (typeof v === 'function') return 'fn';
    if (typeof v === 'symbol') return v.toString();
    if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch { return Object.prototype.toString.call(v); }
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((resolve) => { timer = setTimeout(() => resolve(onTimeout()), ms); })]).finally(() => clearTimeout(timer));
}

/** Follow what a successful call returned: await promises, read iterators and streams a little, close pools. */
async function settle(what: string, args: unknown[], v: unknown): Promise<void> {
  if (v instanceof Pool) { if (v !== pool) await v.close(); return; }
  if (v instanceof Readable) {
    await withTimeout(new Promise<void>((resolve) => {
      v.on('error', (err) => { check(`${what} stream`, args, err); resolve(); });
      v.on('end', resolve);
      v.on('data', () => undefined);
    }), ITERATE_MS, () => undefined);
    v.destroy();
    return;
  }
  if (v instanceof Writable) {
    await withTimeout(new Promise<void>((resolve) => {
      v.on('error', (err) => { check(`${what} stream`, args, err); resolve(); });
      v.on('finish', resolve);
      v.end(Buffer.from('fuzz'));
    }), ITERATE_MS * 10, () => undefined);
    return;
  }
  if (v && typeof v === 'object' && typeof (v as AsyncIterator<unknown>).next === 'function' && Symbol.asyncIterator in v) {
    const it = v as AsyncGenerator<unknown>;
    for (let i = 0; i < 3; i++) {
      let pending = false;
      try {
        const r = await withTimeout(it.next(), ITERATE_MS, () => { pending = true; return { done: true, value: undefined }; });
        if (pending || r.done) break;
      } catch (err) { check(`${what} iteration`, args, err); break; }
    }
    void it.return?.(undefined).catch((err: unknown) => check(`${what} return`, args, err));
  }
}

/** One fuzzed call of `spec`: each argument valid or bad, at least one bad. */
async function fuzzOnce(spec: Spec): Promise<void> {
  const n = Math.max(1, spec.valid.length);
  const forced = rng.int(n);
  const args: unknown[] = [];
  for (let i = 0; i < n; i++) args.push(i === forced || !spec.valid[i] || rng.chance(0.3) ? bad() : spec.valid[i]!());
  calls++;
  const t0 = performance.now();
  const trace = () => { if (process.env.CAIRN_FUZZ_TRACE) process.stderr.write(`${calls} ${(performance.now() - t0).toFixed(0)}ms ${spec.what}(${args.map(show).join(', ').slice(0, 200)})\n`); };
  let hung = false;
  try {
    const v = await withTimeout(Promise.resolve().then(() => spec.call(args)), CALL_TIMEOUT_MS, () => { hung = true; return undefined; });
    if (hung) { rawErrors.push(`${spec.what}(${args.map(show).join(', ')}) did not settle within ${CALL_TIMEOUT_MS} ms`); return; }
    successes++;
    await settle(spec.what, args, v);
  } catch (err) {
    check(spec.what, args, err);
  } finally {
    trace();
  }
}

const freshDir = () => join(root, `d${++dirs}`);
const name = () => rng.pick(['o1', 'o2', 'kv', 'arr', 'obj-3']);
const key = () => rng.pick(['d', 'a', 'k1', new Uint8Array([1, 2, 3])]);
const bytes = () => rng.bytes(rng.int(64));
const shards = () => Array.from({ length: 3 }, () => new Uint8Array(64));

/** The public methods under test: receiver, call, and a valid value per parameter. */
function specs(): Spec[] {
  const obj = () => cont.object(name());
  const kv = () => cont.kv('kv');
  const arr = () => cont.array('arr');
  const txo = () => { if (tx.status !== 'open') tx = cont.beginTx(); return tx.object(name()); };
  const P = (what: string, call: (a: unknown[]) => unknown, ...valid: Array<() => unknown>): Spec => ({ what, call, valid });
  return [
    // Pool (statics and instance)
    P('Pool.create', (a) => Pool.create(a[0] as string, a[1] as object), freshDir, () => ({ ...SHAPE, nodes: 1 })),
    P('Pool.open', (a) => Pool.open(a[0] as string, a[1] as object), () => rng.pick([pool.dir, join(root, 'a-file'), join(root, 'nothing')]), () => ({ readOnly: true })),
    P('Pool.connect', (a) => Pool.connect(a[0] as never)),
    P('pool.query', (a) => (pool.query as (...x: unknown[]) => unknown)(...a)),
    P('pool.createContainer', (a) => pool.createContainer(a[0] as string, a[1] as object), () => rng.pick(['fz-a', 'fz-b', 'c']), () => ({ oclass: 'RP_2G1' })),
    P('pool.openContainer', (a) => pool.openContainer(a[0] as string), () => 'c'),
    P('pool.listContainers', (a) => (pool.listContainers as (...x: unknown[]) => unknown)(...a)),
    P('pool.destroyContainer', (a) => pool.destroyContainer(a[0] as string), () => rng.pick(['fz-a', 'fz-b', 'missing'])),
    P('pool.exclude', (a) => pool.exclude(a[0] as number), () => [1e9]),
    P('pool.reintegrate', (a) => pool.reintegrate(a[0] as number), () => 1e9),
    P('pool.drain', (a) => pool.drain(a[0] as number), () => 1e9),
    P('pool.extend', (a) => pool.extend(a[0] as never), () => ({ nodes: -1 })),
    P('pool.waitForRebuild', (a) => pool.waitForRebuild(a[0] as object), () => ({})),
    P('pool.rebuildStatus', (a) => (pool.rebuildStatus as (...x: unknown[]) => unknown)(...a)),
    P('pool.scrub', (a) => pool.scrub(a[0] as object), () => ({ onProgress: () => undefined })),
    P('pool.refresh', (a) => pool.refresh(a[0] as object), () => ({})),
    // Container
    P('cont.object', (a) => cont.object(a[0] as string, a[1] as object), name, () => ({ oclass: 'RP_2G1' })),
    P('cont.kv', (a) => cont.kv(a[0] as string, a[1] as object), name, () => ({})),
    P('cont.array', (a) => cont.array(a[0] as string, a[1] as object), name, () => ({ chunkSize: 4096 })),
    P('cont.beginTx', (a) => (cont.beginTx as (...x: unknown[]) => Transaction)(...a).abort()),
    P('cont.readEpoch', (a) => cont.readEpoch(a[0] as object), () => ({ epoch: 1n })),
    P('cont.stableEpoch', (a) => (cont.stableEpoch as (...x: unknown[]) => unknown)(...a)),
    P('cont.snapshot', (a) => cont.snapshot(a[0] as string, a[1] as object), () => `s${rng.int(1e9)}`, () => ({})),
    P('cont.listSnapshots', (a) => (cont.listSnapshots as (...x: unknown[]) => unknown)(...a)),
    P('cont.destroySnapshot', (a) => cont.destroySnapshot(a[0] as string), () => 'no-such-snapshot'),
    P('cont.rollback', (a) => cont.rollback(a[0] as string, a[1] as object), () => 'no-such-snapshot', () => ({})),
    P('cont.aggregate', (a) => cont.aggregate(a[0] as object), () => ({})),
    P('cont.watch', (a) => cont.watch(a[0] as object), () => ({ from: 0n })),
    P('cont.listObjects', (a) => cont.listObjects(a[0] as object), () => ({})),
    P('cont.countObjects', (a) => cont.countObjects(a[0] as object), () => ({})),
    P('cont.isLost', (a) => cont.isLost(a[0] as bigint), () => 5n),
    P('cont.openTargets', (a) => (cont.openTargets as (...x: unknown[]) => unknown)(...a)),
    // CairnObject
    P('obj.update', (a) => obj().update(a[0] as string, a[1] as string, a[2] as string, a[3] as object), key, key, bytes, () => ({})),
    P('obj.fetch', (a) => obj().fetch(a[0] as string, a[1] as string, a[2] as object), key, key, () => ({ recx: { index: 0, count: 8 } })),
    P('obj.punch', (a) => obj().punch(a[0] as object), () => ({})),
    P('obj.punchDkey', (a) => obj().punchDkey(a[0] as string, a[1] as object), key, () => ({})),
    P('obj.punchAkey', (a) => obj().punchAkey(a[0] as string, a[1] as string, a[2] as object), key, key, () => ({})),
    P('obj.listDkeys', (a) => obj().listDkeys(a[0] as object), () => ({ limit: 2 })),
    P('obj.listAkeys', (a) => obj().listAkeys(a[0] as string, a[1] as object), key, () => ({})),
    P('obj.listRecx', (a) => obj().listRecx(a[0] as string, a[1] as string, a[2] as object), key, key, () => ({})),
    P('obj.queryMaxDkey', (a) => obj().queryMaxDkey(a[0] as object), () => ({})),
    // KeyValue
    P('kv.put', (a) => kv().put(a[0] as string, a[1] as string, a[2] as object), key, bytes, () => ({})),
    P('kv.get', (a) => kv().get(a[0] as string, a[1] as object), key, () => ({})),
    P('kv.getString', (a) => kv().getString(a[0] as string, a[1] as object), key, () => ({})),
    P('kv.has', (a) => kv().has(a[0] as string, a[1] as object), key, () => ({})),
    P('kv.getMany', (a) => kv().getMany(a[0] as string[], a[1] as object), () => ['k1', 'k2'], () => ({})),
    P('kv.remove', (a) => kv().remove(a[0] as string, a[1] as object), key, () => ({})),
    P('kv.batch', (a) => kv().batch(a[0] as never, a[1] as object), () => [{ type: 'put', key: 'b1', value: 'v' }, { type: 'del', key: 'b2' }], () => ({})),
    P('kv.list', (a) => kv().list(a[0] as object), () => ({ gte: 'a', limit: 3 })),
    P('kv.entries', (a) => kv().entries(a[0] as object), () => ({ limit: 3 })),
    // ArrayObject
    P('arr.write', (a) => arr().write(a[0] as number, a[1] as Uint8Array, a[2] as object), () => rng.int(10_000), bytes, () => ({})),
    P('arr.read', (a) => arr().read(a[0] as number, a[1] as number, a[2] as object), () => rng.int(10_000), () => rng.int(1000), () => ({})),
    P('arr.getSize', (a) => arr().getSize(a[0] as object), () => ({})),
    P('arr.setSize', (a) => arr().setSize(a[0] as number, a[1] as object), () => rng.int(20_000), () => ({})),
    P('arr.createReadStream', (a) => arr().createReadStream(a[0] as object), () => ({ start: 0, end: 100 })),
    P('arr.createWriteStream', (a) => arr().createWriteStream(a[0] as object), () => ({ start: 100 })),
    // Transaction and TxObject
    P('tx.object', (a) => { if (tx.status !== 'open') tx = cont.beginTx(); return tx.object(a[0] as string, a[1] as object); }, name, () => ({})),
    P('tx.commit', (a) => { const x = tx; tx = cont.beginTx(); return x.commit(a[0] as object); }, () => ({})),
    P('tx.abort', (a) => { const x = tx; tx = cont.beginTx(); return (x.abort as (...y: unknown[]) => unknown)(...a); }),
    P('txobj.update', (a) => txo().update(a[0] as string, a[1] as string, a[2] as string), key, key, bytes),
    P('txobj.fetch', (a) => txo().fetch(a[0] as string, a[1] as string, a[2] as object), key, key, () => ({})),
    P('txobj.punch', (a) => (txo().punch as (...y: unknown[]) => unknown)(...a)),
    P('txobj.punchDkey', (a) => txo().punchDkey(a[0] as string), key),
    P('txobj.punchAkey', (a) => txo().punchAkey(a[0] as string, a[1] as string), key, key),
    // erasure codec
    P('createCodec', (a) => createCodec(a[0] as never).dispose(), () => ({ dataShards: 2, parityShards: 1 })),
    P('codec.encode', (a) => codec.encode(a[0] as Uint8Array[]), shards),
    P('codec.reconstruct', (a) => codec.reconstruct(a[0] as Uint8Array[], a[1] as never), () => [new Uint8Array(64), null, new Uint8Array(64)], () => ({})),
    P('codec.verify', (a) => codec.verify(a[0] as Uint8Array[]), shards),
    P('codec.allocShards', (a) => codec.free(codec.allocShards(a[0] as number)), () => 4096),
    P('codec.free', (a) => codec.free(a[0] as Uint8Array[]), shards),
    // pool map and placement helpers
    P('PoolMap.create', (a) => PoolMap.create(a[0] as never), () => ({ nodes: 2, ranksPerNode: 1, targetsPerRank: 2 })),
    P('PoolMap.fromJSON', (a) => PoolMap.fromJSON(a[0] as never), () => map.toJSON()),
    P('PoolMap.deserialize', (a) => PoolMap.deserialize(a[0] as Uint8Array), () => map.serialize()),
    P('map.target', (a) => map.target(a[0] as number), () => 1),
    P('map.exclude', (a) => map.clone().exclude(a[0] as number), () => 1),
    P('map.excludeRank', (a) => map.clone().excludeRank(a[0] as number), () => 1),
    P('map.reintegrate', (a) => map.clone().reintegrate(a[0] as number), () => 1),
    P('map.drain', (a) => map.clone().drain(a[0] as number), () => 1),
    P('map.markDownOut', (a) => map.clone().markDownOut(a[0] as number), () => 1),
    P('map.markUpIn', (a) => map.clone().markUpIn(a[0] as number), () => 1),
    P('map.extend', (a) => map.clone().extend(a[0] as never), () => ({ nodes: 1 })),
    P('map.domainOfTargets', (a) => map.domainOfTargets(a[0] as number), () => 0),
    P('map.domainWeights', (a) => map.domainWeights(a[0] as number), () => 0),
    P('createPlacement', (a) => createPlacement(a[0] as PoolMap, a[1] as never), () => map, () => ({ algo: 'ring' })),
    P('placement.layout', (a) => createPlacement(map).layout(a[0] as bigint), () => makeObjectId(5n, 'RP_2G1')),
    P('placement.layoutBatch', (a) => createPlacement(map).layoutBatch(a[0] as bigint[]), () => [makeObjectId(5n, 'RP_2G1')]),
    P('jumpConsistentHash', (a) => jumpConsistentHash(a[0] as bigint, a[1] as number), () => 5n, () => 10),
    P('makeObjectId', (a) => makeObjectId(a[0] as bigint, a[1] as string, a[2] as object), () => 5n, () => 'EC_2P1G1', () => ({})),
    P('objectClassOf', (a) => objectClassOf(a[0] as bigint), () => makeObjectId(5n, 'S1')),
    P('parseObjectClass', (a) => parseObjectClass(a[0] as string), () => 'RP_3G1'),
    P('toObjectClass', (a) => toObjectClass(a[0] as string), () => 'S1'),
    P('resolveGroups', (a) => resolveGroups(a[0] as never, a[1] as number), () => parseObjectClass('EC_2P1GX'), () => 8),
    P('dkeyGroup', (a) => dkeyGroup(a[0] as Uint8Array, a[1] as number), () => new Uint8Array([1]), () => 4),
  ];
}

t.before(async () => {
  // relative paths the fuzzer passes ("x", "a b/c") resolve inside the temporary directory
  process.chdir(root);
  writeFileSync(join(root, 'a-file'), 'not a pool');
  pool = await Pool.create(join(root, 'pool'), SHAPE);
  cont = await pool.createContainer('c', { oclass: 'RP_2G1', redundancyFactor: 1 });
  await cont.kv('kv').put('k1', 'v1');
  await cont.array('arr').write(0, new Uint8Array(5000).fill(3));
  tx = cont.beginTx();
  codec = createCodec({ dataShards: 2, parityShards: 1 });
  map = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 });
});

t(`${CALLS} seeded calls with wrong types and ranges: every failure is a CairnError with a registered code`, async () => {
  const all = specs();
  // every public method listed above is a function of its receiver (a rename fails here, not silently)
  for (const m of ['query', 'createContainer', 'openContainer', 'listContainers', 'destroyContainer', 'exclude', 'reintegrate', 'drain', 'extend', 'waitForRebuild', 'rebuildStatus', 'scrub', 'refresh', 'close']) {
    assert.type((pool as unknown as Record<string, unknown>)[m], 'function', `Pool.${m}`);
  }
  for (let i = 0; i < CALLS; i++) await fuzzOnce(rng.pick(all));
  // every spec ran at least once more, in order, so none is left out by chance
  for (const s of all) await fuzzOnce(s);
  console.log(`  ${calls} calls: ${failures} refused, ${successes} accepted; codes ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}×${n}`).join(' ')}`);
  assert.ok(calls >= CALLS, 'all calls ran');
  assert.ok(failures > calls / 2, `most fuzzed calls must be refused (refused ${failures} of ${calls})`);
  if (process.env.CAIRN_FUZZ_DUMP) writeFileSync(process.env.CAIRN_FUZZ_DUMP, rawErrors.join('\n'));
  assert.equal(rawErrors.slice(0, 40), [], `${rawErrors.length} calls failed with something other than a registered CairnError`);
  assert.equal(unhandled, [], 'no unhandled rejection during the fuzz');
});

t('afterwards the pool still works and holds no half-created container', async () => {
  assert.not.ok((pool as unknown as { closed_: boolean }).closed_, 'the fuzzer never closed the pool');
  const c = await pool.openContainer('c');
  const epoch = await c.kv('after').put('key', 'value');
  assert.is(typeof epoch, 'bigint');
  assert.is(await c.kv('after').getString('key'), 'value');
  const fresh = await pool.createContainer('after-fuzz', { oclass: 'S1' });
  await fresh.array('a').write(0, new Uint8Array(10_000).fill(9));
  assert.equal(await fresh.array('a').read(0, 10_000), new Uint8Array(10_000).fill(9));
  // every listed container opens, and the containers directory holds exactly the listed ones
  const listed = await pool.listContainers();
  for (const { label } of listed) await pool.openContainer(label);
  const onDisk = readdirSync(join(pool.dir, 'containers')).sort();
  assert.equal(onDisk, listed.map((x) => x.uuid).sort(), 'container directories match the container list');
  // pools the fuzzer failed to create left nothing behind
  // (a directory the fuzzer made is a whole pool, or holds only whole pools: "a b/c")
  const whole = (d: string): boolean => {
    const entries = readdirSync(d, { withFileTypes: true });
    return entries.some((e) => e.name === 'pool.meta') || (entries.length > 0 && entries.every((e) => e.isDirectory() && whole(join(d, e.name))));
  };
  for (const d of readdirSync(root).filter((x) => x !== 'pool' && x !== 'a-file')) {
    assert.ok(whole(join(root, d)), `${d} holds a half-created pool: ${readdirSync(join(root, d)).join(', ')}`);
  }
  assert.equal(unhandled, [], 'no unhandled rejection after the fuzz');
});

t.after(async () => {
  await pool?.close();
});

t.run();
