/**
 * `impl: 'reed-solomon-erasure'`: the npm package @digitaldefiance/reed-solomon-erasure.wasm
 * (the Rust crate compiled to wasm without SIMD) behind the `Codec` contract. A pluggable
 * alternative and the test oracle of the Vandermonde matrix. It copies every call's shards into
 * one contiguous buffer (the package's API), restores data shards only (lost parity is then
 * re-encoded here), supports only the Vandermonde matrix, and its `reconstruct` is correct only
 * on a fresh wasm instance (so each reconstruct instantiates the cached module anew).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import { EcError } from './errors.js';
import { bytesEqual, checkShards, checkSources, type Codec, type CodecOptions, type ReconstructOptions } from './codec.js';

let wasmModule: WebAssembly.Module | null = null;

/**
 * A fresh instance of the package's wasm. The module is compiled once; the instance is built the
 * way `ReedSolomonErasure.fromBytes` does (its constructor only stores the exports).
 */
export function newReedSolomonErasure(): ReedSolomonErasure {
  if (!wasmModule) {
    const req = createRequire(import.meta.url);
    wasmModule = new WebAssembly.Module(readFileSync(join(dirname(req.resolve('@digitaldefiance/reed-solomon-erasure.wasm')), 'reed_solomon_erasure_bg.wasm')));
  }
  const Ctor = ReedSolomonErasure as unknown as new (exports: WebAssembly.Exports) => ReedSolomonErasure;
  return new Ctor(new WebAssembly.Instance(wasmModule).exports);
}

/** Codec over the reed-solomon-erasure package. */
export class ReedSolomonErasureCodec implements Codec {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly matrix = 'vandermonde' as const;
  readonly impl = 'reed-solomon-erasure' as const;
  readonly kernelName = 'reed-solomon-erasure-wasm';
  readonly kernelReason = 'impl reed-solomon-erasure: the npm package (Rust crate compiled to wasm without SIMD)';
  private rs: ReedSolomonErasure | null;
  private buf = new Uint8Array(0);

  constructor(opts: Required<CodecOptions>) {
    if (opts.matrix !== 'vandermonde') {
      throw new EcError('INVALID_ARGUMENT', `impl 'reed-solomon-erasure' supports only matrix 'vandermonde', got '${opts.matrix}'`, { matrix: opts.matrix });
    }
    this.dataShards = opts.dataShards;
    this.parityShards = opts.parityShards;
    this.rs = newReedSolomonErasure();
  }

  private live(): ReedSolomonErasure {
    if (!this.rs) throw new EcError('CLOSED', 'codec used after dispose()');
    return this.rs;
  }

  /** The contiguous work buffer for `n` shards of `len` bytes. */
  private contiguous(len: number): Uint8Array {
    const need = len * (this.dataShards + this.parityShards);
    if (this.buf.length < need) this.buf = new Uint8Array(need);
    return this.buf.subarray(0, need);
  }

  private check(code: number, what: string): void {
    if (code !== ReedSolomonErasure.RESULT_OK) {
      throw new EcError('INVALID_ARGUMENT', `reed-solomon-erasure ${what}: ${ReedSolomonErasure.getResultMessage(code)}`, { result: code });
    }
  }

  /** Encode the data in `buf` (all k + p slots laid out) in place. */
  private encodeContiguous(buf: Uint8Array): void {
    this.check(this.live().encode(buf, this.dataShards, this.parityShards), 'encode');
  }

  encode(shards: readonly Uint8Array[]): void {
    const k = this.dataShards;
    const len = checkShards(shards, k, this.parityShards, false);
    const buf = this.contiguous(len);
    for (let i = 0; i < k; i++) buf.set(shards[i]!, i * len);
    this.encodeContiguous(buf);
    for (let r = 0; r < this.parityShards; r++) shards[k + r]!.set(buf.subarray((k + r) * len, (k + r + 1) * len));
  }

  encodeFrom(data: readonly Uint8Array[], shards: readonly Uint8Array[]): void {
    const k = this.dataShards;
    checkSources(data, k, checkShards(shards, k, this.parityShards, false));
    for (let j = 0; j < k; j++) shards[j]!.set(data[j]!);
    this.encode(shards);
  }

  verify(shards: readonly Uint8Array[]): boolean {
    const k = this.dataShards;
    const len = checkShards(shards, k, this.parityShards, false);
    const buf = this.contiguous(len);
    for (let i = 0; i < k; i++) buf.set(shards[i]!, i * len);
    this.encodeContiguous(buf);
    for (let r = 0; r < this.parityShards; r++) if (!bytesEqual(buf.subarray((k + r) * len, (k + r + 1) * len), shards[k + r]!)) return false;
    return true;
  }

  reconstruct(shards: (Uint8Array | null)[], opts?: ReconstructOptions | null): Uint8Array[] {
    const options: ReconstructOptions = opts ?? {};
    this.live();
    const k = this.dataShards, n = k + this.parityShards;
    const len = checkShards(shards, k, this.parityShards, true);
    const present = options.present;
    if (present !== undefined && (!Array.isArray(present) || present.length !== n)) {
      throw new EcError('INVALID_ARGUMENT', `options.present must be an array of ${n} booleans`);
    }
    const avail = shards.map((s, i) => s != null && (present === undefined || present[i] === true));
    const missing = avail.filter((a) => !a).length;
    if (n - missing < k) {
      throw new EcError('EC_TOO_FEW_SHARDS', `${missing} shards missing, at most ${this.parityShards} can be restored`, { missing, parityShards: this.parityShards });
    }
    if (missing === 0) return shards as Uint8Array[];
    const wanted = shards.map((_, i) => i).filter((i) => !avail[i] && (!options.dataOnly || i < k));
    if (wanted.length === 0) return shards as Uint8Array[];
    const buf = this.contiguous(len);
    const load = () => { for (let i = 0; i < n; i++) if (avail[i]) buf.set(shards[i]!, i * len); };
    load();
    // The package's reconstruct is only right on a fresh instance: from its second call on one
    // instance it returns wrong data (measured: 8+2, most loss patterns) or traps (k + p <= 4).
    this.rs = newReedSolomonErasure();
    let code: number;
    try {
      code = this.live().reconstruct(buf, k, this.parityShards, avail);
    } catch (e) {
      // a trap leaves the package's instance unusable: retry once on a fresh one
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      this.rs = newReedSolomonErasure();
      load();
      code = this.live().reconstruct(buf, k, this.parityShards, avail);
    }
    this.check(code, 'reconstruct');
    if (wanted.some((i) => i >= k)) this.encodeContiguous(buf);
    for (const i of wanted) {
      const src = buf.subarray(i * len, (i + 1) * len);
      if (shards[i] == null) shards[i] = src.slice(); else shards[i]!.set(src);
    }
    return shards as Uint8Array[];
  }

  allocShards(size: number): Uint8Array[] {
    this.live();
    if (!Number.isInteger(size) || size < 1) throw new EcError('INVALID_ARGUMENT', `shard size must be an integer >= 1, got ${String(Number(typeof size === 'number' ? size : NaN))}`);
    return Array.from({ length: this.dataShards + this.parityShards }, () => new Uint8Array(size));
  }

  free(_shards: readonly Uint8Array[]): void { this.live(); }

  dispose(): void { this.rs = null; this.buf = new Uint8Array(0); }
}
