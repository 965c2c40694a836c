/**
 * The gateway under hostile or broken requests, sent byte for byte (test/s3/raw.ts): bodies shorter
 * or longer than Content-Length, connections cut mid-body, aws-chunked framing that lies, digests
 * that do not match (nothing stored, nothing visible), range edge cases, multipart completions
 * naming wrong parts or ETags, XML documents of the wrong shape, malformed dates, and what Node's
 * HTTP parser refuses before the gateway sees a request — every one answered with S3's error XML.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { startGateway } from './helpers.js';
import { rawRequest, rawExchange, signedHead, codeOf, sha256hex, type RawResponse } from './raw.js';
import { sign, EMPTY_SHA256 } from '../../src/s3/sigv4.js';

const gw = await startGateway({ ranks: 4, minPartBytes: 1 });
const port = gw.port;
const t = suite('s3-bad-input');
const md5hex = (b: string | Uint8Array) => createHash('md5').update(b).digest('hex');
const req = (method: string, path: string, o: { query?: string; headers?: Record<string, string>; body?: string | Uint8Array; payloadHash?: string } = {}, x?: Parameters<typeof rawRequest>[1]) => rawRequest({ method, path, port, ...o }, x);
const exists = async (key: string) => (await req('HEAD', `/bad/${key}`)).status === 200;
const expectError = (r: RawResponse, status: number, code: string, what: string) => {
  assert.is(r.status, status, `${what}: ${r.body}`);
  assert.is(codeOf(r.body), code, `${what}: ${r.body}`);
};

t.before(async () => { assert.is((await req('PUT', '/bad')).status, 200); });

t('a body shorter than Content-Length, or cut off mid-way, stores nothing; a longer one stores Content-Length bytes', async () => {
  await rawRequest({ method: 'PUT', path: '/bad/short', port, body: 'hello', headers: { 'content-length': '10' }, payloadHash: 'UNSIGNED-PAYLOAD' }, { end: true });
  await rawRequest({ method: 'PUT', path: '/bad/cut', port, body: 'hello', headers: { 'content-length': '10' }, payloadHash: 'UNSIGNED-PAYLOAD' }, { cut: true });
  await rawRequest({ method: 'PUT', path: '/bad/cut-chunked', port, headers: { 'transfer-encoding': 'chunked' }, payloadHash: 'UNSIGNED-PAYLOAD' }, { bodyBytes: '5\r\nhello\r\n', cut: true });
  await new Promise((r) => setTimeout(r, 300));
  for (const k of ['short', 'cut', 'cut-chunked']) assert.not.ok(await exists(k), `${k} is not visible`);
  await rawRequest({ method: 'PUT', path: '/bad/long', port, body: 'hello world', headers: { 'content-length': '5' }, payloadHash: 'UNSIGNED-PAYLOAD' }).catch(() => undefined);
  const got = await req('GET', '/bad/long');
  assert.is(got.body, 'hello');
  assert.is(got.headers.etag, `"${md5hex('hello')}"`);
});

t('a body its Content-MD5, x-amz-content-sha256 or x-amz-checksum-* does not match is refused and never visible', async () => {
  expectError(await req('PUT', '/bad/md5', { body: 'hello', headers: { 'content-md5': createHash('md5').update('other').digest('base64') } }), 400, 'BadDigest', 'Content-MD5');
  expectError(await req('PUT', '/bad/sha', { body: 'hello', payloadHash: sha256hex('other') }), 400, 'XAmzContentSHA256Mismatch', 'sha256');
  expectError(await req('PUT', '/bad/crc', { body: 'hello', headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } }), 400, 'BadDigest', 'crc32');
  for (const k of ['md5', 'sha', 'crc']) assert.not.ok(await exists(k), `${k} is not visible`);
});

/** An aws-chunked body of `chunks` (then the empty final chunk) signed from the request's seed. */
async function sendSignedChunked(key: string, chunks: Buffer[], decodedLength: number, tweak: (b: Buffer) => Buffer = (b) => b): Promise<RawResponse> {
  const now = Date.now();
  const build = (h: ReturnType<typeof signedHead>) => {
    let prev = h.seed;
    const out: Buffer[] = [];
    for (const c of [...chunks, Buffer.alloc(0)]) {
      prev = sign(h.key, `AWS4-HMAC-SHA256-PAYLOAD\n${h.amzDate}\n${h.scope}\n${prev}\n${EMPTY_SHA256}\n${sha256hex(c)}`);
      out.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${prev}\r\n`), c, Buffer.from('\r\n'));
    }
    return tweak(Buffer.concat(out));
  };
  const head = (len: number) => signedHead({ method: 'PUT', path: `/bad/${key}`, port, now, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(decodedLength), 'content-length': String(len) } });
  const len = build(head(0)).length; // (the length does not depend on the signatures)
  const h = head(len);
  return rawExchange(port, h.head, build(h));
}

t('aws-chunked: a bad chunk signature, a chunk size that lies, a missing final chunk, a wrong decoded length or data after the end store nothing', async () => {
  const parts = [Buffer.from('hello '), Buffer.from('world')];
  assert.is((await sendSignedChunked('chunk-ok', parts, 11)).status, 200);
  assert.is((await req('GET', '/bad/chunk-ok')).body, 'hello world');
  const flip = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/chunk-signature=(.)/, (_m, c: string) => `chunk-signature=${c === '0' ? '1' : '0'}`), 'latin1');
  expectError(await sendSignedChunked('chunk-sig', parts, 11, flip), 403, 'SignatureDoesNotMatch', 'bad chunk signature');
  expectError(await sendSignedChunked('chunk-size', parts, 11, (b) => Buffer.from(b.toString('latin1').replace(/^6;/, '5;'), 'latin1')), 403, 'SignatureDoesNotMatch', 'chunk size lies');
  expectError(await sendSignedChunked('chunk-final', parts, 11, (b) => b.subarray(0, b.lastIndexOf('0;chunk'))), 400, 'IncompleteBody', 'no final chunk');
  expectError(await sendSignedChunked('chunk-decoded', parts, 12), 400, 'IncompleteBody', 'decoded length');
  expectError(await sendSignedChunked('chunk-after', parts, 11, (b) => Buffer.concat([b, Buffer.from('trailing junk\r\n')])), 400, 'InvalidRequest', 'data after the final chunk');
  for (const k of ['chunk-sig', 'chunk-size', 'chunk-final', 'chunk-decoded', 'chunk-after']) assert.not.ok(await exists(k), `${k} is not visible`);
});

t('ranges: suffix and open ranges, ranges past the end; an empty object has no satisfiable range (416, never "bytes 0--1/0")', async () => {
  await req('PUT', '/bad/ten', { body: '0123456789' });
  await req('PUT', '/bad/empty', { body: '' });
  const cases: Array<[string, string, number, string?, string?]> = [
    ['ten', 'bytes=-3', 206, '789', 'bytes 7-9/10'], ['ten', 'bytes=-20', 206, '0123456789', 'bytes 0-9/10'], ['ten', 'bytes=8-', 206, '89', 'bytes 8-9/10'],
    ['ten', 'bytes=2-99999999999999999999', 206, '23456789', 'bytes 2-9/10'], ['ten', 'bytes=10-', 416], ['ten', 'bytes=-0', 416],
    ['ten', 'bytes=5-3', 200, '0123456789'], ['ten', 'bytes=1-2,4-5', 200, '0123456789'],
    ['empty', 'bytes=-5', 416], ['empty', 'bytes=0-', 416], ['empty', 'bytes=0-0', 416],
  ];
  for (const [key, range, status, body, contentRange] of cases) {
    const r = await req('GET', `/bad/${key}`, { headers: { range } });
    assert.is(r.status, status, `${key} ${range}: ${r.body} ${r.headers['content-range']}`);
    if (status === 416) { assert.is(codeOf(r.body), 'InvalidRange'); assert.match(r.headers['content-range'] ?? '', /^bytes \*\/\d+$/); }
    if (body !== undefined) assert.is(r.body, body, `${key} ${range}`);
    if (contentRange !== undefined) assert.is(r.headers['content-range'], contentRange, `${key} ${range}`);
  }
});

t('Range together with partNumber is refused (InvalidRequest), not answered with the whole part', async () => {
  await req('PUT', '/bad/ten', { body: '0123456789' });
  expectError(await req('GET', '/bad/ten', { query: 'partNumber=1', headers: { range: 'bytes=0-1' } }), 400, 'InvalidRequest', 'range and partNumber');
  assert.is((await req('GET', '/bad/ten', { query: 'partNumber=1' })).body, '0123456789');
});

async function upload(key: string, parts: string[]): Promise<{ id: string; etags: string[] }> {
  const created = await req('POST', `/bad/${key}`, { query: 'uploads=' });
  const id = /<UploadId>([^<]*)</.exec(created.body)![1]!;
  const etags: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await req('PUT', `/bad/${key}`, { query: `partNumber=${i + 1}&uploadId=${id}`, body: parts[i]! });
    assert.is(r.status, 200, r.body);
    etags.push(r.headers.etag!);
  }
  return { id, etags };
}
const completeXml = (parts: Array<[number, string]>) => `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;

t('CompleteMultipartUpload names each part by its exact ETag: "*", a list, a stale or missing part, bad order are refused and complete nothing', async () => {
  const { id, etags } = await upload('mp', ['AAAA', 'BBBB', 'CCCC']);
  const complete = (parts: Array<[number, string]>) => req('POST', '/bad/mp', { query: `uploadId=${id}`, body: completeXml(parts) });
  expectError(await complete([[1, '*'], [2, etags[1]!]]), 400, 'InvalidPart', 'ETag *');
  expectError(await complete([[1, `"0000", ${etags[0]}`], [2, etags[1]!]]), 400, 'InvalidPart', 'a list of ETags');
  expectError(await complete([[1, etags[0]!], [2, etags[1]!], [4, etags[2]!]]), 400, 'InvalidPart', 'a part never uploaded');
  expectError(await complete([[2, etags[1]!], [1, etags[0]!]]), 400, 'InvalidPartOrder', 'parts out of order');
  expectError(await complete([[1, etags[0]!], [1, etags[0]!]]), 400, 'InvalidPartOrder', 'a part twice');
  // part 2 uploaded again: its old ETag is stale
  const again = await req('PUT', '/bad/mp', { query: `partNumber=2&uploadId=${id}`, body: 'bbbb' });
  expectError(await complete([[1, etags[0]!], [2, etags[1]!]]), 400, 'InvalidPart', 'a replaced part\'s old ETag');
  assert.not.ok(await exists('mp'), 'nothing completed');
  const done = await complete([[1, etags[0]!.replace(/"/g, '')], [2, again.headers.etag!], [3, etags[2]!]]);
  assert.is(done.status, 200, done.body);
  assert.is((await req('GET', '/bad/mp')).body, 'AAAAbbbbCCCC');
  assert.is((await req('GET', '/bad/mp', { query: 'partNumber=2' })).body, 'bbbb');
});

t('CompleteMultipartUpload retried after it succeeded answers 200 with the same result while the object is the one it wrote; another part list, another key, or after an overwrite: NoSuchUpload', async () => {
  const { id, etags } = await upload('retry', ['AAAA', 'BBBB']);
  const complete = (parts: Array<[number, string]>, key = 'retry') => req('POST', `/bad/${key}`, { query: `uploadId=${id}`, body: completeXml(parts) });
  const fields = (body: string) => ['Location', 'Bucket', 'Key', 'ETag'].map((f) => new RegExp(`<${f}>([^<]*)</${f}>`).exec(body)?.[1]);
  const first = await complete([[1, etags[0]!], [2, etags[1]!]]);
  assert.is(first.status, 200, first.body);
  const again = await complete([[1, etags[0]!], [2, etags[1]!]]);
  assert.is(again.status, 200, again.body);
  assert.equal(fields(again.body), fields(first.body), 'the same Location, Bucket, Key and ETag');
  assert.ok(fields(first.body).every((v) => v !== undefined && v !== ''));
  const unquoted = await complete([[1, etags[0]!.replace(/"/g, '')], [2, etags[1]!.replace(/"/g, '')]]);
  assert.is(unquoted.status, 200, 'the same ETags unquoted name the same parts');
  assert.is((await req('GET', '/bad/retry')).body, 'AAAABBBB');
  expectError(await complete([[1, etags[0]!]]), 404, 'NoSuchUpload', 'another part list');
  expectError(await complete([[1, etags[0]!], [2, etags[1]!]], 'retry-other'), 404, 'NoSuchUpload', 'another key');
  assert.not.ok(await exists('retry-other'));
  assert.is((await req('PUT', '/bad/retry', { body: 'new' })).status, 200);
  expectError(await complete([[1, etags[0]!], [2, etags[1]!]]), 404, 'NoSuchUpload', 'after the object was overwritten');
  assert.is((await req('GET', '/bad/retry')).body, 'new');
});

t('CompleteMultipartUpload retried after it succeeded answers the x-amz-version-id the completion answered; a record completed without it noted (an older gateway) answers none', async () => {
  const { id, etags } = await upload('retry-version', ['AAAA', 'BBBB']);
  const complete = () => req('POST', '/bad/retry-version', { query: `uploadId=${id}`, body: completeXml([[1, etags[0]!], [2, etags[1]!]]) });
  const first = await complete();
  assert.is(first.status, 200, first.body);
  const version = first.headers['x-amz-version-id'];
  assert.match(version ?? '', /^\d+$/, 'the completion answers its version id');
  const again = await complete();
  assert.is(again.status, 200, again.body);
  assert.is(again.headers['x-amz-version-id'], version, 'the retry answers the same version id');
  assert.is((await req('GET', '/bad/retry-version', { query: `versionId=${version}` })).body, 'AAAABBBB', 'a version id GetObject reads');
  // As an older gateway left it: the record names the upload, nothing notes its version.
  const b = await gw.server.store.bucket('bad');
  await b.cont.object('s3/index', { oclass: b.indexClass }).punchAkey('retry-version', 'c');
  const older = await complete();
  assert.is(older.status, 200, older.body);
  assert.is(older.headers['x-amz-version-id'], undefined, 'no version id');
});

t('ListMultipartUploads pages through several uploads of one key with key-marker and upload-id-marker', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await upload('many', ['x'])).id);
  ids.push((await upload('many2', ['y'])).id);
  const seen: string[] = [];
  let keyMarker = '', idMarker = '';
  for (let page = 0; page < 10; page++) {
    const r = await req('GET', '/bad', { query: `uploads=&max-uploads=1&prefix=many${keyMarker ? `&key-marker=${keyMarker}&upload-id-marker=${idMarker}` : ''}` });
    assert.is(r.status, 200, r.body);
    seen.push(...[...r.body.matchAll(/<UploadId>([^<]*)</g)].map((m) => m[1]!));
    if (!r.body.includes('<IsTruncated>true</IsTruncated>')) break;
    keyMarker = /<NextKeyMarker>([^<]*)</.exec(r.body)![1]!;
    idMarker = /<NextUploadIdMarker>([^<]*)</.exec(r.body)![1]!;
  }
  assert.equal([...seen].sort(), [...ids].sort(), 'every upload listed once');
  for (const id of ids.slice(0, 3)) assert.is((await req('DELETE', '/bad/many', { query: `uploadId=${id}` })).status, 204);
  assert.is((await req('DELETE', '/bad/many2', { query: `uploadId=${ids[3]}` })).status, 204);
});

t('ListMultipartUploads with more than 10,000 uploads in the bucket: every upload under a prefix is listed, page by page, in key then initiation order; delimiter rolls keys up', async () => {
  assert.is((await req('PUT', '/manyup')).status, 200);
  const b = await gw.server.store.bucket('manyup');
  const create = (key: string) => b.createUpload({ key, initiated: Date.now(), contentType: 'binary/octet-stream', meta: {}, headers: {} });
  const keys = [...Array.from({ length: 10_000 }, (_, i) => `a/${String(i).padStart(5, '0')}`), ...Array.from({ length: 600 }, (_, i) => `z/${String(i % 40).padStart(2, '0')}`)];
  // (600 of 10,600: the old listing read 10,000 uploads in id order, i.e. at random, and missed ~34 of them)
  const ids = new Map<string, string>(); // id -> key
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < keys.length) { const k = keys[next++]!; ids.set(await create(k), k); }
  }));
  const listed: Array<[string, string]> = [];
  let marker = '';
  for (let page = 0; page < 20; page++) {
    const r = await req('GET', '/manyup', { query: `uploads=&max-uploads=100&prefix=z%2F${marker}` });
    assert.is(r.status, 200, r.body);
    const keysOf = [...r.body.matchAll(/<Upload><Key>([^<]*)<\/Key><UploadId>([^<]*)</g)];
    listed.push(...keysOf.map((m) => [m[1]!, m[2]!] as [string, string]));
    if (!r.body.includes('<IsTruncated>true</IsTruncated>')) break;
    assert.is(keysOf.length, 100, 'a truncated page is full');
    marker = `&key-marker=${encodeURIComponent(/<NextKeyMarker>([^<]*)</.exec(r.body)![1]!)}&upload-id-marker=${/<NextUploadIdMarker>([^<]*)</.exec(r.body)![1]!}`;
  }
  const want = [...ids].filter(([, k]) => k.startsWith('z/')).map(([id, k]) => [k, id] as [string, string])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : 1));
  assert.is(listed.length, 600, 'every z/ upload is listed once');
  assert.equal(listed, want, 'in key order, then id (initiation) order within a key');
  // Delimiter: the 10,600 uploads roll up into two common prefixes, one page apart at max-uploads=1.
  const d1 = await req('GET', '/manyup', { query: 'uploads=&delimiter=%2F&max-uploads=1' });
  assert.match(d1.body, /<CommonPrefixes><Prefix>a\/<\/Prefix><\/CommonPrefixes>/);
  assert.match(d1.body, /<IsTruncated>true<\/IsTruncated>/);
  assert.match(d1.body, /<NextKeyMarker>a\/<\/NextKeyMarker>/);
  assert.not.match(d1.body, /<Upload>/);
  const d2 = await req('GET', '/manyup', { query: 'uploads=&delimiter=%2F&max-uploads=1&key-marker=a%2F' });
  assert.equal([...d2.body.matchAll(/<Prefix>([^<]+)<\/Prefix>/g)].map((m) => m[1]), ['z/']);
  assert.match(d2.body, /<IsTruncated>false<\/IsTruncated>/);
  // key-marker alone resumes after every upload of that key; a stale upload-id-marker resumes by id order.
  const k1 = await req('GET', '/manyup', { query: 'uploads=&prefix=z%2F&key-marker=z%2F38' });
  assert.equal([...k1.body.matchAll(/<Key>([^<]*)</g)].map((m) => m[1]), Array(15).fill('z/39'));
  const ordered39 = want.filter(([k]) => k === 'z/39').map(([, id]) => id);
  const k2 = await req('GET', '/manyup', { query: `uploads=&prefix=z%2F&key-marker=z%2F39&upload-id-marker=${ordered39[0]}` });
  assert.equal([...k2.body.matchAll(/<UploadId>([^<]*)</g)].map((m) => m[1]), ordered39.slice(1));
  // Markers and prefixes longer than any key are answered, not refused.
  const long = 'z/39' + 'é'.repeat(600); // (1,204 bytes)
  const l1 = await req('GET', '/manyup', { query: `uploads=&prefix=z%2F&key-marker=${encodeURIComponent(long)}&upload-id-marker=${'f'.repeat(100)}` });
  assert.is(l1.status, 200, l1.body);
  assert.not.match(l1.body, /<Upload>/);
  const l2 = await req('GET', '/manyup', { query: `uploads=&prefix=${encodeURIComponent(long)}` });
  assert.is(l2.status, 200, l2.body);
  assert.not.match(l2.body, /<Upload>/);
  const l3 = await req('GET', '/manyup', { query: `uploads=&prefix=z%2F&key-marker=z%2F38&upload-id-marker=${encodeURIComponent('é'.repeat(40))}` });
  assert.equal([...l3.body.matchAll(/<Key>([^<]*)</g)].map((m) => m[1]), Array(15).fill('z/39'), 'an id marker above every id: after the key');
});

t('ListMultipartUploads keeps S3 key order for keys that prefix each other or hold a NUL byte', async () => {
  const b = await gw.server.store.bucket('manyup');
  const order = ['n', 'n\u0000', 'n\u0000a', 'n\u0001', 'n/a', 'na'];
  for (const k of [...order].reverse()) await b.createUpload({ key: k, initiated: Date.now(), contentType: 'binary/octet-stream', meta: {}, headers: {} });
  const page = await b.listUploads({ prefix: 'n', maxUploads: 100, keyMarker: '', uploadIdMarker: '' });
  assert.equal(page.uploads.map((u) => u.key), order);
  const after = await b.listUploads({ prefix: 'n', maxUploads: 100, keyMarker: 'n\u0000', uploadIdMarker: '' });
  assert.equal(after.uploads.map((u) => u.key), order.slice(2));
  const nul = await b.listUploads({ prefix: 'n\u0000', maxUploads: 100, keyMarker: '', uploadIdMarker: '' });
  assert.equal(nul.uploads.map((u) => u.key), ['n\u0000', 'n\u0000a']);
});

t('ListMultipartUploads with encoding-type=url percent-encodes Key, Prefix, Delimiter, KeyMarker, NextKeyMarker and CommonPrefixes as ListObjects does; another encoding-type is refused alike', async () => {
  const keys = ['up enc/a b&c+\u00e9', 'up enc/sub dir/x'];
  const ids: string[] = [];
  for (const k of keys) ids.push((await upload(encodeURIComponent(k), [])).id);
  const list = (q: string) => req('GET', '/bad', { query: `uploads=&prefix=up%20enc%2F&delimiter=%2F${q}` });
  const elements = (body: string, name: string) => [...body.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => m[1]);
  const first = await list('&max-uploads=1&encoding-type=url');
  assert.is(first.status, 200, first.body);
  assert.equal(elements(first.body, 'EncodingType'), ['url']);
  assert.equal(elements(first.body, 'Key'), ['up%20enc/a%20b%26c%2B%C3%A9']);
  assert.equal(elements(first.body, 'Prefix'), ['up%20enc/']);
  assert.equal(elements(first.body, 'Delimiter'), ['/']);
  assert.equal(elements(first.body, 'KeyMarker'), ['']);
  assert.equal(elements(first.body, 'NextKeyMarker'), ['up%20enc/a%20b%26c%2B%C3%A9']);
  const second = await list(`&key-marker=${encodeURIComponent(keys[0]!)}&encoding-type=url`);
  assert.is(second.status, 200, second.body);
  assert.equal(elements(second.body, 'KeyMarker'), ['up%20enc/a%20b%26c%2B%C3%A9']);
  assert.equal(elements(second.body, 'Prefix'), ['up%20enc/', 'up%20enc/sub%20dir/'], 'the request prefix, then the common prefix');
  assert.not.match(second.body, /<Upload>/);
  const plain = await list('&max-uploads=1');
  assert.equal(elements(plain.body, 'Key'), ['up enc/a b&amp;c+\u00e9'], 'without encoding-type: as is');
  assert.equal(elements(plain.body, 'EncodingType'), []);
  const bogus = await list('&encoding-type=base64');
  expectError(bogus, 400, 'InvalidArgument', 'encoding-type=base64');
  const objects = await req('GET', '/bad', { query: 'encoding-type=base64' });
  expectError(objects, 400, 'InvalidArgument', 'ListObjects encoding-type=base64');
  assert.is(/<Message>([^<]*)</.exec(bogus.body)?.[1], /<Message>([^<]*)</.exec(objects.body)?.[1], 'the same error as ListObjects');
  for (let i = 0; i < keys.length; i++) assert.is((await req('DELETE', `/bad/${encodeURIComponent(keys[i]!)}`, { query: `uploadId=${ids[i]}` })).status, 204);
});

t('ListMultipartUploads lists uploads an older gateway started (no s3/upload-keys entry) once, then as any other', async () => {
  // A bucket made outside S3 and an upload record written as the older layout did: s3/uploads only.
  const cont = await gw.pool.createContainer('olderup', { oclass: 'RP_2G1' });
  const id = 'ab'.repeat(16);
  const rec = new TextEncoder().encode(JSON.stringify({ key: 'old/key', initiated: Date.now(), contentType: 'binary/octet-stream', meta: {}, headers: {} }));
  await cont.object('s3/uploads', { oclass: (await gw.server.store.bucket('olderup')).indexClass }).update(id, 'u', new Uint8Array([1, ...rec]));
  const listed = await req('GET', '/olderup', { query: 'uploads=' });
  assert.equal([...listed.body.matchAll(/<UploadId>([^<]*)</g)].map((m) => m[1]), [id], listed.body);
  const fresh = /<UploadId>([^<]*)</.exec((await req('POST', '/olderup/new', { query: 'uploads=' })).body)![1]!;
  assert.equal([...(await req('GET', '/olderup', { query: 'uploads=' })).body.matchAll(/<UploadId>([^<]*)</g)].map((m) => m[1]), [fresh, id]);
  assert.is((await req('DELETE', '/olderup/old/key', { query: `uploadId=${id}` })).status, 204);
  assert.is((await req('DELETE', '/olderup/new', { query: `uploadId=${fresh}` })).status, 204);
  assert.not.match((await req('GET', '/olderup', { query: 'uploads=' })).body, /<Upload>/);
  assert.is((await req('DELETE', '/olderup')).status, 204, 'the bucket is empty again');
});

t('DeleteObjects: a Key that is not plain text (child elements, two Keys, an empty Object) is MalformedXML and deletes nothing', async () => {
  for (const k of ['[object Object]', 'a,b', 'a']) assert.is((await req('PUT', `/bad/${encodeURIComponent(k)}`, { body: 'keep' })).status, 200);
  for (const body of [
    '<Delete><Object><Key><a>1</a></Key></Object></Delete>',
    '<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>',
    '<Delete><Object/><Object><Key>a</Key></Object></Delete>',
  ]) expectError(await req('POST', '/bad', { query: 'delete=', body }), 400, 'MalformedXML', body);
  for (const k of ['[object Object]', 'a,b', 'a']) assert.ok(await exists(encodeURIComponent(k)), `${k} was not deleted`);
});

t('a key longer than 1024 bytes is refused before its body is read (not after storing it)', async () => {
  const h = signedHead({ method: 'PUT', path: `/bad/${'k'.repeat(1025)}`, port, payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(64 << 20) } });
  const r = await rawExchange(port, h.head, Buffer.alloc(1024), { timeoutMs: 5000 }); // (and never the rest)
  expectError(r, 400, 'KeyTooLongError', 'long key');
  assert.is(r.headers.connection, 'close');
});

t('a malformed X-Amz-Date (month 13, hour 25) is refused, not read as another date', async () => {
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  const head = (amzDate: string) => `GET /bad HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nx-amz-date: ${amzDate}\r\nx-amz-content-sha256: ${EMPTY_SHA256}\r\n` +
    `authorization: AWS4-HMAC-SHA256 Credential=cairn-test-key/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}\r\n\r\n`;
  // (the hour before midnight of the day before, written as hour 24 of ... : a real time near now)
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
  const hh = String(now.getUTCHours() + 24).padStart(2, '0');
  const wrapped = `${yesterday}T${hh}${now.toISOString().slice(14, 16)}00Z`;
  expectError(await rawExchange(port, head(wrapped)), 403, 'AccessDenied', `x-amz-date ${wrapped}`);
  expectError(await rawExchange(port, head(`${day.slice(0, 4)}1301T000000Z`)), 403, 'AccessDenied', 'month 13');
});

t('what Node\'s HTTP parser refuses is answered with S3 error XML too: a body cut by a half-close, a header section too large, a malformed request line', async () => {
  const cut = await rawRequest({ method: 'PUT', path: '/bad/half', port, body: 'hello', headers: { 'content-length': '10' }, payloadHash: 'UNSIGNED-PAYLOAD' }, { end: true });
  expectError(cut, 400, 'IncompleteBody', 'half-closed mid-body');
  const big = await rawExchange(port, `GET /bad HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(100_000)}\r\n\r\n`);
  expectError(big, 400, 'RequestHeaderSectionTooLarge', 'huge header');
  const method = await rawExchange(port, 'BAD/METHOD /bad HTTP/1.1\r\nhost: x\r\n\r\n');
  expectError(method, 400, 'InvalidRequest', 'malformed request line');
  for (const r of [cut, big, method]) assert.is(r.headers['content-type'], 'application/xml');
  assert.not.ok(await exists('half'));
  assert.is((await req('GET', '/bad', { query: 'list-type=2' })).status, 200, 'the server still serves');
});

t('listing parameters: max-keys 0, huge or malformed; forged continuation tokens never crash a listing', async () => {
  const list = (q: string) => req('GET', '/bad', { query: `list-type=2&${q}` });
  const zero = await list('max-keys=0');
  assert.is(zero.status, 200);
  assert.match(zero.body, /<KeyCount>0<\/KeyCount>/);
  assert.is((await list('max-keys=99999999')).status, 200);
  for (const v of ['-1', 'abc', '1e3', '99999999999999999999']) expectError(await list(`max-keys=${v}`), 400, 'InvalidArgument', `max-keys=${v}`);
  const tok = (b: number[] | Buffer) => Buffer.from(b).toString('base64url');
  for (const token of [tok([1, 0xff, 0xff]), tok([2, 0xff]), tok([2, 0x7a]), tok([1, 0x00]), tok(Buffer.concat([Buffer.from([1]), Buffer.alloc(1100, 0x61)]))]) {
    const r = await list(`prefix=b&continuation-token=${token}`);
    assert.ok(r.status === 200 || codeOf(r.body) === 'InvalidArgument', `${token}: ${r.status} ${r.body}`);
  }
  for (const token of ['!!', '', tok([3, 0x61]), tok([1])]) expectError(await list(`continuation-token=${encodeURIComponent(token)}`), 400, 'InvalidArgument', `token ${JSON.stringify(token)}`);
});

t('unknown HTTP methods and malformed auth headers get S3 XML with their status, and the server keeps serving', async () => {
  for (const m of ['PATCH', 'OPTIONS', 'PROPFIND']) expectError(await req(m, '/bad/ten'), 405, 'MethodNotAllowed', m);
  const bare = (auth: string, date = '20240101T000000Z') => rawExchange(port, `GET /bad HTTP/1.1\r\nhost: x\r\nx-amz-date: ${date}\r\nauthorization: ${auth}\r\n\r\n`);
  expectError(await bare('AWS4-HMAC-SHA256 Credential=a'), 400, 'AuthorizationHeaderMalformed', 'no SignedHeaders');
  expectError(await bare('AWS4-HMAC-SHA256 Credential=x/y/z, SignedHeaders=host, Signature=00'), 400, 'AuthorizationHeaderMalformed', 'short scope');
  expectError(await bare('AWS cairn-test-key:abc'), 400, 'InvalidRequest', 'SigV2');
  expectError(await bare('Bearer x'), 400, 'InvalidRequest', 'another scheme');
  expectError(await rawExchange(port, 'GET /bad HTTP/1.1\r\nhost: x\r\n\r\n'), 403, 'AccessDenied', 'anonymous');
  assert.is((await req('GET', '/bad', { query: 'list-type=2' })).status, 200);
});

t.after(async () => { await gw.close(); });
t.run();
