/**
 * The commit a shard write belongs to, carried implicitly down to remote stores: a transaction's
 * writes carry its read epoch, so that an engine can refuse one that would overwrite a value some
 * other client committed after the transaction read (optimistic concurrency across clients).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Set by the container around a transaction's shard writes. */
export const commitContext = new AsyncLocalStorage<{ readEpoch: bigint }>();
