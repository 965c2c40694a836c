/**
 * The S3 gateway driven by the real AWS SDK v3 client (no mocks): the acceptance path —
 * create bucket, put 5 MiB with metadata (ETag = MD5), head, get, ranged get, list with prefix +
 * delimiter and with continuation, a 3-part multipart upload, delete then NoSuchKey, and a wrong
 * secret refused with 403 — plus copies, conditional requests, batch deletes and version ids.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, PutObjectCommand, HeadObjectCommand, GetObjectCommand,
  ListObjectsV2Command, ListObjectsCommand, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand, ListPartsCommand, DeleteObjectCommand, DeleteObjectsCommand, CopyObjectCommand, DeleteBucketCommand,
  UploadPartCopyCommand, ListMultipartUploadsCommand, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Rng } from '../../core/rng.js';
import { startGateway, sdkClient } from './helpers.js';

const gw = await startGateway();
const s3 = sdkClient(gw.url);
const t = suite('s3-sdk');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const MiB = 1024 * 1024;

async function bytesOf(body: unknown): Promise<Buffer> {
  return Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function s3Error(p: Promise<unknown>): Promise<S3ServiceException> {
  try { await p; } catch (err) { if (err instanceof S3ServiceException) return err; throw err; }
  throw new Error('expected an S3 error, the call succeeded');
}

const big = new Rng(5).bytes(5 * MiB);

t('create bucket, list buckets, head bucket', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
  const list = await s3.send(new ListBucketsCommand({}));
  assert.ok(list.Buckets?.some((b) => b.Name === 'photos'));
  assert.ok(list.Buckets!.find((b) => b.Name === 'photos')!.CreationDate! instanceof Date);
  await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
  const again = await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'photos' })));
  assert.is(again.name, 'BucketAlreadyOwnedByYou');
  const bad = await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })));
  assert.is(bad.name, 'InvalidBucketName');
  const missing = await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'nope-bucket' })));
  assert.is(missing.$metadata.httpStatusCode, 404);
});

t('put 5 MiB with metadata: ETag is the MD5; head and get return it', async () => {
  const put = await s3.send(new PutObjectCommand({
    Bucket: 'photos', Key: 'album/2024/cover.jpg', Body: big, ContentType: 'image/jpeg',
    Metadata: { camera: 'x100', 'shot-by': 'ada' }, CacheControl: 'max-age=60',
  }));
  assert.is(put.ETag, `"${md5(big)}"`);
  assert.match(put.VersionId ?? '', /^\d+$/);
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg' }));
  assert.is(head.ContentLength, big.length);
  assert.is(head.ETag, `"${md5(big)}"`);
  assert.is(head.ContentType, 'image/jpeg');
  assert.is(head.CacheControl, 'max-age=60');
  assert.equal(head.Metadata, { camera: 'x100', 'shot-by': 'ada' });
  const get = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg' }));
  const back = await bytesOf(get.Body);
  assert.is(back.length, big.length);
  assert.ok(back.equals(big), 'GET returns the bytes PUT stored');
  assert.is(get.ETag, `"${md5(big)}"`);
});

t('ranged get: bytes=a-b, open-ended and suffix ranges; an unsatisfiable range is 416', async () => {
  const get = async (Range: string) => {
    const r = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg', Range }));
    return { body: await bytesOf(r.Body), range: r.ContentRange, len: r.ContentLength };
  };
  const a = await get('bytes=1000-1999');
  assert.ok(a.body.equals(big.subarray(1000, 2000)));
  assert.is(a.range, `bytes 1000-1999/${big.length}`);
  const crossing = await get(`bytes=${MiB - 10}-${3 * MiB + 10}`); // crosses body chunk boundaries
  assert.ok(crossing.body.equals(big.subarray(MiB - 10, 3 * MiB + 11)));
  const tail = await get('bytes=-100');
  assert.ok(tail.body.equals(big.subarray(big.length - 100)));
  const open = await get(`bytes=${big.length - 5}-`);
  assert.ok(open.body.equals(big.subarray(big.length - 5)));
  const e = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg', Range: `bytes=${big.length}-` })));
  assert.is(e.name, 'InvalidRange');
  assert.is(e.$metadata.httpStatusCode, 416);
});

t('list with prefix + delimiter gives keys and common prefixes; continuation pages through', async () => {
  const keys = ['album/2024/a.jpg', 'album/2024/b.jpg', 'album/2025/c.jpg', 'album/readme.txt', 'docs/x', 'docs/y/z', 'top.txt'];
  for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: k, Body: k }));
  const all = [...keys, 'album/2024/cover.jpg'].sort();
  const r = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'album/', Delimiter: '/' }));
  assert.equal(r.Contents?.map((c) => c.Key), ['album/readme.txt']);
  assert.equal(r.CommonPrefixes?.map((c) => c.Prefix), ['album/2024/', 'album/2025/']);
  assert.is(r.KeyCount, 3);
  assert.is(r.IsTruncated, false);
  const top = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Delimiter: '/' }));
  assert.equal(top.Contents?.map((c) => c.Key), ['top.txt']);
  assert.equal(top.CommonPrefixes?.map((c) => c.Prefix), ['album/', 'docs/']);
  assert.is(top.Contents![0]!.Size, 'top.txt'.length);
  assert.is(top.Contents![0]!.ETag, `"${md5(Buffer.from('top.txt'))}"`);
  // Continuation: two keys per page, in key order, nothing lost or repeated.
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const p = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', MaxKeys: 2, ContinuationToken: token }));
    seen.push(...(p.Contents ?? []).map((c) => c.Key!));
    token = p.IsTruncated ? p.NextContinuationToken : undefined;
    assert.ok(p.IsTruncated ? (p.KeyCount === 2 && token) : true);
    pages++;
  } while (token);
  assert.equal(seen, all);
  assert.is(pages, Math.ceil(all.length / 2));
  // Pages of common prefixes continue too, and StartAfter skips.
  const p1 = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Delimiter: '/', MaxKeys: 1 }));
  assert.equal(p1.CommonPrefixes?.map((c) => c.Prefix), ['album/']);
  const p2 = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Delimiter: '/', MaxKeys: 1, ContinuationToken: p1.NextContinuationToken }));
  assert.equal(p2.CommonPrefixes?.map((c) => c.Prefix), ['docs/']);
  const after = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', StartAfter: 'docs/x' }));
  assert.equal(after.Contents?.map((c) => c.Key), ['docs/y/z', 'top.txt']);
  // ListObjects V1 with Marker / NextMarker.
  const v1 = await s3.send(new ListObjectsCommand({ Bucket: 'photos', Delimiter: '/', MaxKeys: 1 }));
  assert.is(v1.NextMarker, 'album/');
  const v1b = await s3.send(new ListObjectsCommand({ Bucket: 'photos', Delimiter: '/', Marker: v1.NextMarker }));
  assert.equal(v1b.CommonPrefixes?.map((c) => c.Prefix), ['docs/']);
  assert.equal(v1b.Contents?.map((c) => c.Key), ['top.txt']);
});

t('3-part multipart upload: S3 ETag rule, ListParts, the object reads back whole and by part', async () => {
  const parts = [new Rng(11).bytes(5 * MiB), new Rng(12).bytes(5 * MiB), new Rng(13).bytes(MiB + 123)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'video.mp4', ContentType: 'video/mp4', Metadata: { take: '3' } }));
  assert.ok(UploadId);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'photos' }));
  assert.ok(uploads.Uploads?.some((u) => u.UploadId === UploadId && u.Key === 'video.mp4'));
  const etags: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'video.mp4', UploadId, PartNumber: i + 1, Body: parts[i] }));
    assert.is(r.ETag, `"${md5(parts[i]!)}"`);
    etags.push(r.ETag!);
  }
  const listed = await s3.send(new ListPartsCommand({ Bucket: 'photos', Key: 'video.mp4', UploadId }));
  assert.equal(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), parts.map((p, i) => [i + 1, p.length, etags[i]]));
  const done = await s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'photos', Key: 'video.mp4', UploadId,
    MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
  }));
  const expect = createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex') + '-3';
  assert.is(done.ETag, `"${expect}"`);
  const whole = Buffer.concat(parts);
  const get = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'video.mp4' }));
  assert.ok((await bytesOf(get.Body)).equals(whole));
  assert.is(get.ContentType, 'video/mp4');
  assert.equal(get.Metadata, { take: '3' });
  const cross = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'video.mp4', Range: `bytes=${5 * MiB - 7}-${10 * MiB + 7}` }));
  assert.ok((await bytesOf(cross.Body)).equals(whole.subarray(5 * MiB - 7, 10 * MiB + 8)), 'a range across part boundaries');
  const p2 = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'video.mp4', PartNumber: 2 }));
  assert.ok((await bytesOf(p2.Body)).equals(parts[1]!));
  assert.is(p2.PartsCount, 3);
  const gone = await s3Error(s3.send(new ListPartsCommand({ Bucket: 'photos', Key: 'video.mp4', UploadId })));
  assert.is(gone.name, 'NoSuchUpload');
});

t('multipart rules: small non-last parts, wrong ETags, bad order; abort removes the upload', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'bad.bin' }));
  const a = await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'bad.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(1000, 1) }));
  const b = await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'bad.bin', UploadId, PartNumber: 2, Body: Buffer.alloc(1000, 2) }));
  const complete = (Parts: Array<{ ETag: string; PartNumber: number }>) => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'bad.bin', UploadId, MultipartUpload: { Parts } }));
  assert.is((await s3Error(complete([{ ETag: a.ETag!, PartNumber: 1 }, { ETag: b.ETag!, PartNumber: 2 }]))).name, 'EntityTooSmall');
  assert.is((await s3Error(complete([{ ETag: b.ETag!, PartNumber: 1 }]))).name, 'InvalidPart');
  assert.is((await s3Error(complete([{ ETag: b.ETag!, PartNumber: 2 }, { ETag: a.ETag!, PartNumber: 1 }]))).name, 'InvalidPartOrder');
  await s3.send(new AbortMultipartUploadCommand({ Bucket: 'photos', Key: 'bad.bin', UploadId }));
  assert.is((await s3Error(s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'bad.bin', UploadId, PartNumber: 3, Body: 'x' })))).name, 'NoSuchUpload');
  assert.is((await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'bad.bin' })))).$metadata.httpStatusCode, 404);
});

t('upload part copy assembles an object from ranges of another', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'spliced' }));
  const p1 = await s3.send(new UploadPartCopyCommand({ Bucket: 'photos', Key: 'spliced', UploadId, PartNumber: 1, CopySource: 'photos/album/2024/cover.jpg', CopySourceRange: `bytes=0-${5 * MiB - 1}` }));
  const p2 = await s3.send(new UploadPartCommand({ Bucket: 'photos', Key: 'spliced', UploadId, PartNumber: 2, Body: 'tail' }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'photos', Key: 'spliced', UploadId, MultipartUpload: { Parts: [{ ETag: p1.CopyPartResult!.ETag!, PartNumber: 1 }, { ETag: p2.ETag!, PartNumber: 2 }] } }));
  const got = await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'spliced' }))).Body);
  assert.ok(got.equals(Buffer.concat([big, Buffer.from('tail')])));
});

t('copy object keeps or replaces metadata; copying onto itself needs REPLACE', async () => {
  const c = await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.jpg', CopySource: 'photos/album/2024/cover.jpg' }));
  assert.is(c.CopyObjectResult?.ETag, `"${md5(big)}"`);
  const h = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy.jpg' }));
  assert.equal(h.Metadata, { camera: 'x100', 'shot-by': 'ada' });
  assert.is(h.ContentType, 'image/jpeg');
  await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.jpg', CopySource: 'photos/copy.jpg', MetadataDirective: 'REPLACE', Metadata: { new: 'yes' }, ContentType: 'text/plain' }));
  const h2 = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy.jpg' }));
  assert.equal(h2.Metadata, { new: 'yes' });
  assert.is(h2.ContentType, 'text/plain');
  assert.ok((await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'copy.jpg' }))).Body)).equals(big));
  const self = await s3Error(s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.jpg', CopySource: 'photos/copy.jpg' })));
  assert.is(self.name, 'InvalidRequest');
  const missing = await s3Error(s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'x', CopySource: 'photos/does-not-exist' })));
  assert.is(missing.name, 'NoSuchKey');
});

t('conditional requests: If-None-Match on GET is 304, If-Match mismatch is 412, If-None-Match: * on PUT', async () => {
  const etag = `"${md5(big)}"`;
  const nm = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg', IfNoneMatch: etag })));
  assert.is(nm.$metadata.httpStatusCode, 304);
  const pf = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg', IfMatch: '"0000"' })));
  assert.is(pf.$metadata.httpStatusCode, 412);
  const ok = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg', IfMatch: etag, Range: 'bytes=0-3' }));
  assert.ok((await bytesOf(ok.Body)).equals(big.subarray(0, 4)));
  const exists = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'top.txt', Body: 'new', IfNoneMatch: '*' })));
  assert.is(exists.$metadata.httpStatusCode, 412);
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'fresh.txt', Body: 'new', IfNoneMatch: '*' }));
});

t('version ids are epochs: GetObject ?versionId reads the object as it was', async () => {
  const v1 = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'doc.txt', Body: 'first version' }));
  const v2 = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'doc.txt', Body: 'second version, longer' }));
  assert.ok(BigInt(v2.VersionId!) > BigInt(v1.VersionId!));
  const old = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'doc.txt', VersionId: v1.VersionId }));
  assert.is((await bytesOf(old.Body)).toString(), 'first version');
  assert.is(old.VersionId, v1.VersionId);
  assert.is((await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'doc.txt' }))).Body)).toString(), 'second version, longer');
  const before = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'doc.txt', VersionId: String(BigInt(v1.VersionId!) - 1n) })));
  assert.is(before.name, 'NoSuchVersion');
  const bad = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'doc.txt', VersionId: 'abc' })));
  assert.is(bad.name, 'InvalidArgument');
});

t('streamed bodies of unknown length upload (aws-chunked) and verify', async () => {
  const data = new Rng(99).bytes(3 * MiB + 17);
  const stream = Readable.from((function* () { for (let i = 0; i < data.length; i += 65536) yield Buffer.from(data.subarray(i, i + 65536)); })());
  const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'streamed.bin', Body: stream, ContentLength: data.length }));
  assert.is(put.ETag, `"${md5(data)}"`);
  assert.ok((await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streamed.bin' }))).Body)).equals(Buffer.from(data)));
});

t('delete, then NoSuchKey; DeleteObjects removes many at once', async () => {
  await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg' }));
  const e = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'album/2024/cover.jpg' })));
  assert.is(e.name, 'NoSuchKey');
  assert.is(e.$metadata.httpStatusCode, 404);
  await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'never-existed' })); // 204 all the same
  const r = await s3.send(new DeleteObjectsCommand({ Bucket: 'photos', Delete: { Objects: [{ Key: 'docs/x' }, { Key: 'docs/y/z' }, { Key: 'ghost' }] } }));
  assert.equal(r.Deleted?.map((d) => d.Key).sort(), ['docs/x', 'docs/y/z', 'ghost']);
  const left = await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'docs/' }));
  assert.is(left.KeyCount, 0);
  const notEmpty = await s3Error(s3.send(new DeleteBucketCommand({ Bucket: 'photos' })));
  assert.is(notEmpty.name, 'BucketNotEmpty');
});

t('a wrong secret gets 403 SignatureDoesNotMatch; an unknown key gets InvalidAccessKeyId', async () => {
  const wrong = sdkClient(gw.url, 'not-the-secret');
  const e = await s3Error(wrong.send(new PutObjectCommand({ Bucket: 'photos', Key: 'intruder', Body: Buffer.alloc(5 * MiB) })));
  assert.is(e.$metadata.httpStatusCode, 403);
  assert.is(e.name, 'SignatureDoesNotMatch');
  const e2 = await s3Error(wrong.send(new ListBucketsCommand({})));
  assert.is(e2.name, 'SignatureDoesNotMatch');
  const unknown = sdkClient(gw.url, 'whatever', 'NOSUCHKEY');
  assert.is((await s3Error(unknown.send(new ListBucketsCommand({})))).name, 'InvalidAccessKeyId');
  assert.is((await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'intruder' })))).$metadata.httpStatusCode, 404, 'nothing was stored');
  wrong.destroy(); unknown.destroy();
});

t('an empty bucket is deleted', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'scratch' }));
  await s3.send(new PutObjectCommand({ Bucket: 'scratch', Key: 'empty', Body: new Uint8Array(0) }));
  const h = await s3.send(new HeadObjectCommand({ Bucket: 'scratch', Key: 'empty' }));
  assert.is(h.ContentLength, 0);
  assert.is(h.ETag, `"${md5(new Uint8Array(0))}"`);
  assert.is((await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'scratch', Key: 'empty' }))).Body)).length, 0);
  await s3.send(new DeleteObjectCommand({ Bucket: 'scratch', Key: 'empty' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }));
  assert.is((await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'scratch' })))).$metadata.httpStatusCode, 404);
});

t.after(async () => { s3.destroy(); await gw.close(); });
t.run();
