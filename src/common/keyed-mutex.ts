/**
 * Per-key async mutual exclusion: callers on the same key run one after another, in arrival order;
 * different keys do not wait for each other. Used to serialise read-modify-write of one EC stripe.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();

  /** Run `fn` while holding the locks of all `keys` (taken in sorted order, so no deadlock). */
  async withLocks<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const k of sorted) releases.push(await this.acquire(k));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  private async acquire(key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
