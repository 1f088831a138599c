/**
 * A concurrency limit: `run(task)` starts at most `max` tasks at once. Used for parallel blob
 * transfers, where a copy of a many-layer image must not open hundreds of connections.
 */
export class Limiter {
  readonly max: number;
  #active = 0;
  #waiting: Array<() => void> = [];

  constructor(max: number) {
    this.max = Math.max(1, Math.floor(max));
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}

/** Runs `task` over `items` under `limiter`; every task settles before the first error is thrown. */
export async function forEachLimited<T>(items: readonly T[], limiter: Limiter, task: (item: T) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(items.map((item) => limiter.run(() => task(item))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
