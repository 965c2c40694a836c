/**
 * VOS benchmarks on one target: 4 KiB single-value updates and fetches per second, 1 MiB array
 * writes and reads in MB/s, at the default durability (process-crash safe) and `durable: true`
 * (power-loss safe, group-committed), beside the same writes done with plain `fs.promises` (the
 * peer rows of the 1 MiB writes). Keys are overwritten in rotation; the timed loops include the
 * aggregation that reclaims overwritten versions (every AGGREGATE_EVERY 4 KiB updates, every
 * BIG_KEYS / 2 1 MiB writes; each update at its own epoch), so the store stays bounded however long a run lasts.
 * One more 4 KiB row overwrites each key at one epoch with no aggregation (a replaced value's space
 * is reused at once), the shape issue 12 first measured.
 * The 4 KiB updates' peers put the same values under the same rotating keys: classic-level one
 * put after another (not synced, as the default), lmdb-js with SMALL_BATCH puts in flight (synced
 * and batched into one transaction, as the durable rows' group commits).
 * The 4 KiB rows also carry `cpuPerSecond`: updates (or puts, fetches) per CPU second of the whole
 * process, every thread, warm-up included; on a shared machine it swings far less than wall time.
 * The 4 KiB rows are steady-state rates: each is timed after `warmupMs` of the same loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget } from '../index.js';
import { rate, type BenchContext, type BenchRow } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { openPeer, PEER_LABEL, type PeerKind } from './lib/kv-peers.js';

const KIB4 = 4096;
const MIB = 1024 * 1024;
/** Keys the 4 KiB updates rotate over (replaced in place at one epoch, so the live set stays bounded). */
const SMALL_KEYS = 1024;
/** Updates per timed call (one call = this many awaited updates). */
const SMALL_BATCH = 512;
/** 4 KiB updates between two aggregations (which keep the metadata file bounded). */
const AGGREGATE_EVERY = 4096;
/** 1 MiB extents rotated over (so the data file stays bounded). */
const BIG_KEYS = 64;

export default async function vosBench(ctx: BenchContext): Promise<BenchRow[]> {
  const root = tempDir('cairn-vos-bench-');
  const rows: BenchRow[] = [];
  const enc = new TextEncoder();
  const dkeys = Array.from({ length: SMALL_KEYS }, (_, i) => enc.encode(`dkey-${i}`));
  const akey = enc.encode('a');
  const value4k = new Uint8Array(KIB4).fill(0x61);
  const value1m = new Uint8Array(MIB).fill(0x62);
  const time = ctx.quick ? 300 : 2000;
  /**
   * Warm-up before the timed calls of the 4 KiB rows and their peers: the rates are steady-state
   * rates. A fresh store's first ~16k updates cost several times the later ones (V8 compiling its
   * write, flush and fold paths; first touches of the data file's pages, ~20 µs each on this VM);
   * with tinybench's default 100 ms that start-up was up to half of a row's time.
   */
  const warmupMs = ctx.quick ? 20 : 1500;
  try {
    // ---------------------------------------------------------------- 4 KiB single values
    // ---------------------------------------------------------------- peers of the 4 KiB updates
    const peerName = (kind: PeerKind) => `${PEER_LABEL[kind]} put 4KiB ${kind === 'level' ? 'one at a time' : `${SMALL_BATCH} in flight`}`;
    for (const kind of ['level', 'lmdb'] as const) {
      const p = await openPeer(kind, path.join(root, `peer-${kind}`));
      const keys = dkeys.map((d) => Buffer.from(d).toString());
      let k = 0;
      const r = await rate(peerName(kind), kind === 'level'
        ? async () => { for (let i = 0; i < SMALL_BATCH; i++) await p.put(keys[k++ % SMALL_KEYS]!, value4k); }
        : async () => { await Promise.all(Array.from({ length: SMALL_BATCH }, () => p.put(keys[k++ % SMALL_KEYS]!, value4k))); },
      SMALL_BATCH, ctx, { time, warmupMs });
      await p.close();
      const perSecond = (SMALL_BATCH / r.meanMs) * 1000; // the mean call, as the rows below
      rows.push({ name: peerName(kind), suite: 'vos', opsPerSecond: perSecond, bytesPerSecond: perSecond * KIB4, extra: { medianCallPerSecond: Math.round(r.perSecond), cpuPerSecond: Math.round(r.cpuPerSecond), samples: r.samples } });
    }

    // background: aggregate({ wait: false }) returns once the aggregation is under way and it runs on
    // a worker thread while the updates go on (a store without that option aggregates in the call)
    for (const [durable, background] of [[false, false], [false, true], [true, false]] as const) {
      // (background: the versions written while an aggregation runs wait for the next: room for them)
      const t = await VosTarget.open(path.join(root, durable ? 'small-durable' : background ? 'small-bg' : 'small'), { scmBytes: 64 * MIB, dataBytes: (background ? 256 : 64) * MIB, durable });
      let k = 0;
      let epoch = 0n;
      const name = `vos update 4KiB single ${durable ? 'durable' : 'default'}${background ? ', aggregation in background' : ''}`;
      /** Every AGGREGATE_EVERY updates, versions below the newest are aggregated away. */
      const reclaim = async () => { if (k % AGGREGATE_EVERY === 0) await (background ? t.aggregate(epoch, [], { wait: false }) : t.aggregate(epoch)); };
      // default: one awaited update after another; durable: SMALL_BATCH concurrent writers share group commits
      const r = await rate(name, durable
        ? async () => { await Promise.all(Array.from({ length: SMALL_BATCH }, () => t.updateSingle(++epoch, 1n, dkeys[k++ % SMALL_KEYS]!, akey, value4k))); await reclaim(); }
        : async () => { for (let i = 0; i < SMALL_BATCH; i++) await t.updateSingle(++epoch, 1n, dkeys[k++ % SMALL_KEYS]!, akey, value4k); await reclaim(); },
      SMALL_BATCH, ctx, { time, warmupMs });
      // the mean call, not the median: one call in AGGREGATE_EVERY / SMALL_BATCH also aggregates,
      // and that cost is part of the steady state (a median would leave it out)
      const perSecond = (SMALL_BATCH / r.meanMs) * 1000;
      rows.push({ name, suite: 'vos', opsPerSecond: perSecond, bytesPerSecond: perSecond * KIB4, peer: peerName(durable ? 'lmdb' : 'level'), extra: { target: 100_000, meetsTarget: durable ? '-' : perSecond >= 100_000, medianCallPerSecond: Math.round(r.perSecond), cpuPerSecond: Math.round(r.cpuPerSecond), compactions: t.compactions, samples: r.samples } });
      if (!durable && !background) {
        const f = await rate('vos fetch 4KiB single', async () => {
          for (let i = 0; i < SMALL_BATCH; i++) await t.fetchSingle(epoch, 1n, dkeys[(i * 7919 + k) % SMALL_KEYS]!, akey);
        }, SMALL_BATCH, ctx, { time, warmupMs });
        rows.push({ name: 'vos fetch 4KiB single', suite: 'vos', opsPerSecond: f.perSecond, bytesPerSecond: f.perSecond * KIB4, extra: { cpuPerSecond: Math.round(f.cpuPerSecond), samples: f.samples } });
      }
      await t.close();
    }

    // overwrite: each key replaced at one epoch, no aggregation (the row as issue 12 first measured
    // it): a replaced value's extent is free again at once, as a key-value store's overwrite
    {
      const t = await VosTarget.open(path.join(root, 'small-overwrite'), { scmBytes: 64 * MIB, dataBytes: 64 * MIB, durable: false });
      let k = 0;
      const name = 'vos update 4KiB single default, overwrite at one epoch';
      const r = await rate(name, async () => { for (let i = 0; i < SMALL_BATCH; i++) await t.updateSingle(1n, 1n, dkeys[k++ % SMALL_KEYS]!, akey, value4k); }, SMALL_BATCH, ctx, { time, warmupMs });
      const perSecond = (SMALL_BATCH / r.meanMs) * 1000;
      rows.push({ name, suite: 'vos', opsPerSecond: perSecond, bytesPerSecond: perSecond * KIB4, peer: peerName('level'), extra: { medianCallPerSecond: Math.round(r.perSecond), cpuPerSecond: Math.round(r.cpuPerSecond), compactions: t.compactions, samples: r.samples } });
      await t.close();
    }

    // ---------------------------------------------------------------- baseline: fs.promises 1 MiB writes
    const baseline: Record<string, number> = {};
    for (const durable of [false, true]) {
      const file = path.join(root, `baseline-${durable ? 'durable' : 'default'}.bin`);
      const fh = await fs.promises.open(file, 'w+');
      let i = 0;
      for (let k = 0; k < BIG_KEYS; k++) await fh.write(value1m, 0, MIB, k * MIB); // warm: steady state, like the store below
      const name = `fs.promises write 1MiB baseline${durable ? ' durable' : ''}`;
      const r = await rate(name, async () => {
        await fh.write(value1m, 0, MIB, (i++ % BIG_KEYS) * MIB);
        if (durable) await fh.datasync();
      }, MIB, ctx, { time });
      await fh.close();
      baseline[durable ? 'durable' : 'default'] = r.perSecond;
      rows.push({ name, suite: 'vos', bytesPerSecond: r.perSecond, opsPerSecond: r.perSecond / MIB, extra: { samples: r.samples } });
    }

    // ---------------------------------------------------------------- 1 MiB array extents
    for (const durable of [false, true]) {
      const t = await VosTarget.open(path.join(root, durable ? 'big-durable' : 'big'), { scmBytes: 16 * MIB, dataBytes: (2 * BIG_KEYS + 16) * MIB, durable });
      let i = 0;
      let epoch = 0n;
      for (let k = 0; k < BIG_KEYS; k++) await t.updateArray(++epoch, 2n, dkeys[k]!, akey, { index: 0, count: MIB }, value1m); // warm
      const name = `vos write 1MiB array ${durable ? 'durable' : 'default'}`;
      // Overwrites allocate new extents; aggregation frees the old ones, so the steady state
      // includes one aggregate per BIG_KEYS / 2 writes (else the data file fills: NO_SPACE).
      const w = await rate(name, async () => {
        await t.updateArray(++epoch, 2n, dkeys[i++ % BIG_KEYS]!, akey, { index: 0, count: MIB }, value1m);
        if (i % (BIG_KEYS / 2) === 0) await t.aggregate(epoch);
      }, MIB, ctx, { time });
      const base = baseline[durable ? 'durable' : 'default']!;
      rows.push({
        name, suite: 'vos', bytesPerSecond: w.perSecond, opsPerSecond: w.perSecond / MIB,
        peer: `fs.promises write 1MiB baseline${durable ? ' durable' : ''}`,
        extra: { ratioToBaseline: w.perSecond / base, target: durable ? '-' : 0.7, engine: t.ioEngine, direct: t.directIo, samples: w.samples },
      });
      if (!durable) {
        let j = 0;
        const rr = await rate('vos read 1MiB array', () => t.fetchArray(epoch, 2n, dkeys[j++ % BIG_KEYS]!, akey, { index: 0, count: MIB }), MIB, ctx, { time });
        rows.push({ name: 'vos read 1MiB array', suite: 'vos', bytesPerSecond: rr.perSecond, opsPerSecond: rr.perSecond / MIB, extra: { engine: t.ioEngine, direct: t.directIo, samples: rr.samples } });
      }
      await t.close();
    }
  } finally {
    removeTempDir(root);
  }
  return rows;
}
