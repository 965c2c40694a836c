/**
 * What freshness costs a reader "now" on a connected pool (issue 15; docs/scale.md "Freshness"):
 * `node --import tsx bench/engines-fresh.ts [ms]` starts etcd and 4 `cairn engine` processes (2
 * targets each, as the `engines` suite), writes K small objects, then runs reads "now" of random
 * ones (qd `READ_QD`) for `ms` each in three phases: alone; while another client (a second
 * connection, its own clock slot) overwrites the same keys; while the reader's own pool overwrites
 * them (its own commits in flight hold its reads below the oldest one). Per phase it prints reads
 * and writes per second, read latency (median, p99), `shard.fetchSingle` calls and STALE_EPOCH
 * refusals per read (a refusal costs a round trip: the read is made again above the write), and
 * reads that returned a value older (by commit epoch) than one acknowledged before the read began
 * (must be 0), and writes acknowledged at an epoch below a write to their key acknowledged before
 * they began (a write ordered before one that finished before it started). Values are u32
 * sequence numbers mapped to their commit epochs. Not a suite (no `.bench.ts`).
 */
import { Cluster } from './cluster.js';
import { RpcClient } from '../src/net/rpc.js';
import { batchMethods, decodeBatchReply } from '../src/net/link.js';
import type { Pool } from '../index.js';

const PHASE_MS = Number(process.argv[2] ?? 3000);
/** Objects read and written. */
const K = Number(process.env.CAIRN_FRESH_KEYS ?? 64);
const READ_QD = Number(process.env.CAIRN_FRESH_READ_QD ?? 8);
const WRITE_QD = Number(process.env.CAIRN_FRESH_WRITE_QD ?? 4);
const CLASS = process.env.CLASS ?? 'EC_2P1G1';

/**
 * Calls and STALE_EPOCH refusals of the read method, counted at the RPC client (both pools of
 * this process); reads batched with the other reads of their turn (link.ts) are counted by item.
 */
const stats = { reads: 0, stale: 0 };
const orig = RpcClient.prototype.call;
RpcClient.prototype.call = function (this: RpcClient, method, header, payload, o) {
  const p = orig.call(this, method, header, payload, o);
  if (method === 'engine.batch') {
    const methods = batchMethods(payload);
    if (!methods.includes('shard.fetchSingle')) return p;
    stats.reads += methods.filter((m) => m === 'shard.fetchSingle').length;
    return p.then((r) => { for (const x of decodeBatchReply(r, methods.length, 'engine')) if ((x as { code?: string }).code === 'STALE_EPOCH') stats.stale++; return r; });
  }
  if (method !== 'shard.fetchSingle') return p;
  stats.reads++;
  return p.catch((err: unknown) => { if ((err as { code?: string }).code === 'STALE_EPOCH') stats.stale++; throw err; });
};

const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: '1024M', warmUp: true });
const pools: Pool[] = [];
try {
  const reader = await cluster.connect();
  pools.push(reader);
  const other = await cluster.connect();
  pools.push(other);
  const rc = await reader.createContainer('fresh', { oclass: CLASS });
  const oc = await other.openContainer('fresh');
  await Promise.all([rc.openTargets(), oc.openTargets()]);
  /**
   * Per key, the highest commit epoch acknowledged so far; per value (sequence number), its commit
   * epoch once acknowledged. A read "now" must return a value whose epoch is at least the key's
   * highest epoch acknowledged before the read began (a value still in flight has no epoch yet:
   * it is newer). A write acknowledged with an epoch below a write to its key acknowledged before
   * it began is counted apart: it is ordered before a write that finished before it started.
   */
  const ackedEpoch: bigint[] = new Array(K).fill(0n);
  const epochOfSeq = new Map<number, bigint>();
  let seq = 1, belowEarlier = 0;
  const put = async (cont: typeof rc, k: number) => {
    const s = seq++;
    const v = new Uint8Array(100);
    new DataView(v.buffer).setUint32(0, s, true);
    const before = ackedEpoch[k]!;
    const e = await cont.object(`k${k}`).update('d', 'a', v);
    epochOfSeq.set(s, e);
    if (e < before) belowEarlier++;
    if (e > ackedEpoch[k]!) ackedEpoch[k] = e;
  };
  for (let k = 0; k < K; k++) await put(rc, k);
  // Warm-up: reads and writes of both clients (JIT), not counted.
  const warmEnd = performance.now() + 2000;
  await Promise.all([
    ...Array.from({ length: READ_QD }, async () => { while (performance.now() < warmEnd) await rc.object(`k${(Math.random() * K) | 0}`).fetch('d', 'a'); }),
    ...Array.from({ length: WRITE_QD }, async () => { while (performance.now() < warmEnd) await put(oc, (Math.random() * K) | 0); }),
  ]);
  console.log(`set-up and warm-up: ${seq - 1} writes, ${belowEarlier} acknowledged below an earlier acknowledged write to their key`);
  const phases: Array<{ name: string; writer?: typeof rc }> = [
    { name: 'reads alone' }, { name: 'reads + another client writing the keys', writer: oc }, { name: 'reads + own writes to the keys in flight', writer: rc },
  ];
  for (const ph of phases) {
    const s0 = { ...stats };
    let reads = 0, writes = 0, staleValues = 0, failed = 0;
    const below0 = belowEarlier;
    const lat: number[] = [];
    const end = performance.now() + PHASE_MS;
    const t0 = performance.now();
    await Promise.all([
      ...Array.from({ length: READ_QD }, async () => {
        while (performance.now() < end) {
          const k = (Math.random() * K) | 0;
          const floor = ackedEpoch[k]!;
          const a = performance.now();
          try {
            const v = await rc.object(`k${k}`).fetch('d', 'a');
            lat.push(performance.now() - a);
            reads++;
            const got = v ? epochOfSeq.get(new DataView(v.buffer, v.byteOffset, v.length).getUint32(0, true)) : -1n;
            if (got !== undefined && got < floor) staleValues++;
          } catch (err) {
            failed++;
            if (failed <= 3) console.log(`${ph.name}: a read failed: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
          }
        }
      }),
      ...(ph.writer ? Array.from({ length: WRITE_QD }, async () => { while (performance.now() < end) { await put(ph.writer!, (Math.random() * K) | 0); writes++; } }) : []),
    ]);
    const s = (performance.now() - t0) / 1000;
    lat.sort((x, y) => x - y);
    const calls = stats.reads - s0.reads, stale = stats.stale - s0.stale;
    console.log(`${ph.name}: ${(reads / s).toFixed(0)} reads/s, ${(writes / s).toFixed(0)} writes/s; read median ${lat[lat.length >> 1]?.toFixed(2)} ms, p99 ${lat[Math.floor(lat.length * 0.99)]?.toFixed(2)} ms; per read: ${(calls / Math.max(1, reads)).toFixed(3)} fetchSingle calls, ${(stale / Math.max(1, reads)).toFixed(4)} STALE_EPOCH refusals (${stale} in all); values older than an acknowledged write: ${staleValues}; failed reads: ${failed}; writes acknowledged below an earlier acknowledged write to their key: ${belowEarlier - below0} of ${writes}`);
  }
} finally {
  for (const p of pools) await p.close().catch(() => undefined);
  await cluster.stop();
}
