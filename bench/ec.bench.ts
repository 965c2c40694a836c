/**
 * Erasure-coding benchmarks: encode and reconstruct (p data shards lost) for 4+2, 8+2, 10+4 and
 * 16+2 at 64 KiB and 1 MiB shards. Cairn's kernels: `wasm-relaxed` (relaxed-SIMD build, turned
 * on in-process by ec/relaxed-simd.ts unless CAIRN_EC_PORTABLE_SIMD=1), `wasm-simd` (portable
 * `i8x16.swizzle`), `wasm-scalar` and the TypeScript reference `scalar`; beside them, in the same
 * run, the peers users would pick instead: the reed-solomon-erasure package and, when installed,
 * the native @ronomon/reed-solomon (its own XOR-Cauchy matrix, libuv threadpool). Every Cairn row
 * names ronomon (else reed-solomon-erasure) as its peer, the other package as `alsoVs`, and the
 * relaxed rows also the portable one. All contenders of one op, shape and size are timed
 * round-robin (harness `roundRobin`: interleaved slices, median call), so load on a shared
 * machine hits them alike. Rates count data bytes (k * shard size) per second on one core. `memcpy <size> Uint8Array.set` rows give the memory bandwidth the figures are a fraction of.
 */
import { createRequire } from 'node:module';
import { createCodec, relaxedSimdStatus, type Codec, type CodecOptions } from '../index.js';
import { Rng } from '../core/rng.js';
import { rate, roundRobin, type BenchContext, type BenchRow } from './harness.js';

const SHAPES: [number, number][] = [[4, 2], [8, 2], [10, 4], [16, 2]];
const SIZES: [string, number][] = [['64KiB', 64 << 10], ['1MiB', 1 << 20]];
/** Row label -> codec options. */
const VARIANTS: [string, Pick<CodecOptions, 'impl' | 'simd'>][] = [
  ['wasm-relaxed', { impl: 'wasm-simd', simd: 'relaxed' }],
  ['wasm-simd', { impl: 'wasm-simd', simd: 'portable' }],
  ['wasm-scalar', { impl: 'wasm-scalar' }],
  ['reed-solomon-erasure', { impl: 'reed-solomon-erasure' }],
  ['scalar', { impl: 'scalar' }],
];
/** Rows of other packages (peers, not Cairn). */
const PEER_LABELS = new Set(['reed-solomon-erasure', 'ronomon-native']);

interface Ronomon {
  create(k: number, m: number): unknown;
  encode(ctx: unknown, sources: number, targets: number, buffer: Buffer, bo: number, bs: number, parity: Buffer, po: number, ps: number, cb: (e?: Error) => void): void;
}

function loadRonomon(): Ronomon | null {
  try { return createRequire(import.meta.url)('@ronomon/reed-solomon') as Ronomon; } catch { return null; }
}

/** Per comparison (one op, shape and size): time budget and slice of the round-robin. */
function timing(ctx: BenchContext): { budgetMs: number; sliceMs: number; minRounds: number } {
  return ctx.quick ? { budgetMs: 250, sliceMs: 10, minRounds: 2 } : { budgetMs: 2500, sliceMs: 40, minRounds: 5 };
}

/** One contender's encode and reconstruct closures over its own buffers. */
interface Contender { label: string; kernel?: string; encode(): unknown; reconstruct(): unknown; check(): void; close(): void }

/** A Cairn codec (or the reed-solomon-erasure package behind the Codec contract) as a contender. */
function codecContender(k: number, p: number, size: number, label: string, options: Pick<CodecOptions, 'impl' | 'simd'>, rng: Rng): Contender | null {
  let codec: Codec;
  try {
    codec = createCodec({ dataShards: k, parityShards: p, ...options });
  } catch (e) {
    if ((e as { code?: string }).code === 'UNSUPPORTED') return null; // relaxed SIMD off here: no rows
    throw e;
  }
  const shards = codec.allocShards(size);
  for (let i = 0; i < k; i++) rng.fill(shards[i]!);
  codec.encode(shards);
  // p data shards lost: flagged absent, restored in place into their own buffers
  const present = shards.map((_, i) => i >= p);
  return {
    label, kernel: codec.kernelName,
    encode: () => codec.encode(shards),
    reconstruct: () => codec.reconstruct(shards, { present }),
    check: () => { if (!codec.verify(shards)) throw new Error(`benchmark ${label} ${k}+${p}: stripe does not verify after reconstruct`); },
    close: () => { codec.free(shards); codec.dispose(); },
  };
}

/** @ronomon/reed-solomon (native, libuv threadpool, its own XOR-Cauchy matrix) as a contender. */
function ronomonContender(ron: Ronomon, k: number, p: number, size: number, rng: Rng): Contender {
  const context = ron.create(k, p);
  const buffer = Buffer.alloc(k * size), parity = Buffer.alloc(p * size);
  rng.fill(buffer);
  const run = (sources: number, targets: number) => new Promise<void>((res, rej) => ron.encode(context, sources, targets, buffer, 0, k * size, parity, 0, p * size, (e) => (e ? rej(e) : res())));
  let data = 0; for (let i = 0; i < k; i++) data |= 1 << i;
  let par = 0; for (let i = k; i < k + p; i++) par |= 1 << i;
  let lost = 0; for (let i = 0; i < p; i++) lost |= 1 << i;
  return { label: 'ronomon-native', encode: () => run(data, par), reconstruct: () => run((data | par) & ~lost, lost), check: () => undefined, close: () => undefined };
}

/** Encode and reconstruct rows of every contender for one shape and size, each op timed round-robin. */
async function shapeRows(ctx: BenchContext, ron: Ronomon | null, k: number, p: number, sizeName: string, size: number, rng: Rng): Promise<BenchRow[]> {
  const contenders = [
    ...VARIANTS.map(([label, options]) => codecContender(k, p, size, label, options, rng)).filter((c): c is Contender => c !== null),
    ...(ron ? [ronomonContender(ron, k, p, size, rng)] : []),
  ];
  const rows: BenchRow[] = [];
  try {
    for (const op of ['encode', 'reconstruct'] as const) {
      const name = (c: Contender) => `${op} ${k}+${p} ${sizeName} ${c.label}`;
      const res = await roundRobin(contenders.map((c) => ({ name: name(c), fn: c[op], unitsPerCall: k * size })), ctx, { ...timing(ctx), label: `${op} ${k}+${p} ${sizeName}` });
      for (const c of contenders) {
        const r = res.get(name(c))!;
        rows.push({
          name: name(c), suite: 'ec', bytesPerSecond: r.perSecond,
          extra: {
            ...(c.kernel ? { kernel: c.kernel } : {}), samples: r.samples, medianMs: r.medianMs, meanMs: r.meanMs,
            ...(c.label === 'reed-solomon-erasure' ? { note: op === 'encode' ? 'copies in/out per call' : 'copies in/out per call, fresh wasm instance per call' } : {}),
            ...(c.label === 'ronomon-native' ? { note: 'native addon, own XOR-Cauchy matrix, runs on the libuv threadpool' } : {}),
          },
        });
      }
    }
    for (const c of contenders) c.check();
  } finally {
    for (const c of contenders) c.close();
  }
  return rows;
}

async function memcpyRows(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const [name, size] of [...SIZES, ['8MiB', 8 << 20], ['10MiB', 10 << 20]] as [string, number][]) {
    const src = new Uint8Array(size).fill(7), dst = new Uint8Array(size);
    const r = await rate(`memcpy ${name} Uint8Array.set`, () => dst.set(src), size, ctx);
    rows.push({ name: `memcpy ${name} Uint8Array.set`, suite: 'ec', bytesPerSecond: r.perSecond, extra: { samples: r.samples } });
  }
  return rows;
}

export default async function ecBench(ctx: BenchContext): Promise<BenchRow[]> {
  const rng = new Rng(0xbe0c);
  const ron = loadRonomon();
  const rows: BenchRow[] = [];
  for (const [k, p] of SHAPES) {
    for (const [sizeName, size] of SIZES) {
      rows.push(...(await shapeRows(ctx, ron, k, p, sizeName, size, rng)));
    }
  }
  rows.push(...(await memcpyRows(ctx)));
  // Peers: ronomon (the figure to beat) else reed-solomon-erasure; the relaxed rows also vs portable.
  const names = new Set(rows.map((r) => r.name));
  const copyRate = new Map(rows.filter((r) => r.name.startsWith('memcpy')).map((r) => [r.name.split(' ')[1]!, r.bytesPerSecond!]));
  const relaxed = relaxedSimdStatus();
  for (const r of rows) {
    const m = /^(encode|reconstruct) (\d+\+\d+) (\S+) (\S+)$/.exec(r.name);
    if (!m) continue;
    const [, op, shape, size, impl] = m;
    const twin = (label: string) => `${op} ${shape} ${size} ${label}`;
    const copy = copyRate.get(size!);
    if (copy && r.bytesPerSecond) r.extra = { ...r.extra, ofShardMemcpy: r.bytesPerSecond / copy };
    if (impl === 'wasm-relaxed') r.extra = { ...r.extra, relaxedReason: relaxed.reason };
    if (PEER_LABELS.has(impl!)) continue;
    const peers = ['ronomon-native', 'reed-solomon-erasure'].map(twin).filter((n) => names.has(n));
    if (!peers.length) continue;
    r.peer = peers[0]!;
    const also = [...peers.slice(1), ...(impl === 'wasm-relaxed' && names.has(twin('wasm-simd')) ? [twin('wasm-simd')] : [])];
    if (also.length) r.alsoVs = also;
  }
  return rows;
}
