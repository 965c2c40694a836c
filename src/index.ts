/**
 * The Cairn library: pools (embedded, or connected to engines), containers, objects, KV and Array
 * APIs, transactions. Loading this entry also loads the network layer, which installs the
 * implementation of `Pool.connect` (the pool layer itself never imports the layer above it).
 */
import './net/connected.js';
export type { PoolScrubReport, ScrubFindingObject } from './pool/scrub.js';
export type { RebuildStatus, PoolEvents, ScrubProgress } from './pool/pool.js';
export { Pool, type PoolCreateOptions, type PoolOpenOptions, type ContainerCreateOptions, type PoolQuery, type TargetQuery, type ConnectOptions } from './pool/pool.js';
export { type ContainerProps, type Snapshot, type CommitEvent, type ReadOptions } from './container/container.js';
export { Container } from './object/handles.js';
export { Transaction, TxObject } from './object/transaction.js';
export { CairnObject, type ObjectOptions, type ArrayValue, type FetchOptions, type Recx, type Key, type KeyRange } from './object/object.js';
export { KeyValue, type KvBatchOp } from './object/kv.js';
export { ArrayObject, type ArrayOptions } from './object/array.js';
export { ObjectError } from './io/errors.js';
export { NetError } from './net/errors.js';
export { EtcdError } from './net/etcd.js';
export * from './media/index.js';
export * from './vos/index.js';
