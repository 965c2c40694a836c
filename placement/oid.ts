/**
 * 128-bit object ids (as bigint), DAOS style: the high bits carry the object's type, class and
 * group count, so an object's layout is computable from its id and the pool map alone.
 *
 *   bits 127..120  type (8 bits, application defined, 0 by default)
 *   bits 119..112  class id (see OBJECT_CLASS_NAMES; 0 is invalid)
 *   bits 111..96   group count fixed at creation (0 = resolve from the pool map at layout time)
 *   bits  95..0    user part (e.g. a hash of a name, or a sequence number)
 */
import { PlacementError } from './errors.js';
import { describeValue } from '../core/describe.js';
import { objectClassById, toObjectClass, type ObjectClass } from './classes.js';

/** Bits of the user part of an object id. */
export const OID_USER_BITS = 96n;
/** Largest user part. */
export const OID_USER_MAX = (1n << OID_USER_BITS) - 1n;
/** Largest object id value. */
export const OID_MAX = (1n << 128n) - 1n;
/** Largest explicit group count stored in an id. */
export const OID_MAX_GROUPS = 0xffff;

/** Build an object id from its user part and class (plus optional type and fixed group count). */
export function makeObjectId(lo: bigint, oclass: ObjectClass | string, opts: { type?: number; groups?: number } = {}): bigint {
  if (typeof lo !== 'bigint' || lo < 0n || lo > OID_USER_MAX) {
    throw new PlacementError('INVALID_ARGUMENT', `object id user part must be a bigint in [0, 2^96), got ${describeValue(lo)}`);
  }
  const c = toObjectClass(oclass);
  if (opts === null || typeof opts !== 'object') throw new PlacementError('INVALID_ARGUMENT', `object id options must be an object, got ${describeValue(opts)}`);
  const type = opts.type ?? 0;
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new PlacementError('INVALID_ARGUMENT', `object type must be an integer in [0, 255], got ${describeValue(type)}`);
  const groups = opts.groups ?? 0;
  if (!Number.isInteger(groups) || groups < 0 || groups > OID_MAX_GROUPS) throw new PlacementError('INVALID_ARGUMENT', `groups must be an integer in [0, ${OID_MAX_GROUPS}], got ${describeValue(groups)}`);
  if (groups !== 0 && c.groups !== 'X' && groups !== c.groups) {
    throw new PlacementError('INVALID_ARGUMENT', `class ${c.name} has ${c.groups} group(s), not ${groups}`);
  }
  return (BigInt(type) << 120n) | (BigInt(c.id) << 112n) | (BigInt(groups) << 96n) | lo;
}

function checkOid(oid: bigint): void {
  if (typeof oid !== 'bigint' || oid < 0n || oid > OID_MAX) {
    throw new PlacementError('INVALID_ARGUMENT', `object id must be a bigint in [0, 2^128), got ${describeValue(oid)}`);
  }
}

/** The class encoded in `oid` (`UNKNOWN_OBJECT_CLASS` if its class bits name none). */
export function objectClassOf(oid: bigint): ObjectClass {
  checkOid(oid);
  return objectClassById(Number((oid >> 112n) & 0xffn));
}

/** The type byte of `oid`. */
export function objectTypeOf(oid: bigint): number { checkOid(oid); return Number(oid >> 120n); }

/** The group count fixed in `oid`, or 0 if it is resolved from the pool map. */
export function objectGroupsOf(oid: bigint): number { checkOid(oid); return Number((oid >> 96n) & 0xffffn); }

/** The user part of `oid`. */
export function objectUserPart(oid: bigint): bigint { checkOid(oid); return oid & OID_USER_MAX; }
