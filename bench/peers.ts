/**
 * Peer comparison of benchmark rows: a row names its peer (what users would pick instead,
 * measured in the same run) and gets `ratio`, oriented so that > 1 always means "better than the
 * peer" — a rate divided by the peer's rate, or the peer's seconds (bytes) divided by the row's
 * for durations and memory. Also the one-line rendering run.ts prints for each row.
 */
import { fmtBytes, fmtRate, fmtSeconds, type BenchRow, type RatioBasis } from './harness.js';

/** Bases tried in this order when a row does not name one. */
const BASES: readonly RatioBasis[] = ['bytesPerSecond', 'opsPerSecond', 'seconds', 'rssBytes'];
/** Bases where lower figures are better. */
const LOWER_IS_BETTER = new Set<RatioBasis>(['seconds', 'rssBytes']);

/** The basis two rows are compared on, or undefined when they share no usable figure. */
export function ratioBasis(row: BenchRow, peer: BenchRow): RatioBasis | undefined {
  const usable = (r: BenchRow, b: RatioBasis) => typeof r[b] === 'number' && Number.isFinite(r[b]) && r[b]! > 0;
  if (row.ratioBasis) return usable(row, row.ratioBasis) && usable(peer, row.ratioBasis) ? row.ratioBasis : undefined;
  return BASES.find((b) => usable(row, b) && usable(peer, b));
}

/** `row` against `peer` (> 1: better than the peer), or undefined when not comparable or aborted. */
export function peerRatio(row: BenchRow, peer: BenchRow): number | undefined {
  if (row.aborted || peer.aborted) return undefined;
  const basis = ratioBasis(row, peer);
  if (!basis) return undefined;
  const a = row[basis]!, b = peer[basis]!;
  return LOWER_IS_BETTER.has(basis) ? b / a : a / b;
}

/**
 * Fill `ratio` (and `ratios` for `alsoVs`) of every row that names peers found in `rows` (any
 * suite of the run). Rows whose peer is missing or not comparable keep `ratio` undefined.
 */
export function applyPeers(rows: BenchRow[]): void {
  const byName = new Map(rows.map((r) => [r.name, r]));
  for (const r of rows) {
    delete r.ratio; delete r.ratios;
    const peer = r.peer !== undefined ? byName.get(r.peer) : undefined;
    if (peer) {
      const x = peerRatio(r, peer);
      if (x !== undefined) r.ratio = x;
      const basis = ratioBasis(r, peer);
      if (basis && !r.ratioBasis) r.ratioBasis = basis;
    }
    for (const other of r.alsoVs ?? []) {
      const o = byName.get(other);
      const x = o ? peerRatio(r, o) : undefined;
      if (x !== undefined) (r.ratios ??= {})[other] = x;
    }
  }
}

/** The row's main figure as text (`61.2 k/s`, `1.23 GB/s`, `812 ms`, `512 MiB`). */
export function figure(r: BenchRow, basis?: RatioBasis): string {
  const b = basis ?? BASES.find((x) => typeof r[x] === 'number');
  switch (b) {
    case 'bytesPerSecond': return fmtRate(r.bytesPerSecond, 'B');
    case 'opsPerSecond': return fmtRate(r.opsPerSecond, 'ops');
    case 'seconds': return fmtSeconds(r.seconds);
    case 'rssBytes': return fmtBytes(r.rssBytes);
    default: return '-';
  }
}

/** Ratio text: `0.42x`. */
export function fmtRatio(x: number): string {
  return x >= 100 ? `${x.toFixed(0)}x` : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toPrecision(2)}x`;
}

/** The comparison suffix of a row: `ratio=0.42x vs "classic-level put ..." (61.2 k/s) target>=1.0x MISSED`. */
export function comparisonText(r: BenchRow, byName: ReadonlyMap<string, BenchRow>): string {
  const parts: string[] = [];
  if (r.aborted) parts.push(`ABORTED: ${r.aborted}`);
  if (r.peer !== undefined) {
    const peer = byName.get(r.peer);
    if (!peer) parts.push(`peer "${r.peer}" missing`);
    else if (r.ratio === undefined) parts.push(`vs "${r.peer}" (${peer.aborted ? 'aborted' : figure(peer)}): no ratio`);
    else {
      parts.push(`ratio=${fmtRatio(r.ratio)} vs "${r.peer}" (${figure(peer, r.ratioBasis)})`);
      if (r.targetRatio !== undefined) parts.push(`target>=${r.targetRatio}x ${r.ratio >= r.targetRatio ? 'met' : 'MISSED'}`);
    }
  }
  for (const [name, x] of Object.entries(r.ratios ?? {})) parts.push(`${fmtRatio(x)} vs "${name}"`);
  return parts.join('; ');
}
