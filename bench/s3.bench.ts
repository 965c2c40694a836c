/**
 * The S3 gateway against the embedded API in the same run: PutObject / GetObject of 1 MiB and
 * 4 KiB through the AWS SDK v3 (HTTP on loopback, SigV4, checksums, index flip), through the
 * gateway's object layout without HTTP (S3Bucket.writeBody + putRecord / readBody), and as plain
 * Array object writes and reads (the embedded API, the peer of both). One request in flight.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Pool } from '../src/pool/pool.js';
import { createS3Server } from '../src/s3/index.js';
import { rate, type BenchContext, type BenchRow } from './harness.js';

const KiB = 1024, MiB = 1024 * 1024;

export default async function s3Bench(ctx: BenchContext): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-s3-'));
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  const creds = { accessKey: 'bench', secretKey: 'bench-secret' };
  const server = createS3Server(pool, { credentials: creds });
  const { url } = await server.listen(0, '127.0.0.1');
  const sdk = new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey }, maxAttempts: 1 });
  const rows: BenchRow[] = [];
  try {
    await sdk.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const bucket = await server.store.bucket('bench');
    const cont = bucket.cont;
    for (const [size, label] of [[MiB, '1MiB'], [4 * KiB, '4KiB']] as const) {
      const data = new Uint8Array(size).fill(0x42);
      const arr = cont.array(`bench-array-${label}`, { chunkSize: bucket.bodyChunk });
      const peerPut = `embedded Array write ${label}`, peerGet = `embedded Array read ${label}`;
      const ePut = await rate(peerPut, () => arr.write(0, data), size, ctx);
      const eGet = await rate(peerGet, async () => { const r = await arr.read(0, size); if (r.length !== size) throw new Error('short read'); }, size, ctx);
      const key = `layout-${label}`;
      const lPut = await rate(`s3 layout put ${label} (no HTTP)`, async () => {
        const part = await bucket.writeBody(bucket.newBodyName('body'), [data]);
        await bucket.putRecord(key, { size, etag: 'x', mtime: Date.now(), contentType: 'application/octet-stream', meta: {}, headers: {}, parts: [part] });
      }, size, ctx);
      const lGet = await rate(`s3 layout get ${label} (no HTTP)`, async () => {
        const pin = bucket.pin();
        try {
          const rec = (await bucket.getRecord(key, pin.epoch))!;
          let n = 0;
          for await (const b of bucket.readBody(rec.parts, 0, rec.size, pin.epoch)) n += b.length;
          if (n !== size) throw new Error('short read');
        } finally { await pin.release(); }
      }, size, ctx);
      const sPut = await rate(`s3 PutObject ${label} aws-sdk`, () => sdk.send(new PutObjectCommand({ Bucket: 'bench', Key: `sdk-${label}`, Body: data })), size, ctx);
      const sGet = await rate(`s3 GetObject ${label} aws-sdk`, async () => {
        const r = await sdk.send(new GetObjectCommand({ Bucket: 'bench', Key: `sdk-${label}` }));
        const b = await r.Body!.transformToByteArray();
        if (b.length !== size) throw new Error('short read');
      }, size, ctx);
      // run.ts prints each row's ratio to its peer (the embedded Array API, same run).
      const row = (name: string, r: { perSecond: number; meanMs: number; samples: number }, peer?: string): BenchRow => ({
        name, suite: 's3', bytesPerSecond: r.perSecond, opsPerSecond: r.perSecond / size,
        ...(peer ? { peer } : {}),
        extra: { meanMs: r.meanMs, samples: r.samples },
      });
      rows.push(
        row(peerPut, ePut), row(peerGet, eGet),
        row(`s3 layout put ${label} (no HTTP)`, lPut, peerPut), row(`s3 layout get ${label} (no HTTP)`, lGet, peerGet),
        row(`s3 PutObject ${label} aws-sdk`, sPut, peerPut), row(`s3 GetObject ${label} aws-sdk`, sGet, peerGet),
      );
    }
  } finally {
    sdk.destroy();
    await server.close();
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
