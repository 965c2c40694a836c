/**
 * What the read-only tests share: the writing child process (readonly-writer.ts) driven over its
 * stdin/stdout, the bytes it writes, and the check that a reader sees one consistent state of it
 * (every commit up to some point, nothing of later ones, no half commit).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Container } from '../../index.js';

/** Size of the writer's array `blob`. */
export const BLOB_BYTES = 48 * 1024;
/** The writer rewrites `blob` every this many rounds. */
export const BLOB_EVERY = 8;
/** Longest the tests wait for one line of the writer (it commits many times a second). */
export const WRITER_WAIT_MS = 60_000;

/** Bytes of the array `blob` at generation `n` (xorshift, seeded by n). */
export function blobBytes(n: number, length = BLOB_BYTES): Uint8Array {
  const out = new Uint8Array(length);
  let x = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff; }
  return out;
}

/**
 * Round `n` of the writer: every BLOB_EVERY rounds the array `blob` (generation n) and then
 * `blobGen` = n; then one atomic batch `k<n>` = `v<n>`, `last` = n.
 */
export async function commitRound(c: Container, n: number, oclass: string): Promise<void> {
  if (n % BLOB_EVERY === 0) {
    await c.array('blob', { oclass }).write(0, blobBytes(n));
    await c.kv('log').put('blobGen', String(n));
  }
  await c.kv('log').batch([{ type: 'put', key: `k${n}`, value: `v${n}` }, { type: 'put', key: 'last', value: String(n) }]);
}

/** The writer process holding a pool and committing until stopped. */
export class Writer {
  /** The highest round the writer reported committed. */
  committed = 0;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: Array<{ match: (l: string) => boolean; resolve: (l: string) => void }> = [];
  private readonly proc: ChildProcessWithoutNullStreams;

  constructor(dir: string, oclass = 'RP_2G1') {
    const script = new URL('./readonly-writer.ts', import.meta.url).pathname;
    this.proc = spawn(process.execPath, ['--import', 'tsx', script, dir, oclass], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    // 'close', not 'exit': it comes after the child's output is read, so a last line (`closed`) is never
    // taken for missing because the exit was reported first
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      const m = /^committed (\d+)$/.exec(l);
      if (m) this.committed = Number(m[1]);
      else this.lines.push(l);
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i]!.match(l)) { this.waiters[i]!.resolve(l); this.waiters.splice(i--, 1); }
      }
    });
  }

  get pid(): number { return this.proc.pid!; }

  /** The next line matching `re` (or one already seen, for non-`committed` lines); rejects after WRITER_WAIT_MS or on exit. */
  waitFor(re: RegExp): Promise<string> {
    const old = this.lines.find((l) => re.test(l));
    if (old !== undefined) return Promise.resolve(old);
    return this.waitLine((l) => re.test(l), String(re));
  }

  /** Wait until the writer reported round `n` committed. */
  async waitCommitted(n: number): Promise<void> {
    if (this.committed >= n) return;
    await this.waitLine(() => this.committed >= n, `committed ${n}`);
  }

  private waitLine(match: (l: string) => boolean, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`writer printed no ${what} within ${WRITER_WAIT_MS} ms; stderr: ${this.stderr.slice(-2000)}`)), WRITER_WAIT_MS);
      this.exited.then((code) => { clearTimeout(timer); reject(new Error(`writer exited (${code}) before ${what}; stderr: ${this.stderr.slice(-2000)}`)); });
      this.waiters.push({ match, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  /** Send a command line (see readonly-writer.ts). */
  send(line: string): void { this.proc.stdin.write(line + '\n'); }

  /** Stop the writer cleanly (it closes its pool); resolves to its exit code. */
  async stop(): Promise<number | null> {
    this.send('stop');
    await this.waitFor(/^closed$/);
    return this.exited;
  }

  /** Kill the writer (mid-commit, most likely). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.proc.kill(signal);
    return this.exited;
  }
}

/** What a reader saw of the writer's commits at one epoch. */
export interface SeenState { epoch: bigint; last: number; blobGen: number }

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

/**
 * Read the writer's objects in `c` at one epoch (default: the container's read epoch) and check
 * they are one consistent state: `last` = L with exactly the keys k1..kL holding v1..vL, `blobGen`
 * the generation the writer had recorded by then, and `blob` the bytes of that generation (or of
 * the next one, written just before its `blobGen`). Throws a descriptive error otherwise.
 */
export async function checkState(c: Container, oclass = 'RP_2G1', epoch = c.readEpoch()): Promise<SeenState> {
  const entries = new Map<string, string>();
  for await (const [k, v] of c.kv('log').entries({ epoch })) entries.set(text(k)!, text(v)!);
  const last = Number(entries.get('last') ?? '0');
  const keys = [...entries.keys()].filter((k) => /^k\d+$/.test(k));
  if (keys.length !== last) throw new Error(`at epoch ${epoch}: last = ${last} but ${keys.length} k-keys`);
  for (let i = 1; i <= last; i++) if (entries.get(`k${i}`) !== `v${i}`) throw new Error(`at epoch ${epoch}: k${i} = ${entries.get(`k${i}`)}`);
  const blobGen = Number(entries.get('blobGen') ?? '0');
  const recorded = Math.floor(last / BLOB_EVERY) * BLOB_EVERY;
  const allowed = [recorded, ...((last + 1) % BLOB_EVERY === 0 ? [last + 1] : [])];
  if (!allowed.includes(blobGen)) throw new Error(`at epoch ${epoch}: last ${last} but blobGen ${blobGen}`);
  if (blobGen > 0) {
    const bytes = await c.array('blob', { oclass }).read(0, BLOB_BYTES, { epoch });
    // blob of generation g + BLOB_EVERY is written after round g + BLOB_EVERY - 1, before its blobGen
    const gens = blobGen !== last + 1 && last >= blobGen + BLOB_EVERY - 1 ? [blobGen, blobGen + BLOB_EVERY] : [blobGen];
    if (!gens.some((g) => Buffer.compare(bytes, blobBytes(g)) === 0)) throw new Error(`at epoch ${epoch}: blob is not generation ${gens.join(' or ')}`);
  }
  return { epoch, last, blobGen };
}
