/**
 * The embedded Cairn library: pools, containers, objects, KV and Array APIs, transactions.
 */
export type { PoolScrubReport, ScrubFindingObject } from './pool/scrub.js';
export type { RebuildStatus } from './pool/pool.js';
export { Pool, type PoolCreateOptions, type PoolOpenOptions, type ContainerCreateOptions, type PoolQuery, type TargetQuery } from './pool/pool.js';
export { Container, type ContainerProps, type Snapshot, type CommitEvent, type ReadOptions } from './container/container.js';
export { Transaction, TxObject } from './container/tx.js';
export { CairnObject, type ObjectOptions, type ArrayValue, type FetchOptions, type Recx, type Key, type KeyRange } from './object/object.js';
export { KeyValue, type KvBatchOp } from './object/kv.js';
export { ArrayObject, type ArrayOptions } from './object/array.js';
export { ObjectError } from './object/errors.js';
export * from './media/index.js';
export * from './vos/index.js';
