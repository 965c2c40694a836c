/**
 * Cairn's public API: `import { ... } from 'cairn'`.
 * Layers: core (errors, wasm loader) <- ec, placement <- src (store, pool, objects).
 */
export { CairnError, InvalidArgumentError, AbortedError, CorruptionError } from './core/errors.js';
