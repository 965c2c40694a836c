/**
 * `cairn pool create|query`, `cairn cont create|list|destroy|snapshot`,
 * `cairn target exclude|reintegrate`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Pool } from '../index.js'; // the entry: it also loads the network layer behind Pool.connect
import { UsageError } from './errors.js';
import { intOpt, sizeOpt, poolDir, fmtBytes, progressBar, readSecret, poolOptions, checkNewPoolDir, etcdUrls, removeOnSignal } from './util.js';

/** How a command opens an embedded pool. */
export interface WithPoolOptions {
  /**
   * A command that only reads: when another process holds the pool (`POOL_BUSY`, an application
   * has it open) or the pool is on a read-only filesystem (`READ_ONLY`), open it read-only instead
   * and read every commit finished so far.
   */
  readOnlyIfBusy?: boolean;
}

/** Codes of a read-write open that a read-only open of the same pool gets past. */
const READ_ONLY_SUFFICES: ReadonlySet<unknown> = new Set(['POOL_BUSY', 'READ_ONLY']);

/** Open the pool of a command, run `fn`, always close. */
export async function withPool<T>(o: { pool?: string; etcd?: string; secretFile?: string }, fn: (p: Pool) => Promise<T>, how: WithPoolOptions = {}): Promise<T> {
  const pool = o.etcd !== undefined
    ? await Pool.connect({ etcd: etcdUrls(o.etcd), pool: poolDir(o), secret: readSecret(o), ...(process.env.CAIRN_TLS_CA ? { tls: { ca: readFileSync(process.env.CAIRN_TLS_CA) } } : {}) })
    : await openLocal(poolDir(o), how);
  try { return await fn(pool); } finally { await pool.close(); }
}

/** Open an embedded pool, read-only when it is busy or on a read-only mount and the command only reads. */
async function openLocal(dir: string, how: WithPoolOptions): Promise<Pool> {
  try {
    return await Pool.open(dir);
  } catch (err) {
    if (!how.readOnlyIfBusy || !READ_ONLY_SUFFICES.has((err as { code?: unknown } | null)?.code)) throw err;
    return Pool.open(dir, { readOnly: true });
  }
}

/** `withPool` for commands that only read (they fall back to a read-only open on a busy pool or a read-only mount). */
const READS: WithPoolOptions = { readOnlyIfBusy: true };

/** Wait for rebuild / rebalance, with a progress bar on a terminal. */
async function waitWithProgress(p: Pool, label: string): Promise<void> {
  let bar: ReturnType<typeof progressBar> | undefined;
  const on = (st: { objectsDone: number; objectsTotal: number }) => { bar ??= progressBar(st.objectsTotal, label); bar.update(st.objectsDone); };
  p.on('rebuild', on);
  try { await p.waitForRebuild(); } finally { p.off('rebuild', on); bar?.stop(); }
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2);

export function registerPoolCommands(program: Command): void {
  const pool = program.command('pool').description('create and inspect pools');
  pool.command('create')
    .description('create a pool directory of nodes x ranks x targets')
    .option('-p, --pool <dir>', 'pool directory (default $CAIRN_POOL or ./cairn-pool)')
    .option('--nodes <n>', 'nodes (top-level fault domains)', '2')
    .option('--ranks-per-node <n>', 'engines per node', '2')
    .option('--targets-per-rank <n>', 'targets per engine', '2')
    .option('--scm-bytes <size>', 'metadata file size per target', '64M')
    .option('--data-bytes <size>', 'data file size per target (sparse)', '1G')
    .action(async (o) => {
      const shape = {
        nodes: intOpt('nodes', o.nodes, 2), ranksPerNode: intOpt('ranks-per-node', o.ranksPerNode, 2),
        targetsPerRank: intOpt('targets-per-rank', o.targetsPerRank, 2),
        scmBytes: sizeOpt('scm-bytes', o.scmBytes, 64 << 20), dataBytes: sizeOpt('data-bytes', o.dataBytes, 1 << 30),
      };
      await checkNewPoolDir(poolDir(o));
      // SIGINT/SIGTERM before the pool is complete and closed removes what was written
      const q = await removeOnSignal(poolDir(o), async () => {
        const p = await Pool.create(poolDir(o), shape);
        const query = p.query();
        await p.close();
        return query;
      });
      console.log(`created pool ${q.uuid} in ${poolDir(o)}: ${q.targets.length} targets`);
    });
  poolOptions(pool.command('query')
    .description('targets, states, space and repair state of a pool'))
    .option('--json', 'print JSON')
    .action(async (o) => withPool(o, async (p) => {
      const q = p.query();
      if (o.json) { console.log(json(q)); return; }
      console.log(`pool ${q.uuid}  map version ${q.mapVersion}  containers ${q.containers}`);
      console.log(`space used ${fmtBytes(q.space.used)} of ${fmtBytes(q.space.total)}  io ${q.ioEngine ?? '-'}  shards awaiting repair ${q.badShards}`);
      const r = q.rebuild;
      console.log(`rebuild ${r.state}${r.state === 'running' ? `: ${r.objectsDone}/${r.objectsTotal} objects, ${fmtBytes(r.bytes)}, eta ${Math.round(r.etaSeconds ?? 0)} s` : ''}${r.lost.length ? `  lost objects ${r.lost.length}` : ''}${r.error ? `  (${r.error})` : ''}`);
      console.log('target  node  rank  state    used');
      for (const t of q.targets) console.log(`${String(t.id).padStart(6)}  ${String(t.node).padStart(4)}  ${String(t.rank).padStart(4)}  ${t.state.padEnd(7)}  ${fmtBytes(t.spaceUsed)}`);
    }, READS));

  poolOptions(pool.command('scrub')
    .description('verify every shard checksum and repair bad shards from redundancy'))
    .option('--json', 'print the report as JSON')
    .action(async (o) => withPool(o, async (p) => {
      let bar: ReturnType<typeof progressBar> | undefined;
      const report = await p.scrub({ onProgress: ({ objectsDone, objectsTotal }) => { bar ??= progressBar(objectsTotal, 'scrub'); bar.update(objectsDone); } });
      bar?.stop();
      if (o.json) { console.log(json(report)); return; }
      console.log(`scrubbed ${report.containers} containers, ${report.objects} objects, ${report.shardsChecked} shards, ${fmtBytes(report.bytesChecked)}`);
      console.log(`bad shards ${report.bad.length}: repaired ${report.repaired}, unrepairable ${report.unrepairable}`);
      for (const b of report.bad) console.log(`  ${b.container} ${b.oid} shard ${b.shard} on target ${b.target}: ${b.code}${b.repaired ? ' (repaired)' : ' (NOT repaired)'}`);
      if (report.unrepairable) process.exitCode = 1;
    }));
  poolOptions(pool.command('extend')
    .description('add nodes of the same shape; data rebalances onto them'))
    .requiredOption('--nodes <n>', 'nodes to add')
    .action(async (o) => {
      const nodes = intOpt('nodes', o.nodes, 1);
      await withPool(o, async (p) => {
        const ids = await p.extend({ nodes });
        await waitWithProgress(p, 'rebalance');
        console.log(`added targets ${ids[0]}..${ids[ids.length - 1]}; rebalance ${p.rebuildStatus().state}`);
      });
    });

  const cont = program.command('cont').description('manage containers');
  poolOptions(cont.command('create <label>'))
    .option('--oclass <class>', 'default object class, e.g. EC_4P2GX, RP_3G1, S1')
    .option('--rf <n>', 'redundancy factor', '0')
    .option('--cell-size <size>', 'EC cell size', '64K')
    .action(async (label, o) => {
      const props = { oclass: o.oclass, redundancyFactor: intOpt('rf', o.rf, 0, 0), cellSize: sizeOpt('cell-size', o.cellSize, 65536) };
      await withPool(o, async (p) => {
        const c = await p.createContainer(label, props);
        console.log(`created container ${c.label} ${c.uuid} oclass ${c.props.oclass} rf ${c.props.redundancyFactor}`);
      });
    });
  poolOptions(cont.command('list'))
    .option('--json', 'print JSON')
    .action(async (o) => withPool(o, async (p) => {
      const cs = await p.listContainers();
      if (o.json) { console.log(json(cs)); return; }
      for (const c of cs) console.log(`${c.label}\t${c.uuid}\t${c.props.oclass}\trf=${c.props.redundancyFactor}`);
    }, READS));
  poolOptions(cont.command('destroy <label>'))
    .action(async (label, o) => withPool(o, async (p) => { await p.destroyContainer(label); console.log(`destroyed ${label}`); }));
  poolOptions(cont.command('snapshot <label> [name]'))
    .option('--list', 'list snapshots instead')
    .option('--json', 'with --list: print a JSON array of {name, epoch}')
    .action(async (label, name, o) => {
      if (o.json && !o.list) throw new UsageError('--json goes with --list');
      if (o.list && name !== undefined) throw new UsageError(`--list takes no snapshot name, got ${JSON.stringify(name)}`);
      await withPool(o, async (p) => {
        const c = await p.openContainer(label);
        if (o.list) {
          const snaps = c.listSnapshots();
          if (o.json) console.log(json(snaps));
          else for (const s of snaps) console.log(`${s.name}\t${s.epoch}`);
          return;
        }
        const s = await c.snapshot(name);
        console.log(`snapshot ${s.name} at epoch ${s.epoch}`);
      }, o.list ? READS : {});
    });

  const target = program.command('target').description('exclude or reintegrate targets');
  poolOptions(target.command('exclude <id>'))
    .action(async (id, o) => {
      const t = targetId(id);
      await withPool(o, async (p) => {
        await p.exclude(t);
        console.log(`target ${t} excluded (DOWN); I/O continues degraded; rebuilding`);
        await waitWithProgress(p, 'rebuild');
        const st = p.rebuildStatus();
        console.log(`rebuild ${st.state}: ${st.objectsDone} objects, ${fmtBytes(st.bytes)} rebuilt from ${st.sources ?? 0} targets onto ${st.destinations ?? 0}; target ${t} is ${p.query().targets[t]!.state}`);
      });
    });
  for (const [verb, done] of [['reintegrate', 'reintegrated'], ['drain', 'drained']] as const) {
    poolOptions(target.command(`${verb} <id>`))
      .action(async (id, o) => {
        const t = targetId(id);
        await withPool(o, async (p) => {
          await p[verb](t);
          await waitWithProgress(p, verb);
          console.log(`target ${t} ${done}: ${p.query().targets[t]!.state}`);
        });
      });
  }
}

/** The target id argument of `target exclude|reintegrate|drain`. */
const targetId = (id: string): number => intOpt('id', id, 0, 0, Number.MAX_SAFE_INTEGER, 'target id');
