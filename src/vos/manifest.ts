/**
 * The superblock and manifest of a target's pmem file.
 *
 *   [0, 4 KiB)        superblock slot A      (4 KiB each, xxh64-checked; the valid slot with the
 *   [4 KiB, 8 KiB)    superblock slot B       highest generation is in force; written alternately)
 *   [8 KiB, +128)     log tail slots (wal.ts)
 *   [chunk, +2*wal)   the two log regions
 *   [heapStart, ...)  chunks: sorted runs and manifest copies, allocated as needed; the file grows
 *                     by whole segments up to its cap
 *
 * A superblock names the geometry and two copies of the manifest (each a list of chunks, a length
 * and a checksum). The manifest (JSON in a checksummed blob) lists the containers of the target,
 * the runs, the data-file free space and the last log generation held in runs. Every change of it
 * writes both copies into fresh chunks and then switches the superblock: one store of one slot is
 * the commit point, so a crash leaves the old or the new state, and one damaged copy of anything
 * is survived.
 */
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from './constants.js';
import type { RunMetaJson } from './run.js';

/** Magic of a target superblock ("CAIRNTGT"). */
export const TARGET_MAGIC = 0x5447544e52494143n;
/** Format of the target files. 1-2 were one store per container (vos.scm magic "CAIRNVOS"). */
export const TARGET_FORMAT = 3;
/** Magic of the old per-container store's superblock ("CAIRNVOS"): refused with FORMAT_VERSION. */
export const OLD_VOS_MAGIC = 0x534f564e52494143n;
export const SB_SLOT_BYTES = 4096;
export const TAIL_SLOTS_OFFSET = 8192;
const MANIFEST_MAGIC = 0x4e414d56; // "VMAN"
const MANIFEST_HEADER = 32;
/** Most chunks one manifest copy may span (bounded by the superblock slot). */
export const MAX_MANIFEST_CHUNKS = 200;

/** Fixed layout of a target's pmem file, chosen at creation. */
export interface Geometry {
  segmentBytes: number;
  chunkBytes: number;
  walBytes: number;
  heapStart: number;
  /** Cap of the pmem file. */
  maxBytes: number;
  /** Cap of the data file. */
  dataBytes: number;
  inlineThreshold: number;
}

/**
 * A `Geometry`, its fields always made in this one order: a store created here and one whose
 * geometry came from its superblock must share one hidden class, else the write path, compiled
 * for the first kind of store a process used, deoptimises at the other (an engine's warm-up store
 * is created, the stores it serves are reopened: 'wrong map' in `logUpdateNow` after listening).
 */
export function geometry(segmentBytes: number, chunkBytes: number, walBytes: number, heapStart: number, maxBytes: number, dataBytes: number, inlineThreshold: number): Geometry {
  return { segmentBytes, chunkBytes, walBytes, heapStart, maxBytes, dataBytes, inlineThreshold };
}
// The same holds for how a field holds its number: a store of 1 GiB or more has caps past the
// small-integer range (heap numbers), a smaller one (an engine's warm-up store) small integers, and
// the first store of a big cap would move every Geometry to another hidden class. Made once with
// big caps before any store, the class holds the caps as doubles from the start; smaller ones fit.
// (The other fields are always small integers.)
geometry(0, 0, 0, 0, 2 ** 40, 2 ** 40, 0);

/** Where one copy of the manifest lives. */
export interface ManifestCopy { len: number; csum: bigint; chunks: number[] }

export interface Superblock {
  gen: number;
  geo: Geometry;
  walFlushedGen: number;
  copies: [ManifestCopy, ManifestCopy];
}

/** One container as the target knows it. */
export interface ManifestContainer {
  idx: number;
  uuid: string;
  maxEpoch: string;
  /** Discards not yet applied to every run: drop versions with seq < seq and after < epoch <= upTo. */
  tombs: Array<{ after: string; upTo: string; seq: number }>;
  destroyed?: boolean;
  /** Prepared epochs not yet settled (decimal), in a manifest of version 2 (`TargetStore.preparedEpochs`). */
  prepared?: string[];
}

/** The manifest. */
export interface Manifest {
  /** 1, or 2 when a container holds prepared epochs (a build that predates them refuses it rather than drop them). */
  version: 1 | 2;
  nextSeq: number;
  nextRunId: number;
  nextContIdx: number;
  walFlushedGen: number;
  containers: ManifestContainer[];
  runs: RunMetaJson[];
  data: { total: number; free: Array<[number, number]> };
}

function putU64n(dv: DataView, off: number, v: number): void { dv.setUint32(off, v >>> 0, true); dv.setUint32(off + 4, Math.floor(v / 4294967296), true); }
/** A u64 field as a number: a small one as the small integer a computed one would be (not a heap number: see `geometry`). */
function getU64n(dv: DataView, off: number): number { const hi = dv.getUint32(off + 4, true); return hi === 0 ? dv.getUint32(off, true) : dv.getUint32(off, true) + hi * 4294967296; }

/** Encode a superblock slot. */
export function encodeSuperblock(sb: Superblock): Uint8Array {
  const b = new Uint8Array(SB_SLOT_BYTES);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, TARGET_MAGIC, true);
  dv.setUint32(8, TARGET_FORMAT, true);
  putU64n(dv, 16, sb.gen);
  const g = sb.geo;
  dv.setUint32(24, g.segmentBytes, true); dv.setUint32(28, g.chunkBytes, true); dv.setUint32(32, g.walBytes, true); dv.setUint32(36, g.inlineThreshold, true);
  putU64n(dv, 40, g.heapStart); putU64n(dv, 48, g.maxBytes); putU64n(dv, 56, g.dataBytes);
  putU64n(dv, 64, sb.walFlushedGen);
  let at = 80;
  for (const c of sb.copies) {
    dv.setUint32(at, c.len, true); dv.setUint32(at + 4, c.chunks.length, true); dv.setBigUint64(at + 8, c.csum, true);
    at += 16;
    for (const ch of c.chunks) { putU64n(dv, at, ch); at += 8; }
  }
  dv.setBigUint64(SB_SLOT_BYTES - 8, xxh64(b.subarray(0, SB_SLOT_BYTES - 8), CSUM_SEED), true);
  return b;
}

/** What a superblock slot holds. */
export type SlotState = { sb: Superblock } | { old: true } | { blank: true } | { bad: string };

/** Decode a superblock slot. */
export function decodeSuperblock(b: Uint8Array): SlotState {
  const dv = new DataView(b.buffer, b.byteOffset, SB_SLOT_BYTES);
  const magic = dv.getBigUint64(0, true);
  if (magic === OLD_VOS_MAGIC) return { old: true };
  if (b.every((x) => x === 0)) return { blank: true };
  if (magic !== TARGET_MAGIC) return { bad: 'magic' };
  if (dv.getBigUint64(SB_SLOT_BYTES - 8, true) !== xxh64(b.subarray(0, SB_SLOT_BYTES - 8), CSUM_SEED)) return { bad: 'checksum' };
  const fmt = dv.getUint32(8, true);
  if (fmt !== TARGET_FORMAT) return { bad: `format ${fmt}` };
  const geo = geometry(dv.getUint32(24, true), dv.getUint32(28, true), dv.getUint32(32, true), getU64n(dv, 40), getU64n(dv, 48), getU64n(dv, 56), dv.getUint32(36, true));
  let at = 80;
  const copies: ManifestCopy[] = [];
  for (let i = 0; i < 2; i++) {
    const len = dv.getUint32(at, true); const n = dv.getUint32(at + 4, true); const csum = dv.getBigUint64(at + 8, true);
    at += 16;
    if (n > MAX_MANIFEST_CHUNKS) return { bad: 'manifest chunk count' };
    const chunks: number[] = [];
    for (let j = 0; j < n; j++) { chunks.push(getU64n(dv, at)); at += 8; }
    copies.push({ len, csum, chunks });
  }
  return { sb: { gen: getU64n(dv, 16), geo, walFlushedGen: getU64n(dv, 64), copies: copies as [ManifestCopy, ManifestCopy] } };
}

/**
 * Serialize a manifest into one blob: header (magic, length, checksum) + JSON. `runsJson`: the
 * JSON of each of `m`'s runs, made already (a store keeps each run's, which never changes, so a
 * commit encodes only the runs it adds); then `m.runs` is not read.
 */
export function encodeManifest(m: Manifest, runsJson?: readonly string[]): { blob: Uint8Array; csum: bigint } {
  let text: string;
  if (runsJson === undefined) text = JSON.stringify(m);
  else {
    const rest = JSON.stringify({ ...m, runs: undefined }); // (an undefined member is left out: `{...}` with no runs)
    text = `${rest.slice(0, -1)},"runs":[${runsJson.join(',')}]}`;
  }
  const json = Buffer.from(text, 'utf8');
  const blob = new Uint8Array(MANIFEST_HEADER + json.length);
  blob.set(json, MANIFEST_HEADER);
  const csum = xxh64(blob.subarray(MANIFEST_HEADER), CSUM_SEED);
  const dv = new DataView(blob.buffer);
  dv.setUint32(0, MANIFEST_MAGIC, true); dv.setUint32(4, 1, true); putU64n(dv, 8, json.length); dv.setBigUint64(16, csum, true);
  return { blob, csum };
}

/** Parse a manifest blob; throws a plain Error describing what is wrong (the caller maps it). */
export function decodeManifest(blob: Uint8Array, expect: bigint): Manifest {
  if (blob.length < MANIFEST_HEADER) throw new Error('manifest too short');
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0, true) !== MANIFEST_MAGIC) throw new Error('manifest magic');
  const len = getU64n(dv, 8);
  if (MANIFEST_HEADER + len !== blob.length) throw new Error('manifest length');
  const csum = xxh64(blob.subarray(MANIFEST_HEADER), CSUM_SEED);
  if (csum !== expect || dv.getBigUint64(16, true) !== csum) throw new Error('manifest checksum');
  const m = JSON.parse(Buffer.from(blob.subarray(MANIFEST_HEADER)).toString('utf8')) as Manifest;
  if ((m.version !== 1 && m.version !== 2) || !Array.isArray(m.runs) || !Array.isArray(m.containers)) throw new Error('manifest structure');
  for (const c of m.containers) {
    if (c.prepared !== undefined && (!Array.isArray(c.prepared) || !c.prepared.every((e) => typeof e === 'string' && /^[0-9]{1,20}$/.test(e)))) throw new Error('manifest structure (prepared epochs)');
  }
  return m;
}

/** Bytes a manifest blob takes (for chunk allocation). */
export function manifestHeaderBytes(): number { return MANIFEST_HEADER; }
