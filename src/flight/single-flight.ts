/**
 * One in-flight load per key within this process (S4). Every caller that arrives while a load for
 * its key is running gets that load's promise: the same value, or the same error.
 *
 * The caller is expected to check the cache again inside the flight (values/read.ts): between
 * its first read missing and its joining the flight, another flight for the key may have finished
 * and stored the value, and without the second look it would run the generator a second time.
 */
export class SingleFlight<T = unknown> {
  readonly #inflight = new Map<string, Promise<T>>();

  run(key: string, load: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const flight = (async () => {
      try {
        return await load();
      } finally {
        this.#inflight.delete(key);
      }
    })();
    this.#inflight.set(key, flight);
    return flight;
  }

  /** Whether a load for the key is running now. */
  has(key: string): boolean {
    return this.#inflight.has(key);
  }

  get size(): number {
    return this.#inflight.size;
  }
}
