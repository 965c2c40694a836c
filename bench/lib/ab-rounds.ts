/**
 * Alternating base/new rounds for the connected A/B drivers (bench/engines-ab.ts, one cluster and
 * two client builds; bench/engines-xb.ts, one cluster per build): the same work per round, the
 * order flipped every round, each round's rate, the client's and the engines' CPU per op and the
 * client's minor page faults per op (each costs microseconds of kernel time on a VM).
 */
import { readFileSync } from 'node:fs';

/** Median (the upper middle of an even count). */
export const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

/** CPU time (user + system) of process `pid` so far, in ms (from /proc: 10 ms ticks). */
export const processCpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

/** One round's figures: ops per second, client CPU ms per op, engines' CPU ms per op, the client's minor page faults per op. */
export type RoundRow = [opsPerSecond: number, clientMsPerOp: number, enginesMsPerOp: number, clientMinorFaultsPerOp: number];

/**
 * `rounds` rounds of `run(side, n)` for each side, base first in even rounds and new first in odd
 * ones; prints each round and the medians (`unit` names the op), and returns the rows per side.
 */
export async function alternateRounds(rounds: number, n: number, run: (side: 'base' | 'new', n: number) => Promise<void>, enginePids: (side: 'base' | 'new') => number[], unit = 'op'): Promise<Record<'base' | 'new', RoundRow[]>> {
  const res: Record<'base' | 'new', RoundRow[]> = { base: [], new: [] };
  const enginesMs = (pids: number[]) => pids.reduce((a, p) => a + processCpuMs(p), 0);
  for (let r = 0; r < rounds; r++) {
    for (const k of (r % 2 ? ['new', 'base'] as const : ['base', 'new'] as const)) {
      const pids = enginePids(k);
      const c0 = process.cpuUsage(), e0 = enginesMs(pids), f0 = process.resourceUsage().minorPageFault, t0 = performance.now();
      await run(k, n);
      const c = process.cpuUsage(c0), e = enginesMs(pids) - e0, s = (performance.now() - t0) / 1000;
      const row: RoundRow = [n / s, (c.user + c.system) / 1000 / n, e / n, (process.resourceUsage().minorPageFault - f0) / n];
      res[k].push(row);
      console.log(`round ${r} ${k}: ${row[0].toFixed(0)}/s client ${row[1].toFixed(4)} ms/${unit} engines ${row[2].toFixed(4)} ms/${unit} client minflt ${row[3].toFixed(3)}/${unit}`);
    }
  }
  for (const k of ['base', 'new'] as const) {
    console.log(`median ${k}: ${median(res[k].map((x) => x[0])).toFixed(0)}/s client ${median(res[k].map((x) => x[1])).toFixed(4)} ms/${unit} engines ${median(res[k].map((x) => x[2])).toFixed(4)} ms/${unit} client minflt ${median(res[k].map((x) => x[3])).toFixed(3)}/${unit}`);
  }
  return res;
}
