/**
 * What an engine's write-epoch table costs per shard write (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx bench/write-epochs-probe.ts [records] [entries]` (defaults 1,500,000 and the
 * engine's MAX_WRITE_ENTRIES) records new-object writes (a new unit each, one dkey, one akey: a
 * new-object put's shard write) into one `WriteEpochs` and prints, per 250,000, the time per record
 * (the unit's key text made included, as a request decodes a new one per write; its cost alone
 * prints at the end), the entries held and the JavaScript heap in use; then the time per
 * `lastWrite` of a written akey and of one never written; and the longest single record of each
 * step (a table doubling used to move every key in one record: an event-loop stall).
 *
 * Why: every shard write an engine admits records its key (and every value read its read stamp,
 * in a second table of the same kind); session 51 moved the table from maps of objects to typed
 * arrays (src/engine/write-epochs.ts) and this is the figure it was moved for.
 */
import { WriteEpochs, MAX_WRITE_ENTRIES } from '../src/engine/write-epochs.js';
import { wholeArg } from './lib/args.js';

const STEP = 250_000;
const records = wholeArg(2, 1_500_000, STEP, 100_000_000, 'records');
const entries = wholeArg(3, MAX_WRITE_ENTRIES, 4, 100_000_000, 'entries');
const UNIT_BASE = 123456789012345678901234567n; // (a 27-digit decimal unit id, as an engine's `oid` text)
const unitOf = (i: number) => String(UNIT_BASE + BigInt(i) * 7919n);
const table = new WriteEpochs(1n, entries);
let epoch = 1_700_000_000_000n << 18n;
let t = performance.now();
let longest = 0;
for (let i = 0; i < records; i++) {
  const r0 = performance.now();
  table.record('cont-1', unitOf(i), 'ZGtleQ==', 'YWtleQ==', epoch++, false);
  const took = performance.now() - r0;
  if (took > longest) longest = took;
  if ((i + 1) % STEP === 0) {
    const now = performance.now();
    console.log(`${i + 1} records: ${((now - t) * 1e6 / STEP).toFixed(0)} ns a record, longest ${longest.toFixed(2)} ms, ${table.size} entries held, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`);
    t = now; longest = 0;
  }
}
const keys = Array.from({ length: STEP }, (_, i) => unitOf(records - 1 - i));
const fresh = Array.from({ length: STEP }, (_, i) => unitOf(records + i));
let seen = 0n;
const time = (label: string, units: string[]) => {
  const t0 = performance.now();
  for (const u of units) seen += table.lastWrite('cont-1', u, 'ZGtleQ==', 'YWtleQ==');
  console.log(`${label}: ${((performance.now() - t0) * 1e6 / units.length).toFixed(0)} ns a lookup`);
};
time('lastWrite of a written akey', keys);
time('lastWrite of an akey never written', fresh);
const t0 = performance.now();
let chars = 0;
for (let i = 0; i < STEP; i++) chars += unitOf(i).length;
console.log(`the key text alone: ${((performance.now() - t0) * 1e6 / STEP).toFixed(0)} ns (${chars > 0 && seen > 0n ? 'checked' : '?'})`);
