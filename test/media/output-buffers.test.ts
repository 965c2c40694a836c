import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { allocOutput, allocResult, adoptResult, RECYCLED_OUTPUT_MIN_BYTES, loadNative, BLOCK_SIZE } from '../../src/media/index.js';
import { gcKind } from '../../bench/lib/gc-kind.js';

const t = suite('media/output-buffers');
const native = loadNative().addon;
const MIB = 1 << 20;

/** The free list's bound in native/cairn_uring.c (RECYCLE_MAX_BYTES). */
const RECYCLE_MAX_BYTES = 128 * MIB;

t('allocOutput returns exactly the bytes asked for; recycled sizes are page-aligned', () => {
  for (const n of [0, 1, 4095, RECYCLED_OUTPUT_MIN_BYTES - 1, RECYCLED_OUTPUT_MIN_BYTES, MIB, MIB + 1, 3 * MIB + 5]) {
    const b = allocOutput(n);
    assert.instance(b, Uint8Array);
    assert.is(b.length, n, `length ${n}`);
    assert.is(b.byteOffset, 0);
    b.fill(0xab);
    assert.ok(n === 0 || (b[0] === 0xab && b[n - 1] === 0xab));
    if (native && n >= RECYCLED_OUTPUT_MIN_BYTES) assert.is(native.alignmentOf(b, BLOCK_SIZE), 0, `aligned ${n}`);
  }
});

t('recycled outputs: a buffer still referenced is never handed out again, freed ones are (GC churn)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const stats0 = native?.recycleStats?.();
  // Live buffers of the sizes churned below, each filled with its own pattern.
  const sizes = [MIB, MIB + 100, RECYCLED_OUTPUT_MIN_BYTES, 2 * MIB - 7];
  const held = Array.from({ length: 16 }, (_, i) => allocOutput(sizes[i % sizes.length]!).fill(i + 1));
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 24; i++) {
      const b = allocOutput(sizes[(round + i) % sizes.length]!);
      b.fill(0xee); // a live buffer handed out again would be overwritten here
    }
    gc();
    await new Promise((res) => setImmediate(res)); // finalizers run after the collection
    await new Promise((res) => setImmediate(res));
  }
  held.forEach((b, i) => {
    assert.is(b.length, sizes[i % sizes.length]);
    assert.ok(b.every((x) => x === i + 1), `held buffer ${i} kept its bytes`);
  });
  if (native?.recycleStats && stats0) {
    const [count, bytes, hits] = native.recycleStats();
    assert.ok(hits - stats0[2] > 100, `outputs served from the free list: ${hits - stats0[2]}`);
    assert.ok(bytes <= RECYCLE_MAX_BYTES && count <= 512, `the free list is bounded: ${count} buffers, ${bytes} bytes`);
  }
});

/**
 * The full and young collections while `mib` 1 MiB results are each touched and dropped, as a
 * reader without `into` does (a turn of the event loop every 16).
 */
async function collectionsWhileDropping(mib: number): Promise<{ major: number; minor: number }> {
  const n = { major: 0, minor: 0 };
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      const kind = gcKind(e);
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) n.major++; else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) n.minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < mib; i++) {
    const b = allocOutput(MIB);
    b[0] = i & 255; b[MIB - 1] = 1;
    if (i % 16 === 15) await new Promise((res) => setImmediate(res));
  }
  await new Promise((res) => setTimeout(res, 20)); // (gc entries are delivered asynchronously)
  obs.disconnect();
  return n;
}

t('outputs read and dropped are freed by scavenges, not by full collections (each would mark the whole heap)', async () => {
  if (!native?.allocRecycled || process.env.CAIRN_OUTPUT_SCAVENGE === '0') return;
  // 512 MiB of results. Without the scavenge check (CAIRN_OUTPUT_SCAVENGE=0) V8 freed them with 4
  // full collections here.
  const { major, minor } = await collectionsWhileDropping(512);
  assert.ok(minor >= 4, `scavenges freed the dropped outputs: ${minor}`);
  assert.ok(major <= 1, `full collections: ${major}`);
});

t('outputs read and dropped: one young collection per ~64 MiB of them, not per 32 (fewer outputs live through two and get promoted)', async () => {
  if (!native?.allocRecycled || process.env.CAIRN_OUTPUT_SCAVENGE === '0' || process.env.CAIRN_OUTPUT_POKE_MIB !== undefined) return;
  // 512 MiB of results. V8's check at each output (CAIRN_OUTPUT_POKE_MIB=0) collected every 32 MiB
  // of them: 16-17 young collections here; every 64 MiB, 8.
  const { minor } = await collectionsWhileDropping(512);
  assert.ok(minor >= 4 && minor <= 12, `young collections for 512 MiB of dropped outputs: ${minor}`);
});

t('outputs read and dropped start no full collections after a full collection made in a quiet stretch', async () => {
  if (!native?.allocRecycled || process.env.CAIRN_OUTPUT_HIDE === '0') return;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let major = 0;
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if (gcKind(e) === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
  });
  obs.observe({ entryTypes: ['gc'] });
  const kept: unknown[] = [];
  let during = 0;
  for (let round = 0; round < 3; round++) {
    // A little old-generation allocation, then a full collection: V8 sets the old generation's
    // limit from that low rate, only a few MiB above its size (as after reads into reused buffers).
    for (let i = 0; i < 40; i++) { kept.push(new Array(2000).fill(i)); await new Promise((res) => setTimeout(res, 2)); }
    gc();
    await new Promise((res) => setTimeout(res, 20));
    const m0 = major;
    // Then 256 MiB of 1 MiB results read and dropped. Counted in V8's external memory, the ~32 MiB
    // of them between two scavenges counted against that limit: 2-7 full collections in all here.
    for (let i = 0; i < 256; i++) {
      const b = allocOutput(MIB);
      b[0] = i & 255; b[MIB - 1] = 1;
      if (i % 8 === 7) await new Promise((res) => setImmediate(res));
    }
    await new Promise((res) => setTimeout(res, 20)); // (gc entries are delivered asynchronously)
    during += major - m0;
  }
  obs.disconnect();
  assert.ok(during <= 1, `full collections while outputs were dropped: ${during}`);
});

t('a rise of other external memory gives V8 back that rise, not every freed output since the last one (the drift)', async () => {
  if (!native?.allocRecycled || native.recycleStats === undefined || process.env.CAIRN_OUTPUT_HIDE === '0') return;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Drift: 800 MiB of outputs read, dropped and freed.
  for (let i = 0; i < 800; i++) {
    const b = allocOutput(MIB);
    b[0] = i & 255;
    if (i % 16 === 15) await new Promise((res) => setImmediate(res));
  }
  gc();
  for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res)); // (their releases)
  allocOutput(MIB); // (the lowest total is looked at when an output is handed out)
  const drift0 = native.recycleStats()[5];
  assert.ok(drift0 >= 400 * MIB, `drift after 800 MiB of outputs: ${drift0 / MIB} MiB`);
  // Other external memory rises by 320 MiB (held), past HIDE_UNMASK_BYTES (256 MiB): the next
  // output gives V8 back that rise. The whole drift at once was a rise past V8's hard limit (a
  // heap-shrinking full collection, and a run of them after it).
  const other = new ArrayBuffer(320 * MIB);
  allocOutput(MIB);
  const drift1 = native.recycleStats()[5];
  const back = drift0 - drift1;
  assert.ok(back >= 256 * MIB && back <= 384 * MIB, `given back ${back / MIB} MiB of ${drift0 / MIB} MiB`);
  assert.ok(drift1 > 0, 'the rest of the drift stays');
  assert.is(other.byteLength, 320 * MIB);
});

/** Whether results move to a new ArrayBuffer when their read completes (native `adoptOutput`). */
const adopting = native?.adoptOutput !== undefined && process.env.CAIRN_OUTPUT_V8 !== '0' && process.env.CAIRN_OUTPUT_ADOPT !== '0';

t('a result reaches its reader on a new ArrayBuffer over the same bytes, the one read into detached; once, and only results', () => {
  if (!adopting) return;
  const out = allocResult(MIB).fill(0x5a);
  out[7] = 1;
  const first = out.buffer;
  const got = adoptResult(out);
  assert.is.not(got.buffer, first, 'a new ArrayBuffer');
  assert.is(got.length, MIB);
  assert.ok(got[7] === 1 && got[0] === 0x5a && got[MIB - 1] === 0x5a, 'the bytes read');
  assert.is(first.byteLength, 0, 'the buffer the read filled is detached');
  assert.is(out.length, 0, 'and so is its view');
  assert.is(adoptResult(got), got, 'a result is adopted once');
  const mine = allocOutput(MIB); // (not a result: a parity buffer, say)
  assert.is(adoptResult(mine), mine, 'only results move');
  const small = new Uint8Array(64);
  assert.is(adoptResult(small), small);
  assert.is(adoptResult(undefined), undefined);
});

/**
 * Outputs freed by young collections alone, of 32 results of 1 MiB held across a full collection
 * (as reads in flight hold theirs) and dropped at once after it, adopted (`adopt`) or not; and the
 * full collections V8 made meanwhile on its own (each frees promoted outputs too).
 */
async function freedByYoungCollections(adopt: boolean): Promise<{ freed: number; fullMeanwhile: number }> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
  let inFlight: Uint8Array[] | undefined = Array.from({ length: 32 }, (_, i) => allocResult(MIB).fill(i));
  gc(); // (V8 promotes every live young object at a full collection)
  for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
  let fullMeanwhile = 0;
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if (gcKind(e) === constants.NODE_PERFORMANCE_GC_MAJOR && e.startTime >= from) fullMeanwhile++;
  });
  const from = performance.now();
  obs.observe({ entryTypes: ['gc'] });
  const freed0 = native!.recycleStats!()[6];
  let done: Uint8Array[] | undefined = adopt ? inFlight.map((b) => adoptResult(b)) : inFlight;
  assert.ok(done.every((b, i) => b.length === MIB && b[0] === i && b[MIB - 1] === i), 'every result kept its bytes');
  inFlight = done = undefined; // (the reader drops them)
  for (let i = 0; i < 4; i++) {
    gc({ type: 'minor' });
    await new Promise((res) => setTimeout(res, 10)); // (young buffers may be swept off the main thread)
  }
  const freed = native!.recycleStats!()[6] - freed0;
  await new Promise((res) => setTimeout(res, 10)); // (gc entries are delivered asynchronously)
  obs.disconnect();
  return { freed, fullMeanwhile };
}

t('results held across a full collection and dropped are freed by young collections once adopted (not adopted, only the next full collection frees them)', async () => {
  if (!adopting || native?.recycleStats === undefined) return;
  // (a full collection V8 starts on its own in the window frees the promoted ones too: measured again)
  let kept = await freedByYoungCollections(false);
  for (let i = 0; i < 3 && kept.fullMeanwhile > 0; i++) kept = await freedByYoungCollections(false);
  const adopted = await freedByYoungCollections(true);
  assert.is(kept.fullMeanwhile, 0, 'a window with young collections only');
  assert.ok(kept.freed <= 4, `promoted and not adopted: ${kept.freed} of 32 freed by young collections`);
  assert.ok(adopted.freed >= 28, `adopted: ${adopted.freed} of 32 freed by young collections`);
});

t.run();
