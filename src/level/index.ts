/**
 * `cairn/level`: the abstract-level adapter. `new CairnLevel(container, { object: 'name' })` is a
 * Level database stored in one KV object of a Cairn container (keys in byte order, atomic batches,
 * snapshots as Cairn epochs).
 */
export { CairnLevel, CairnSnapshot, levelRange, type CairnLevelOptions, LEVEL_KEY_PREFIX, MAX_LEVEL_KEY_BYTES, CLEAR_BATCH_KEYS } from './cairn-level.js';
