/**
 * `cairn sim`: the placement simulator. Places objects on a simulated pool, applies changes in
 * the order given and reports balance, fault domain violations, movement, rebuild fan-out and
 * placement rate, as a table or (`--json`) one JSON object. See placement/simulate.ts.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CairnError } from '../../core/errors.js';
import { simulate, describeChange, PLACEMENT_ALGOS, type SimChange, type SimReport, type PlacementAlgo } from '../../placement/index.js';
import { loadPlotSvg } from './svg.js';

/** Objects placed when `--objects` is not given. */
export const DEFAULT_SIM_OBJECTS = 1_000_000;
/** Objects below which no progress bar is shown. */
const PROGRESS_MIN_OBJECTS = 200_000;

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

function parseTargetSpec(opt: string, v: string, allowRank: boolean): SimChange {
  const m = /^(target|rank):(\d+)$/.exec(v.trim());
  if (!m || (m[1] === 'rank' && !allowRank)) {
    throw new SimUsageError(`--${opt} expects ${allowRank ? 'target:ID or rank:ID' : 'target:ID'}, got ${JSON.stringify(v)}`);
  }
  const id = Number(m[2]);
  if (opt === 'drain') return { kind: 'drain', target: id };
  return m[1] === 'rank' ? { kind: 'fail-rank', rank: id } : { kind: 'fail', target: id };
}

/** Register `cairn sim` on `program`. */
export function registerSim(program: Command): void {
  const changes: SimChange[] = [];
  program
    .command('sim')
    .description('placement simulator: place objects, apply pool changes, report balance, movement and rebuild fan-out')
    .option('--nodes <N>', 'nodes in the pool', int('nodes', 1, 1 << 14), 16)
    .option('--ranks-per-node <R>', 'engines (ranks) per node', int('ranks-per-node', 1, 1024), 8)
    .option('--targets-per-rank <T>', 'targets per rank', int('targets-per-rank', 1, 1024), 8)
    .option('--class <C>', 'object class, e.g. EC_8P2G1, RP_3G1, S1, EC_4P2GX', 'EC_8P2G1')
    .option('--objects <M>', 'objects to place', int('objects', 1, 50_000_000), DEFAULT_SIM_OBJECTS)
    .option('--algo <A>', `placement algorithm: ${PLACEMENT_ALGOS.join(', ')}`, 'jump-map')
    .option('--fail <spec>', 'fail target:ID or rank:ID (repeatable, applied in order)', (v: string) => { changes.push(parseTargetSpec('fail', v, true)); return v; })
    .option('--extend <K>', 'add K nodes of the same shape (repeatable, applied in order)', (v: string) => { changes.push({ kind: 'extend', nodes: int('extend', 1, 1 << 14)(v) }); return v; })
    .option('--drain <spec>', 'drain target:ID (repeatable, applied in order)', (v: string) => { changes.push(parseTargetSpec('drain', v, false)); return v; })
    .option('--seed <S>', 'seed of the object ids', int('seed', 0, 0xffffffff), 1)
    .option('--json', 'print one JSON object on stdout')
    .option('--plot <file.svg>', 'write an SVG of per-target load before and after')
    .action((o: { nodes: number; ranksPerNode: number; targetsPerRank: number; class: string; objects: number; algo: string; seed: number; json?: boolean; plot?: string }) => {
      if (!PLACEMENT_ALGOS.includes(o.algo as PlacementAlgo)) throw new SimUsageError(`unknown --algo ${JSON.stringify(o.algo)} (have ${PLACEMENT_ALGOS.join(', ')})`);
      const showBar = process.stderr.isTTY === true && o.objects * (changes.length + 1) >= PROGRESS_MIN_OBJECTS;
      const bar = showBar ? new cliProgress.SingleBar({ format: 'placing [{bar}] {percentage}% {value}/{total} object layouts', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
      let report: SimReport;
      let barStarted = false;
      try {
        report = simulate({
          nodes: o.nodes, ranksPerNode: o.ranksPerNode, targetsPerRank: o.targetsPerRank,
          oclass: o.class, objects: o.objects, algo: o.algo as PlacementAlgo, changes: [...changes], seed: o.seed,
          onProgress: bar ? (done, total) => { if (!barStarted) { bar.start(total, done); barStarted = true; } else bar.update(done); } : undefined,
        });
      } catch (err) {
        bar?.stop();
        if (err instanceof CairnError && err.code !== 'ASSERTION_FAILED') throw new SimUsageError(err.message);
        throw err;
      }
      bar?.stop();
      if (o.plot) {
        const last = report.steps[report.steps.length - 1]!;
        writeFileSync(o.plot, loadPlotSvg(`${report.algo} ${report.class}: shards per target, ${report.objects} objects`, [
          { label: 'initial', color: '#1f77b4', values: report.loads.initial },
          { label: `after ${last.change}`, color: '#d62728', values: report.loads.final },
        ]));
      }
      if (o.json) {
        const { loads: _loads, ...rest } = report;
        process.stdout.write(JSON.stringify(rest) + '\n');
      } else {
        process.stdout.write(formatTable(report));
      }
    });
}

/** The human-readable report. */
export function formatTable(r: SimReport): string {
  const lines: string[] = [];
  lines.push(`cairn sim: ${r.algo}, ${r.class} (${r.shardsPerObject} shards/object), ${r.objects} objects, pool ${r.pool.nodes} nodes / ${r.pool.ranks} ranks / ${r.pool.targets} targets, seed ${r.seed}`);
  const head = ['step', 'targets', 'min', 'mean', 'max', 'max/mean', 'stddev', 'violations', 'moved', 'moved%', 'ideal%', 'fanout src/dst', 'objects/s'];
  const rows = r.steps.map((s) => [
    s.change, String(s.targets), String(s.load.min), s.load.mean.toFixed(1), String(s.load.max), s.load.maxOverMean.toFixed(4),
    s.load.stddev.toFixed(1), String(s.violations), String(s.moved.shards), (100 * s.moved.fraction).toFixed(3), (100 * s.moved.idealFraction).toFixed(3),
    s.rebuildFanout ? `${s.rebuildFanout.sources}/${s.rebuildFanout.destinations}` : '-', Math.round(s.objectsPerSecond).toLocaleString('en-US'),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  lines.push(fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt));
  return lines.join('\n') + '\n';
}

export { describeChange };
