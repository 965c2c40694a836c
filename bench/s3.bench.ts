/**
 * The S3 gateway against the embedded API in the same run: PutObject / GetObject of 1 MiB and
 * 4 KiB through the AWS SDK v3 (HTTP on loopback, SigV4, checksums, index flip; client and
 * gateway in this process), through the gateway's object layout without HTTP (S3Bucket.writeBody
 * + putRecord / readBody), and as plain Array object writes and reads (the embedded API, the
 * peer of both: a fresh Array per write, as each PUT writes a new body). One request in flight.
 *
 * The three ways of doing one operation are timed round-robin, call by call, and rated by their
 * median call time: on a shared machine they see the same load, so the ratios stay meaningful
 * even when the absolute figures move (the mean is kept in `extra`).
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Pool } from '../src/pool/pool.js';
import { createS3Server } from '../src/s3/index.js';
import type { BenchContext, BenchRow } from './harness.js';

const KiB = 1024, MiB = 1024 * 1024;

interface Way { name: string; peer?: string; fn: () => Promise<unknown> }

/** Time `ways` round-robin for about `budgetMs` (and at least `minCalls` each); median and mean ms per call. */
async function roundRobin(ways: Way[], budgetMs: number, minCalls: number, ctx: BenchContext): Promise<Map<string, { medianMs: number; meanMs: number; calls: number }>> {
  const samples = new Map(ways.map((w) => [w.name, [] as number[]]));
  ctx.progress(ways.map((w) => w.name).join(' | '));
  for (const w of ways) await w.fn(); // warm-up
  const start = performance.now();
  while (performance.now() - start < budgetMs || samples.get(ways[0]!.name)!.length < minCalls) {
    for (const w of ways) {
      const t0 = performance.now();
      await w.fn();
      samples.get(w.name)!.push(performance.now() - t0);
    }
  }
  const out = new Map<string, { medianMs: number; meanMs: number; calls: number }>();
  for (const [name, s] of samples) {
    const sorted = [...s].sort((a, b) => a - b);
    out.set(name, { medianMs: sorted[sorted.length >> 1]!, meanMs: s.reduce((a, b) => a + b, 0) / s.length, calls: s.length });
  }
  return out;
}

export default async function s3Bench(ctx: BenchContext): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-s3-'));
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  const creds = { accessKey: 'bench', secretKey: 'bench-secret' };
  const server = createS3Server(pool, { credentials: creds });
  const { url } = await server.listen(0, '127.0.0.1');
  const sdk = new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey }, maxAttempts: 1 });
  const rows: BenchRow[] = [];
  const budgetMs = ctx.quick ? 1500 : 8000;
  const minCalls = ctx.quick ? 5 : 20;
  try {
    await sdk.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const bucket = await server.store.bucket('bench');
    for (const [size, label] of [[MiB, '1MiB'], [4 * KiB, '4KiB']] as const) {
      const data = new Uint8Array(size).fill(0x42);
      // The embedded peer does what the gateway does underneath: each write makes a fresh Array
      // object (a PUT writes a new body), reads read one written once.
      let fresh = 0;
      const newArray = () => bucket.cont.array(`bench-array-${label}-${fresh++}`, { chunkSize: bucket.bodyChunk });
      const arr = newArray();
      await arr.write(0, data);
      const check = (n: number) => { if (n !== size) throw new Error(`read ${n} bytes, expected ${size}`); };
      const ePut = `embedded Array write ${label}`, eGet = `embedded Array read ${label}`;
      const puts: Way[] = [
        { name: ePut, fn: () => newArray().write(0, data) },
        {
          name: `s3 layout put ${label} (no HTTP)`, peer: ePut, fn: async () => {
            const part = await bucket.writeBody(bucket.newBodyName('body'), [data]);
            await bucket.putRecord(`layout-${label}`, { size, etag: 'x', mtime: Date.now(), contentType: 'application/octet-stream', meta: {}, headers: {}, parts: [part] });
          },
        },
        { name: `s3 PutObject ${label} aws-sdk`, peer: ePut, fn: () => sdk.send(new PutObjectCommand({ Bucket: 'bench', Key: `sdk-${label}`, Body: data })) },
      ];
      const gets: Way[] = [
        { name: eGet, fn: async () => check((await arr.read(0, size)).length) },
        {
          name: `s3 layout get ${label} (no HTTP)`, peer: eGet, fn: async () => {
            const pin = bucket.pin();
            try {
              const rec = (await bucket.getRecord(`layout-${label}`, pin.epoch))!;
              let n = 0;
              for await (const b of bucket.readBody(rec.parts, 0, rec.size, pin.epoch)) n += b.length;
              check(n);
            } finally { await pin.release(); }
          },
        },
        {
          name: `s3 GetObject ${label} aws-sdk`, peer: eGet, fn: async () => {
            const r = await sdk.send(new GetObjectCommand({ Bucket: 'bench', Key: `sdk-${label}` }));
            check((await r.Body!.transformToByteArray()).length);
          },
        },
      ];
      for (const ways of [puts, gets]) {
        const got = await roundRobin(ways, budgetMs, minCalls, ctx);
        for (const w of ways) {
          const r = got.get(w.name)!;
          const perSecond = (size / r.medianMs) * 1000;
          rows.push({
            name: w.name, suite: 's3', bytesPerSecond: perSecond, opsPerSecond: perSecond / size,
            ...(w.peer ? { peer: w.peer } : {}),
            extra: { medianMs: r.medianMs, meanMs: r.meanMs, calls: r.calls },
          });
        }
      }
    }
  } finally {
    sdk.destroy();
    await server.close();
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
