/**
 * Validation of the arguments of the public API (pools, containers, handles). Every check throws
 * `INVALID_ARGUMENT` (an `ObjectError`) naming the argument, so bad input never escapes as a raw
 * TypeError or RangeError from deeper down, and never half-creates anything: public methods check
 * their arguments here before they change state.
 */
import { badArg } from '../io/errors.js';
import { MAX_EPOCH } from '../vos/index.js';
import type { ReadOptions, Snapshot } from '../container/container.js';
import type { ObjectClass } from '../../placement/index.js';
import { describeValue } from '../../core/describe.js';

/** A short, safe description of any value for messages (never throws). */
export { describeValue };

/**
 * The default of an omitted options argument: one frozen empty object shared by every call, so a
 * hot call (`kv(name).get(key)`) allocates no `{}` per default. Nothing writes to options objects.
 */
export const NO_OPTIONS: Readonly<Record<never, never>> = Object.freeze({});

/**
 * An options object: `undefined` means "all defaults" ({}); anything but a plain object (null,
 * numbers, strings, arrays, functions) is refused.
 */
export function optionsArg<T extends object>(opts: unknown, what: string): Partial<T> {
  if (opts === undefined) return NO_OPTIONS;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw badArg(`${what} must be an options object, got ${describeValue(opts)}`, { what });
  return opts as Partial<T>;
}

/** An optional `AbortSignal`. */
export function signalArg(signal: unknown, what = 'signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw badArg(`${what} must be an AbortSignal, got ${describeValue(signal)}`, { what });
  return signal;
}

/**
 * Refuse an option name that is not in `known`: a misspelt option (`{ oclas: 'RP_3G1' }`,
 * `{ node: 4 }`) would otherwise be ignored and its default used without a word, e.g. a container
 * without the redundancy its creator asked for.
 */
export function knownOptionsArg(o: object, known: readonly string[], what: string): void {
  const u = unknownOption(o, known);
  if (u !== undefined) throw badArg(`${what}: ${u.message}`, { what, option: u.name });
}

/**
 * The first option name of `o` not in `known`, with the words that say so, or undefined: every
 * name is known. Each layer throws it as its own error (`knownOptionsArg`; Dfs as EINVAL).
 */
export function unknownOption(o: object, known: readonly string[]): { name: string; message: string } | undefined {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) return { name: k, message: `unknown option ${JSON.stringify(k.length > 40 ? k.slice(0, 40) + '...' : k)} (known: ${known.join(', ')})` };
  }
  return undefined;
}

/** The one option name of `signalOptions`. */
const SIGNAL_ONLY = ['signal'] as const;

/** Options that carry only a signal (`{ signal }`), validated. */
export function signalOptions(opts: unknown, what: string): { signal?: AbortSignal } {
  // (the defaults as they are: no option name is built per call; it is built only for a message)
  if (opts === NO_OPTIONS || opts === undefined) return NO_OPTIONS;
  const o = optionsArg<{ signal?: AbortSignal }>(opts, what);
  // (a name this call does not know is refused, not ignored: `aggregate({ upTo })` would otherwise
  // aggregate the whole container, `put(k, v, { epoch })` write at the current epoch)
  knownOptionsArg(o, SIGNAL_ONLY, what);
  if (o.signal === undefined) return NO_OPTIONS;
  return { signal: signalArg(o.signal, `${what}.signal`)! };
}

/** Options of `cont.object()`, `cont.kv()`, `tx.object()`. */
export interface ObjectOptions {
  /** Object class for objects named by string (default: the container's). */
  oclass?: string | ObjectClass;
}

/** The option names of an object's opening (`cont.object`, `cont.kv`, `tx.object`: `ObjectOptions`). */
export const OBJECT_OPTION_NAMES: readonly string[] = ['oclass'];

/**
 * The options of an object's opening, validated: `oclass` is a class name or an `ObjectClass`
 * object; a name not in `known` (default `OBJECT_OPTION_NAMES`) is refused, not ignored
 * (`{ oclas: 'RP_3G1' }` would otherwise open the object with the container's class).
 */
export function objectOptionsArg<T extends ObjectOptions>(opts: unknown, what = 'object options', known = OBJECT_OPTION_NAMES): T {
  const o = optionsArg<T>(opts, what) as T;
  // (the defaults as they are: `cont.kv(name)` per call builds nothing)
  if (o === NO_OPTIONS) return o;
  knownOptionsArg(o, known, what);
  if (o.oclass !== undefined && typeof o.oclass !== 'string' && (typeof o.oclass !== 'object' || o.oclass === null || typeof (o.oclass as { id?: unknown }).id !== 'number')) {
    throw badArg(`oclass must be an object class name (e.g. EC_4P2GX) or an ObjectClass, got ${describeValue(o.oclass)}`);
  }
  return o;
}

/** An epoch: a bigint in [0, 2^64-1] (the store's epoch range). */
export function epochArg(epoch: unknown, what = 'epoch'): bigint {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > MAX_EPOCH) throw badArg(`${what} must be a bigint in [0, 2^64-1], got ${describeValue(epoch)}`, { what });
  return epoch;
}

/** A snapshot reference: its name, or a `Snapshot` object (`{ name, epoch }`). Returns the name. */
export function snapshotArg(s: unknown, what = 'snapshot'): string {
  const name = typeof s === 'object' && s !== null && !Array.isArray(s) ? (s as Partial<Snapshot>).name : s;
  if (typeof name !== 'string' || name.length === 0) throw badArg(`${what} must be a snapshot name or { name, epoch }, got ${describeValue(s)}`, { what });
  return name;
}

/** The option names of a read (`ReadOptions`). */
export const READ_OPTION_NAMES: readonly string[] = ['epoch', 'snapshot', 'signal'];

/**
 * Read options (`{ epoch }` or `{ snapshot }`, and `signal`), validated; returns them unchanged.
 * `known`: every option name the call takes (default `READ_OPTION_NAMES`); any other is refused.
 */
export function readOptionsArg<T extends ReadOptions>(opts: unknown, what = 'read options', known = READ_OPTION_NAMES): T {
  // (the defaults as they are: no option name is built per get; it is built only for a message)
  if (opts === NO_OPTIONS) return opts as T;
  const o = optionsArg<T>(opts, what) as T;
  // (a name this read does not know is refused, not ignored: `{ snapshoot: 'before' }` would
  // otherwise read the current state, `kv.get(k, { recx })` an array extent)
  knownOptionsArg(o, known, what);
  if (o.epoch !== undefined) epochArg(o.epoch, `${what}.epoch`);
  if (o.snapshot !== undefined) snapshotArg(o.snapshot, `${what}.snapshot`);
  if (o.epoch !== undefined && o.snapshot !== undefined) throw badArg('give epoch or snapshot, not both');
  if (o.signal !== undefined) signalArg(o.signal, `${what}.signal`);
  return o;
}

/** A non-negative safe integer (byte offsets, lengths, counts), at most `max`. */
export function countArg(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw badArg(`${what} must be an integer in [0, ${max}], got ${describeValue(v)}`, { what });
  return v;
}

/** An optional boolean option. */
export function booleanArg(v: unknown, what: string): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw badArg(`${what} must be a boolean, got ${describeValue(v)}`, { what });
  return v;
}

/** Bytes given as a string (UTF-8) or a Uint8Array (not a view of a detached ArrayBuffer); anything else is refused. */
export function bytesArg(v: unknown, what: string): string | Uint8Array {
  if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw badArg(`${what} must be a string or Uint8Array, got ${describeValue(v)}`, { what });
  if (typeof v !== 'string') liveBytes(v, what);
  return v;
}

/**
 * `v`, refused when its ArrayBuffer was detached (transferred away): such a view reads as empty,
 * and copying it throws a raw TypeError deep in the write path. Only an empty view can be one, so
 * a view with bytes costs one comparison.
 */
export function liveBytes(v: Uint8Array, what: string): Uint8Array {
  if (v.byteLength === 0) {
    // (a view cannot be made over a detached buffer: the only test Node 20 offers, ArrayBuffer.prototype.detached being newer)
    try { new Uint8Array(v.buffer, 0, 0); } catch { throw badArg(`${what} is a view of a detached ArrayBuffer (it was transferred)`, { what }); }
  }
  return v;
}
