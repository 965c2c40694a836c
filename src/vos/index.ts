/**
 * Versioned object store (VOS) of one storage target: object -> dkey -> akey -> single values
 * and array extents, every write at an epoch, on a pmem-style log plus a block data file.
 */
export { VosTarget } from './target.js';
export type { VosOptions, Recx, AggregateStats, ScrubFinding, ScrubReport, VosUsage, VosOpenReport } from './target.js';
export { VosError } from './errors.js';

export {
  MAX_KEY_SIZE, MAX_VALUE_SIZE, MAX_RECORD_SIZE, MAX_EPOCH, DEFAULT_SCM_BYTES, DEFAULT_DATA_BYTES, DEFAULT_INLINE_THRESHOLD,
  MAX_INLINE_THRESHOLD, DATA_BLOCK,
} from './constants.js';
