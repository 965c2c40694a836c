/**
 * Signature V4 as S3 checks it, against the worked examples AWS publishes (GET Object with a
 * Range, PUT Object, GET Bucket lifecycle, GET Bucket list, a presigned URL, and the chunked
 * upload of 66560 bytes with its seed, chunk and final signatures) — the last one end to end,
 * sent byte for byte to a running gateway whose clock is set to the example's date. Also the
 * checksums (CRC32 / CRC32C / CRC64-NVME check values) and the refusals (skew, expiry, tampering).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { verifySigV4, EMPTY_SHA256, signingKey, sign, type SigV4Request } from '../../src/s3/sigv4.js';
import { RequestBody } from '../../src/s3/body.js';
import { crc32 } from 'node:zlib';
import { decodeAwsChunked } from '../../src/s3/chunked.js';
import { Checksum, crc32c } from '../../src/s3/checksums.js';
import { S3Error } from '../../src/s3/errors.js';
import { startGateway } from './helpers.js';

const t = suite('s3-sigv4');
const AK = 'AKIAIOSFODNN7EXAMPLE', SK = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_TIME = Date.UTC(2013, 4, 24, 0, 0, 0);
const opts = { secretOf: (k: string) => (k === AK ? SK : undefined), now: () => EXAMPLE_TIME };
const HOST = 'examplebucket.s3.amazonaws.com';
const scope = `${AK}/20130524/us-east-1/s3/aws4_request`;

function authReq(method: string, url: string, headers: Record<string, string>, signedHeaders: string, signature: string): SigV4Request {
  return { method, url, headers: { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${scope},SignedHeaders=${signedHeaders},Signature=${signature}` } };
}

function s3Code(fn: () => unknown): string {
  try { fn(); } catch (err) { if (err instanceof S3Error) return err.s3Code; throw err; }
  return 'accepted';
}

const GET_OBJECT = () => authReq('GET', '/test.txt', { host: HOST, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
  'host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');

t('AWS example: GET Object with Range verifies; any tampering is SignatureDoesNotMatch', () => {
  const r = verifySigV4(GET_OBJECT(), opts);
  assert.is(r.accessKey, AK);
  assert.equal(r.payload, { kind: 'sha256', sha256: EMPTY_SHA256 });
  const tampered = GET_OBJECT();
  tampered.headers.range = 'bytes=0-10';
  assert.is(s3Code(() => verifySigV4(tampered, opts)), 'SignatureDoesNotMatch');
  assert.is(s3Code(() => verifySigV4({ ...GET_OBJECT(), url: '/test.txt?x=1' }, opts)), 'SignatureDoesNotMatch');
  assert.is(s3Code(() => verifySigV4({ ...GET_OBJECT(), method: 'HEAD' }, opts)), 'SignatureDoesNotMatch');
  assert.is(s3Code(() => verifySigV4(GET_OBJECT(), { ...opts, secretOf: () => 'other secret' })), 'SignatureDoesNotMatch');
  assert.is(s3Code(() => verifySigV4(GET_OBJECT(), { ...opts, secretOf: () => undefined })), 'InvalidAccessKeyId');
  assert.is(s3Code(() => verifySigV4(GET_OBJECT(), { ...opts, now: () => EXAMPLE_TIME + 16 * 60_000 })), 'RequestTimeTooSkewed');
  assert.is(s3Code(() => verifySigV4(GET_OBJECT(), { ...opts, now: () => EXAMPLE_TIME + 14 * 60_000 })), 'accepted');
});

t('AWS example: PUT Object to /test$file.text, whether $ is sent raw or percent-encoded', () => {
  const body = 'Welcome to Amazon S3.';
  const sha = createHash('sha256').update(body).digest('hex');
  const headers = { date: 'Fri, 24 May 2013 00:00:00 GMT', host: HOST, 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-content-sha256': sha };
  const sig = '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd';
  const sh = 'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class';
  assert.is(s3Code(() => verifySigV4(authReq('PUT', '/test%24file.text', headers, sh, sig), opts)), 'accepted');
  assert.is(s3Code(() => verifySigV4(authReq('PUT', '/test$file.text', headers, sh, sig), opts)), 'accepted');
  assert.equal(verifySigV4(authReq('PUT', '/test$file.text', headers, sh, sig), opts).payload, { kind: 'sha256', sha256: sha });
});

t('AWS examples: GET Bucket lifecycle and GET Bucket with a query (sorted, encoded)', () => {
  const headers = { host: HOST, 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY_SHA256 };
  const sh = 'host;x-amz-content-sha256;x-amz-date';
  assert.is(s3Code(() => verifySigV4(authReq('GET', '/?lifecycle', headers, sh, 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'), opts)), 'accepted');
  assert.is(s3Code(() => verifySigV4(authReq('GET', '/?max-keys=2&prefix=J', headers, sh, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'), opts)), 'accepted');
  assert.is(s3Code(() => verifySigV4(authReq('GET', '/?prefix=J&max-keys=2', headers, sh, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'), opts)), 'accepted', 'query order does not matter');
});

t('AWS example: presigned GET verifies until it expires; a changed query fails', () => {
  const url = `/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${encodeURIComponent(scope)}&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`;
  const req = { method: 'GET', url, headers: { host: HOST } };
  const r = verifySigV4(req, opts);
  assert.equal(r.payload, { kind: 'unsigned' });
  assert.is(s3Code(() => verifySigV4(req, { ...opts, now: () => EXAMPLE_TIME + 86_399_000 })), 'accepted');
  assert.is(s3Code(() => verifySigV4(req, { ...opts, now: () => EXAMPLE_TIME + 86_401_000 })), 'AccessDenied');
  assert.is(s3Code(() => verifySigV4({ ...req, url: url.replace('Expires=86400', 'Expires=90000') }, opts)), 'SignatureDoesNotMatch');
  assert.is(s3Code(() => verifySigV4({ ...req, url: url.replace('Expires=86400', 'Expires=700000') }, opts)), 'AuthorizationQueryParametersError');
});

t('unsigned, SigV2 and malformed requests are refused with S3 codes', () => {
  assert.is(s3Code(() => verifySigV4({ method: 'GET', url: '/', headers: { host: 'h' } }, opts)), 'AccessDenied');
  assert.is(s3Code(() => verifySigV4({ method: 'GET', url: '/?AWSAccessKeyId=a&Signature=b&Expires=1', headers: { host: 'h' } }, opts)), 'InvalidRequest');
  assert.is(s3Code(() => verifySigV4({ method: 'GET', url: '/', headers: { host: 'h', authorization: 'AWS a:b' } }, opts)), 'InvalidRequest');
  assert.is(s3Code(() => verifySigV4({ method: 'GET', url: '/', headers: { host: 'h', authorization: 'AWS4-HMAC-SHA256 Credential=x' } }, opts)), 'AuthorizationHeaderMalformed');
  const noHash = GET_OBJECT();
  delete noHash.headers['x-amz-content-sha256'];
  assert.is(s3Code(() => verifySigV4(noHash, opts)), 'InvalidRequest');
  const badScope = GET_OBJECT();
  badScope.headers.authorization = String(badScope.headers.authorization).replace('/s3/', '/ec2/');
  assert.is(s3Code(() => verifySigV4(badScope, opts)), 'AuthorizationHeaderMalformed');
});

// The chunked-upload example of the S3 API reference: 65536 + 1024 bytes of 'a'.
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const CHUNK_SIGS = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'];
function chunkedBody(sigs = CHUNK_SIGS): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`), Buffer.alloc(65536, 'a'), Buffer.from('\r\n'),
    Buffer.from(`400;chunk-signature=${sigs[1]}\r\n`), Buffer.alloc(1024, 'a'), Buffer.from('\r\n'),
    Buffer.from(`0;chunk-signature=${sigs[2]}\r\n\r\n`),
  ]);
}
const CHUNKED_HEADERS = {
  host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
  'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
  'x-amz-decoded-content-length': '66560', 'content-length': '66824',
};
const CHUNKED_SH = 'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class';

async function decodeAll(body: Buffer, pieces: number): Promise<Buffer> {
  const req = authReq('PUT', '/examplebucket/chunkObject.txt', CHUNKED_HEADERS, CHUNKED_SH, SEED);
  const auth = verifySigV4(req, opts);
  assert.equal(auth.payload, { kind: 'chunked', signed: true, trailer: false });
  const step = Math.ceil(body.length / pieces);
  const src = (async function* () { for (let i = 0; i < body.length; i += step) yield body.subarray(i, i + step); })();
  const out: Buffer[] = [];
  for await (const b of decodeAwsChunked(src, { signed: true, trailer: false, signing: auth.signing })) out.push(b);
  return Buffer.concat(out);
}

t('AWS example: chunked upload — seed, chunk and final signatures verify, in any read sizes', async () => {
  assert.is(chunkedBody().length, 66824);
  for (const pieces of [1, 7, 1000]) {
    const got = await decodeAll(chunkedBody(), pieces);
    assert.ok(got.equals(Buffer.alloc(66560, 'a')), `decoded in ${pieces} pieces`);
  }
  const bad = [...CHUNK_SIGS];
  bad[1] = bad[1]!.replace(/^0/, '1');
  try { await decodeAll(chunkedBody(bad), 3); assert.unreachable(); } catch (err) { assert.is((err as S3Error).s3Code, 'SignatureDoesNotMatch'); }
  const swapped = chunkedBody();
  swapped[100] = 0x62; // one data byte changed: its chunk signature no longer matches
  try { await decodeAll(swapped, 3); assert.unreachable(); } catch (err) { assert.is((err as S3Error).s3Code, 'SignatureDoesNotMatch'); }
  try { await decodeAll(chunkedBody().subarray(0, 60000), 3); assert.unreachable(); } catch (err) { assert.is((err as S3Error).s3Code, 'IncompleteBody'); }
});

t('the chunked example end to end: a gateway at the example date stores the 66560 bytes', async () => {
  const gw = await startGateway({ credentials: { accessKey: AK, secretKey: SK }, now: () => EXAMPLE_TIME });
  try {
    await gw.server.store.createBucket('examplebucket');
    const send = (body: Buffer) => new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'PUT', path: '/examplebucket/chunkObject.txt', headers: {
        ...CHUNKED_HEADERS, authorization: `AWS4-HMAC-SHA256 Credential=${scope},SignedHeaders=${CHUNKED_SH},Signature=${SEED}`,
      } }, (res) => { let text = ''; res.on('data', (d) => (text += d)); res.on('end', () => resolve({ status: res.statusCode!, text })); });
      req.on('error', reject);
      req.end(body);
    });
    const bad = [...CHUNK_SIGS];
    bad[2] = '0'.repeat(64);
    const refused = await send(chunkedBody(bad));
    assert.is(refused.status, 403);
    assert.match(refused.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    const b = await gw.server.store.bucket('examplebucket');
    const pin = b.pin();
    assert.is(await b.getRecord('chunkObject.txt', pin.epoch), undefined, 'a body failing its last signature is never made visible');
    await pin.release();
    const ok = await send(chunkedBody());
    assert.is(ok.status, 200, ok.text);
    const pin2 = b.pin();
    const rec = (await b.getRecord('chunkObject.txt', pin2.epoch))!;
    assert.is(rec.size, 66560);
    assert.is(rec.etag, createHash('md5').update(Buffer.alloc(66560, 'a')).digest('hex'));
    const chunks: Buffer[] = [];
    for await (const c of b.readBody(rec.parts, 0, rec.size, pin2.epoch)) chunks.push(c);
    assert.ok(Buffer.concat(chunks).equals(Buffer.alloc(66560, 'a')));
    await pin2.release();
  } finally {
    await gw.close();
  }
});

t('checksums: the standard check values of CRC32, CRC32C and CRC64/NVME, streamed in pieces', () => {
  const data = Buffer.from('123456789');
  const hex = (alg: 'CRC32' | 'CRC32C' | 'CRC64NVME', pieces: number[]) => {
    const c = new Checksum(alg);
    let at = 0;
    for (const n of pieces) { c.update(data.subarray(at, at + n)); at += n; }
    return Buffer.from(c.digest(), 'base64').toString('hex');
  };
  assert.is(hex('CRC32', [9]), 'cbf43926');
  assert.is(hex('CRC32C', [4, 5]), 'e3069283');
  assert.is(hex('CRC64NVME', [1, 8]), 'ae8b14860a799888');
  assert.is(crc32c(Buffer.alloc(0)), 0);
  const sha = new Checksum('SHA256');
  sha.update(data);
  assert.is(sha.digest(), createHash('sha256').update(data).digest('base64'));
});

t('trailer modes: a signed trailer chains on the final chunk signature; the trailer checksum is verified', async () => {
  const key = signingKey(AK, SK, '20130524', 'us-east-1', 's3');
  const scopeOnly = '20130524/us-east-1/s3/aws4_request';
  const payload = Buffer.from('trailing checksum payload');
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(payload));
  const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
  const build = (checksum: string, signed: boolean, seed: string) => {
    const chunkSig = sign(key, `AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n${scopeOnly}\n${seed}\n${EMPTY_SHA256}\n${sha(payload)}`);
    const finalSig = sign(key, `AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n${scopeOnly}\n${chunkSig}\n${EMPTY_SHA256}\n${EMPTY_SHA256}`);
    const trailer = `x-amz-checksum-crc32:${checksum}\n`;
    const trailerSig = sign(key, `AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n${scopeOnly}\n${finalSig}\n${sha(trailer)}`);
    return Buffer.from(signed
      ? `${payload.length.toString(16)};chunk-signature=${chunkSig}\r\n${payload}\r\n0;chunk-signature=${finalSig}\r\nx-amz-checksum-crc32:${checksum}\r\nx-amz-trailer-signature:${trailerSig}\r\n\r\n`
      : `${payload.length.toString(16)}\r\n${payload}\r\n0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`);
  };
  const read = async (body: Buffer, signed: boolean) => {
    const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(payload.length), 'content-encoding': 'aws-chunked' };
    const rb = new RequestBody((async function* () { yield body.subarray(0, 10); yield body.subarray(10); })(), {
      headers, payload: { kind: 'chunked', signed, trailer: true }, maxBytes: 1 << 20,
      signing: { key, amzDate: '20130524T000000Z', scope: scopeOnly, seedSignature: 'a'.repeat(64) },
    });
    const out: Buffer[] = [];
    for await (const b of rb) out.push(b);
    return { data: Buffer.concat(out), rb };
  };
  const seed = 'a'.repeat(64);
  for (const signed of [true, false]) {
    const { data, rb } = await read(build(crc.toString('base64'), signed, seed), signed);
    assert.ok(data.equals(payload));
    assert.equal(rb.checksum, { algorithm: 'CRC32', value: crc.toString('base64') });
    try { await read(build('AAAAAA==', signed, seed), signed); assert.unreachable(); } catch (err) { assert.is((err as S3Error).s3Code, 'BadDigest'); }
  }
  const tampered = build(crc.toString('base64'), true, seed).toString().replace(/x-amz-trailer-signature:(.)/, (_m, c) => `x-amz-trailer-signature:${c === '0' ? '1' : '0'}`);
  try { await read(Buffer.from(tampered), true); assert.unreachable(); } catch (err) { assert.is((err as S3Error).s3Code, 'SignatureDoesNotMatch'); }
});

t.run();
