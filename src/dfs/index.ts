/**
 * The POSIX namespace of a container (DAOS's dfs): `Dfs.mount(container)` and an API that
 * mirrors `node:fs/promises`. The FUSE mount lives in ./fuse.ts (loaded by `cairn mount` only).
 */
export { Dfs, DfsDir, type DfsMountOptions, type DfsCreateOptions, MAX_SYMLINK_HOPS, DEFAULT_WRITE_BACK_BYTES } from './dfs.js';
export { DfsFileHandle } from './file.js';
export { DfsStats, DfsDirent } from './stats.js';
export { DfsError } from './errors.js';
export { DEFAULT_CHUNK_BYTES as DFS_DEFAULT_CHUNK_BYTES } from './layout.js';
