/**
 * A minimal SVG line chart of per-target load before and after the simulated changes
 * (self-contained, no dependency: a few dozen lines of markup).
 */

/** Escape text for XML. */
function esc(s: string): string { return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]!)); }

/** An SVG document plotting `series` (shards per target id) with a title and legend. */
export function loadPlotSvg(title: string, series: { label: string; color: string; values: number[] }[]): string {
  const W = 1000, H = 420, L = 60, R = 20, T = 40, B = 50;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const vmax = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i: number) => L + (n <= 1 ? 0 : (i / (n - 1)) * (W - L - R));
  const y = (v: number) => T + (1 - v / vmax) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-family="sans-serif" font-size="15">${esc(title)}</text>`);
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`);
  parts.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = Math.round(vmax * f);
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-family="sans-serif" font-size="11">${v}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-family="sans-serif" font-size="12">target id (0..${n - 1})</text>`);
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${esc(s.color)}" stroke-width="1" points="${pts}"/>`);
    parts.push(`<text x="${L + 10 + k * 220}" y="${T - 6}" font-family="sans-serif" font-size="12" fill="${esc(s.color)}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
