/**
 * A preload (`node --import ./bench/lib/heap-sample-preload.mjs`) that records which code allocates
 * during a window another process marks with SIGUSR2: the first signal starts V8's sampling heap
 * profiler (objects later collected included, so it shows allocation, not what stays live), the
 * next stops it and writes `$CAIRN_HEAP_SAMPLE_DIR/<pid>.heapprofile` (default: the OS temp
 * directory). For engines: `CAIRN_PROBE_SIGNAL=SIGUSR2 CAIRN_ENGINE_NODE_ARGS="--import
 * <abs path of this file>" node --import tsx bench/engines-probe.ts put 20000` (the probe signals
 * at each phase's start and end).
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Bytes between samples (V8's default is 32 KiB; finer for short phases). */
const SAMPLE_INTERVAL_BYTES = 2048;
const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    session.post('HeapProfiler.startSampling', { samplingInterval: SAMPLE_INTERVAL_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    sampling = true;
    return;
  }
  sampling = false;
  // (a same-thread inspector session answers synchronously)
  session.post('HeapProfiler.stopSampling', (err, r) => {
    if (err) { process.stderr.write(`heap sampling: ${err.message}\n`); return; }
    writeFileSync(join(process.env.CAIRN_HEAP_SAMPLE_DIR ?? tmpdir(), `${process.pid}.heapprofile`), JSON.stringify(r.profile));
  });
});
