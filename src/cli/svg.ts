/**
 * The SVG of `cairn sim --plot`: self-contained markup, no dependency. Panels stacked top-down,
 * each with labelled axes, tick marks and its legend in a column to the right of the plot area
 * (never over the data):
 *  1. histogram of shards per in-service target, initial and final layout;
 *  2. shards moved per step against the ideal, one bar per algorithm (several with --compare);
 *  3. load share over weight share per node of the final layout (1 = its fair share).
 */
import type { SimReport } from '../../placement/index.js';

/** Escape text for XML. */
function esc(s: string): string { return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]!)); }

/** Series colours (colour-blind safe, Okabe-Ito). */
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

const W = 1000;
const PLOT_LEFT = 80;
const PLOT_RIGHT = 770;   // the legend column starts to the right of this
const LEGEND_X = 790;
const PANEL_H = 250;
const PANEL_GAP = 80;
const TOP = 60;
const FONT = 'font-family="sans-serif"';

/** About `count` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const last = Math.ceil(hi / step - 1e-9) * step; // the last tick covers the data
  for (let v = Math.floor(lo / step) * step; v <= last + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** Format a tick value compactly. */
function fmt(v: number): string {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(3));
}

interface Panel { top: number; parts: string[] }

/** Axes box with ticks, grid and titles; returns the coordinate mappers. */
function axes(p: Panel, title: string, xTitle: string, yTitle: string, xTicks: { v: number; label: string }[], yTicks: number[], x: (v: number) => number, y: (v: number) => number): void {
  const bottom = p.top + PANEL_H;
  p.parts.push(`<text x="${PLOT_LEFT}" y="${p.top - 12}" ${FONT} font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const v of yTicks) {
    const yy = y(v).toFixed(1);
    p.parts.push(`<line x1="${PLOT_LEFT}" y1="${yy}" x2="${PLOT_RIGHT}" y2="${yy}" stroke="#e5e5e5"/>`);
    p.parts.push(`<line x1="${PLOT_LEFT - 5}" y1="${yy}" x2="${PLOT_LEFT}" y2="${yy}" stroke="black"/>`);
    p.parts.push(`<text x="${PLOT_LEFT - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" ${FONT} font-size="11">${esc(fmt(v))}</text>`);
  }
  for (const t of xTicks) {
    const xx = x(t.v).toFixed(1);
    p.parts.push(`<line x1="${xx}" y1="${bottom}" x2="${xx}" y2="${bottom + 5}" stroke="black"/>`);
    p.parts.push(`<text x="${xx}" y="${bottom + 18}" text-anchor="middle" ${FONT} font-size="11">${esc(t.label)}</text>`);
  }
  p.parts.push(`<line x1="${PLOT_LEFT}" y1="${bottom}" x2="${PLOT_RIGHT}" y2="${bottom}" stroke="black"/>`);
  p.parts.push(`<line x1="${PLOT_LEFT}" y1="${p.top}" x2="${PLOT_LEFT}" y2="${bottom}" stroke="black"/>`);
  p.parts.push(`<text x="${(PLOT_LEFT + PLOT_RIGHT) / 2}" y="${bottom + 38}" text-anchor="middle" ${FONT} font-size="12">${esc(xTitle)}</text>`);
  p.parts.push(`<text transform="translate(${PLOT_LEFT - 55},${p.top + PANEL_H / 2}) rotate(-90)" text-anchor="middle" ${FONT} font-size="12">${esc(yTitle)}</text>`);
}

/** Legend entries in the column right of the plot area. */
function legend(p: Panel, entries: { label: string; color: string; kind: 'box' | 'line' }[]): void {
  entries.forEach((e, i) => {
    const yy = p.top + 10 + i * 20;
    if (e.kind === 'box') p.parts.push(`<rect x="${LEGEND_X}" y="${yy - 9}" width="14" height="10" fill="${e.color}" fill-opacity="0.6" stroke="${e.color}"/>`);
    else p.parts.push(`<line x1="${LEGEND_X}" y1="${yy - 4}" x2="${LEGEND_X + 14}" y2="${yy - 4}" stroke="${e.color}" stroke-width="3"/>`);
    p.parts.push(`<text x="${LEGEND_X + 20}" y="${yy}" ${FONT} font-size="11">${esc(e.label.length > 26 ? e.label.slice(0, 25) + '…' : e.label)}</text>`);
  });
}

/** Panel 1: histogram of shards per in-service target (% of its layout's mean), initial vs final. */
function histogramPanel(p: Panel, r: SimReport): void {
  const last = r.steps[r.steps.length - 1]!;
  const out = new Set(r.loads.finalOut);
  const rel = (xs: number[]) => { const m = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length); return xs.map((x) => (m > 0 ? (100 * x) / m : 0)); };
  const series = [
    { label: 'initial layout', values: rel(r.loads.initial) },
    { label: `after ${last.change}`, values: rel(r.loads.final.filter((_, t) => !out.has(t))) },
  ];
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(95, ...all), hi = Math.max(105, ...all);
  const xTicks = niceTicks(lo, hi, 8);
  const x0 = xTicks[0]!, x1 = xTicks[xTicks.length - 1]!;
  const nb = 40, width = (x1 - x0) / nb;
  const counts = series.map((s) => { const c = new Array<number>(nb).fill(0); for (const v of s.values) c[Math.min(nb - 1, Math.floor((v - x0) / width))]!++; return c; });
  const cmax = Math.max(1, ...counts.flat());
  const yTicks = niceTicks(0, cmax, 5);
  const ytop = yTicks[yTicks.length - 1]!;
  const x = (v: number) => PLOT_LEFT + ((v - x0) / (x1 - x0)) * (PLOT_RIGHT - PLOT_LEFT);
  const y = (v: number) => p.top + (1 - v / ytop) * PANEL_H;
  axes(p, `Shards per in-service target (${r.algo}, ${r.class}, ${r.objects.toLocaleString('en-US')} objects)`, 'shards on a target, % of the mean of its layout', 'targets', xTicks.map((v) => ({ v, label: `${fmt(v)}%` })), yTicks, x, y);
  counts.forEach((c, k) => {
    const color = COLORS[k]!;
    c.forEach((n, b) => {
      if (n === 0) return;
      const xa = x(x0 + b * width), xb = x(x0 + (b + 1) * width);
      p.parts.push(`<rect x="${xa.toFixed(1)}" y="${y(n).toFixed(1)}" width="${Math.max(0.5, xb - xa - 0.5).toFixed(1)}" height="${(y(0) - y(n)).toFixed(1)}" fill="${color}" fill-opacity="0.45" stroke="${color}" stroke-width="0.5"/>`);
    });
  });
  legend(p, series.map((s, k) => ({ label: s.label, color: COLORS[k]!, kind: 'box' as const })));
}

/** Panel 2: moved vs ideal per step (after the initial layout), one bar per report. */
function movedPanel(p: Panel, reports: SimReport[]): void {
  const steps = reports[0]!.steps.slice(1);
  const vmax = Math.max(0.001, ...reports.flatMap((r) => r.steps.slice(1).flatMap((s) => [s.moved.fraction, s.moved.idealFraction]))) * 100;
  const yTicks = niceTicks(0, vmax, 5);
  const ytop = yTicks[yTicks.length - 1]!;
  const n = Math.max(1, steps.length);
  const slot = (PLOT_RIGHT - PLOT_LEFT) / n;
  const x = (v: number) => PLOT_LEFT + (v + 0.5) * slot;
  const y = (v: number) => p.top + (1 - v / ytop) * PANEL_H;
  axes(p, 'Shards moved per step against the ideal minimum', 'step', 'shards moved (% of all)', steps.map((s, i) => ({ v: i, label: s.change })), yTicks, x, y);
  const bw = Math.min(40, (slot * 0.7) / reports.length);
  steps.forEach((s, i) => {
    reports.forEach((r, k) => {
      const f = 100 * r.steps[i + 1]!.moved.fraction;
      const x0 = x(i) - (bw * reports.length) / 2 + k * bw;
      p.parts.push(`<rect x="${x0.toFixed(1)}" y="${y(f).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(y(0) - y(f)).toFixed(1)}" fill="${COLORS[k % COLORS.length]}" fill-opacity="0.7"/>`);
    });
    const ideal = 100 * s.moved.idealFraction;
    const half = (bw * reports.length) / 2 + 6;
    p.parts.push(`<line x1="${(x(i) - half).toFixed(1)}" y1="${y(ideal).toFixed(1)}" x2="${(x(i) + half).toFixed(1)}" y2="${y(ideal).toFixed(1)}" stroke="black" stroke-width="3"/>`);
  });
  legend(p, [
    ...reports.map((r, k) => ({ label: `moved, ${r.algo}`, color: COLORS[k % COLORS.length]!, kind: 'box' as const })),
    { label: 'ideal (minimum)', color: 'black', kind: 'line' as const },
  ]);
}

/** Panel 3: load share / weight share per node of the final layout (1 = its fair share). */
function nodesPanel(p: Panel, r: SimReport): void {
  const rows = r.nodesFinal.filter((d) => d.weightShare > 0);
  const ratio = rows.map((d) => d.loadShare / d.weightShare);
  const yTicks = niceTicks(Math.min(0.9, ...ratio), Math.max(1.1, ...ratio), 5);
  const y0 = yTicks[0]!, ytop = yTicks[yTicks.length - 1]!;
  const n = Math.max(1, rows.length);
  const slot = (PLOT_RIGHT - PLOT_LEFT) / n;
  const x = (v: number) => PLOT_LEFT + (v + 0.5) * slot;
  const y = (v: number) => p.top + (1 - (v - y0) / (ytop - y0)) * PANEL_H;
  const every = Math.max(1, Math.ceil(n / 24));
  axes(p, `Load per node against its weight (final layout, pool ${r.pool.shape})`, 'node', 'load share / weight share', rows.filter((_, i) => i % every === 0).map((d) => ({ v: rows.indexOf(d), label: String(d.index) })), yTicks, x, y);
  const bw = Math.max(1, slot * 0.6);
  rows.forEach((d, i) => {
    const v = ratio[i]!, top = Math.min(y(v), y(1)), h = Math.max(0.5, Math.abs(y(v) - y(1)));
    p.parts.push(`<rect x="${(x(i) - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[0]}" fill-opacity="0.7"/>`);
  });
  p.parts.push(`<line x1="${PLOT_LEFT}" y1="${y(1).toFixed(1)}" x2="${PLOT_RIGHT}" y2="${y(1).toFixed(1)}" stroke="black" stroke-width="2"/>`);
  legend(p, [{ label: 'node load / weight', color: COLORS[0]!, kind: 'box' }, { label: 'fair share (1.0)', color: 'black', kind: 'line' }]);
}

/** The SVG document for one report (or several on the same pool, from `--compare`). */
export function simPlotSvg(reports: SimReport[]): string {
  const r = reports[0]!;
  const panels = [histogramPanel, (p: Panel) => movedPanel(p, reports), nodesPanel];
  const H = TOP + panels.length * (PANEL_H + PANEL_GAP);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="26" text-anchor="middle" ${FONT} font-size="16">${esc(`cairn sim: ${r.class}, pool ${r.pool.shape} (${r.pool.targets} targets), seed ${r.seed}`)}</text>`);
  panels.forEach((draw, i) => {
    const p: Panel = { top: TOP + 20 + i * (PANEL_H + PANEL_GAP), parts };
    (draw as (p: Panel, r: SimReport) => void)(p, r);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
