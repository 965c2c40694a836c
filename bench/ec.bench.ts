/**
 * Erasure-coding benchmarks: encode and reconstruct (p data shards lost) for 4+2, 8+2, 10+4 and
 * 16+2 at 64 KiB and 1 MiB shards, for wasm-simd, wasm-scalar, the reed-solomon-erasure package,
 * the TypeScript reference (`scalar`) and, when installed, the native @ronomon/reed-solomon (its
 * own XOR-Cauchy matrix). Rates count data bytes (k * shard size) per second on one core.
 * `memcpy <size> Uint8Array.set` rows give the memory bandwidth the figures are a fraction of.
 * `extra.kernel` says which lowering ran: `wasm-simd` (portable `i8x16.swizzle`) on Node 20, or
 * `wasm-simd-relaxed` where relaxed SIMD is on (Node >= 22, or
 * `NODE_OPTIONS=--experimental-wasm-relaxed-simd npm run bench ec`).
 */
import { createRequire } from 'node:module';
import { createCodec, type Codec, type EcImpl } from '../ec/index.js';
import { Rng } from '../core/rng.js';
import { rate, type BenchContext, type BenchRow } from './harness.js';

const SHAPES: [number, number][] = [[4, 2], [8, 2], [10, 4], [16, 2]];
const SIZES: [string, number][] = [['64KiB', 64 << 10], ['1MiB', 1 << 20]];
const IMPLS: EcImpl[] = ['wasm-simd', 'wasm-scalar', 'reed-solomon-erasure', 'scalar'];

interface Ronomon {
  create(k: number, m: number): unknown;
  encode(ctx: unknown, sources: number, targets: number, buffer: Buffer, bo: number, bs: number, parity: Buffer, po: number, ps: number, cb: (e?: Error) => void): void;
}

function loadRonomon(): Ronomon | null {
  try { return createRequire(import.meta.url)('@ronomon/reed-solomon') as Ronomon; } catch { return null; }
}

/** Time options: the slow implementations get fewer iterations. */
function opts(ctx: BenchContext, impl: string): { time: number; iterations: number } {
  const slow = impl === 'scalar' || impl === 'wasm-scalar';
  return { time: ctx.quick ? (slow ? 20 : 60) : slow ? 300 : 800, iterations: slow ? 2 : 5 };
}

async function codecRows(ctx: BenchContext, k: number, p: number, sizeName: string, size: number, impl: EcImpl, rng: Rng): Promise<BenchRow[]> {
  const codec: Codec = createCodec({ dataShards: k, parityShards: p, impl });
  const shards = codec.allocShards(size);
  for (let i = 0; i < k; i++) rng.fill(shards[i]!);
  codec.encode(shards);
  const dataBytes = k * size;
  const enc = await rate(`encode ${k}+${p} ${sizeName} ${impl}`, () => codec.encode(shards), dataBytes, ctx, opts(ctx, impl));
  // p data shards lost: flagged absent, restored in place into their own buffers
  const present = shards.map((_, i) => i >= p);
  const rec = await rate(`reconstruct ${k}+${p} ${sizeName} ${impl}`, () => codec.reconstruct(shards, { present }), dataBytes, ctx, opts(ctx, impl));
  if (!codec.verify(shards)) throw new Error(`benchmark ${impl} ${k}+${p}: stripe does not verify after reconstruct`);
  codec.free(shards);
  codec.dispose();
  const kernel = codec.kernelName;
  const extra = (r: { samples: number; meanMs: number }) => ({ kernel, samples: r.samples, meanMs: r.meanMs, ...(impl === 'reed-solomon-erasure' ? { note: 'copies in/out per call' } : {}) });
  return [
    { name: `encode ${k}+${p} ${sizeName} ${impl}`, suite: 'ec', bytesPerSecond: enc.perSecond, extra: extra(enc) },
    { name: `reconstruct ${k}+${p} ${sizeName} ${impl}`, suite: 'ec', bytesPerSecond: rec.perSecond, extra: { ...extra(rec), ...(impl === 'reed-solomon-erasure' ? { freshInstancePerCall: true } : {}) } },
  ];
}

async function ronomonRows(ctx: BenchContext, ron: Ronomon, k: number, p: number, sizeName: string, size: number, rng: Rng): Promise<BenchRow[]> {
  const context = ron.create(k, p);
  const buffer = Buffer.alloc(k * size), parity = Buffer.alloc(p * size);
  rng.fill(buffer);
  const run = (sources: number, targets: number) => new Promise<void>((res, rej) => ron.encode(context, sources, targets, buffer, 0, k * size, parity, 0, p * size, (e) => (e ? rej(e) : res())));
  let data = 0; for (let i = 0; i < k; i++) data |= 1 << i;
  let par = 0; for (let i = k; i < k + p; i++) par |= 1 << i;
  let lost = 0; for (let i = 0; i < p; i++) lost |= 1 << i;
  await run(data, par);
  const enc = await rate(`encode ${k}+${p} ${sizeName} ronomon-native`, () => run(data, par), k * size, ctx, opts(ctx, 'ronomon'));
  const rec = await rate(`reconstruct ${k}+${p} ${sizeName} ronomon-native`, () => run((data | par) & ~lost, lost), k * size, ctx, opts(ctx, 'ronomon'));
  const note = 'native addon, own XOR-Cauchy matrix, runs on the libuv threadpool';
  return [
    { name: `encode ${k}+${p} ${sizeName} ronomon-native`, suite: 'ec', bytesPerSecond: enc.perSecond, extra: { samples: enc.samples, note } },
    { name: `reconstruct ${k}+${p} ${sizeName} ronomon-native`, suite: 'ec', bytesPerSecond: rec.perSecond, extra: { samples: rec.samples, note } },
  ];
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
      for (const impl of IMPLS) rows.push(...(await codecRows(ctx, k, p, sizeName, size, impl, rng)));
      if (ron) rows.push(...(await ronomonRows(ctx, ron, k, p, sizeName, size, rng)));
    }
  }
  rows.push(...(await memcpyRows(ctx)));
  // ratios: vs the reed-solomon-erasure package for the same op and shape, and vs memcpy of the data size
  const byName = new Map(rows.map((r) => [r.name, r]));
  const copyRate = new Map(rows.filter((r) => r.name.startsWith('memcpy')).map((r) => [r.name.split(' ')[1]!, r.bytesPerSecond!]));
  for (const r of rows) {
    const m = /^(encode|reconstruct) (\d+)\+(\d+) (\S+) (\S+)$/.exec(r.name);
    if (!m) continue;
    const ref = byName.get(`${m[1]} ${m[2]}+${m[3]} ${m[4]} reed-solomon-erasure`);
    if (ref?.bytesPerSecond && r.bytesPerSecond) r.extra = { ...r.extra, vsReference: r.bytesPerSecond / ref.bytesPerSecond };
    const copy = copyRate.get(m[4]!);
    if (copy && r.bytesPerSecond) r.extra = { ...r.extra, ofShardMemcpy: r.bytesPerSecond / copy };
  }
  return rows;
}
