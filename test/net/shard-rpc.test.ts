/**
 * A target's store over the network (src/net/shard-rpc.ts): a seeded sequence of updates, punches,
 * fetches and listings gives exactly the same answers through `RemoteShardStore` (a real
 * VosTarget behind an RpcServer) as from a second local VosTarget used as the oracle, including
 * listings longer than one page, absent values, present extents and the reported max epoch.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { VosTarget } from '../../src/vos/index.js';
import { RpcServer, RpcClient } from '../../src/net/rpc.js';
import { RemoteShardStore, serveShardCall, LIST_PAGE } from '../../src/net/shard-rpc.js';
import type { ShardStore } from '../../src/object/shard-store.js';
import { tmpDir, collect } from '../helpers/tmp.js';

const t = suite('shard-rpc');
const OPTS = { scmBytes: 16 << 20, dataBytes: 64 << 20, io: 'pread' as const };
const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

t('a seeded sequence of operations answers the same remotely as locally', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-shardrpc-');
  const served = await VosTarget.open(join(dir, 'served'), OPTS);
  const oracle = await VosTarget.open(join(dir, 'oracle'), OPTS);
  const server = await RpcServer.listen({ secret: 's3cret-s3cret', handler: (req) => serveShardCall(req.method, req.header, req.payload, served as unknown as ShardStore) });
  const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret: 's3cret-s3cret' });
  const remote = new RemoteShardStore(client, () => ({ target: 0 }));
  const local = oracle as unknown as ShardStore;
  try {
    const rng = new Rng(7);
    const oids = [1n, (1n << 150n) + 5n, 12345678901234567890123456789n];
    const key = (n: number) => new TextEncoder().encode(`k${rng.int(n)}`);
    let epoch = 1n;
    for (let step = 0; step < 1500; step++) {
      const oid = oids[rng.int(oids.length)]!;
      const dkey = key(6), akey = key(3);
      const op = rng.int(10);
      if (op < 3) {
        epoch++;
        const v = rng.bytes(rng.int(3) === 0 ? 0 : rng.range(1, 5000));
        await remote.updateSingle(epoch, oid, dkey, akey, v);
        await local.updateSingle(epoch, oid, dkey, akey, v);
      } else if (op < 5) {
        epoch++;
        const recx = { index: rng.int(20_000), count: rng.range(1, 9000) };
        const data = rng.bytes(recx.count);
        await remote.updateArray(epoch, oid, new TextEncoder().encode('arr'), akey, recx, data);
        await local.updateArray(epoch, oid, new TextEncoder().encode('arr'), akey, recx, data);
      } else if (op === 5) {
        epoch++;
        await remote.punchAkey(epoch, oid, dkey, akey);
        await local.punchAkey(epoch, oid, dkey, akey);
      } else {
        const at = rng.chance(0.7) ? epoch : BigInt(rng.range(1, Number(epoch)));
        const a = await remote.fetchSingle(at, oid, dkey, akey).catch((e) => e.code as string);
        const b = await local.fetchSingle(at, oid, dkey, akey).catch((e) => e.code as string);
        assert.is(typeof a === 'string' ? a : hex(a), typeof b === 'string' ? b : hex(b), `step ${step} fetchSingle`);
        const recx = { index: rng.int(20_000), count: rng.range(1, 8000) };
        const ra = await remote.fetchArray(at, oid, new TextEncoder().encode('arr'), akey, recx);
        const rb = await local.fetchArray(at, oid, new TextEncoder().encode('arr'), akey, recx);
        assert.is(hex(ra.data), hex(rb.data), `step ${step} fetchArray data`);
        assert.equal(ra.present, rb.present, `step ${step} fetchArray present`);
        assert.equal((await collect(remote.listDkeys(at, oid))).map(hex), (await collect(local.listDkeys(at, oid))).map(hex));
        assert.equal((await collect(remote.listAkeys(at, oid, dkey))).map(hex), (await collect(local.listAkeys(at, oid, dkey))).map(hex));
        assert.is(await remote.akeyKind(at, oid, dkey, akey), await local.akeyKind(at, oid, dkey, akey));
      }
    }
    assert.is(remote.queryMaxEpoch(), local.queryMaxEpoch());
    // A listing longer than one page.
    const many = LIST_PAGE * 2 + 17;
    for (let i = 0; i < many; i++) await remote.updateSingle(epoch + 1n, 99n, new TextEncoder().encode(`d${i}`), new TextEncoder().encode('a'), new Uint8Array([i & 255]));
    assert.is((await collect(remote.listDkeys(epoch + 1n, 99n))).length, many);
    assert.is((await collect(remote.listObjects(epoch + 1n))).length, (await collect(local.listObjects(epoch))).length + 1);
    // discard and aggregate reach the engine's store.
    await remote.discard(epoch, epoch + 1n);
    assert.is((await collect(remote.listDkeys(epoch + 1n, 99n))).length, 0);
    assert.ok((await remote.refreshUsage()).scmTotal > 0);
  } finally {
    await client.close();
    await server.close();
    await served.close();
    await oracle.close();
  }
});

t.run();
