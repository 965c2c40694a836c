/**
 * Whether the relaxed-SIMD build of the EC core (build/ec-relaxed.wasm, `i8x16.relaxed_swizzle`)
 * can run in this process, turning the engine feature on where that is needed, and why.
 *
 * Node >= 22 accepts relaxed SIMD as is. Node 20 (V8 11.3) accepts it once the V8 flag
 * `--experimental-wasm-relaxed-simd` is set; V8 reads wasm feature flags when a module is
 * compiled, so setting it with `v8.setFlagsFromString` before compiling the module is enough
 * (docs/PLATFORM: 8+2 1 MiB encode 1.5-2.1x faster than the portable kernel). The split-nibble
 * kernel only ever swizzles with indices 0..15, where relaxed and portable swizzle are defined
 * to agree, so both builds give the same bytes (test/ec/relaxed.test.ts checks it).
 * `CAIRN_EC_PORTABLE_SIMD=1` keeps the portable kernel and leaves the V8 flags alone.
 */
import v8 from 'node:v8';
import { wasmModule } from '../core/wasm.js';
import { CairnError } from '../core/errors.js';

/** Set to 1 to keep the portable SIMD kernel: relaxed SIMD off, no V8 flag set. */
export const PORTABLE_SIMD_ENV = 'CAIRN_EC_PORTABLE_SIMD';
/** The V8 flag that enables relaxed SIMD on Node 20. */
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';
/** Name of the relaxed build in build/. */
const RELAXED_MODULE = 'ec-relaxed';

/** The decision, made once per process. */
export interface RelaxedSimdStatus {
  /** True when build/ec-relaxed.wasm compiles here and is allowed: `wasm-simd` codecs run it. */
  readonly enabled: boolean;
  /** True when this module set the V8 flag (false when the engine had it already, or when off). */
  readonly flagSet: boolean;
  /** One sentence saying why (shown by benchmarks and in `codec.kernelReason`). */
  readonly reason: string;
}

let status: RelaxedSimdStatus | undefined;

/** Compile the relaxed module; undefined when it compiles, else the reason it does not. */
function compileError(): string | undefined {
  try {
    wasmModule(RELAXED_MODULE);
    return undefined;
  } catch (e) {
    if (e instanceof CairnError) return e.message; // WASM_NOT_BUILT
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Decide (once) whether relaxed SIMD is used, setting the V8 flag first if the engine needs it.
 * Cheap after the first call.
 */
export function relaxedSimdStatus(): RelaxedSimdStatus {
  if (status) return status;
  if (process.env[PORTABLE_SIMD_ENV] === '1') {
    status = { enabled: false, flagSet: false, reason: `${PORTABLE_SIMD_ENV}=1: portable SIMD kernel kept, relaxed SIMD not turned on` };
    return status;
  }
  const first = compileError();
  if (first === undefined) {
    status = { enabled: true, flagSet: false, reason: `the engine accepts relaxed SIMD as started (Node ${process.versions.node})` };
    return status;
  }
  if (/not found/.test(first)) {
    status = { enabled: false, flagSet: false, reason: `build/${RELAXED_MODULE}.wasm is missing (run npm run build:wasm): portable SIMD kernel` };
    return status;
  }
  v8.setFlagsFromString(RELAXED_SIMD_FLAG);
  const second = compileError();
  status = second === undefined
    ? { enabled: true, flagSet: true, reason: `relaxed SIMD turned on with v8.setFlagsFromString('${RELAXED_SIMD_FLAG}') (Node ${process.versions.node}); ${PORTABLE_SIMD_ENV}=1 turns it off` }
    : { enabled: false, flagSet: true, reason: `the engine rejects build/${RELAXED_MODULE}.wasm even with ${RELAXED_SIMD_FLAG}: ${second}` };
  return status;
}

/** True when `wasm-simd` codecs run the relaxed-SIMD kernel in this process. */
export function relaxedSimdUsable(): boolean {
  return relaxedSimdStatus().enabled;
}
