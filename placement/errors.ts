/**
 * Typed errors of the placement layer. Codes are stable; callers branch on `code`.
 */
import { CairnError } from '../core/errors.js';

/** Stable codes of `PlacementError`. */
export type PlacementErrorCode =
  | 'PLACEMENT_INVALID_ARGUMENT' // a number, key or option outside its documented domain
  | 'POOL_MAP_INVALID'           // a pool map description breaks a rule (duplicate ids, empty domain...)
  | 'POOL_MAP_CORRUPTED'         // serialized bytes fail magic, version or checksum
  | 'POOL_MAP_ILLEGAL_TRANSITION'// a target state change not allowed from its current state
  | 'UNKNOWN_OBJECT_CLASS'       // a class name or id Cairn does not define
  | 'UNKNOWN_TARGET'             // a target (or rank) id not in the pool map
  | 'PLACEMENT_INSUFFICIENT_TARGETS' // more shards in a group than (eligible) targets
  | 'PLACEMENT_OUT_OF_MEMORY';       // the wasm core could not grow its memory for a batch

/** Any failure of the placement layer. */
export class PlacementError extends CairnError {
  declare readonly code: PlacementErrorCode;
  constructor(code: PlacementErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
