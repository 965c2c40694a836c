// Array reads without `into` return recycled output buffers (media allocOutput): a buffer that
// held another read's bytes must come back with every byte overwritten, holes as zeros (the
// hole of a never-written chunk and of a chunk written in part), after GC churn has put freed
// outputs full of a pattern on the free list.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { poolUnderTest } from '../helpers/pool-under-test.js';
import { RECYCLED_OUTPUT_MIN_BYTES, loadNative } from '../../src/media/index.js';

const native = loadNative().addon;

const put = await poolUnderTest(6, { scmBytes: 32 << 20, dataBytes: 128 << 20 });
const cont = await put.pool.createContainer('recycled', { oclass: 'RP_2G1', cellSize: 4096 });
const t = suite('object/array-recycled');
const CHUNK = 64 * 1024;
const LEN = Math.max(RECYCLED_OUTPUT_MIN_BYTES, 4 * CHUNK);

for (const oclass of ['RP_2G1', 'EC_2P1G1']) {
  t(`${oclass}: reads of holes after freed outputs full of a pattern read zeros`, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const stats0 = native?.recycleStats?.();
    const full = cont.array(`full-${oclass}`, { oclass, chunkSize: CHUNK });
    await full.write(0, new Uint8Array(LEN).fill(0xa5));
    // sparse: chunk 0 written in part, chunk 1 not at all, chunk 2 whole, the rest not at all
    const sparse = cont.array(`sparse-${oclass}`, { oclass, chunkSize: CHUNK });
    const model = new Uint8Array(LEN);
    model.fill(0x3c, 100, 5000);
    model.fill(0x5a, 2 * CHUNK, 3 * CHUNK);
    await sparse.write(100, model.subarray(100, 5000));
    await sparse.write(2 * CHUNK, model.subarray(2 * CHUNK, 3 * CHUNK));
    for (let round = 0; round < 6; round++) {
      // outputs full of 0xa5, dropped at once: the GC frees them onto the free list
      for (let i = 0; i < 8; i++) {
        const b = await full.read(0, LEN);
        assert.is(b[LEN - 1], 0xa5);
      }
      gc();
      await new Promise((res) => setImmediate(res));
      await new Promise((res) => setImmediate(res));
      const got = await sparse.read(0, LEN);
      assert.is(got.length, LEN);
      assert.ok(got.every((x, i) => x === model[i]), `round ${round}: every byte is the model's (holes zero)`);
      // a never-written range of its own
      const hole = await sparse.read(3 * CHUNK, LEN - 3 * CHUNK);
      assert.ok(hole.every((x) => x === 0), `round ${round}: an unwritten range reads zeros`);
    }
    // (with the addon, the reads above were served freed outputs: the case this file is about)
    if (native?.recycleStats && stats0) assert.ok(native.recycleStats()[2] - stats0[2] > 0, 'outputs came from the free list');
  });
}

t.after(async () => { await put.close(); });
t.run();
