/**
 * Shared benchmark plumbing: every suite returns rows named by their shape
 * (`encode 8+2 1MiB wasm-simd`), `bench/run.ts` prints them and writes bench/results/latest.json.
 */
import { Bench } from 'tinybench';

/** One measured case. Rates are per second of wall time on one core unless the name says otherwise. */
export interface BenchRow {
  /** Shape-stating name, stable across runs so results can be compared. */
  name: string;
  /** Suite that produced it (`ec`, `jump-hash`, `vos`, `placement`, ...). */
  suite: string;
  /** Bytes of user data processed per second, where meaningful. */
  bytesPerSecond?: number;
  /** Operations (objects, keys, updates) per second, where meaningful. */
  opsPerSecond?: number;
  /** Free-form extra figures (ratios, latencies, sample counts). */
  extra?: Record<string, unknown>;
}

/** What a suite gets from the runner. */
export interface BenchContext {
  /** Shorter runs (CAIRN_BENCH_QUICK=1), for smoke-testing the benchmarks themselves. */
  quick: boolean;
  /** Report progress; shown on a terminal only. */
  progress(message: string): void;
}

/** A benchmark suite module's default export. */
export type BenchSuite = (ctx: BenchContext) => Promise<BenchRow[]>;

/**
 * Time `fn` with tinybench and return its mean rate. `unitsPerCall` is bytes (or ops) processed
 * by one call; the result is units per second.
 */
export async function rate(name: string, fn: () => unknown | Promise<unknown>, unitsPerCall: number, ctx: BenchContext, opts: { time?: number; iterations?: number } = {}): Promise<{ perSecond: number; samples: number; meanMs: number }> {
  ctx.progress(name);
  const bench = new Bench({ time: opts.time ?? (ctx.quick ? 60 : 500), iterations: opts.iterations ?? 5, warmup: true, warmupTime: ctx.quick ? 20 : 100 });
  bench.add(name, fn as () => unknown);
  await bench.run();
  const task = bench.tasks[0]!;
  const result = task.result as unknown as { state?: string; latency?: { mean: number; samplesCount?: number; samples?: number[] }; error?: unknown };
  if (result?.state !== 'completed' || !result.latency) {
    throw new Error(`benchmark ${name} did not complete: ${String(result?.error ?? result?.state)}`);
  }
  const meanMs = result.latency.mean;
  const samples = result.latency.samplesCount ?? result.latency.samples?.length ?? 0;
  return { perSecond: (unitsPerCall / meanMs) * 1000, samples, meanMs };
}

/** Human-readable rate: `1.23 GB/s`, `456 k/s`. */
export function fmtRate(v: number | undefined, unit: 'B' | 'ops'): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (unit === 'B') {
    if (v >= 1e9) return `${(v / 1e9).toFixed(2)} GB/s`;
    if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB/s`;
    return `${(v / 1e3).toFixed(1)} kB/s`;
  }
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M/s`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k/s`;
  return `${v.toFixed(1)} /s`;
}
