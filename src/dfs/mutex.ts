/** A FIFO async mutex: `run(fn)` runs `fn` when every earlier caller's `fn` has settled. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  /** Run `fn` exclusively; resolves or rejects with its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.held++;
    return prev.then(fn).finally(() => { this.held--; release(); });
  }

  /** Whether anyone holds or waits for the mutex. */
  get busy(): boolean { return this.held > 0; }
}
