/**
 * Loads the WebAssembly core modules compiled from `assembly/` into `build/`.
 *
 * Modules are compiled once per process and instantiated per caller, so each codec or placement
 * engine owns its linear memory (no cross-talk between instances, and buffers stay zero-copy).
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from './errors.js';

/** Where the build output lives: the nearest ancestor of this module holding `build/<name>.wasm`. */
function locate(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', `${name}.wasm`);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new CairnError('WASM_NOT_BUILT', `build/${name}.wasm not found: run \`npm run build\` (npm install does it)`);
}

const modules = new Map<string, WebAssembly.Module>();

/** The compiled module `build/<name>.wasm` (synchronous, cached). */
export function wasmModule(name: string): WebAssembly.Module {
  let m = modules.get(name);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(locate(name)));
    modules.set(name, m);
  }
  return m;
}

/** A fresh instance of `build/<name>.wasm`; AssemblyScript's `env.abort` reports as a CairnError. */
export function instantiate(name: string, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  const env = {
    abort(_msg: number, _file: number, line: number, col: number) {
      throw new CairnError('ASSERTION_FAILED', `wasm core ${name} aborted at ${line}:${col}`);
    },
    ...(imports.env ?? {}),
  };
  const inst = new WebAssembly.Instance(wasmModule(name), { ...imports, env });
  return inst;
}
