/**
 * The versioned object store of a target (VOS): one `TargetStore` per target holds every
 * container (`ContainerStore` views), its index a log-structured merge tree inside the pmem file.
 * `VosTarget` is a target store with one default container, for direct use.
 */
export { TargetStore, DEFAULT_TARGET_SCM_BYTES, DEFAULT_TARGET_DATA_BYTES, geometryFor, staggeredRotateFill, valueChecksum } from './store.js';
export type { TargetOptions, TargetUsage, TargetOpenReport, ContState } from './store.js';
export { ContainerStore, LIST_PAGE } from './container-store.js';
export type { KeyRange, AggregateStats, AggregateOptions, Recx } from './container-store.js';
export { VosTarget, DEFAULT_CONTAINER } from './target.js';
export type { VosOptions, ScrubFinding, ScrubReport, VosUsage, VosOpenReport } from './target.js';
export type { BlockDamage } from './run.js';
export { VosError } from './errors.js';
export {
  MAX_KEY_SIZE, MAX_VALUE_SIZE, MAX_RECORD_SIZE, MAX_EPOCH, DEFAULT_SCM_BYTES, DEFAULT_DATA_BYTES, DEFAULT_INLINE_THRESHOLD,
  MAX_INLINE_THRESHOLD, DATA_BLOCK,
} from './constants.js';
