/**
 * JSON-safe epochs. Epochs and object ids are bigints, which `JSON.stringify` refuses ("Do not
 * know how to serialize a BigInt"). Snapshots and commit events handed to callers carry a
 * non-enumerable `toJSON` that writes them as decimal strings (`BigInt(s)` reads them back); the
 * bigint fields themselves are unchanged, and deep-equality checks do not see the method.
 */
import type { Snapshot, CommitEvent } from '../container/container.js';

/** A snapshot as JSON: `{ name, epoch: "<decimal>" }`. */
export interface SnapshotJSON { name: string; epoch: string }
/** A commit event as JSON: `{ epoch: "<decimal>", objects: ["<decimal oid>", ...] }`. */
export interface CommitEventJSON { epoch: string; objects: string[] }

function defineToJSON<T extends object>(x: T, toJSON: () => unknown): T {
  if (!Object.prototype.hasOwnProperty.call(x, 'toJSON')) Object.defineProperty(x, 'toJSON', { value: toJSON, enumerable: false, writable: false, configurable: true });
  return x;
}

/** Give a snapshot its `toJSON` (returns the same object). */
export function jsonSafeSnapshot<T extends Snapshot>(s: T): T {
  return defineToJSON(s, (): SnapshotJSON => ({ name: s.name, epoch: s.epoch.toString() }));
}

/** Give a commit event its `toJSON` (returns the same object). */
export function jsonSafeEvent<T extends CommitEvent>(ev: T): T {
  return defineToJSON(ev, (): CommitEventJSON => ({ epoch: ev.epoch.toString(), objects: ev.objects.map((o) => o.toString()) }));
}
