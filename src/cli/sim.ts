/**
 * `cairn sim`: the placement simulator. Places objects on a simulated pool (regular, or blocks of
 * nodes of different shapes with `--shape`), applies changes in the order given and reports
 * balance, load per fault domain against its weight, fault domain violations, movement against
 * the ideal, rebuild fan-out, parity load and placement rate, as a table or (`--json`) one JSON
 * object; `--compare` runs several algorithms on the same pool side by side. See
 * placement/simulate.ts.
 */
import { writeFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CairnError } from '../../core/errors.js';
import {
  simulate, describeChange, PLACEMENT_ALGOS, MAX_SIM_DKEYS, DEFAULT_SIM_DKEYS,
  type SimChange, type SimReport, type PlacementAlgo, type PoolShape, type SimOptions,
} from '../../placement/index.js';
import { simPlotSvg } from './svg.js';

/** Objects placed when `--objects` is not given. */
export const DEFAULT_SIM_OBJECTS = 1_000_000;
/** Objects below which no progress bar is shown. */
const PROGRESS_MIN_OBJECTS = 200_000;
/** Most blocks in a `--shape`. */
const MAX_SHAPE_BLOCKS = 64;

/** A bad command line: one line on stderr, exit code 2 (handled by main.ts). */
class SimUsageError extends CairnError {
  constructor(message: string) { super('USAGE', message); }
}

function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim())) throw new SimUsageError(`--${name} must be an integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (n < min || n > max) throw new SimUsageError(`--${name} must be in [${min}, ${max}], got ${n}`);
    return n;
  };
}

function parseTargetSpec(opt: 'fail' | 'drain' | 'reintegrate', v: string, allowRank: boolean): SimChange {
  const m = /^(target|rank):(\d+)$/.exec(v.trim());
  if (!m || (m[1] === 'rank' && !allowRank)) {
    throw new SimUsageError(`--${opt} expects ${allowRank ? 'target:ID or rank:ID' : 'target:ID'}, got ${JSON.stringify(v)}`);
  }
  const id = Number(m[2]);
  if (opt === 'drain') return { kind: 'drain', target: id };
  if (opt === 'reintegrate') return { kind: 'reintegrate', target: id };
  return m[1] === 'rank' ? { kind: 'fail-rank', rank: id } : { kind: 'fail', target: id };
}

/** `4x2x8,2x2x4@0.5`: blocks of nodes x ranks per node x targets per rank (@ target weight). */
export function parseShape(v: string): PoolShape[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.length > MAX_SHAPE_BLOCKS) throw new SimUsageError(`--shape takes 1..${MAX_SHAPE_BLOCKS} blocks, got ${parts.length}`);
  return parts.map((p) => {
    const m = /^(\d+)x(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?$/.exec(p);
    if (!m) throw new SimUsageError(`--shape expects blocks like 4x2x8 or 2x2x4@0.5 (nodes x ranks/node x targets/rank @ target weight), got ${JSON.stringify(p)}`);
    const [nodes, ranksPerNode, targetsPerRank] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (nodes < 1 || ranksPerNode < 1 || targetsPerRank < 1 || nodes > 1 << 14 || ranksPerNode > 1024 || targetsPerRank > 1024) {
      throw new SimUsageError(`--shape block ${p}: nodes in [1, 16384], ranks per node and targets per rank in [1, 1024]`);
    }
    const block: PoolShape = { nodes, ranksPerNode, targetsPerRank };
    if (m[4] !== undefined) {
      const w = Number(m[4]);
      if (!(w > 0)) throw new SimUsageError(`--shape block ${p}: the target weight must be positive`);
      block.targetWeight = w;
    }
    return block;
  });
}

/** `jump-map,ring,straw2-like`: distinct known algorithms. */
function parseAlgos(v: string): PlacementAlgo[] {
  const algos = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const a of algos) if (!PLACEMENT_ALGOS.includes(a as PlacementAlgo)) throw new SimUsageError(`unknown algorithm ${JSON.stringify(a)} in --compare (have ${PLACEMENT_ALGOS.join(', ')})`);
  if (algos.length < 1 || new Set(algos).size !== algos.length) throw new SimUsageError('--compare takes distinct algorithms separated by commas, e.g. jump-map,ring,straw2-like');
  return algos as PlacementAlgo[];
}

/** Refuse a `--plot` path that cannot be written, before any work: one line, exit code 2. */
function checkPlotPath(path: string): string {
  const full = resolve(path);
  if (!/\.svg$/i.test(full)) throw new SimUsageError(`--plot expects a file name ending in .svg, got ${JSON.stringify(path)}`);
  let dir;
  try { dir = statSync(dirname(full)); } catch { throw new SimUsageError(`--plot: directory ${JSON.stringify(dirname(full))} does not exist`); }
  if (!dir.isDirectory()) throw new SimUsageError(`--plot: ${JSON.stringify(dirname(full))} is not a directory`);
  try { if (statSync(full).isDirectory()) throw new SimUsageError(`--plot: ${JSON.stringify(path)} is a directory`); } catch (e) { if (e instanceof SimUsageError) throw e; }
  return full;
}

interface SimFlags {
  nodes: number; ranksPerNode: number; targetsPerRank: number; shape?: string; class: string; objects: number; algo: string;
  seed: number; dkeys: number; json?: boolean; plot?: string; compare?: string;
}

/** Register `cairn sim` on `program`. */
export function registerSim(program: Command): void {
  const changes: SimChange[] = [];
  const cmd = program
    .command('sim')
    .description('placement simulator: place objects, apply pool changes, report balance, movement and rebuild fan-out')
    .option('--nodes <N>', 'nodes in the pool', int('nodes', 1, 1 << 14), 16)
    .option('--ranks-per-node <R>', 'engines (ranks) per node', int('ranks-per-node', 1, 1024), 8)
    .option('--targets-per-rank <T>', 'targets per rank', int('targets-per-rank', 1, 1024), 8)
    .option('--shape <blocks>', 'heterogeneous pool instead of --nodes/--ranks-per-node/--targets-per-rank: blocks NxRxT[@W], e.g. 4x2x8,2x2x4 (@W = target weight)')
    .option('--class <C>', 'object class, e.g. EC_8P2G1, RP_3G1, S1, EC_4P2GX', 'EC_8P2G1')
    .option('--objects <M>', 'objects to place', int('objects', 1, 50_000_000), DEFAULT_SIM_OBJECTS)
    .option('--algo <A>', `placement algorithm: ${PLACEMENT_ALGOS.join(', ')}`, 'jump-map')
    .option('--compare <A,B,...>', `run several algorithms on the same pool and print them side by side (${PLACEMENT_ALGOS.join(',')})`)
    .option('--fail <spec>', 'fail target:ID or rank:ID (repeatable, applied in order)', (v: string) => { changes.push(parseTargetSpec('fail', v, true)); return v; })
    .option('--extend <K>', 'add K nodes shaped like the last one (repeatable, applied in order)', (v: string) => { changes.push({ kind: 'extend', nodes: int('extend', 1, 1 << 14)(v) }); return v; })
    .option('--drain <spec>', 'drain target:ID (repeatable, applied in order)', (v: string) => { changes.push(parseTargetSpec('drain', v, false)); return v; })
    .option('--reintegrate <spec>', 'bring back failed target:ID (repeatable, applied in order)', (v: string) => { changes.push(parseTargetSpec('reintegrate', v, false)); return v; })
    .option('--seed <S>', 'seed of the object ids', int('seed', 0, 0xffffffff), 1)
    .option('--dkeys <D>', 'dkeys per object for the parity load (EC classes)', int('dkeys', 1, MAX_SIM_DKEYS), DEFAULT_SIM_DKEYS)
    .option('--json', 'print one JSON object on stdout')
    .option('--plot <file.svg>', 'write an SVG: load histogram, moved vs ideal per step, load per node');
  cmd.action((o: SimFlags) => {
    if (!PLACEMENT_ALGOS.includes(o.algo as PlacementAlgo)) throw new SimUsageError(`unknown --algo ${JSON.stringify(o.algo)} (have ${PLACEMENT_ALGOS.join(', ')})`);
    const algos = o.compare !== undefined ? parseAlgos(o.compare) : [o.algo as PlacementAlgo];
    if (o.compare !== undefined && cmd.getOptionValueSource('algo') === 'cli') throw new SimUsageError('give either --algo or --compare, not both');
    let shape: PoolShape[] | undefined;
    if (o.shape !== undefined) {
      shape = parseShape(o.shape);
      for (const k of ['nodes', 'ranksPerNode', 'targetsPerRank']) {
        if (cmd.getOptionValueSource(k) === 'cli') throw new SimUsageError('give either --shape or --nodes/--ranks-per-node/--targets-per-rank, not both');
      }
    }
    const plot = o.plot !== undefined ? checkPlotPath(o.plot) : undefined;
    const showBar = process.stderr.isTTY === true && o.objects * (changes.length + 1) * algos.length >= PROGRESS_MIN_OBJECTS;
    const bar = showBar ? new cliProgress.SingleBar({ format: 'placing [{bar}] {percentage}% {value}/{total} object layouts', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
    const reports: SimReport[] = [];
    let barStarted = false;
    try {
      algos.forEach((algo, a) => {
        const opts: SimOptions = {
          nodes: o.nodes, ranksPerNode: o.ranksPerNode, targetsPerRank: o.targetsPerRank, shape,
          oclass: o.class, objects: o.objects, algo, changes: [...changes], seed: o.seed, dkeys: o.dkeys,
          onProgress: bar ? (done, total) => {
            const all = total * algos.length, at = a * total + done;
            if (!barStarted) { bar.start(all, at); barStarted = true; } else bar.update(at);
          } : undefined,
        };
        reports.push(simulate(opts));
      });
    } catch (err) {
      bar?.stop();
      if (err instanceof CairnError && err.code !== 'ASSERTION_FAILED') throw new SimUsageError(err.message);
      throw err;
    }
    bar?.stop();
    if (plot) {
      try { writeFileSync(plot, simPlotSvg(reports)); }
      catch (err) { throw new CairnError('IO_ERROR', `--plot: cannot write ${plot}: ${(err as Error).message}`); }
    }
    const strip = (r: SimReport) => { const { loads: _loads, nodesFinal: _nodes, ...rest } = r; return rest; };
    if (o.json) {
      const out = algos.length === 1 && o.compare === undefined ? strip(reports[0]!) : {
        compare: algos, class: reports[0]!.class, objects: reports[0]!.objects, seed: reports[0]!.seed, pool: reports[0]!.pool,
        reports: reports.map(strip),
      };
      process.stdout.write(JSON.stringify(out) + '\n');
    } else {
      process.stdout.write(o.compare !== undefined ? formatCompare(reports) : formatTable(reports[0]!));
    }
  });
}

function pct(x: number): string { return (100 * x).toFixed(3); }

/** Columns of a table, first left-aligned, others right-aligned. */
function columns(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)];
}

/** The human-readable report. */
export function formatTable(r: SimReport): string {
  const lines: string[] = [];
  lines.push(`cairn sim: ${r.algo}, ${r.class} (${r.shardsPerObject} shards/object), ${r.objects} objects, pool ${r.pool.nodes} nodes / ${r.pool.ranks} ranks / ${r.pool.targets} targets (${r.pool.shape}), seed ${r.seed}`);
  const head = ['step', 'targets', 'min', 'mean', 'max', 'max/mean', 'stddev', 'violations', 'moved', 'moved%', 'ideal%', 'moved/ideal', 'node dev%', 'rank dev%', 'parity max/mean', 'fanout src/dst', 'objects/s', 'cpu objects/s'];
  const rows = r.steps.map((s) => [
    s.change, String(s.targets), String(s.load.min), s.load.mean.toFixed(1), String(s.load.max), s.load.maxOverMean.toFixed(4),
    s.load.stddev.toFixed(1), String(s.violations), String(s.moved.shards), pct(s.moved.fraction), pct(s.moved.idealFraction),
    s.change === 'initial' ? '-' : s.moved.ratio.toFixed(3),
    (100 * s.domainLoad.node.maxDeviation).toFixed(2), (100 * s.domainLoad.rank.maxDeviation).toFixed(2),
    s.parityLoad ? s.parityLoad.maxOverMean.toFixed(4) : '-',
    s.rebuildFanout ? `${s.rebuildFanout.sources}/${s.rebuildFanout.destinations}` : '-', Math.round(s.objectsPerSecond).toLocaleString('en-US'),
    Math.round(s.cpuObjectsPerSecond).toLocaleString('en-US'),
  ]);
  lines.push(...columns(head, rows));
  lines.push('(node/rank dev% = largest |load share / weight share - 1| over in-service nodes / ranks; objects/s against wall-clock time, cpu objects/s against this process\'s CPU time)');
  if (r.parity) {
    lines.push(`parity rotation per dkey (${r.parity.dkeysPerObject} dkeys/object): busiest shard of a group takes ${r.parity.groupMaxOverMean.rotated.toFixed(2)}x the group mean of parity writes (fixed roles: ${r.parity.groupMaxOverMean.fixed.toFixed(2)}x)`);
  }
  if (r.pool.shape.includes(',') || r.pool.shape.includes('@')) {
    lines.push('', 'final layout per node:');
    lines.push(...columns(['node', 'targets', 'weight', 'weight%', 'shards', 'load%', 'load/weight'],
      r.nodesFinal.map((d) => [String(d.index), String(d.targets), String(+d.weight.toFixed(3)), pct(d.weightShare), String(d.shards), pct(d.loadShare), d.weightShare > 0 ? (d.loadShare / d.weightShare).toFixed(4) : '-'])));
  }
  return lines.join('\n') + '\n';
}

/** Several algorithms on the same pool: one row per step and metric, one column per algorithm. */
export function formatCompare(reports: SimReport[]): string {
  const r0 = reports[0]!;
  const lines = [`cairn sim --compare: ${r0.class} (${r0.shardsPerObject} shards/object), ${r0.objects} objects, pool ${r0.pool.nodes} nodes / ${r0.pool.ranks} ranks / ${r0.pool.targets} targets (${r0.pool.shape}), seed ${r0.seed}`];
  const metrics: [string, (s: SimReport['steps'][number]) => string][] = [
    ['max/mean', (s) => s.load.maxOverMean.toFixed(4)],
    ['violations', (s) => String(s.violations)],
    ['moved%', (s) => pct(s.moved.fraction)],
    ['ideal%', (s) => pct(s.moved.idealFraction)],
    ['moved/ideal', (s) => (s.change === 'initial' ? '-' : s.moved.ratio.toFixed(3))],
    ['node dev%', (s) => (100 * s.domainLoad.node.maxDeviation).toFixed(2)],
    ['fanout src/dst', (s) => (s.rebuildFanout ? `${s.rebuildFanout.sources}/${s.rebuildFanout.destinations}` : '-')],
    ['objects/s', (s) => Math.round(s.objectsPerSecond).toLocaleString('en-US')],
    ['cpu objects/s', (s) => Math.round(s.cpuObjectsPerSecond).toLocaleString('en-US')],
  ];
  const rows: string[][] = [];
  r0.steps.forEach((s, i) => {
    for (const [name, f] of metrics) {
      if (s.change === 'initial' && (name === 'moved%' || name === 'ideal%' || name === 'moved/ideal' || name === 'fanout src/dst')) continue;
      rows.push([`${s.change}: ${name}`, ...reports.map((r) => f(r.steps[i]!))]);
    }
  });
  lines.push(...columns(['step: metric', ...reports.map((r) => r.algo)], rows));
  return lines.join('\n') + '\n';
}

export { describeChange };
