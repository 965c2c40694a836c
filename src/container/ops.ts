/**
 * The mutations a commit carries. A plain `update` is a commit of one op; a transaction commits
 * all of its buffered ops at one epoch.
 */
import { hex } from '../../core/bytes.js';
import { conflictKey, type ConflictKey } from './conflicts.js';
import type { ArrayWriteShape } from '../io/io.js';

export type Op =
  | { kind: 'single'; oid: bigint; dkey: Uint8Array; akey: Uint8Array; value: Uint8Array }
  | { kind: 'array'; oid: bigint; dkey: Uint8Array; akey: Uint8Array; offset: number; data: Uint8Array; pieces?: ArrayWriteShape['pieces']; zeroBase?: boolean }
  | { kind: 'punchObject'; oid: bigint }
  | { kind: 'punchDkey'; oid: bigint; dkey: Uint8Array }
  | { kind: 'punchAkey'; oid: bigint; dkey: Uint8Array; akey: Uint8Array };

/** What an op's conflict key is made of (no value: kept while a commit's keys are set aside). */
export type OpTarget =
  | { kind: 'punchObject'; oid: bigint }
  | { kind: 'punchDkey'; oid: bigint; dkey: Uint8Array }
  | { kind: 'single' | 'array' | 'punchAkey'; oid: bigint; dkey: Uint8Array; akey: Uint8Array };

/** `op` without its value. */
export function opTarget(op: Op): OpTarget {
  switch (op.kind) {
    case 'punchObject': return { kind: op.kind, oid: op.oid };
    case 'punchDkey': return { kind: op.kind, oid: op.oid, dkey: op.dkey };
    default: return { kind: op.kind, oid: op.oid, dkey: op.dkey, akey: op.akey };
  }
}

/** The conflict key an op writes: its object (punch), dkey (dkey punch) or akey. */
export function opConflictKey(op: Op | OpTarget): ConflictKey {
  switch (op.kind) {
    case 'punchObject': return conflictKey(op.oid.toString(16));
    case 'punchDkey': return conflictKey(op.oid.toString(16), hex(op.dkey));
    default: return conflictKey(op.oid.toString(16), hex(op.dkey), hex(op.akey));
  }
}
