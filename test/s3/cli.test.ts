/**
 * `cairn s3` as a process: it prints its listening line, serves the AWS SDK over HTTP and the
 * MinIO client over HTTPS (a self-signed certificate made with openssl), and exits cleanly on
 * SIGTERM; bad command lines (no credentials, bad --listen, half a TLS pair) exit 2 with one line.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { CreateBucketCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import * as Minio from 'minio';
import { tmpDir } from '../helpers/tmp.js';
import { sdkClient } from './helpers.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir('cairn-s3-cli-');
const poolDir = join(dir, 'pool');
const t = suite('s3-cli');
const env = { ...process.env, CAIRN_S3_ACCESS_KEY: 'cli-key', CAIRN_S3_SECRET_KEY: 'cli-secret' };

function cairn(args: string[], e: NodeJS.ProcessEnv = env) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], { env: e, encoding: 'utf8', timeout: 120_000 });
}

/** Start `cairn s3 ...` and resolve with its URL once it prints its listening line. */
function startS3(args: string[], e: NodeJS.ProcessEnv = env): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 's3', ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '', err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no listening line within 60 s; stderr: ${err}`)); }, 60_000);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /cairn s3 listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1]!, exited }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`cairn s3 exited ${code} before listening: ${err}`)); });
  });
}

t('pool create, then cairn s3 serves the SDK and stops on SIGTERM', async () => {
  const r = cairn(['pool', 'create', '--pool', poolDir, '--nodes', '2', '--ranks-per-node', '2', '--targets-per-rank', '1', '--scm-bytes', '32M', '--data-bytes', '128M']);
  assert.is(r.status, 0, r.stderr);
  const s = await startS3(['--pool', poolDir, '--listen', '127.0.0.1:0']);
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const c = sdkClient(s.url, 'cli-secret', 'cli-key');
  await c.send(new CreateBucketCommand({ Bucket: 'from-cli' }));
  await c.send(new PutObjectCommand({ Bucket: 'from-cli', Key: 'hello.txt', Body: 'hello over the CLI gateway' }));
  const got = await c.send(new GetObjectCommand({ Bucket: 'from-cli', Key: 'hello.txt' }));
  assert.is(await got.Body!.transformToString(), 'hello over the CLI gateway');
  c.destroy();
  s.child.kill('SIGTERM');
  assert.is(await s.exited, 0);
  // The data is in the pool: `cairn cont list` sees the bucket's container.
  const list = cairn(['cont', 'list', '--pool', poolDir]);
  assert.is(list.status, 0, list.stderr);
  assert.match(list.stdout, /from-cli/);
});

t('HTTPS with --tls-cert/--tls-key and a credentials file', async () => {
  const key = join(dir, 'key.pem'), cert = join(dir, 'cert.pem');
  const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.is(ssl.status, 0, ssl.stderr);
  const creds = join(dir, 'creds');
  writeFileSync(creds, '# gateway keys\nfile-key:file-secret\nsecond:other-secret\n');
  const { CAIRN_S3_ACCESS_KEY: _a, CAIRN_S3_SECRET_KEY: _s, ...noEnv } = env;
  const s = await startS3(['--pool', poolDir, '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--credentials-file', creds], noEnv);
  assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(s.url).port);
  const mc = new Minio.Client({ endPoint: '127.0.0.1', port, useSSL: true, accessKey: 'second', secretKey: 'other-secret', region: 'us-east-1', transportAgent: new https.Agent({ ca: readFileSync(cert) }) });
  assert.ok(await mc.bucketExists('from-cli'));
  await mc.putObject('from-cli', 'tls.txt', Buffer.from('over TLS'));
  const chunks: Buffer[] = [];
  for await (const c of await mc.getObject('from-cli', 'tls.txt')) chunks.push(c as Buffer);
  assert.is(Buffer.concat(chunks).toString(), 'over TLS');
  s.child.kill('SIGINT');
  assert.is(await s.exited, 0);
});

t('bad command lines exit 2 with one line on stderr', () => {
  const { CAIRN_S3_ACCESS_KEY: _a, CAIRN_S3_SECRET_KEY: _s, ...noEnv } = env;
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['s3', '--pool', poolDir, '--listen', '127.0.0.1:0'], noEnv, /credentials/],
    [['s3', '--pool', poolDir, '--listen', 'nowhere'], env, /--listen/],
    [['s3', '--pool', poolDir, '--listen', '127.0.0.1:0', '--tls-cert', 'x.pem'], env, /--tls-key/],
    [['s3', '--pool', poolDir], env, /listen/],
  ];
  for (const [args, e, msg] of cases) {
    const r = cairn(args, e);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

t.run();
