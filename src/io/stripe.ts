/**
 * Erasure-coded array geometry: how a byte range of an object's array akey maps onto the k data
 * cells and p parity cells of consecutive stripes. Stripe s covers object bytes
 * [s*k*cell, (s+1)*k*cell); its data cell c lives on data shard c at shard-local bytes
 * [s*cell, (s+1)*cell), and every parity shard holds its parity cell at the same shard-local range,
 * so consecutive stripes are contiguous on every shard (one shard I/O per request).
 */

/** One piece of a request that falls in one data cell. */
export interface CellSpan {
  stripe: number;
  cell: number;           // data shard index 0..k-1
  cellOffset: number;     // offset inside the cell
  length: number;
  requestOffset: number;  // offset inside the caller's buffer
}

/** Split the object byte range [offset, offset+length) into per-cell spans, in order. */
export function cellSpans(offset: number, length: number, k: number, cell: number): CellSpan[] {
  const out: CellSpan[] = [];
  const stripeBytes = k * cell;
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const stripe = Math.floor(pos / stripeBytes);
    const inStripe = pos - stripe * stripeBytes;
    const c = Math.floor(inStripe / cell);
    const cellOffset = inStripe - c * cell;
    const len = Math.min(cell - cellOffset, end - pos);
    out.push({ stripe, cell: c, cellOffset, length: len, requestOffset: pos - offset });
    pos += len;
  }
  return out;
}

/** First and last stripe touched by [offset, offset+length) (length > 0). */
export function stripeRange(offset: number, length: number, k: number, cell: number): { first: number; last: number } {
  const stripeBytes = k * cell;
  return { first: Math.floor(offset / stripeBytes), last: Math.floor((offset + length - 1) / stripeBytes) };
}

/** Shard-local byte offset of a position inside a cell of a stripe. */
export function shardOffset(stripe: number, cell: number, cellOffset: number): number {
  return stripe * cell + cellOffset;
}
