/**
 * Cairn's public API: `import { ... } from 'cairn'`.
 * Layers: core (errors, wasm loader) <- ec, placement <- src (store, pool, objects).
 */
// Every error is a CairnError subclass with a `code` from ERROR_CODES (branch on the code, never the message).
export {
  CairnError, InvalidArgumentError, AbortedError, TimeoutError, CorruptionError, InvariantError,
  ERROR_CODES, isErrorCode, type CairnErrorCode,
} from './core/errors.js';
export * from './ec/index.js';
export * from './placement/index.js';
export * from './src/index.js';
export { Dfs, DfsDir, DfsFileHandle, DfsStats, DfsDirent, DfsError, type DfsMountOptions, type DfsCreateOptions } from './src/dfs/index.js';
export { createS3Server, S3Server, S3Error, type S3ServerOptions, type S3Credentials } from './src/s3/index.js';
