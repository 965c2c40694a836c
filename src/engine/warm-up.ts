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
 * The process's flush worker thread (src/vos/merge-workers.ts) is started here too and its flush
 * code run a few times: flushes a caller waits for (these) never start it, so the first background
 * flush of a served store did, in the middle of the requests (measured: 6,000 new-object puts at
 * qd16 after the qd1 phase, engines' CPU per put 0.87-0.91 ms with the start in the phase, 0.45-0.47 ms without).
 */
import { join } from 'node:path';
import { rm, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { TargetStore, ContainerStore } from '../vos/index.js';
import { mergeWorkers } from '../vos/merge-workers.js';
import type { ShardStore } from '../io/shard-store.js';
import { RpcClient, RpcServer, type RpcReply, type RpcRequest } from '../net/rpc.js';
import { EngineLink, decodeBatch, encodeBatchReply } from '../net/link.js';
import { RemoteShardStore, serveFetchInto, serveShardCall } from '../net/shard-rpc.js';
import { ENGINE_METHODS } from '../net/protocol.js';
import { localSocketPath } from '../net/local-socket.js';
import { warmUpRecordTexts } from './txlog.js';

/** Rounds of puts, each followed by a flush (V8 optimised the flush path after the third, measured). */
export const WARM_UP_ROUNDS = 4;
/**
 * Rounds flushed on the process's flush worker thread, once it is up (its own V8 isolate: its flush
 * code is optimised only after a few flushes there too, as on the store's thread).
 */
export const WARM_UP_WORKER_ROUNDS = 4;
/**
 * Small puts per round on the flush worker: a round is flushed as about one full region. The
 * worker's flush loops (`logFlushSteps`, log-flush `write`, resumed every 512 entries) are
 * optimised by on-stack replacement inside the loops only after 3-4 full regions (vos engineer,
 * session 24); rounds of 3,000 left them to be compiled in the served phase (--trace-opt: 
 * logFlushSteps, writeBloom, flushIndexBlocks compiled again in every engine after it listened).
 */
export const WARM_UP_WORKER_PUTS_PER_ROUND = 5000;
/** Longest the warm-up waits for the flush worker to start (it then goes on without it). */
export const WARM_UP_WORKER_START_MS = 30_000;
/** Small puts per round (each a new unit object, as a new-object put writes). */
export const WARM_UP_PUTS_PER_ROUND = 3000;
/** Bytes of each warm-up value (an EC_2P1G1 piece of a 100-byte value with its header). */
const WARM_UP_VALUE_BYTES = 66;
/** Size caps of the scratch store. */
const WARM_UP_SCM_BYTES = 64 * 1024 * 1024;
const WARM_UP_DATA_BYTES = 16 * 1024 * 1024;
/** Container of the scratch store. */
const WARM_UP_CONTAINER = '00000000-0000-4000-8000-00000000beef';

/**
 * Run `work` on a scratch target store in a fresh directory `parent/name` (removed afterwards, as
 * the store is closed): the engine's own stores are never touched. Resolves with the CPU
 * milliseconds spent, directory and store included.
 */
async function onScratchStore(parent: string, name: string, sub: string, dataBytes: number, work: (ts: TargetStore, dir: string) => Promise<void>): Promise<number> {
  return inScratchDir(join(parent, `${name}-${process.pid}`), async (dir) => {
    const ts = await TargetStore.open(sub ? join(dir, sub) : dir, { scmBytes: WARM_UP_SCM_BYTES, dataBytes, create: true });
    try {
      await work(ts, dir);
    } finally {
      await ts.close();
    }
  });
}

/** Run `work` in the fresh directory `dir` (emptied first, removed after); the CPU milliseconds it took. */
async function inScratchDir(dir: string, work: (dir: string) => Promise<void>): Promise<number> {
  const c0 = process.cpuUsage();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/**
 * Exercise the store's write, flush and read paths on a scratch store in `parent` (created and
 * removed here; the engine's own stores are never touched). Resolves with the CPU milliseconds spent.
 */
export async function warmUpStores(parent: string): Promise<number> {
  return onScratchStore(parent, '.warm-up', '', WARM_UP_DATA_BYTES, async (ts) => {
    const cs = new ContainerStore(ts, await ts.createContainer(WARM_UP_CONTAINER));
    const value = new Uint8Array(WARM_UP_VALUE_BYTES).fill(7);
    const dkey = new Uint8Array([100]), akey = new Uint8Array([97]);
    let epoch = 1n;
    const round = async (puts: number): Promise<void> => {
      const ids = randomBytes(16 * puts);
      for (let i = 0; i < puts; i++) {
        const unit = (BigInt('0x' + ids.toString('hex', 16 * i, 16 * i + 16)) << 32n) | BigInt(i % 3);
        await cs.updateSingle(epoch++, unit, dkey, akey, value);
        if (i % 16 === 0) await cs.fetchSingle(epoch, unit, dkey, akey);
      }
      await ts.flushAll();
    };
    for (let r = 0; r < WARM_UP_ROUNDS; r++) await round(WARM_UP_PUTS_PER_ROUND);
    // The flushes above ran on this thread: a flush that a caller waits for never starts the
    // flush worker, so the first background flush of a served store did (measured: a thread start
    // of 300-400 ms of engine CPU inside the first seconds of a benchmark, then that worker's
    // flushes on cold code). Started here, and its flush code run a few times.
    const workers = mergeWorkers();
    if (workers && await workers.ready('flush', WARM_UP_WORKER_START_MS)) {
      for (let r = 0; r < WARM_UP_WORKER_ROUNDS; r++) await round(WARM_UP_WORKER_PUTS_PER_ROUND);
    }
  });
}

/** Bulk reads of the serving warm-up (each `SERVE_WARM_UP_VALUE_BYTES`, `SERVE_WARM_UP_DEPTH` in flight). */
export const SERVE_WARM_UP_READS = 1200;
/** Small batched writes of the serving warm-up (`SERVE_WARM_UP_DEPTH` * 2 in flight, so they batch). */
export const SERVE_WARM_UP_PUTS = 1500;
/** Bytes of a bulk value of the serving warm-up: an EC_2P1G1 cell of a 1 MiB array write. */
const SERVE_WARM_UP_VALUE_BYTES = 512 * 1024;
/** Distinct bulk values written (and read round robin). */
const SERVE_WARM_UP_VALUES = 8;
/** Reads in flight (the engines suite reads at qd8). */
const SERVE_WARM_UP_DEPTH = 8;
/** Size caps of the serving warm-up's scratch store (room for its values). */
const SERVE_WARM_UP_DATA_BYTES = 64 * 1024 * 1024;

/**
 * Warm-up of the code that serves requests (`EngineOptions.warmUp`, after `warmUpStores`): a
 * scratch store in `parent` served by an RpcServer of its own on a Unix socket (TCP when no path
 * fits), and a client in this process writing 512 KiB values, reading them back into reused
 * buffers (`fetchArrayInto`, through `serveFetchInto` as the engine's read fast path does) and
 * sending small writes in batches. Everything is removed afterwards; the engine's own targets,
 * transaction log and server are never touched. Resolves with the CPU milliseconds spent.
 *
 * Why: an engine a few seconds old served the suite's reads from V8's baseline tier (the frame
 * parser, the reply encoder, the serving functions and the store's read path never reached
 * TurboFan in 700-1,000 requests: `--trace-opt`, session 12), while the embedded pool it is
 * compared with shares the benchmark process's warm code.
 */
export async function warmUpServing(parent: string): Promise<number> {
  return onScratchStore(parent, '.warm-up-serve', 't', SERVE_WARM_UP_DATA_BYTES, async (ts, dir) => {
    const cs = new ContainerStore(ts, await ts.createContainer(WARM_UP_CONTAINER)) as unknown as ShardStore;
    const serve = (method: string, h: Record<string, unknown>, payload: Uint8Array | undefined) =>
      (method === 'shard.fetchArray' && h.holesAsZero === true ? serveFetchInto(cs, h) : undefined) ?? serveShardCall(method, h, payload, cs);
    const secret = randomBytes(24).toString('base64url');
    const localPath = localSocketPath(dir);
    const server = await RpcServer.listen({
      host: '127.0.0.1', port: 0, secret, ...(localPath ? { localPath } : {}),
      handler: async (req) => {
        if (req.method !== ENGINE_METHODS.batch) return serve(req.method, req.header, req.payload);
        const items = decodeBatch(req.header, req.payload);
        return encodeBatchReply(await Promise.allSettled(items.map((it) => serve(it.method, it.header, it.payload))));
      },
    });
    const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret, ...(server.localPath ? { localPath: server.localPath } : {}) });
    try {
      const route = () => ({ target: 0, cont: WARM_UP_CONTAINER, mapVersion: 1 });
      const bulk = new RemoteShardStore(client, route);
      const small = new RemoteShardStore(new EngineLink(() => client, 'warm-up'), route);
      const dkey = new Uint8Array([100]), akey = new Uint8Array([97]);
      const value = new Uint8Array(SERVE_WARM_UP_VALUE_BYTES).fill(9);
      let epoch = 1n;
      for (let i = 0; i < SERVE_WARM_UP_VALUES; i++) await bulk.updateArray(epoch++, BigInt(i + 1) << 32n, dkey, akey, { index: 0, count: value.length }, value);
      const at = epoch;
      // The small batched writes before the reads: the frame parser (rpc.ts `push`) and the reply
      // encoder get hot during the reads, and were optimised without feedback for a small payload
      // (`Buffer.allocUnsafe` of a batch's payload), so the first batch of writes deoptimised them
      // at the end of the warm-up and they ran in the baseline tier into the served requests until
      // optimised again (--trace-deopt over a qd16 engines probe: an encodePipeFrame deopt in each
      // of 4 engines, none with the writes first; `push` still deopts once, at the end of the
      // warm-up's connection, whose end-of-stream call had no feedback).
      const piece = new Uint8Array(WARM_UP_VALUE_BYTES).fill(7);
      let put = 0;
      await Promise.all(Array.from({ length: 2 * SERVE_WARM_UP_DEPTH }, async () => {
        while (put < SERVE_WARM_UP_PUTS) { const i = put++; await small.updateSingle(at + BigInt(i + 1), BigInt(1000 + i) << 32n, dkey, akey, piece); }
      }));
      let next = 0;
      await Promise.all(Array.from({ length: SERVE_WARM_UP_DEPTH }, async () => {
        const into = [new Uint8Array(SERVE_WARM_UP_VALUE_BYTES)];
        while (next < SERVE_WARM_UP_READS) {
          const i = next++;
          await bulk.fetchArrayInto!(at, BigInt((i % SERVE_WARM_UP_VALUES) + 1) << 32n, dkey, akey, { index: 0, count: SERVE_WARM_UP_VALUE_BYTES }, into);
        }
      }));
    } finally {
      await client.close();
      await server.close();
    }
  });
}

/** Small writes of the request-path warm-up (`warmUpRequests`). */
export const REQUEST_WARM_UP_PUTS = 24_000;
/** Writes in flight during it (batched per event-loop turn, as a client at qd16 sends them). */
const REQUEST_WARM_UP_DEPTH = 16;
/** Whole-range reads of the request-path warm-up, located by the engine (`engine.locate`) or served alone. */
export const REQUEST_WARM_UP_READS = 6000;
/** Array values written for them (each `REQUEST_WARM_UP_VALUE_BYTES`, read round robin) and reads in flight. */
const REQUEST_WARM_UP_VALUES = 16;
const REQUEST_WARM_UP_VALUE_BYTES = 64 * 1024;
const REQUEST_WARM_UP_READ_DEPTH = 8;
/** Writes of the request-path warm-up per container (a new one after each). */
const REQUEST_WARM_UP_CONTAINER_PUTS = 6000;
/** The `k`th container of the request-path warm-up (0: WARM_UP_CONTAINER). */
function warmUpContainer(k: number): string { return `00000000-0000-4000-8000-${(0xbeef + k).toString(16).padStart(12, '0')}`; }
/** Payload-carrying requests that are not batches, sent before the request-path warm-up's writes, and their payload bytes (pooled on the server). */
const REQUEST_WARM_UP_BIG_PAYLOADS = 64;
const REQUEST_WARM_UP_BIG_PAYLOAD_BYTES = 128 * 1024;
/** Log record texts of new containers made before the request-path warm-up (`warmUpRecordTexts`). */
const REQUEST_WARM_UP_NEW_CONTAINERS = 200;
/** Writes at the start of each container of the request-path warm-up that are all of local commits (batches without notices). */
const REQUEST_WARM_UP_LOCAL_PUTS = 600;
/** One write in this many is of a commit on this engine alone (decided here); the others span two engines (P, then a commit notice). */
const REQUEST_WARM_UP_LOCAL_EVERY = 8n;

/** An engine of its own over scratch targets (`Engine.scratch`): its request handler and what a client needs to address it. */
export interface ScratchEngine {
  handle(req: RpcRequest): Promise<RpcReply>;
  rank: number;
  /** Target ids it serves (the real engine's). */
  targets: readonly number[];
  mapVersion: number;
  /** An epoch above which it admits writes (its start floor). */
  firstEpoch: bigint;
  close(): Promise<void>;
}

/**
 * Warm-up of the engine's own request path (after `warmUpServing`): a scratch engine — the
 * engine's own class over scratch targets and a scratch transaction log in `parent` (`open`) —
 * served by an RpcServer of its own on a Unix socket, and a client in this process sending it
 * small writes of commits the way a connected pool does (batched, each with its commit's
 * descriptor, most spanning two engines and decided by a commit notice on later traffic), then
 * whole-range reads of array values, located by the engine in batches as for a client on this host.
 * Everything is removed afterwards; the engine's own targets, log and tables are never touched.
 * Resolves with the CPU milliseconds spent.
 *
 * Why: the batch handler, the commit table, the transaction log's append/flush and the write
 * epochs run once per batch, about 250 times a second per engine at qd16, so V8 first optimised
 * them 5-10 s into a benchmark (session 25, `--trace-opt`), and the serving warm-up never ran them
 * (it serves a scratch store, not the engine): the engines' CPU per put fell from 0.2-0.36 ms over
 * the first 10k puts to 0.10-0.15 ms after 25k (probe chunks, session 26).
 */
export async function warmUpRequests(parent: string, open: (dir: string) => Promise<ScratchEngine>): Promise<number> {
  return inScratchDir(join(parent, `.warm-up-requests-${process.pid}`), async (dir) => {
    warmUpRecordTexts(REQUEST_WARM_UP_NEW_CONTAINERS);
    const engine = await open(dir);
    try {
      const secret = randomBytes(24).toString('base64url');
      const localPath = localSocketPath(dir);
      const server = await RpcServer.listen({ host: '127.0.0.1', port: 0, secret, ...(localPath ? { localPath } : {}), handler: (req) => engine.handle(req) });
      const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret, ...(server.localPath ? { localPath: server.localPath } : {}) });
      const link = new EngineLink(() => client, 'warm-up');
      try {
        const { rank, mapVersion } = engine;
        const local = { ranks: [rank], n: 1 }, across = { ranks: [rank, rank + 1], n: 1 };
        // Small writes of commits, most across two engines. The first writes of each container are
        // all local: their batches carry no commit notice (an empty list, as a client's first
        // batches do), so `applyNotices` is optimised for both (it was optimised for lists of notices
        // only, and a served engine's first batch deoptimised it: "wrong map" at its loop,
        // --trace-deopt-verbose, every engine once).
        const first = engine.firstEpoch + 1n;
        const tx = (e: bigint) => (e % REQUEST_WARM_UP_LOCAL_EVERY === 0n || Number(e - first) % REQUEST_WARM_UP_CONTAINER_PUTS < REQUEST_WARM_UP_LOCAL_PUTS ? local : across);
        // A new container every REQUEST_WARM_UP_CONTAINER_PUTS writes: the first write of a container takes
        // paths (new per-container entries of the commit table, write epochs, log texts) that the very
        // first calls ran before V8 kept feedback for them, and a served engine's first real container
        // deoptimised them (--trace-deopt: "insufficient type feedback for construct").
        let cont = WARM_UP_CONTAINER;
        const stores = engine.targets.map((target) => new RemoteShardStore(link, () => ({ target, cont, mapVersion }), { tx }));
        const dkey = new Uint8Array([100]), akey = new Uint8Array([97]);
        const piece = new Uint8Array(WARM_UP_VALUE_BYTES).fill(5);
        const ids = randomBytes(8 * REQUEST_WARM_UP_PUTS);
        let put = 0;
        const arrays = engine.targets.map((target) => new RemoteShardStore(link, () => ({ target, cont, mapVersion }), { tx: () => local }));
        let arrayEpoch = first + BigInt(2 * REQUEST_WARM_UP_PUTS);
        const writes = async (upTo: number): Promise<void> => {
          await Promise.all(Array.from({ length: REQUEST_WARM_UP_DEPTH }, async () => {
            while (put < upTo) {
              const i = put++;
              if (i > 0 && i % REQUEST_WARM_UP_CONTAINER_PUTS === 0) cont = warmUpContainer(i / REQUEST_WARM_UP_CONTAINER_PUTS);
              const e = first + BigInt(i);
              const oid = (ids.readBigUInt64LE(8 * i) << 32n) | BigInt(i & 3);
              const c = cont; // (the header takes `cont` when the write is sent, now)
              const store = stores[i % stores.length]!;
              await store.updateSingle(e, oid, dkey, akey, piece);
              if (tx(e) === across) link.notice(c, e);
              // Some values read back in the same batches (a local commit is decided at once: the
              // read does not wait), half of them "now": the batch handler's read branch and
              // `serveGetNow` get feedback before V8 optimises them (a served engine's first batch
              // with a read deoptimised `handleMany`, --trace-deopt-verbose).
              else if (i % 4 === 0 && cont === c) await store.fetchSingle(e, oid, dkey, akey, i % 8 === 0 ? e : undefined);
              // Small array writes in the batches too (an extent in the batch table, the general write path).
              if (i % 32 === 7) await arrays[i % arrays.length]!.updateArray(arrayEpoch++, BigInt(REQUEST_WARM_UP_PUTS + i) << 32n, dkey, akey, { index: 0, count: piece.length }, piece);
            }
          }));
          await link.drain();
        };
        // Requests that are not batches, with payloads the server reads into pooled buffers, before
        // the writes make V8 optimise the frame parser and the batch handler: commit-notice requests
        // (answered with nothing) carrying a 128 KiB payload. Without them the array writes below
        // were the first, and deoptimised the parser's `push` ("insufficient type feedback" at its
        // pooled-payload branch) and `handleMany` at the end of the warm-up; both then ran in the
        // baseline tier into the served requests (an engine reading 1 MiB values: `^push` 9.5% of
        // its main thread, perf).
        // Several at once, so that one read of the server holds more than one frame (a payload copied
        // out of a read that goes on with the next frame: the same deopt at that branch otherwise,
        // once a served engine got frames from more than one request per read).
        const big = new Uint8Array(REQUEST_WARM_UP_BIG_PAYLOAD_BYTES), small = new Uint8Array(WARM_UP_VALUE_BYTES * 8);
        // On a connection of their own: the server's frame handler then sees the handshakes of two
        // connections (it calls each connection's own gate), and is not optimised for one gate (a
        // served engine's first connection deoptimised it, "wrong call target", 3 of 4 engines).
        const other = new RpcClient({ address: `127.0.0.1:${server.port}`, secret, ...(server.localPath ? { localPath: server.localPath } : {}) });
        try {
          for (let i = 0; i < REQUEST_WARM_UP_BIG_PAYLOADS; i += 4) await Promise.all([0, 1, 2, 3].map(() => other.call(ENGINE_METHODS.txNotice, { commits: [] }, big)));
          for (let i = 0; i < REQUEST_WARM_UP_BIG_PAYLOADS; i++) await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => other.call(ENGINE_METHODS.txNotice, { commits: [] }, small)));
        } finally {
          await other.close();
        }
        await writes(REQUEST_WARM_UP_PUTS);
        // Whole-range reads of array values (commits on this engine alone, decided at once), in a
        // container of their own: the reads of one turn go out in one `engine.locate` request (the
        // engine's locateMany) and are read here from where it located them, as a client on this
        // host does. (After the writes: array writes before the last small writes made the served
        // engine's first writes deoptimise `admitNow` and `admitWrite`, "wrong map",
        // --trace-deopt-verbose, 4 of 4 engines.)
        const readCont = warmUpContainer(REQUEST_WARM_UP_PUTS / REQUEST_WARM_UP_CONTAINER_PUTS + 1);
        const bulk = engine.targets.map((target) => new RemoteShardStore(link, () => ({ target, cont: readCont, mapVersion }), { tx: () => local }));
        const value = new Uint8Array(REQUEST_WARM_UP_VALUE_BYTES).fill(3);
        let epoch = arrayEpoch;
        // (odd values under a second dkey too: the write epochs of an object with more than one
        // dkey, which a served engine's first checked reads otherwise deoptimised `lastWrite` on)
        const dkey2 = new Uint8Array([101]);
        for (let v = 0; v < REQUEST_WARM_UP_VALUES; v++) {
          await bulk[v % bulk.length]!.updateArray(epoch++, BigInt(v + 1) << 32n, dkey, akey, { index: 0, count: value.length }, value);
          if (v % 2 === 1) await bulk[v % bulk.length]!.updateArray(epoch++, BigInt(v + 1) << 32n, dkey2, akey, { index: 0, count: value.length }, value);
        }
        let read = 0;
        await Promise.all(Array.from({ length: REQUEST_WARM_UP_READ_DEPTH }, async () => {
          const into = [new Uint8Array(REQUEST_WARM_UP_VALUE_BYTES)];
          while (read < REQUEST_WARM_UP_READS) {
            const v = read++ % REQUEST_WARM_UP_VALUES;
            // (every other read "now", with the uncertainty window a client's read sends: the
            // headers of both kinds, or a served engine's first reads deoptimised `locateNow`)
            await bulk[v % bulk.length]!.fetchArrayInto!(epoch, BigInt(v + 1) << 32n, v % 2 === 1 && read % 4 < 2 ? dkey2 : dkey, akey, { index: 0, count: REQUEST_WARM_UP_VALUE_BYTES }, into, read % 2 === 0 ? epoch : undefined);
          }
        }));
      } finally {
        link.close();
        await client.close();
        await server.close();
      }
    } finally {
      await engine.close();
    }
  });
}
