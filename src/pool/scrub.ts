/**
 * Scrub: verify everything a pool holds and repair what is damaged from redundancy.
 *
 *   1. Metadata, on every target: the target store checks every block of its index (and knows
 *      whether its log or manifest was found damaged). A target damaged as a whole is rebuilt
 *      from the other targets; a damaged block names the key range it covered.
 *   2. Data, per object: every shard is read at every read point (each snapshot and the stable
 *      epoch), which verifies every value checksum on the way. Shards that fail, shards a damaged
 *      block covered, and shards that reads already found bad are collected.
 *   3. Repair: each collected shard is rebuilt in place from its group's other shards.
 *   4. Heal: damaged blocks are dropped from their targets (their content was just rewritten),
 *      then the repaired shards are read back.
 */
import { containerPort, type ContainerCore } from '../container/container.js';
import { unitOid, type ShardStore } from '../io/shard-store.js';
import { groupShards } from '../io/io.js';
import { repairShard, readPoints } from './migrate.js';
import { throwIfAborted } from '../../core/errors.js';
import { debugLog } from '../../core/log.js';

/** Largest span read in one step while verifying an array extent. */
export const SCRUB_CHUNK = 4 * 1024 * 1024;

/** One bad shard (or target) found by scrub. */
export interface ScrubFindingObject {
  container: string; oid: string; shard: number; target: number;
  code: string; message: string;
  repaired: boolean;
}

/** What `pool.scrub()` reports. */
export interface PoolScrubReport {
  containers: number; objects: number; shardsChecked: number; bytesChecked: number;
  /** Index blocks verified on the targets. */
  blocksChecked: number;
  /** Targets rebuilt as a whole (their log or manifest was damaged, or their files missing). */
  targetsRebuilt: number[];
  bad: ScrubFindingObject[];
  repaired: number; unrepairable: number;
}

/** Key ranges of damaged index blocks on one target, per container uuid (undefined uuid: every container). */
export interface DamagedRanges { ranges: Array<{ uuid?: string; lo: bigint; hi?: bigint }> }

/** Whether unit object `u` of container `uuid` lies in a damaged range. */
export function inDamagedRange(d: DamagedRanges | undefined, uuid: string, u: bigint): boolean {
  if (!d) return false;
  return d.ranges.some((r) => (r.uuid === undefined || r.uuid === uuid) && u >= r.lo && (r.hi === undefined || u <= r.hi));
}

/** A shard scrub must rebuild. */
export interface ShardToRepair { cont: ContainerCore; label: string; oid: bigint; shard: number; target: number; code: string; message: string }

/**
 * Phase 2 for one container: read every shard (except those already known bad) and collect the
 * shards to repair. `known` are shards reads already reported bad (oid -> shard set); `damaged`
 * the damaged ranges per target.
 */
export async function findBadShards(cont: ContainerCore, report: PoolScrubReport, out: ShardToRepair[], opts: { signal?: AbortSignal; known?: Map<bigint, Set<number>>; damaged: Map<number, DamagedRanges>; onObject?: () => void }): Promise<void> {
  const port = containerPort(cont);
  const points = readPoints(cont, await port.quiesce());
  const io = port.io();
  report.containers++;
  for await (const oid of cont.listObjects({ signal: opts.signal })) {
    throwIfAborted(opts.signal);
    report.objects++;
    const { groups } = port.layout(oid);
    for (let g = 0; g < groups.length; g++) {
      for (const { shard, target } of groupShards(groups, g)) {
        if (!io.available(target)) continue;
        report.shardsChecked++;
        const u = unitOid(oid, shard);
        let failure: { code: string; message: string } | undefined;
        if (opts.known?.get(oid)?.has(shard)) failure = { code: 'CORRUPTED', message: 'a read found this shard bad' };
        else if (inDamagedRange(opts.damaged.get(target), cont.uuid, u)) failure = { code: 'CORRUPTED', message: 'a damaged block of its target\'s index covered this shard' };
        try {
          if (!failure) report.bytesChecked += await verifyShard(await io.store(target), u, points);
        } catch (err) {
          failure = { code: (err as { code?: string }).code ?? 'IO_ERROR', message: (err as Error).message };
        }
        if (failure) out.push({ cont, label: cont.label, oid, shard, target, ...failure });
      }
    }
    opts.onObject?.();
  }
}

/**
 * Phase 2's containers: every one that opens. One that cannot (both copies of its metadata, or its
 * journal, damaged) stops alone: it is reported (unrepairable, `oid` '*') and the others are
 * scrubbed.
 */
export async function openContainers<C>(labels: string[], open: (label: string) => Promise<C>, report: PoolScrubReport): Promise<C[]> {
  const out: C[] = [];
  for (const label of labels) {
    try {
      out.push(await open(label));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ABORTED' || code === 'POOL_CLOSED') throw err;
      report.bad.push({ container: label, oid: '*', shard: -1, target: -1, code: code ?? 'IO_ERROR', message: (err as Error).message, repaired: false });
      report.unrepairable++;
    }
  }
  return out;
}

/** Phase 3: rebuild each shard in place; returns those rebuilt. */
export async function repairShards(list: ShardToRepair[], signal?: AbortSignal): Promise<Set<ShardToRepair>> {
  const done = new Set<ShardToRepair>();
  const pointsOf = new Map<ContainerCore, bigint[]>();
  // every bad shard of an object: none is a source for the repair of another (a damaged shard may
  // read as valid-looking holes once a failed repair started on it)
  const badOf = new Map<ContainerCore, Map<bigint, Set<number>>>();
  for (const r of list) {
    const m = badOf.get(r.cont) ?? new Map<bigint, Set<number>>();
    badOf.set(r.cont, m);
    m.set(r.oid, (m.get(r.oid) ?? new Set()).add(r.shard));
  }
  for (const r of list) {
    throwIfAborted(signal);
    let points = pointsOf.get(r.cont);
    if (!points) { points = readPoints(r.cont, await containerPort(r.cont).quiesce()); pointsOf.set(r.cont, points); }
    try {
      await repairShard(r.cont, r.oid, r.shard, points, badOf.get(r.cont)!.get(r.oid)!);
      done.add(r);
    } catch (err) {
      // Counted in the report (`unrepairable`); the cause is logged under CAIRN_DEBUG=scrub.
      debugLog('scrub.repair-failed', `container ${r.label} object ${r.oid.toString(16)} shard ${r.shard}`, err);
    }
  }
  return done;
}

/** Phase 4 (after heal): read repaired shards back; records the findings in the report. */
export async function confirmRepairs(list: ShardToRepair[], rebuilt: Set<ShardToRepair>, report: PoolScrubReport): Promise<void> {
  for (const r of list) {
    const finding: ScrubFindingObject = { container: r.label, oid: r.oid.toString(16), shard: r.shard, target: r.target, code: r.code, message: r.message, repaired: false };
    if (rebuilt.has(r)) {
      try {
        const port = containerPort(r.cont);
        await verifyShard(await port.io().store(r.target), unitOid(r.oid, r.shard), readPoints(r.cont, await port.quiesce()));
        finding.repaired = true;
      } catch (err) {
        debugLog('scrub.repair-not-readable', `container ${r.label} object ${r.oid.toString(16)} shard ${r.shard}`, err);
      }
    }
    if (finding.repaired) report.repaired++; else report.unrepairable++;
    report.bad.push(finding);
  }
}

/** Read everything a shard holds at each read point; throws what the store throws. */
async function verifyShard(store: ShardStore, u: bigint, points: bigint[]): Promise<number> {
  let bytes = 0;
  for (const R of points) {
    for await (const d of store.listDkeys(R, u)) {
      for await (const a of store.listAkeys(R, u, d)) {
        const kind = await store.akeyKind(R, u, d, a);
        if (kind === 'single') {
          bytes += (await store.fetchSingle(R, u, d, a))?.length ?? 0;
        } else if (kind === 'array') {
          const xs: Array<{ index: number; count: number }> = [];
          for await (const x of store.listRecx(R, u, d, a)) xs.push(x);
          for (const x of xs) {
            for (let off = x.index; off < x.index + x.count; off += SCRUB_CHUNK) {
              const len = Math.min(SCRUB_CHUNK, x.index + x.count - off);
              bytes += (await store.fetchArray(R, u, d, a, { index: off, count: len })).data.length;
            }
          }
        }
      }
    }
  }
  return bytes;
}
