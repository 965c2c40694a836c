/**
 * A failed `Engine.start` removes what that start created and nothing else: with etcd unreachable
 * (a closed port) it fails with ETCD_UNREACHABLE and the target directories it made are gone; when
 * it fails later (its listen address is taken, after it joined the pool and created its stores,
 * engine.json and tx.log) the same. A target directory that existed keeps exactly what it held:
 * an empty one stays, empty; one with data keeps its data, untouched. A taken listen address is
 * IO_ERROR naming it; a start that fails after joining the pool takes its new rank out of the
 * pool map again (the pool holds no containers), so a retry joins as that same rank.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { Etcd } from '../../src/net/etcd.js';
import { decodeMaps, poolPrefix } from '../../src/net/protocol.js';
import { CairnError } from '../../core/errors.js';
import { freePort, startEtcd } from '../helpers/etcd.js';
import { rejectsWith, tmpDir } from '../helpers/tmp.js';

const SECRET = 'start-cleanup-secret';
/** Small stores: the later failure creates them for real before it fails. */
const SIZES = { scmBytes: 8 << 20, dataBytes: 16 << 20 };

/** Every file under `dir` with its bytes (directories end in "/"), for an exact before/after comparison. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) { out[`${rel}${e}/`] = ''; walk(p, `${rel}${e}/`); } else out[rel + e] = readFileSync(p).toString('base64');
    }
  };
  walk(dir, '');
  return out;
}

/** A directory that held data before the engine started: a file and a subdirectory with a file. */
function dirWithData(dir: string): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'keep.bin'), 'data that was here before');
  writeFileSync(join(dir, 'sub', 'more.bin'), 'and more');
}

/**
 * `Engine.start(options)` on a listen address another server holds: IO_ERROR naming the address
 * and that it is in use (before: Node's bare EADDRINUSE error). Returns the error.
 */
async function takenAddress(options: Parameters<typeof Engine.start>[0]): Promise<CairnError> {
  try {
    const e = await Engine.start(options);
    await e.close();
  } catch (err) {
    assert.instance(err, CairnError, String(err));
    const c = err as CairnError;
    assert.is(c.code, 'IO_ERROR', c.message);
    assert.ok(c.message.includes(`cannot listen on ${options.listen}: the address is already in use`), c.message);
    return c;
  }
  assert.unreachable('the engine started on a taken address');
  throw new Error('unreachable');
}

/** A server holding a free address of 127.0.0.1: `listen` is `host:port`. */
async function busyAddress(): Promise<{ listen: string; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
  return { listen: `127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

/** The pool map of pool `pool` in etcd: its version and the rank of every target. */
async function poolMap(url: string, pool: string): Promise<{ version: number; ranks: number[]; states: string[] } | undefined> {
  const client = await Etcd.connect(url);
  try {
    const kv = await client.get(poolPrefix(pool) + 'maps');
    if (!kv) return undefined;
    const m = decodeMaps(kv.value);
    return { version: m.map.version, ranks: m.map.targets.map((x) => x.rank), states: m.map.targets.map((x) => x.state) };
  } finally { await client.close(); }
}

const t = suite('engine start cleanup');

t('etcd unreachable: ETCD_UNREACHABLE, the directories it made are gone, existing ones hold what they held', async () => {
  const root = tmpDir();
  const url = `http://127.0.0.1:${await freePort()}`; // nobody listens there
  // fresh directories, one below a parent that does not exist either
  await rejectsWith(Engine.start({ pool: 'p', etcd: url, targets: [join(root, 'new', 't0'), join(root, 't1')], listen: '127.0.0.1:0', secret: SECRET }), 'ETCD_UNREACHABLE');
  assert.equal(readdirSync(root), []);
  // existing directories: one with data, one empty
  dirWithData(join(root, 'data'));
  mkdirSync(join(root, 'empty'));
  const before = snapshot(root);
  await rejectsWith(Engine.start({ pool: 'p', etcd: url, targets: [join(root, 'data'), join(root, 'empty'), join(root, 'fresh')], listen: '127.0.0.1:0', secret: SECRET }), 'ETCD_UNREACHABLE');
  assert.equal(snapshot(root), before);
});

t('a later failure (the listen address is taken): what the start created is removed, existing directories hold what they held', async () => {
  const etcd = await startEtcd();
  let busy: Server | undefined;
  try {
    const taken = await busyAddress();
    busy = taken.server;
    const listen = taken.listen;
    const root = tmpDir();
    dirWithData(join(root, 'data'));
    mkdirSync(join(root, 'empty'));
    const before = snapshot(root);
    const logged: string[] = [];
    const err = await takenAddress({ pool: 'p', etcd: etcd.url, targets: [join(root, 'empty'), join(root, 'fresh', 't1'), join(root, 'data')], listen, secret: SECRET, ...SIZES, log: (m) => logged.push(m) });
    assert.equal(snapshot(root), before);
    // it had got far (its stores, engine.json and tx.log were the removed files): past its join,
    // which it undid (the first engine's map is gone again, as its engine record; the metadata stays)
    const client = await Etcd.connect(etcd.url);
    try {
      assert.is(await client.get(poolPrefix('p') + 'maps'), undefined, 'the failed start left its map');
      assert.equal(await client.getPrefix(poolPrefix('p') + 'engines/'), []);
      assert.ok(await client.get(poolPrefix('p') + 'meta'));
    } finally { await client.close(); }
    assert.equal(logged.filter((m) => /stays in the pool map/.test(m)), [], 'nothing said the rank stays');
    assert.ok((err.info as { address?: string }).address === listen);
  } finally {
    busy?.close();
    await etcd.stop();
  }
});

t('a start that fails after joining leaves the pool map as it found it: a retry with the same options joins as the same rank', async () => {
  const etcd = await startEtcd();
  const started: Engine[] = [];
  const busy: Server[] = [];
  try {
    const root = tmpDir();
    const taken = await busyAddress();
    busy.push(taken.server);
    const first = { pool: 'q', etcd: etcd.url, targets: [join(root, 'e0')], listen: taken.listen, secret: SECRET, ...SIZES };
    // the pool's first engine: its map goes again
    await takenAddress(first);
    assert.is(await poolMap(etcd.url, 'q'), undefined);
    started.push(await Engine.start({ ...first, listen: '127.0.0.1:0' }));
    assert.is(started[0]!.rank, 0, 'the retry is the first rank (before: rank 1 beside a rank 0 that never served)');
    assert.equal((await poolMap(etcd.url, 'q'))!.ranks, [0]);
    // a second engine (the pool holds no containers: it joins in service): the map it extended is restored
    const mapBefore = (await poolMap(etcd.url, 'q'))!;
    const second = { ...first, targets: [join(root, 'e1a'), join(root, 'e1b')] };
    await takenAddress(second);
    const mapAfter = (await poolMap(etcd.url, 'q'))!;
    assert.equal(mapAfter.ranks, mapBefore.ranks, 'the failed engine\'s rank left the map');
    assert.ok(mapAfter.version > mapBefore.version, 'under a newer version (engines adopt only newer maps)');
    const client = await Etcd.connect(etcd.url);
    try { assert.equal((await client.getPrefix(poolPrefix('q') + 'engines/')).map((kv) => kv.key), [poolPrefix('q') + 'engines/0']); } finally { await client.close(); }
    started.push(await Engine.start({ ...second, listen: '127.0.0.1:0' }));
    assert.is(started[1]!.rank, 1, 'the retry joins as the next rank (before: rank 2 beside a rank 1 that never served)');
    assert.equal((await poolMap(etcd.url, 'q'))!.ranks, [0, 1, 1]);
    assert.equal((await poolMap(etcd.url, 'q'))!.states, ['UPIN', 'UPIN', 'UPIN']);
  } finally {
    for (const e of started.reverse()) await e.close();
    for (const s of busy) s.close();
    await etcd.stop();
  }
});

t.run();
