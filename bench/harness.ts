/**
 * Shared benchmark plumbing: every suite returns rows named by their shape
 * (`encode 8+2 1MiB wasm-simd`), `bench/run.ts` prints them and writes bench/results/latest.json.
 *
 * Peers: a row names the row of what users would pick instead (`peer`), measured in the same run;
 * run.ts fills `ratio` (see bench/peers.ts) and prints it beside the row, with the peer's figure.
 */
import { Bench } from 'tinybench';

/** Which figure a ratio compares. Rates: higher is better; `seconds` and `rssBytes`: lower is better. */
export type RatioBasis = 'bytesPerSecond' | 'opsPerSecond' | 'seconds' | 'rssBytes';

/** One measured case. Rates are per second of wall time unless the name says otherwise. */
export interface BenchRow {
  /** Shape-stating name, stable across runs so results can be compared. */
  name: string;
  /** Suite that produced it (`ec`, `io`, `scale`, `vos`, `placement`, ...). */
  suite: string;
  /** Bytes of user data processed per second, where meaningful. */
  bytesPerSecond?: number;
  /** Operations (objects, keys, updates) per second, where meaningful. */
  opsPerSecond?: number;
  /** Wall seconds of a one-shot phase (reopen, 2,000 reads), where the figure is a duration. */
  seconds?: number;
  /** Resident set size in bytes, where the figure is memory. */
  rssBytes?: number;
  /**
   * Name of the row this one is compared with — what users would pick instead, measured in the
   * same run (`classic-level put 100B 32 in flight`). run.ts computes `ratio` from it.
   */
  peer?: string;
  /** Further rows to compare with; run.ts fills `ratios[name]` the same way as `ratio`. */
  alsoVs?: string[];
  /** The figure `ratio` compares; default: the first of bytesPerSecond, opsPerSecond, seconds, rssBytes both rows have. */
  ratioBasis?: RatioBasis;
  /**
   * This row against `peer`, oriented so that > 1 means better than the peer: rate / peer rate,
   * or peer seconds (bytes) / seconds (bytes) for durations and memory. Filled by run.ts.
   */
  ratio?: number;
  /** Ratios against the `alsoVs` rows (filled by run.ts). */
  ratios?: Record<string, number>;
  /** The ratio the tracking issue asks for (`ratio >= targetRatio`); run.ts prints met / MISSED. */
  targetRatio?: number;
  /** Set when the case was stopped early (timeout, memory guard): why. Figures are partial or absent. */
  aborted?: string;
  /** Free-form extra figures (latencies, sample counts, absolute targets). */
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
 * Time `fn` with tinybench and return its rate from the MEDIAN call time (robust on a shared,
 * loaded machine, where preemption inflates the mean), with the mean beside it. `unitsPerCall` is
 * bytes (or ops) processed by one call; the result is units per second.
 */
export async function rate(name: string, fn: () => unknown | Promise<unknown>, unitsPerCall: number, ctx: BenchContext, opts: { time?: number; iterations?: number; warmupIterations?: number; warmupMs?: number } = {}): Promise<{ perSecond: number; samples: number; meanMs: number; medianMs: number; cpuPerSecond: number }> {
  ctx.progress(name);
  // tinybench warms up for at least warmupIterations calls (its default, 16, costs seconds for slow kernels)
  const bench = new Bench({
    time: opts.time ?? (ctx.quick ? 60 : 500), iterations: opts.iterations ?? 5,
    warmup: true, warmupTime: opts.warmupMs ?? (ctx.quick ? 20 : 100), warmupIterations: opts.warmupIterations ?? (ctx.quick ? 2 : 8),
  });
  // units per CPU second of the whole process (every thread), warm-up calls included: on a shared
  // machine wall-clock rates swing with the load, CPU rates much less
  let calls = 0;
  bench.add(name, () => { calls++; return fn(); });
  const cpu0 = process.cpuUsage();
  await bench.run();
  const cpu = process.cpuUsage(cpu0);
  const cpuPerSecond = (calls * unitsPerCall) / Math.max(1e-6, (cpu.user + cpu.system) / 1e6);
  const task = bench.tasks[0]!;
  const result = task.result as unknown as { state?: string; latency?: { mean: number; p50?: number; samplesCount?: number; samples?: number[] }; error?: unknown };
  if (result?.state !== 'completed' || !result.latency) {
    throw new Error(`benchmark ${name} did not complete: ${String(result?.error ?? result?.state)}`);
  }
  const meanMs = result.latency.mean;
  const medianMs = result.latency.p50 ?? meanMs;
  const samples = result.latency.samplesCount ?? result.latency.samples?.length ?? 0;
  return { perSecond: (unitsPerCall / medianMs) * 1000, samples, meanMs, medianMs, cpuPerSecond };
}

/** One contender of `roundRobin`. */
export interface RoundRobinCase { name: string; fn: () => unknown | Promise<unknown>; unitsPerCall: number }
/** Median-based figures of one contender. */
export interface RoundRobinResult { perSecond: number; samples: number; medianMs: number; meanMs: number }

/**
 * Time several contenders of one comparison (a Cairn kernel and its peers) interleaved: in every
 * round each gets a slice of `sliceMs` (at least one call, each call timed alone), rounds repeat
 * until `budgetMs` is spent and at least `minRounds` ran. Rates come from the median call, so a
 * burst of load on a shared machine hits every contender alike instead of one of them.
 */
export async function roundRobin(cases: readonly RoundRobinCase[], ctx: BenchContext, opts: { budgetMs: number; sliceMs: number; minRounds?: number; label?: string }): Promise<Map<string, RoundRobinResult>> {
  const times = new Map(cases.map((c) => [c.name, [] as number[]]));
  for (const c of cases) await c.fn(); // warm-up: JIT, tables, first-touch of buffers
  const t0 = performance.now();
  for (let round = 0; round < (opts.minRounds ?? 3) || performance.now() - t0 < opts.budgetMs; round++) {
    ctx.progress(`${opts.label ?? cases[0]?.name ?? ''} round ${round + 1}`);
    for (const c of cases) {
      const mine = times.get(c.name)!;
      const sliceEnd = performance.now() + opts.sliceMs;
      do {
        const a = performance.now();
        await c.fn();
        mine.push(performance.now() - a);
      } while (performance.now() < sliceEnd);
    }
  }
  const out = new Map<string, RoundRobinResult>();
  for (const c of cases) {
    const xs = times.get(c.name)!;
    const medianMs = median(xs);
    out.set(c.name, { perSecond: (c.unitsPerCall / medianMs) * 1000, samples: xs.length, medianMs, meanMs: xs.reduce((x, y) => x + y, 0) / xs.length });
  }
  return out;
}

/** Run `fn(0..n-1)` with at most `depth` calls in flight (a fixed pool of `depth` workers). */
export async function inFlight(n: number, depth: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(depth, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** Wall seconds of `await fn()`. */
export async function seconds(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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

/** Human-readable duration: `812 ms`, `3.41 s`. */
export function fmtSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-';
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} us`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

/** Human-readable size: `512 MiB`, `1.50 GiB`. */
export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '-';
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 1024).toFixed(1)} KiB`;
}
