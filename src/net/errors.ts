/**
 * Errors of the network layer, and the revival of errors that crossed the network: an engine's
 * typed error reaches the client as the same class with the same `code` and `info`, so callers
 * branch on codes exactly as with an embedded pool.
 */
import { CairnError, InvalidArgumentError, CorruptionError, AbortedError, isErrorCode, type CairnErrorCode } from '../../core/errors.js';
import { ObjectError } from '../io/errors.js';
import { VosError } from '../vos/errors.js';
import { MediaError } from '../media/errors.js';
import { swallowed } from '../../core/log.js';

/** A request could not be carried out over the network (peer gone, timeout, refused credentials, bad frame). */
export class NetError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** An error as it travels in a reply header. */
export interface WireError { name: string; code: string; message: string; info?: Record<string, unknown> }

/** Encode an error for a reply: Cairn errors keep class, code and info; anything else is INTERNAL. */
export function toWireError(err: unknown): WireError {
  if (err instanceof CairnError) {
    return { name: err.name, code: err.code, message: err.message, ...(err.info ? { info: jsonSafe(err.info) } : {}) };
  }
  return { name: 'CairnError', code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/** Rebuild the error an engine sent, as the class it had there. */
export function reviveError(e: WireError, remote?: string): CairnError {
  const info = e.info ?? (remote ? { remote } : isErrorCode(e.code) ? undefined : { remoteCode: String(e.code) });
  // A code this build does not know (a newer engine) arrives as INTERNAL with the original in info.
  const code: CairnErrorCode = isErrorCode(e.code) ? e.code : 'INTERNAL';
  const msg = String(e.message ?? 'remote error');
  switch (e.name) {
    case 'ObjectError': return new ObjectError(code, msg, info);
    case 'VosError': return new VosError(code, msg, info);
    case 'MediaError': return new MediaError(code, msg, info);
    case 'InvalidArgumentError': return new InvalidArgumentError(msg, info, code);
    case 'CorruptionError': return new CorruptionError(msg, info, code);
    case 'AbortedError': return new AbortedError(msg, info);
    case 'NetError': return new NetError(code, msg, info);
    default: return new CairnError(code, msg, info);
  }
}

function jsonSafe(v: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x))) as Record<string, unknown>;
  } catch (err) {
    swallowed('net.error-info-not-json-sent-without-it', err); // code and message still travel
    return {};
  }
}
