/**
 * An engine's store warm-up (src/engine/warm-up.ts) and store counters (EngineStores.counters,
 * reported by `engine.info`): the warm-up works on a scratch store only (the directory it was given
 * holds exactly what it held before, and its scratch store is gone), and the counters count the
 * flushes a target store committed. The store warm-up leaves the process's flush worker started and
 * ready (a flush a caller waits for never starts it: otherwise the first background flush of a
 * served store did, inside the first requests).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { warmUpStores, warmUpServing, warmUpRequests, WARM_UP_PUTS_PER_ROUND, WARM_UP_ROUNDS, SERVE_WARM_UP_READS, REQUEST_WARM_UP_PUTS, REQUEST_WARM_UP_READS } from '../../src/engine/warm-up.js';
import { decodeBatchFrame, encodeBatchReply, decodeLocate, encodeLocateReply } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import { TxLog } from '../../src/engine/txlog.js';
import { TX_LOG_FILE } from '../../src/engine/engine.js';
import { Cluster } from '../helpers/cluster.js';
import { rawReadStats } from '../../src/net/rpc.js';
import { EngineStores } from '../../src/engine/stores.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('engine warm-up');
const CONT = '0a1b2c3d-0000-4000-8000-000000000001';

t('the warm-up leaves the directory as it found it and spends CPU', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-warm-up-');
  writeFileSync(join(dir, 'keep.txt'), 'mine');
  const before = readdirSync(dir).sort();
  const ms = await warmUpStores(dir);
  assert.ok(ms > 0, `CPU spent: ${ms} ms`);
  assert.ok(WARM_UP_ROUNDS * WARM_UP_PUTS_PER_ROUND >= 3 * 3000, 'enough puts for several flushes');
  assert.equal(readdirSync(dir).sort(), before);
  // (workers on, as engines run: the flush lane's worker is up once the warm-up returns)
  const workers = mergeWorkers();
  if (process.env.CAIRN_MERGE_WORKERS !== '0') {
    assert.ok(workers, 'merge workers are on');
    assert.ok(workers!.warm('flush', false), 'the flush worker is up after the store warm-up');
  }
});

t('the serving warm-up reads its values back over its own socket and leaves the directory as it found it', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-warm-up-serve-');
  writeFileSync(join(dir, 'keep.txt'), 'mine');
  const before = readdirSync(dir).sort();
  const r0 = rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes + rawReadStats.sharedBytes;
  const ms = await warmUpServing(dir);
  assert.ok(ms > 0, `CPU spent: ${ms} ms`);
  // Every bulk read came back over the connection or through its shared region (the reads really ran through the RPC layer).
  const read = rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes + rawReadStats.sharedBytes - r0;
  assert.ok(read >= SERVE_WARM_UP_READS * 512 * 1024, `bytes read by the client: ${read}`);
  assert.equal(readdirSync(dir).sort(), before);
});

t('the request-path warm-up sends batched writes of commits with their descriptors, commit notices and whole-range reads to the scratch engine it opened, then closes it', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-warm-up-requests-');
  writeFileSync(join(dir, 'keep.txt'), 'mine');
  const before = readdirSync(dir).sort();
  let opened: string | undefined, closed = false, requests = 0, writes = 0, arrays = 0, local = 0, across = 0, reads = 0, singleReads = 0;
  const noticed = new Set<string>();
  const epochs = new Set<string>();
  const ms = await warmUpRequests(dir, async (d) => {
    opened = d;
    return {
      rank: 3, targets: [6, 7], mapVersion: 9, firstEpoch: 1000n,
      close: async () => { closed = true; },
      handle: async (req) => {
        requests++;
        for (const n of (req.header.commits as Array<[string, string]> | undefined) ?? []) noticed.add(n[1]);
        if (req.method === ENGINE_METHODS.txNotice) return { header: {} };
        // Reads: none located here (the client then sends each on its own), each answered with its bytes.
        if (req.method === ENGINE_METHODS.locate) return encodeLocateReply(decodeLocate(req.payload).map(() => undefined));
        if (req.method === 'shard.fetchArray') {
          reads++;
          const n = (req.header.recx as { count: number }).count;
          return { header: { present: [{ index: 0, count: n }], length: n }, payload: new Uint8Array(n) };
        }
        const frame = req.method === ENGINE_METHODS.batch ? decodeBatchFrame(req.header, req.payload) : undefined;
        for (const n of frame?.notices ?? []) noticed.add(n[1]);
        const items = frame !== undefined ? frame.items : [{ method: req.method, header: req.header, payload: req.payload }];
        for (const it of items) {
          const h = it.header as { target: number; mapVersion: number; epoch: string; tx: { ranks: number[]; n: number } };
          if (it.method === 'shard.fetchSingle') { singleReads++; assert.ok(BigInt(h.epoch) > 1000n, 'a read above the scratch engine\'s start'); continue; }
          assert.ok(h.target === 6 || h.target === 7, `a target of the engine: ${h.target}`);
          assert.is(h.mapVersion, 9);
          assert.ok(BigInt(h.epoch) > 1000n, 'above the scratch engine\'s start');
          assert.ok(h.tx.ranks.includes(3) && h.tx.n === 1, 'a commit descriptor naming this rank');
          if (it.method === 'shard.updateArray') { arrays++; assert.equal(h.tx.ranks, [3], 'array values are commits on this engine alone'); continue; }
          assert.is(it.method, 'shard.updateSingle');
          if (h.tx.ranks.length === 1) local++; else across++;
          epochs.add(h.epoch);
          writes++;
        }
        return req.method === ENGINE_METHODS.batch ? encodeBatchReply(items.map(() => ({ status: 'fulfilled', value: { header: {} } }))) : { header: {} };
      },
    };
  });
  assert.ok(ms > 0, `CPU spent: ${ms} ms`);
  assert.ok(opened !== undefined && opened.startsWith(dir), 'the scratch engine lives in the directory given');
  assert.ok(closed, 'the scratch engine was closed');
  assert.is(writes, REQUEST_WARM_UP_PUTS);
  assert.is(epochs.size, REQUEST_WARM_UP_PUTS, 'one commit per write');
  assert.ok(requests < writes / 2, `writes batched: ${writes} writes in ${requests} requests`);
  assert.ok(local > 0 && across > local, `commits on this engine alone (${local}) and across two (${across})`);
  assert.is(noticed.size, across, 'every commit across engines was noticed');
  assert.ok(arrays > 0, 'array values written');
  assert.is(reads, REQUEST_WARM_UP_READS, 'every read reached the engine');
  assert.ok(singleReads > 0, 'values read back in the batches of writes');
  assert.equal(readdirSync(dir).sort(), before);
});

t('an engine that warms up serves with nothing of its warm-up in its transaction log or target directories', async () => {
  await initXxhash();
  const cluster = await Cluster.start({ engines: 1, targetsPerEngine: 2, warmUp: true });
  try {
    const e = cluster.engines[0]!;
    for (const d of e.dirs) assert.not.ok(readdirSync(d).some((f) => f.startsWith('.warm-up')), `no warm-up leftovers in ${d}: ${readdirSync(d).join(',')}`);
    assert.equal(TxLog.read(join(e.dirs[0]!, TX_LOG_FILE)), [], 'nothing logged before serving');
    const pool = await cluster.connect();
    try {
      const c = await pool.createContainer('after-warm-up', { oclass: 'RP_2G1', redundancyFactor: 1 });
      const kv = c.kv('kv', { oclass: 'RP_2G1' });
      await kv.put('k', 'v');
      assert.is(Buffer.from((await kv.get('k'))!).toString(), 'v');
    } finally {
      await pool.close();
    }
  } finally {
    await cluster.stop();
  }
});

t('store counters count flushes per target, zeros for a store not open', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-counters-');
  const stores = new EngineStores(new Map([[4, join(dir, 't4')], [9, join(dir, 't9')]]), { scmBytes: 16 << 20, dataBytes: 16 << 20, durable: false });
  try {
    assert.equal(stores.counters([4, 9]), [{ target: 4, flushes: 0, compactions: 0, syncs: 0 }, { target: 9, flushes: 0, compactions: 0, syncs: 0 }]);
    const cs = await stores.container(4, CONT);
    await cs.updateSingle(10n, 77n << 32n, new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3]));
    await (await stores.target(4)).flushAll();
    const [c4, c9] = stores.counters([4, 9]);
    assert.is(c4!.target, 4);
    assert.ok(c4!.flushes >= 1, `target 4 flushed: ${c4!.flushes}`);
    assert.equal(c9, { target: 9, flushes: 0, compactions: 0, syncs: 0 });
    await stores.close(4);
    assert.equal(stores.counters([4]), [{ target: 4, flushes: 0, compactions: 0, syncs: 0 }]);
  } finally {
    await stores.close();
  }
});

t.run();
