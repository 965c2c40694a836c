/**
 * Engines with TLS (optional beside the pool secret): three engines serve TLS with a certificate
 * the client pins; the object API works through it, and a client that speaks plaintext to them
 * gets errors (never data, never a silent empty read).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Cluster } from '../helpers/cluster.js';
import { tmpDir, text } from '../helpers/tmp.js';

const t = suite('tls');

t('a TLS cluster serves the object API; a plaintext client gets errors, not data', async () => {
  const dir = tmpDir('cairn-tls-');
  const key = join(dir, 'key.pem'), cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1'], { stdio: 'ignore' });
  const cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, tls: { cert, key, ca: cert } });
  try {
    const pool = await cluster.connect();
    try {
      const c = await pool.createContainer('t', { oclass: 'RP_2G1', redundancyFactor: 1 });
      await c.object('o').update('d', 'a', 'over tls');
      const tx = c.beginTx();
      await tx.object('p').update('d', 'a', 'one');
      await tx.object('q').update('d', 'a', 'two');
      await tx.commit();
      assert.is(text(await c.object('o').fetch('d', 'a')), 'over tls');
      assert.is(text(await c.object('q').fetch('d', 'a')), 'two');
    } finally {
      await pool.close();
    }
    const plain = await cluster.connect(undefined, { tls: false });
    try {
      const c = await plain.openContainer('t');
      let read: unknown;
      try { read = await c.object('o').fetch('d', 'a'); } catch (err) { read = err; }
      assert.ok(read instanceof Error, `a plaintext read must fail, got ${String(read)}`);
      let wrote: unknown = 'ok';
      try { await c.object('o').update('d', 'a', 'plaintext'); } catch (err) { wrote = err; }
      assert.ok(wrote instanceof Error, 'a plaintext write must fail');
    } finally {
      await plain.close();
    }
  } finally {
    await cluster.stop();
  }
});

t.run();
