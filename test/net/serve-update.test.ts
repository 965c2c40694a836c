/**
 * An engine's synchronous single-value update (src/net/shard-rpc.ts `serveUpdateNow`), against a
 * real VOS store: writes whose keys alternate and repeat (the decoded key bytes kept from the write
 * before are only reused for the same key text) read back exactly as written; the reply's max epoch
 * is the store's, also while it stays the same and after it moves; an epoch the engine parsed
 * already is used as given; malformed epochs and object ids are refused with NET_PROTOCOL.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { VosTarget } from '../../src/vos/index.js';
import { serveUpdateNow } from '../../src/net/shard-rpc.js';
import type { ShardStore } from '../../src/io/shard-store.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('serve-update');
const b64 = (s: string) => Buffer.from(s).toString('base64');

t('writes with alternating and repeated keys read back as written; replies name the store\'s max epoch', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-serveupd-');
  const a = await VosTarget.open(join(dir, 'a'), { scmBytes: 32 << 20, dataBytes: 64 << 20, io: 'pread' });
  const b = await VosTarget.open(join(dir, 'b'), { scmBytes: 32 << 20, dataBytes: 64 << 20, io: 'pread' });
  try {
    const model = new Map<string, string>();
    const keys = ['d', 'd', 'e', 'd', 'long-'.repeat(20), 'e', 'e'];
    let epoch = 100n;
    for (let i = 0; i < 40; i++) {
      const store = (i % 3 === 0 ? b : a) as unknown as ShardStore;
      const dkey = keys[i % keys.length]!, akey = keys[(i * 3) % keys.length]!;
      const oid = BigInt(1 + (i % 4)) << 32n;
      // (the same epoch twice now and then: the reply's text while the max epoch does not move)
      if (i % 5 !== 0) epoch++;
      const value = Buffer.from(`v${i}`);
      const h = { epoch: String(epoch), oid: String(oid), dkey: b64(dkey), akey: b64(akey) };
      const r = await serveUpdateNow('shard.updateSingle', h, value, store, false, i % 2 ? epoch : undefined);
      assert.is(r.header.maxEpoch, String(store.queryMaxEpoch()), `reply ${i} names the store's max epoch`);
      model.set(`${i % 3 === 0 ? 'b' : 'a'}|${oid}|${dkey}|${akey}`, `v${i}`);
    }
    for (const [k, v] of model) {
      const [s, oid, dkey, akey] = k.split('|') as [string, string, string, string];
      const got = await ((s === 'b' ? b : a) as unknown as ShardStore).fetchSingle(1000n, BigInt(oid), Buffer.from(dkey), Buffer.from(akey));
      assert.is(Buffer.from(got!).toString(), v, `${k}`);
    }
    for (const bad of [{ epoch: '12a', oid: '5' }, { epoch: '1'.repeat(61), oid: '5' }, { epoch: '7', oid: '' }, { epoch: 7, oid: '5' }]) {
      try {
        serveUpdateNow('shard.updateSingle', { ...bad, dkey: b64('d'), akey: b64('a') }, Buffer.from('x'), a as unknown as ShardStore);
        assert.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        assert.is((err as { code?: string }).code, 'NET_PROTOCOL', JSON.stringify(bad));
      }
    }
  } finally {
    await a.close(); await b.close();
  }
});

t.run();
