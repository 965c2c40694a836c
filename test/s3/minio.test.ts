/**
 * The S3 gateway driven by the MinIO JS client (a second real client with its own signing,
 * region lookup, multipart splitting and presigned URLs): buckets, streamed puts with metadata,
 * a multipart put the client splits itself, partial reads, listings, copies, batch removal, and
 * presigned GET / PUT URLs used with plain fetch (including Cairn's bucket snapshots, which are
 * reached through presigned URLs with extra query parameters).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { Rng } from '../../core/rng.js';
import { startGateway, ACCESS_KEY, SECRET_KEY } from './helpers.js';

const gw = await startGateway();
const MiB = 1024 * 1024;
const mc = new Minio.Client({ endPoint: '127.0.0.1', port: gw.port, useSSL: false, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, partSize: 5 * MiB });
const t = suite('s3-minio');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

async function listAll<T>(s: NodeJS.ReadableStream): Promise<T[]> {
  const out: T[] = [];
  for await (const x of s) out.push(x as T);
  return out;
}

t('buckets: make, exists, list', async () => {
  await mc.makeBucket('media', 'us-east-1');
  assert.ok(await mc.bucketExists('media'));
  assert.not.ok(await mc.bucketExists('no-such-bucket'));
  assert.ok((await mc.listBuckets()).some((b) => b.name === 'media'));
});

t('streamed put with metadata, stat, get, partial get', async () => {
  const data = new Rng(3).bytes(3 * MiB + 5);
  const info = await mc.putObject('media', 'clips/one.bin', Readable.from([Buffer.from(data)]), data.length, { 'Content-Type': 'application/x-clip', 'X-Amz-Meta-Origin': 'camera-2' });
  assert.is(info.etag, md5(data));
  const st = await mc.statObject('media', 'clips/one.bin');
  assert.is(st.size, data.length);
  assert.is(st.etag, md5(data));
  assert.is(st.metaData['content-type'], 'application/x-clip');
  assert.is(st.metaData.origin, 'camera-2');
  assert.ok((await readAll(await mc.getObject('media', 'clips/one.bin'))).equals(Buffer.from(data)));
  const part = await readAll(await mc.getPartialObject('media', 'clips/one.bin', 2 * MiB - 3, 100));
  assert.ok(part.equals(Buffer.from(data.subarray(2 * MiB - 3, 2 * MiB + 97))));
});

t('a 12 MiB stream: the client splits it into a multipart upload; ETag follows the multipart rule', async () => {
  const data = new Rng(4).bytes(12 * MiB);
  const info = await mc.putObject('media', 'clips/big.bin', Readable.from((function* () { for (let i = 0; i < data.length; i += MiB) yield Buffer.from(data.subarray(i, i + MiB)); })()), data.length);
  assert.match(info.etag, /^[0-9a-f]{32}-3$/);
  const st = await mc.statObject('media', 'clips/big.bin');
  assert.is(st.size, data.length);
  assert.ok((await readAll(await mc.getObject('media', 'clips/big.bin'))).equals(Buffer.from(data)));
});

t('listings: recursive and by directory; copy; removeObjects', async () => {
  for (const k of ['clips/two.bin', 'docs/a.txt', 'docs/b.txt', 'readme']) await mc.putObject('media', k, Buffer.from(k));
  const flat = await listAll<{ name: string }>(mc.listObjectsV2('media', '', true));
  assert.equal(flat.map((o) => o.name), ['clips/big.bin', 'clips/one.bin', 'clips/two.bin', 'docs/a.txt', 'docs/b.txt', 'readme']);
  const dirs = await listAll<{ name?: string; prefix?: string }>(mc.listObjectsV2('media', '', false));
  // (the client emits a page's objects before its common prefixes)
  assert.equal(dirs.map((o) => o.prefix ?? o.name).sort(), ['clips/', 'docs/', 'readme']);
  const v1 = await listAll<{ name: string }>(mc.listObjects('media', 'docs/', true));
  assert.equal(v1.map((o) => o.name), ['docs/a.txt', 'docs/b.txt']);
  await mc.copyObject('media', 'docs/c.txt', '/media/docs/a.txt', new Minio.CopyConditions());
  assert.is((await readAll(await mc.getObject('media', 'docs/c.txt'))).toString(), 'docs/a.txt');
  await mc.removeObjects('media', ['docs/a.txt', 'docs/b.txt', 'docs/c.txt']);
  assert.equal((await listAll<{ name: string }>(mc.listObjectsV2('media', 'docs/', true))).map((o) => o.name), []);
  await mc.removeObject('media', 'readme');
  try { await mc.statObject('media', 'readme'); assert.unreachable(); } catch (err) { assert.is((err as { code?: string }).code, 'NotFound'); }
});

t('presigned GET and PUT URLs work with plain fetch; a tampered one is 403 with S3 XML', async () => {
  const putUrl = await mc.presignedPutObject('media', 'uploads/p.txt', 60);
  const put = await fetch(putUrl, { method: 'PUT', body: 'presigned body' });
  assert.is(put.status, 200);
  assert.is(put.headers.get('etag'), `"${md5(Buffer.from('presigned body'))}"`);
  const getUrl = await mc.presignedGetObject('media', 'uploads/p.txt', 60);
  const got = await fetch(getUrl);
  assert.is(await got.text(), 'presigned body');
  const bad = await fetch(getUrl.replace('uploads%2Fp.txt', 'uploads%2Fq.txt').replace('uploads/p.txt', 'uploads/q.txt'));
  assert.is(bad.status, 403);
  const xml = await bad.text();
  assert.match(xml, /<Error[^>]*><Code>SignatureDoesNotMatch<\/Code>/);
  assert.match(xml, /<RequestId>[0-9A-F]{16}<\/RequestId>/);
  const ranged = await fetch(getUrl, { headers: { range: 'bytes=10-13' } });
  assert.is(ranged.status, 206);
  assert.is(await ranged.text(), 'body');
});

t('bucket snapshots: take one, overwrite, read the old bytes by its version id, list at it', async () => {
  await mc.putObject('media', 'snap/doc', Buffer.from('before the snapshot'));
  const take = await fetch(await mc.presignedUrl('PUT', 'media', '', 60, { 'cairn-snapshot': 'nightly' }), { method: 'PUT' });
  assert.is(take.status, 200);
  const body = await take.text();
  const version = /<VersionId>(\d+)<\/VersionId>/.exec(body)?.[1];
  assert.ok(version, body);
  await mc.putObject('media', 'snap/doc', Buffer.from('after'));
  await mc.putObject('media', 'snap/new', Buffer.from('new'));
  const old = await fetch(await mc.presignedUrl('GET', 'media', 'snap/doc', 60, { versionId: version! }));
  assert.is(await old.text(), 'before the snapshot');
  assert.is((await readAll(await mc.getObject('media', 'snap/doc'))).toString(), 'after');
  const listing = await (await fetch(await mc.presignedUrl('GET', 'media', '', 60, { 'list-type': '2', prefix: 'snap/', 'cairn-snapshot': 'nightly' }))).text();
  assert.equal([...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]), ['snap/doc']);
  const snaps = await (await fetch(await mc.presignedUrl('GET', 'media', '', 60, { 'cairn-snapshots': '' }))).text();
  assert.match(snaps, new RegExp(`<Snapshot><Name>nightly</Name><VersionId>${version}</VersionId></Snapshot>`));
  const drop = await fetch(await mc.presignedUrl('DELETE', 'media', '', 60, { 'cairn-snapshot': 'nightly' }), { method: 'DELETE' });
  assert.is(drop.status, 204);
  const gone = await fetch(await mc.presignedUrl('GET', 'media', '', 60, { 'list-type': '2', 'cairn-snapshot': 'nightly' }));
  assert.is(gone.status, 404);
  assert.match(await gone.text(), /<Code>NoSuchVersion<\/Code>/);
});

t.after(async () => { await gw.close(); });
t.run();
