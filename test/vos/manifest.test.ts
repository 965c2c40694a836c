/**
 * Manifest blobs: a commit passes each run's JSON made beforehand (`encodeManifest(m, runsJson)`,
 * the store keeps every run's), and the blob must decode to exactly the manifest that encoding it
 * whole gives, for no runs, one, and many, with and without the optional fields; a damaged blob
 * is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { decodeManifest, encodeManifest, type Manifest } from '../../src/vos/manifest.js';
import { runMetaToJson, type RunMeta } from '../../src/vos/run.js';

const test = suite('vos manifest');

function meta(rng: Rng, id: number): RunMeta {
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
  const ref = () => ({ off: rng.int(1 << 30), len: 4096, csum: BigInt(rng.int(1 << 30)) * 0x1234567n });
  return {
    id, level: rng.int(4), entries: rng.int(100_000), bytes: rng.int(1 << 26), minSeq: rng.int(1000), maxSeq: 1000 + rng.int(1000),
    chunks: Array.from({ length: 1 + rng.int(5) }, () => rng.int(1 << 20)),
    index: Array.from({ length: 1 + rng.int(4) }, () => ({ first: bytes(20 + rng.int(40)), ref: ref() })),
    bloom: Array.from({ length: rng.int(3) }, ref), first: bytes(30), last: bytes(30),
    ...(rng.int(2) === 0 ? { punches: rng.int(5) } : {}), ...(rng.int(2) === 0 ? { maxEpoch: BigInt(rng.int(1 << 30)) << 20n } : {}),
  };
}

test('a blob from runs\' JSON made beforehand decodes as the manifest encoded whole', async () => {
  await initXxhash();
  const rng = new Rng(0x3a41);
  for (const nRuns of [0, 1, 2, 17]) {
    const runs = Array.from({ length: nRuns }, (_, i) => runMetaToJson(meta(rng, i + 1)));
    const m: Manifest = {
      version: 1, nextSeq: 1234, nextRunId: nRuns + 1, nextContIdx: 3, walFlushedGen: 9,
      containers: [{ idx: 1, uuid: '00000000-0000-0000-0000-000000000001', maxEpoch: '77', tombs: [{ after: '1', upTo: '5', seq: 3 }] }],
      runs, data: { total: 1 << 26, free: [[0, 4096], [8192, 65536]] },
    };
    const whole = encodeManifest(m);
    const parts = encodeManifest({ ...m, runs: [] }, runs.map((r) => JSON.stringify(r)));
    assert.equal(decodeManifest(parts.blob, parts.csum), decodeManifest(whole.blob, whole.csum), `${nRuns} runs`);
    assert.equal(decodeManifest(parts.blob, parts.csum), JSON.parse(JSON.stringify(m)), `${nRuns} runs: the manifest itself`);
    const bad = parts.blob.slice(); bad[bad.length - 3]! ^= 1;
    assert.throws(() => decodeManifest(bad, parts.csum), /checksum/);
  }
});

test.run();
