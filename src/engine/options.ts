/**
 * The options of an engine (the flags of `cairn engine`), in a module of their own so that the
 * engine's parts (join.ts, engine.ts) share them without importing each other.
 */

/** Options of `Engine.start` (the flags of `cairn engine`). */
export interface EngineOptions {
  pool: string;
  etcd: string | string[];
  /** One directory per target this engine serves. */
  targets: string[];
  /** `host:port` to listen on (port 0: any free port). */
  listen: string;
  /** Shared pool secret (default `$CAIRN_POOL_SECRET`). */
  secret?: string;
  /** Lease TTL in seconds: how soon a dead engine is noticed (default 5). */
  leaseTtl?: number;
  /** How long the leader waits after a lease expired before excluding that engine (default 2000 ms). */
  excludeDelayMs?: number;
  /** Age after which a prepared write whose decision never came is settled with its commit's other engines (default 10 s). */
  txTimeoutMs?: number;
  /** Sizes of each target's files (used by the first engine, which creates the pool). */
  scmBytes?: number;
  dataBytes?: number;
  /** Acknowledge a write only once it survives power loss (its store and the decision log synced); default false: page-cache durable. */
  durable?: boolean;
  /**
   * TLS for every engine connection (optional; the pool secret authenticates either way): this
   * engine's certificate and key, and the CA that signed the other engines' certificates.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  /**
   * Exercise the store code on a scratch store before serving (warm-up.ts), so the first flushes
   * run optimised code (default: `CAIRN_ENGINE_WARM_UP=1` in the environment, else off). Costs
   * about a second of CPU at start; benchmarks of short runs turn it on.
   */
  warmUp?: boolean;
  /** Progress and events (default: silent). */
  log?: (msg: string) => void;
}
