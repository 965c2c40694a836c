/**
 * The gateway driven by the AWS CLI (Python, botocore), a third real client beside the JS SDK and
 * minio: bucket, put with metadata, head, ranged get, list with delimiter, a multipart `s3 cp`
 * (17 MB in 8 MiB parts), delete, and the error codes botocore reads from S3's `<Error>` document
 * (NoSuchKey, SignatureDoesNotMatch). botocore recognises an S3 error only by a root tag of exactly
 * `Error` (no namespace), so a namespaced error document reaches aws-cli and boto3 users as an
 * empty code.
 *
 * NEEDS the `aws` command (aws-cli v1 or v2) on PATH; skipped, saying why, where it is missing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { startGateway, ACCESS_KEY, SECRET_KEY, type Gateway } from './helpers.js';

/** Longest one aws-cli call may run (ms). */
const AWS_DEADLINE_MS = 120_000;

const t = suite('s3 through aws-cli (needs aws)');
const hasAws = spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;

/** Run `aws` asynchronously (the gateway runs in this process, so never spawnSync while it serves). */
function aws(url: string, args: string[], secret = SECRET_KEY): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const home = join(dir, 'home');
    mkdirSync(home, { recursive: true });
    const c = spawn('aws', ['--endpoint-url', url, ...args], {
      cwd: dir,
      env: {
        ...process.env, HOME: home, AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: secret, AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'), AWS_MAX_ATTEMPTS: '1', AWS_RETRY_MODE: 'standard',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => c.kill('SIGKILL'), AWS_DEADLINE_MS);
    c.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out, err }); });
  });
}

const dir = tmpDir('cairn-awscli-');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

if (!hasAws) {
  process.stderr.write('SKIPPED: the aws-cli tests need the `aws` command on PATH\n');
  t.skip('aws-cli: put, head, ranged get, list, multipart cp, delete, error codes', () => {});
} else {
  let gw: Gateway;
  t.before(async () => { gw = await startGateway(); });
  t.after(async () => { await gw.close(); });

  t('create bucket, put with metadata (ETag = MD5), head, ranged get', async () => {
    let r = await aws(gw.url, ['s3api', 'create-bucket', '--bucket', 'cli']);
    assert.is(r.code, 0, r.err);
    const body = new Rng(3).bytes(300_000);
    writeFileSync(join(dir, 'body.bin'), body);
    r = await aws(gw.url, ['s3api', 'put-object', '--bucket', 'cli', '--key', 'a/body.bin', '--body', 'body.bin', '--metadata', 'owner=ada', '--content-type', 'application/x-test']);
    assert.is(r.code, 0, r.err);
    assert.is(JSON.parse(r.out).ETag, `"${md5(body)}"`);
    r = await aws(gw.url, ['s3api', 'head-object', '--bucket', 'cli', '--key', 'a/body.bin']);
    assert.is(r.code, 0, r.err);
    const head = JSON.parse(r.out);
    assert.is(head.ContentLength, body.length);
    assert.is(head.ContentType, 'application/x-test');
    assert.equal(head.Metadata, { owner: 'ada' });
    r = await aws(gw.url, ['s3api', 'get-object', '--bucket', 'cli', '--key', 'a/body.bin', '--range', 'bytes=1000-1999', 'part.bin']);
    assert.is(r.code, 0, r.err);
    assert.is(JSON.parse(r.out).ContentRange, `bytes 1000-1999/${body.length}`);
    assert.ok(readFileSync(join(dir, 'part.bin')).equals(Buffer.from(body.subarray(1000, 2000))));
  });

  t('list with prefix and delimiter; multipart s3 cp follows the ETag rule and reads back whole', async () => {
    for (const k of ['a/1', 'a/b/2', 'c']) {
      writeFileSync(join(dir, 'k'), k);
      const r = await aws(gw.url, ['s3', 'cp', 'k', `s3://cli/${k}`, '--only-show-errors']);
      assert.is(r.code, 0, r.err);
    }
    let r = await aws(gw.url, ['s3api', 'list-objects-v2', '--bucket', 'cli', '--prefix', 'a/', '--delimiter', '/']);
    assert.is(r.code, 0, r.err);
    const l = JSON.parse(r.out);
    assert.equal(l.Contents.map((c: { Key: string }) => c.Key), ['a/1', 'a/body.bin']);
    assert.equal(l.CommonPrefixes.map((c: { Prefix: string }) => c.Prefix), ['a/b/']);
    const big = new Rng(4).bytes(17_000_000); // aws-cli: multipart above 8 MiB, 8 MiB parts
    writeFileSync(join(dir, 'big.bin'), big);
    r = await aws(gw.url, ['s3', 'cp', 'big.bin', 's3://cli/big.bin', '--only-show-errors']);
    assert.is(r.code, 0, r.err);
    r = await aws(gw.url, ['s3api', 'head-object', '--bucket', 'cli', '--key', 'big.bin']);
    const part = 8 * 1024 * 1024, parts: Uint8Array[] = [];
    for (let i = 0; i < big.length; i += part) parts.push(big.subarray(i, i + part));
    const want = createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex');
    assert.is(JSON.parse(r.out).ETag, `"${want}-${parts.length}"`);
    r = await aws(gw.url, ['s3', 'cp', 's3://cli/big.bin', 'big.back', '--only-show-errors']);
    assert.is(r.code, 0, r.err);
    assert.ok(readFileSync(join(dir, 'big.back')).equals(Buffer.from(big)));
  });

  t('error codes reach the client: NoSuchKey after delete, SignatureDoesNotMatch for a wrong secret', async () => {
    let r = await aws(gw.url, ['s3api', 'delete-object', '--bucket', 'cli', '--key', 'c']);
    assert.is(r.code, 0, r.err);
    r = await aws(gw.url, ['s3api', 'get-object', '--bucket', 'cli', '--key', 'c', 'gone.bin']);
    assert.is.not(r.code, 0);
    assert.match(r.err, /\(NoSuchKey\)/);
    r = await aws(gw.url, ['s3api', 'list-buckets'], 'not-the-secret');
    assert.is.not(r.code, 0);
    assert.match(r.err, /\(SignatureDoesNotMatch\)/);
    r = await aws(gw.url, ['s3api', 'head-bucket', '--bucket', 'no-such-bucket']);
    assert.is.not(r.code, 0);
    assert.match(r.err, /404/);
  });
}

t.run();
