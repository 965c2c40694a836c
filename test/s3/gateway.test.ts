/**
 * Gateway properties beyond one client's happy path: PUT atomicity under concurrent readers
 * (old or new object, never a mix), old bodies punched after the flip, bounded memory while a
 * large body streams both ways, buckets taking their object class from the container, S3's XML
 * error documents (and none on HEAD), unimplemented sub-resources, the concurrency limit, and
 * malformed requests. Requests are signed by real clients (AWS SDK, MinIO presigned URLs).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import http from 'node:http';
import * as Minio from 'minio';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3ServiceException } from '@aws-sdk/client-s3';
import { startGateway, sdkClient, ACCESS_KEY, SECRET_KEY } from './helpers.js';

const MiB = 1024 * 1024;
const gw = await startGateway({ ranks: 6 });
const s3 = sdkClient(gw.url);
const mc = new Minio.Client({ endPoint: '127.0.0.1', port: gw.port, useSSL: false, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, region: 'us-east-1' });
const t = suite('s3-gateway');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

async function bytesOf(body: unknown): Promise<Buffer> {
  return Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

t('buckets take their object class from the container (EC by default, RP or S on request)', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'ec-bucket' }));
  const rp = await fetch(await mc.presignedUrl('PUT', 'rp-bucket', '', 60), { method: 'PUT', headers: { 'x-cairn-oclass': 'RP_3GX', 'x-cairn-redundancy-factor': '2' } });
  assert.is(rp.status, 200, await rp.text());
  const ec = await gw.pool.openContainer('ec-bucket');
  assert.match(ec.props.oclass, /^EC_/);
  assert.is((await gw.pool.openContainer('rp-bucket')).props.oclass, 'RP_3GX');
  const head = await fetch(await mc.presignedUrl('HEAD', 'rp-bucket', '', 60), { method: 'HEAD' });
  assert.is(head.headers.get('x-cairn-oclass'), 'RP_3GX');
  const bad = await fetch(await mc.presignedUrl('PUT', 'bad-class', '', 60), { method: 'PUT', headers: { 'x-cairn-oclass': 'EC_99P9G1' } });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /<Code>InvalidArgument<\/Code>/);
  const data = Buffer.alloc(3 * MiB + 1, 9);
  await s3.send(new PutObjectCommand({ Bucket: 'rp-bucket', Key: 'k', Body: data }));
  assert.ok((await bytesOf((await s3.send(new GetObjectCommand({ Bucket: 'rp-bucket', Key: 'k' }))).Body)).equals(data));
});

t('PUT is atomic: concurrent readers see the old object or the new one, never a mix', async () => {
  const versions = [Buffer.alloc(2 * MiB, 0x41), Buffer.alloc(3 * MiB + 77, 0x42)];
  await s3.send(new PutObjectCommand({ Bucket: 'ec-bucket', Key: 'flip', Body: versions[0] }));
  let writing = true;
  const writer = (async () => {
    for (let i = 1; i <= 12; i++) await s3.send(new PutObjectCommand({ Bucket: 'ec-bucket', Key: 'flip', Body: versions[i % 2] }));
    writing = false;
  })();
  let reads = 0;
  const reader = async () => {
    while (writing) {
      const r = await s3.send(new GetObjectCommand({ Bucket: 'ec-bucket', Key: 'flip' }));
      const body = await bytesOf(r.Body);
      const which = versions.findIndex((v) => v.equals(body));
      assert.ok(which >= 0, `a read returned ${body.length} bytes that are neither version (first ${body[0]}, last ${body[body.length - 1]})`);
      assert.is(r.ETag, `"${md5(versions[which]!)}"`, 'ETag and body come from one version');
      assert.is(r.ContentLength, versions[which]!.length);
      reads++;
    }
  };
  await Promise.all([writer, reader(), reader(), reader()]);
  assert.ok(reads >= 3, `${reads} reads overlapped the writes`);
});

t('the replaced body is punched after the flip; the old version stays readable at its epoch', async () => {
  const v1 = await s3.send(new PutObjectCommand({ Bucket: 'ec-bucket', Key: 'punch-me', Body: Buffer.alloc(MiB + 3, 1) }));
  const b = await gw.server.store.bucket('ec-bucket');
  const old = (await b.getRecord('punch-me', BigInt(v1.VersionId!)))!;
  const oldBody = old.parts[0]!;
  await s3.send(new PutObjectCommand({ Bucket: 'ec-bucket', Key: 'punch-me', Body: Buffer.alloc(10, 2) }));
  const arr = b.cont.array(oldBody.o, { chunkSize: oldBody.c, oclass: oldBody.k });
  assert.is(await arr.getSize(), 0, 'the old body object holds nothing at the current epoch');
  assert.is(await arr.getSize({ epoch: BigInt(v1.VersionId!) }), MiB + 3, 'but its version remains at the old epoch');
  const oldGet = await s3.send(new GetObjectCommand({ Bucket: 'ec-bucket', Key: 'punch-me', VersionId: v1.VersionId }));
  assert.ok((await bytesOf(oldGet.Body)).equals(Buffer.alloc(MiB + 3, 1)));
});

t('a 256 MiB body streams in and out without being held in memory', async () => {
  const N = 256;
  const chunk = Buffer.alloc(MiB, 0x5a);
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().arrayBuffers - base); }, 10);
  try {
    const put = await s3.send(new PutObjectCommand({ Bucket: 'ec-bucket', Key: 'huge', Body: Readable.from((function* () { for (let i = 0; i < N; i++) yield chunk; })()), ContentLength: N * MiB }));
    const h = createHash('md5');
    for (let i = 0; i < N; i++) h.update(chunk);
    assert.is(put.ETag, `"${h.digest('hex')}"`);
    const get = await s3.send(new GetObjectCommand({ Bucket: 'ec-bucket', Key: 'huge' }));
    let n = 0, wrong = 0;
    for await (const c of get.Body as AsyncIterable<Buffer>) { n += c.length; if (c[0] !== 0x5a || c[c.length - 1] !== 0x5a) wrong++; }
    assert.is(n, N * MiB);
    assert.is(wrong, 0);
  } finally {
    clearInterval(timer);
  }
  assert.ok(peak < 160 * MiB, `buffers grew by at most ${(peak / MiB).toFixed(0)} MiB while ${N} MiB streamed each way`);
});

async function raw(method: string, bucket: string, key: string, query: Record<string, string> = {}, init: RequestInit = {}) {
  const url = await mc.presignedUrl(method, bucket, key, 60, query);
  const r = await fetch(url, { method, ...init });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

t('errors are S3 XML documents with code, message, resource and request id; HEAD errors have no body', async () => {
  const r = await raw('GET', 'ec-bucket', 'missing/key');
  assert.is(r.status, 404);
  assert.is(r.headers.get('content-type'), 'application/xml');
  // S3 sends <Error> without a namespace; botocore (aws-cli, boto3) matches the root tag `Error`
  // literally and reports an empty code for <Error xmlns=...>
  assert.match(r.text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>/);
  assert.match(r.text, /<Code>NoSuchKey<\/Code><Message>The specified key does not exist.<\/Message>/);
  assert.match(r.text, /<Key>missing\/key<\/Key>/);
  assert.match(r.text, /<Resource>\/ec-bucket\/missing\/key<\/Resource>/);
  assert.match(r.text, new RegExp(`<RequestId>${r.headers.get('x-amz-request-id')}</RequestId>`));
  const h = await raw('HEAD', 'ec-bucket', 'missing/key');
  assert.is(h.status, 404);
  assert.is(h.text, '');
  const nb = await raw('GET', 'no-such-bucket', 'k');
  assert.match(nb.text, /<Code>NoSuchBucket<\/Code>/);
  const acl = await raw('GET', 'ec-bucket', '', { acl: '' });
  assert.is(acl.status, 501);
  assert.match(acl.text, /<Code>NotImplemented<\/Code>/);
  const method = await raw('POST', 'ec-bucket', 'some/key');
  assert.is(method.status, 405);
  assert.match(method.text, /<Code>MethodNotAllowed<\/Code>/);
  const badMax = await raw('GET', 'ec-bucket', '', { 'list-type': '2', 'max-keys': 'many' });
  assert.match(badMax.text, /<Code>InvalidArgument<\/Code>/);
  const badToken = await raw('GET', 'ec-bucket', '', { 'list-type': '2', 'continuation-token': '!!' });
  assert.match(badToken.text, /<Code>InvalidArgument<\/Code>/);
  const xml = await raw('POST', 'ec-bucket', '', { delete: '' }, { body: '<Delete><Object><Key>a</Key>' });
  assert.match(xml.text, /<Code>MalformedXML<\/Code>/);
  const md5bad = await raw('PUT', 'ec-bucket', 'md5', {}, { body: 'hello', headers: { 'content-md5': createHash('md5').update('other').digest('base64') } });
  assert.is(md5bad.status, 400);
  assert.match(md5bad.text, /<Code>BadDigest<\/Code>/);
  assert.is((await raw('HEAD', 'ec-bucket', 'md5')).status, 404, 'a body failing its digest is not stored');
  const meta = await raw('PUT', 'ec-bucket', 'meta', {}, { body: 'x', headers: { 'x-amz-meta-big': 'v'.repeat(3000) } });
  assert.match(meta.text, /<Code>MetadataTooLarge<\/Code>/);
  const long = await s3.send(new HeadObjectCommand({ Bucket: 'ec-bucket', Key: 'k'.repeat(1025) })).catch((e: S3ServiceException) => e);
  assert.is((long as S3ServiceException).$metadata.httpStatusCode, 400);
});

t('a request refused before its body is read is still answered with S3 XML (then the connection closes)', async () => {
  const url = new URL(await mc.presignedPutObject('ec-bucket', 'too-big', 60));
  const res = await new Promise<{ status: number; text: string; connection?: string }>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'PUT', headers: { 'content-length': String(6 * 1024 ** 3) } }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => resolve({ status: r.statusCode!, text, connection: r.headers.connection }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(MiB)); // and never the rest
  });
  assert.is(res.status, 400);
  assert.match(res.text, /<Code>EntityTooLarge<\/Code>/);
  assert.is(res.connection, 'close');
});

t('at most maxConcurrentRequests run at once: more get 503 SlowDown', async () => {
  const small = await startGateway({ maxConcurrentRequests: 1 });
  try {
    const c = new Minio.Client({ endPoint: '127.0.0.1', port: small.port, useSSL: false, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, region: 'us-east-1' });
    await c.makeBucket('slow', 'us-east-1');
    // A PUT whose body trickles in holds the only slot.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const body = new ReadableStream({ async start(ctl) { ctl.enqueue(new Uint8Array(10)); await gate; ctl.close(); } });
    const slow = fetch(await c.presignedPutObject('slow', 'k', 60), { method: 'PUT', body, duplex: 'half' } as RequestInit);
    await new Promise((r) => setTimeout(r, 200));
    const busy = await fetch(await c.presignedGetObject('slow', 'k', 60));
    assert.is(busy.status, 503);
    assert.match(await busy.text(), /<Code>SlowDown<\/Code>/);
    release();
    assert.is((await slow).status, 200);
    const ok = await fetch(await c.presignedGetObject('slow', 'k', 60));
    assert.is(ok.status, 200);
    assert.is((await ok.arrayBuffer()).byteLength, 10);
  } finally {
    await small.close();
  }
});

t('virtual-hosted-style requests (bucket.<domain>) when a domain is configured', async () => {
  const v = await startGateway({ domain: 's3.test' });
  // Every name resolves to loopback, so the SDK's bucket.s3.test host reaches the gateway.
  const agent = new http.Agent({ keepAlive: true, lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4))) as never });
  const c = new S3Client({ endpoint: `http://s3.test:${v.port}`, region: 'us-east-1', forcePathStyle: false, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, requestHandler: { httpAgent: agent } as never });
  const hosts: string[] = [];
  v.server.server.prependListener('request', (req: http.IncomingMessage) => hosts.push(String(req.headers.host)));
  try {
    await c.send(new CreateBucketCommand({ Bucket: 'vhost-bucket' }));
    await c.send(new PutObjectCommand({ Bucket: 'vhost-bucket', Key: 'a/b.txt', Body: 'virtual' }));
    assert.is(await (await c.send(new GetObjectCommand({ Bucket: 'vhost-bucket', Key: 'a/b.txt' }))).Body!.transformToString(), 'virtual');
    assert.equal((await c.send(new ListObjectsV2Command({ Bucket: 'vhost-bucket' }))).Contents?.map((o) => o.Key), ['a/b.txt']);
    assert.ok(hosts.length >= 4 && hosts.every((h) => h.startsWith('vhost-bucket.s3.test:')), hosts.join(' '));
  } finally {
    c.destroy(); agent.destroy();
    await v.close();
  }
});

t('an idle kept-alive connection outlives Node\'s 5 s default (a pooled client connection is not closed under it)', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = await mc.presignedUrl('GET', 'ec-bucket', '', 60); // (a bucket listing: 200)
  const get = () => new Promise<{ status: number; port: number }>((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, port: req.socket!.localPort! }));
    });
    req.on('error', reject);
  });
  try {
    const first = await get();
    assert.is(first.status, 200);
    await new Promise((r) => setTimeout(r, 10_000)); // (Node's default closes it between 5 and 9 s)
    const second = await get();
    assert.is(second.status, 200);
    assert.is(second.port, first.port, 'the second request went on a new connection: the server closed the idle one');
  } finally {
    agent.destroy();
  }
});

t('createS3Server refuses bad options with INVALID_ARGUMENT', async () => {
  const { createS3Server } = await import('../../src/s3/index.js');
  for (const opts of [{}, { credentials: [] }, { credentials: { accessKey: 'a b', secretKey: 's' } }, { credentials: { accessKey: 'a', secretKey: '' } }, { credentials: { accessKey: 'a', secretKey: 's' }, maxConcurrentRequests: 0 }]) {
    try { createS3Server(gw.pool, opts as never); assert.unreachable(JSON.stringify(opts)); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT', JSON.stringify(opts)); }
  }
});

t.after(async () => { s3.destroy(); await gw.close(); });
t.run();
