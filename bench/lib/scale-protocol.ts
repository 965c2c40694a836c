/**
 * What the `scale` suite (bench/scale.bench.ts) and its child processes (scale-worker.ts) say to
 * each other over IPC: the task a child runs and the figures it reports.
 */
import type { PeerKind } from './kv-peers.js';

/** What the parent asks for. */
export interface WorkerTask {
  phase: 'write' | 'reopen' | 'extra';
  system: 'cairn' | PeerKind;
  /** Store directory (Cairn: the pool directory). */
  dir: string;
  /** Objects to write (`write`), or objects that exist (`reopen`). */
  n: number;
  /** Puts in flight. */
  depth: number;
  /** `write`, `extra`: stop cleanly before RSS passes this. */
  rssSoftLimitBytes: number;
  /** `reopen`: random reads after the first one. */
  reads: number;
  /** `extra`: containers to create, and objects in each. */
  extraContainers: number;
  objectsPerExtraContainer: number;
  /** Cairn pool shape and per-target metadata file size. */
  shape: { nodes: number; ranksPerNode: number; targetsPerRank: number };
  scmBytes: number;
  oclass: string;
  seed: number;
  /** `write`: bytes of touched memory the child holds before it opens the store (0: none); see SCALE_BALLAST_ENV. */
  ballastBytes?: number;
  /** `write`: no close: once the result is sent, the child kills itself with SIGKILL (a crash the next open recovers from). */
  crash?: boolean;
}

/** Memory figures of this process. */
export interface MemFigures { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number; maxRssBytes: number }

/** What the worker reports. */
export interface WorkerResult {
  phase: WorkerTask['phase'];
  system: WorkerTask['system'];
  /** Why the phase stopped early, if it did. */
  aborted?: string;
  /** `write`: objects written; seconds for them; cumulative seconds at every split. */
  written?: number;
  writeSeconds?: number;
  splits?: Array<{ objects: number; seconds: number }>;
  closeSeconds?: number;
  /** `reopen`: seconds to open, of the first read, of the `reads` reads. */
  reopenSeconds?: number;
  firstReadSeconds?: number;
  readsSeconds?: number;
  reads?: number;
  /** Memory after writing (`write`) or after the reads (`reopen`). */
  mem?: MemFigures;
  /** `extra`: containers created, RSS before and after them, and the RSS each one added. */
  extraCreated?: number;
  extraBeforeRssBytes?: number;
  extraAfterRssBytes?: number;
  extraRssSteps?: number[];
}

/** Objects per split time reported (the suite derives puts/s per 100k and first/last 50k). */
export const SPLIT_OBJECTS = 10_000;
