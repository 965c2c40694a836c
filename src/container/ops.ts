/**
 * The mutations a commit carries. A plain `update` is a commit of one op; a transaction commits
 * all of its buffered ops at one epoch.
 */
export type Op =
  | { kind: 'single'; oid: bigint; dkey: Uint8Array; akey: Uint8Array; value: Uint8Array }
  | { kind: 'array'; oid: bigint; dkey: Uint8Array; akey: Uint8Array; offset: number; data: Uint8Array }
  | { kind: 'punchObject'; oid: bigint }
  | { kind: 'punchDkey'; oid: bigint; dkey: Uint8Array }
  | { kind: 'punchAkey'; oid: bigint; dkey: Uint8Array; akey: Uint8Array };
