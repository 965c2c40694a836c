/**
 * Placement layer: jump consistent hash, pool map, object classes and ids, dkey hashing, parity
 * rotation and the layout engines (jump-map with its weighted reservoir for added domains, ring,
 * straw2-like). Core loops run in build/placement.wasm. See docs/placement.md.
 */
export { PlacementError } from './errors.js';
export { jumpConsistentHash, jumpConsistentHashBatch, jumpConsistentHashReference, MAX_JUMP_BUCKETS } from './jump.js';
export {
  PoolMap, TARGET_STATES, ELIGIBLE_STATES, MAX_POOL_TARGETS, MAX_POOL_LEVELS, MAX_TARGET_WEIGHT,
  type TargetState, type TargetInfo, type PoolMapJSON, type DomainJSON, type TargetJSON, type PlacementJSON, type PoolShape,
} from './poolmap.js';
export {
  parseObjectClass, formatObjectClass, objectClassById, toObjectClass, resolveGroups, OBJECT_CLASS_NAMES, OBJECT_CLASS_IDS, MAX_OBJECT_CLASS_ID,
  MAX_GROUP_SIZE, MAX_CLASS_GROUPS, MAX_GX_GROUPS, type ObjectClass,
} from './classes.js';
export { makeObjectId, objectClassOf, objectTypeOf, objectGroupsOf, objectUserPart, OID_USER_BITS, OID_USER_MAX, OID_MAX, OID_MAX_GROUPS } from './oid.js';
export { dkeyGroup, DKEY_HASH_SEED } from './dkey.js';
export { parityRotation, parityRotationOfHalves, dkeyParityRotation, positionOfRole, roleOfPosition, rolePositions } from './parity.js';
export { reservoirStages, reservoirInclusion, type ReservoirStages } from './reservoir.js';
export {
  createPlacement, PLACEMENT_ALGOS, RING_VNODES, BATCH_CHUNK_OBJECTS, BATCH_CHUNK_SHARDS, MAX_SHARED_LAYOUTS, MAX_SHARED_SHARDS,
  type Placement, type PlacementAlgo, type Layout, type LayoutBatch, type SharedLayout,
} from './engine.js';
export {
  simulate, describeChange, describeShape, loadStats, MAX_SIM_SHARDS, MAX_SIM_OBJECTS, DEFAULT_SIM_DKEYS, MAX_SIM_DKEYS,
  type SimChange, type SimOptions, type SimReport, type SimStep, type LoadStats, type DomainLoad, type DomainRow,
} from './simulate.js';
export { referenceLayout } from './reference.js';
export { sweepMovement, SWEEP_CLASSES, SWEEP_CHANGES, type SweepRow, type SweepOptions } from './sweep.js';
