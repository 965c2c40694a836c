/**
 * Extents of a byte (or record) array: `{ index, count }` ranges. The one extent merger of Cairn:
 * listings report the written ranges of an array sorted and coalesced, whichever layer made them.
 */
import { assert } from './errors.js';

/** A range of an array: `count` units starting at `index`. */
export interface Extent { index: number; count: number }

/** Sort `xs` by start and merge overlapping or adjacent extents. */
export function mergeExtents(xs: readonly Extent[]): Extent[] {
  const s = [...xs].sort((a, b) => a.index - b.index);
  const out: Extent[] = [];
  for (const x of s) {
    assert(Number.isSafeInteger(x.index) && x.index >= 0 && Number.isSafeInteger(x.count) && x.count >= 0, 'extents are non-negative safe integers', { index: x.index, count: x.count });
    const last = out[out.length - 1];
    if (last && x.index <= last.index + last.count) last.count = Math.max(last.count, x.index + x.count - last.index);
    else out.push({ index: x.index, count: x.count });
  }
  return out;
}
