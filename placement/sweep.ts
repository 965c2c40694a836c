/**
 * Movement sweep: runs the simulator over many pool shapes and classes with the same sequence of
 * changes and reports, per step, the moved fraction against max(ideal, safety) (`SimStep.moved`).
 * Used by test/placement/sweep.test.ts (small shapes, few objects) and for the figures in
 * docs/placement.md (more objects). Shapes whose initial pool cannot hold a group are skipped.
 */
import { simulate, describeChange, type SimChange } from './simulate.js';
import { parseObjectClass } from './classes.js';

/** One step of one simulated pool in a sweep. */
export interface SweepRow {
  shape: string;
  oclass: string;
  change: string;
  fraction: number;
  ideal: number;
  safety?: number;
  ratio: number;
  violations: number;
  /** Load max/mean over in-service targets after the step. */
  balance: number;
}

/** Sweep input: every combination of the lists (defaults: small pools, the classes of issue 17). */
export interface SweepOptions {
  nodes?: readonly number[];
  ranksPerNode?: readonly number[];
  targetsPerRank?: readonly number[];
  classes?: readonly string[];
  /** Changes applied in order to each pool (target ids must exist in every pool swept). */
  changes?: readonly SimChange[];
  objects?: number;
  seed?: number;
}

/** Classes the default sweep covers. */
export const SWEEP_CLASSES: readonly string[] = ['S1', 'RP_2G1', 'RP_3G1', 'EC_2P1G1', 'EC_4P2G1', 'EC_8P2G1', 'EC_16P2G1'];
/** Changes of the default sweep: a failure, extensions by one and two nodes around a reintegration. */
export const SWEEP_CHANGES: readonly SimChange[] = [
  { kind: 'fail', target: 1 }, { kind: 'extend', nodes: 1 }, { kind: 'reintegrate', target: 1 }, { kind: 'extend', nodes: 2 },
];

/** Run the sweep; `onRow` sees every step (initial layouts excluded). */
export function sweepMovement(opts: SweepOptions = {}, onRow?: (r: SweepRow) => void): SweepRow[] {
  const rows: SweepRow[] = [];
  const changes = [...(opts.changes ?? SWEEP_CHANGES)];
  for (const oclass of opts.classes ?? SWEEP_CLASSES) {
    const gs = parseObjectClass(oclass).groupSize;
    for (const nodes of opts.nodes ?? [1, 2, 3, 4, 6, 8]) {
      for (const ranksPerNode of opts.ranksPerNode ?? [1, 2, 4, 8]) {
        for (const targetsPerRank of opts.targetsPerRank ?? [4, 8, 16]) {
          if (nodes * ranksPerNode * targetsPerRank < Math.max(gs, 2)) continue;
          const r = simulate({ nodes, ranksPerNode, targetsPerRank, oclass, objects: opts.objects ?? 2000, changes, seed: opts.seed ?? 7, dkeys: 1 });
          r.steps.forEach((s, i) => {
            if (i === 0) return;
            const row: SweepRow = {
              shape: `${nodes}x${ranksPerNode}x${targetsPerRank}`, oclass, change: describeChange(changes[i - 1]!),
              fraction: s.moved.fraction, ideal: s.moved.idealFraction, ratio: s.moved.ratio, violations: s.violations, balance: s.load.maxOverMean,
            };
            if (s.moved.safetyFraction !== undefined) row.safety = s.moved.safetyFraction;
            rows.push(row);
            onRow?.(row);
          });
        }
      }
    }
  }
  return rows;
}
