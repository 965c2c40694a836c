/**
 * The S3 gateway on a connected pool: four `cairn engine` processes and a real etcd, served by
 * `cairn s3 --etcd URLS --pool NAME` and by a second, in-process gateway on its own client. What
 * one gateway writes the other reads (buckets, objects, multipart uploads, listings), and
 * concurrent PUTs of one key through both leave one whole version.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, CreateMultipartUploadCommand,
  UploadPartCommand, CompleteMultipartUploadCommand, DeleteObjectCommand, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Rng } from '../../core/rng.js';
import { Cluster } from '../helpers/cluster.js';
import { createS3Server } from '../../src/s3/index.js';
import { sdkClient, ACCESS_KEY, SECRET_KEY } from './helpers.js';

const MiB = 1024 * 1024;
const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '32M', dataBytes: '256M' });
const t = suite('s3-connected');

// Gateway 1: the CLI, connected through etcd.
const child = spawn(process.execPath, ['--import', 'tsx', entry, 's3', '--etcd', cluster.etcdUrl, '--pool', cluster.pool, '--listen', '127.0.0.1:0'], {
  env: { ...process.env, CAIRN_POOL_SECRET: cluster.secret, CAIRN_S3_ACCESS_KEY: ACCESS_KEY, CAIRN_S3_SECRET_KEY: SECRET_KEY }, stdio: ['ignore', 'pipe', 'pipe'],
});
const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
let stderr = '';
child.stderr!.on('data', (d) => (stderr += d));
const url1 = await new Promise<string>((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`cairn s3 did not listen within 90 s: ${stderr}`)), 90_000);
  child.stdout!.on('data', (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) { clearTimeout(timer); resolve(m[1]!); } });
  child.on('exit', (c) => { clearTimeout(timer); reject(new Error(`cairn s3 exited ${c}: ${stderr}`)); });
});
// Gateway 2: in process, on its own connected client.
const pool2 = await cluster.connect();
const gw2 = createS3Server(pool2, { credentials: { accessKey: ACCESS_KEY, secretKey: SECRET_KEY } });
const { url: url2 } = await gw2.listen(0, '127.0.0.1');
const a = sdkClient(url1), b = sdkClient(url2);
const md5 = (x: Uint8Array) => createHash('md5').update(x).digest('hex');
const bytes = async (body: unknown) => Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());

t('a bucket and an object written through one gateway are read through the other', async () => {
  await a.send(new CreateBucketCommand({ Bucket: 'shared' }));
  const data = new Rng(1).bytes(6 * MiB + 11);
  const put = await a.send(new PutObjectCommand({ Bucket: 'shared', Key: 'dir/obj', Body: data, Metadata: { via: 'cli' } }));
  assert.is(put.ETag, `"${md5(data)}"`);
  const got = await b.send(new GetObjectCommand({ Bucket: 'shared', Key: 'dir/obj' }));
  assert.ok((await bytes(got.Body)).equals(Buffer.from(data)));
  assert.equal(got.Metadata, { via: 'cli' });
  const r = await b.send(new GetObjectCommand({ Bucket: 'shared', Key: 'dir/obj', Range: 'bytes=5000000-5000099' }));
  assert.ok((await bytes(r.Body)).equals(Buffer.from(data.subarray(5_000_000, 5_000_100))));
});

t('a multipart upload started on one gateway is completed on the other; listings agree', async () => {
  const parts = [new Rng(2).bytes(5 * MiB), new Rng(3).bytes(1000)];
  const { UploadId } = await a.send(new CreateMultipartUploadCommand({ Bucket: 'shared', Key: 'dir/mp' }));
  const e1 = await a.send(new UploadPartCommand({ Bucket: 'shared', Key: 'dir/mp', UploadId, PartNumber: 1, Body: parts[0] }));
  const e2 = await b.send(new UploadPartCommand({ Bucket: 'shared', Key: 'dir/mp', UploadId, PartNumber: 2, Body: parts[1] }));
  const done = await b.send(new CompleteMultipartUploadCommand({ Bucket: 'shared', Key: 'dir/mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] } }));
  assert.match(done.ETag!, /-2"$/);
  assert.ok((await bytes((await a.send(new GetObjectCommand({ Bucket: 'shared', Key: 'dir/mp' }))).Body)).equals(Buffer.concat(parts)));
  for (const c of [a, b]) {
    const l = await c.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'dir/' }));
    assert.equal(l.Contents?.map((o) => o.Key), ['dir/mp', 'dir/obj']);
  }
});

t('concurrent PUTs of one key through both gateways leave one whole version', async () => {
  const va = Buffer.alloc(2 * MiB, 0x61), vb = Buffer.alloc(3 * MiB, 0x62);
  await Promise.all([
    (async () => { for (let i = 0; i < 4; i++) await a.send(new PutObjectCommand({ Bucket: 'shared', Key: 'race', Body: va })); })(),
    (async () => { for (let i = 0; i < 4; i++) await b.send(new PutObjectCommand({ Bucket: 'shared', Key: 'race', Body: vb })); })(),
  ]);
  for (const c of [a, b]) {
    const g = await c.send(new GetObjectCommand({ Bucket: 'shared', Key: 'race' }));
    const body = await bytes(g.Body);
    assert.ok(body.equals(va) || body.equals(vb), `got ${body.length} bytes that are neither version`);
    assert.is(g.ETag, `"${md5(body)}"`);
  }
});

t('delete through one gateway: NoSuchKey through the other', async () => {
  await b.send(new DeleteObjectCommand({ Bucket: 'shared', Key: 'dir/obj' }));
  try { await a.send(new GetObjectCommand({ Bucket: 'shared', Key: 'dir/obj' })); assert.unreachable(); } catch (err) { assert.is((err as S3ServiceException).name, 'NoSuchKey'); }
});

t.after(async () => {
  a.destroy(); b.destroy();
  await gw2.close();
  await pool2.close();
  child.kill('SIGTERM');
  const code = await exited;
  await cluster.stop();
  assert.is(code, 0, stderr);
});
t.run();
