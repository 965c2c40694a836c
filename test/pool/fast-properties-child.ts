/**
 * Child process of fast-properties.test.ts, run with `--allow-natives-syntax`: opens an embedded
 * pool in argv[2] (argv[3] `durable` for a redo-journal pool), writes small values and reads them
 * back, then walks the object graph reachable from the pool and the container handle and prints
 * one line `RESULT <json>`: every object V8 keeps in dictionary mode (its path and class), and how
 * many objects of each class were checked.
 */
import { Pool } from '../../src/pool/pool.js';

const [dir, mode] = process.argv.slice(2);
const pool = await Pool.create(dir!, { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 32 << 20, durable: mode === 'durable' });
const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
await c.openTargets();
const v = new Uint8Array(100).fill(7);
for (let i = 0; i < 2_000; i++) await c.kv(`o${i}`).put('v', v);
for (let i = 0; i < 200; i++) await c.kv(`o${i}`).get('v');
// (a function made here so the module parses without the flag; the test passes it)
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
const seen = new Set<object>();
const slow: string[] = [];
const classes: Record<string, number> = {};
/** Depth of the walk and elements visited per collection: enough to reach every store's log, memtable and space. */
const MAX_DEPTH = 10, MAX_ELEMENTS = 4;
function walk(o: unknown, path: string, depth: number): void {
  if (o === null || typeof o !== 'object' || seen.has(o) || depth > MAX_DEPTH) return;
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof Promise) return;
  seen.add(o);
  if (o instanceof Map || o instanceof Set || Array.isArray(o)) {
    let i = 0;
    for (const x of o instanceof Map ? o.values() : o) { if (i++ >= MAX_ELEMENTS) break; walk(x, `${path}[]`, depth + 1); }
    return;
  }
  const name = (o as { constructor?: { name?: string } }).constructor?.name ?? 'null-prototype';
  classes[name] = (classes[name] ?? 0) + 1;
  // (an EventEmitter's listener table is a null-prototype dictionary by design)
  if (!hasFastProperties(o) && !path.endsWith('._events')) slow.push(`${path} (${name})`);
  for (const k of Object.keys(o)) {
    let x: unknown;
    try { x = (o as Record<string, unknown>)[k]; } catch { continue; }
    walk(x, `${path}.${k}`, depth + 1);
  }
}
walk(c, 'container', 0);
walk(pool, 'pool', 0);
await pool.close();
console.log(`RESULT ${JSON.stringify({ slow, classes })}`);
