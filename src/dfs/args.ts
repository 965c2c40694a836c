/**
 * Arguments of the Dfs calls: options objects (a name a call does not know is refused, not
 * ignored: `mkdir(p, { recursve: true })` or node's `readdir(p, { recursive: true })` would
 * otherwise do something else than asked without a word) and permission modes. Every refusal is
 * an EINVAL `DfsError` naming the call and the path.
 */
import { DfsError } from './errors.js';
import { unknownOption } from '../object/args.js';

/** `opts` as an options object (undefined or null: all defaults, as node:fs), refusing non-objects and unknown names. */
export function optionsOf<T extends object>(opts: unknown, known: readonly string[], syscall: string, path?: string): Partial<T> {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new DfsError('EINVAL', syscall, path, undefined, `options must be an object, got ${Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
  const u = unknownOption(opts, known);
  if (u !== undefined) throw new DfsError('EINVAL', syscall, path, undefined, u.message);
  return opts as Partial<T>;
}

/** A permission mode: an integer 0..0o7777 or an octal string (as node:fs takes them); `fallback` when undefined. */
export function modeOf(mode: unknown, fallback: number, syscall: string, path?: string): number {
  if (mode === undefined) return fallback;
  const m = typeof mode === 'string' && /^[0-7]+$/.test(mode) ? parseInt(mode, 8) : mode;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 0o7777) throw new DfsError('EINVAL', syscall, path, undefined, `invalid mode ${typeof mode === 'string' ? JSON.stringify(mode) : String(mode)} (permission bits 0..0o7777)`);
  return m;
}

/** An optional non-negative safe integer (an offset or a count). */
export function offsetOf(v: unknown, name: string, syscall: string, path?: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new DfsError('EINVAL', syscall, path, undefined, `${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}
