/**
 * Warm-up of an engine's store code before it serves (`EngineOptions.warmUp`): small puts into a
 * scratch target store, each round flushed, then the store is removed.
 *
 * Why: V8 optimises a function once it has run often. An engine serves 2 targets (the embedded
 * pool of the same shape, 8 in one process), and a target flushes its memtable once per about
 * 3,000 small puts, so an engine's flush code runs a handful of times in a benchmark and stays
 * unoptimised. Measured here (one store, 4,000 new-object puts per round, CPU time): the first
 * two flushes cost 240-270 ms, the third and later 30-45 ms; the puts 230 ms cold, 35-40 ms warm.
 * A long-running engine gets there by itself; this gets it there before the first request.
 */
import { join } from 'node:path';
import { rm, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { TargetStore, ContainerStore } from '../vos/index.js';

/** Rounds of puts, each followed by a flush (V8 optimised the flush path after the third, measured). */
export const WARM_UP_ROUNDS = 4;
/** Small puts per round (each a new unit object, as a new-object put writes). */
export const WARM_UP_PUTS_PER_ROUND = 3000;
/** Bytes of each warm-up value (an EC_2P1G1 piece of a 100-byte value with its header). */
const WARM_UP_VALUE_BYTES = 66;
/** Size caps of the scratch store. */
const WARM_UP_SCM_BYTES = 16 * 1024 * 1024;
const WARM_UP_DATA_BYTES = 16 * 1024 * 1024;
/** Container of the scratch store. */
const WARM_UP_CONTAINER = '00000000-0000-4000-8000-00000000beef';

/**
 * Exercise the store's write, flush and read paths on a scratch store in `parent` (created and
 * removed here; the engine's own stores are never touched). Resolves with the CPU milliseconds spent.
 */
export async function warmUpStores(parent: string): Promise<number> {
  const c0 = process.cpuUsage();
  const dir = join(parent, `.warm-up-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const ts = await TargetStore.open(dir, { scmBytes: WARM_UP_SCM_BYTES, dataBytes: WARM_UP_DATA_BYTES, create: true });
    try {
      const cs = new ContainerStore(ts, await ts.createContainer(WARM_UP_CONTAINER));
      const value = new Uint8Array(WARM_UP_VALUE_BYTES).fill(7);
      const dkey = new Uint8Array([100]), akey = new Uint8Array([97]);
      let epoch = 1n;
      for (let r = 0; r < WARM_UP_ROUNDS; r++) {
        const ids = randomBytes(16 * WARM_UP_PUTS_PER_ROUND);
        for (let i = 0; i < WARM_UP_PUTS_PER_ROUND; i++) {
          const unit = (BigInt('0x' + ids.toString('hex', 16 * i, 16 * i + 16)) << 32n) | BigInt(i % 3);
          await cs.updateSingle(epoch++, unit, dkey, akey, value);
          if (i % 16 === 0) await cs.fetchSingle(epoch, unit, dkey, akey);
        }
        await ts.flushAll();
      }
    } finally {
      await ts.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}
