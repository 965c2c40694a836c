/**
 * A short description of any value for error messages. It never throws: template literals and
 * `String()` throw on symbols and on objects without a prototype, and `JSON.stringify` on bigints,
 * so a message built from a caller's bad argument must go through this instead.
 */

/** At most this many characters of a string argument are quoted in a message. */
export const DESCRIBE_MAX_CHARS = 64;

/** `"text"`, `5n`, `NaN`, `null`, `a function`, `an array`, `a Uint8Array of 4 bytes`, `an object (Map)`... */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'string': return JSON.stringify(v.length > DESCRIBE_MAX_CHARS ? `${v.slice(0, DESCRIBE_MAX_CHARS)}...` : v);
    case 'bigint': return `${v}n`;
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    case 'undefined': return 'undefined';
    case 'number': case 'boolean': return String(v);
    default: {
      if (v === null) return 'null';
      if (Array.isArray(v)) return `an array of ${v.length}`;
      if (ArrayBuffer.isView(v)) {
        const name = Object.getPrototypeOf(v)?.constructor?.name ?? 'typed array';
        // (a DataView's byteLength throws once its ArrayBuffer is detached)
        try { return `a ${name} of ${v.byteLength} bytes`; } catch { return `a ${name} of a detached ArrayBuffer`; }
      }
      const ctor = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      return `an object (${typeof ctor === 'string' && ctor ? ctor : 'no prototype'})`;
    }
  }
}
