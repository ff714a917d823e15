/**
 * The metrics tap of one cache: where the cache's own code reports what the metrics consumers
 * (metrics/publisher.ts, larder-cache/otel, larder-cache/prometheus) and the `larder:store`,
 * `larder:lock` and `larder:generator` tracing channels (tracing.ts) want to know beyond the counters
 * of `stats()`: how long store calls, generator runs and lock acquisitions took, and each hit and
 * miss with its namespace.
 *
 * Costs nothing unused: call sites check one flag (`timesStore`, `timesLocks`, `timesGenerators`)
 * or a channel's `hasSubscribers` before taking a time; hits and misses reach sinks through the
 * cache's 'hit'/'miss' events (observability.ts), whose payloads are only built when someone listens.
 */
import { parseAnyKey } from '../keys.js';
import type { Emitter, HitEvent, MissEvent } from '../observability.js';
import { generatorChannel, lockChannel, storeChannel, type LockTraceContext } from '../tracing.js';

export type StoreKind = 'memory' | 'redis' | 'custom';

/** The `result` label of a read (O5). */
export type RequestResult = 'hit' | 'miss' | 'stale' | 'waited';

/** What a metrics consumer can be told; every method optional. */
export interface MetricsSink {
  /**
   * A read counted as a hit (with its layer), a miss (layer `store`: it was asked last), a stale
   * serve (S6, S7: an expired value served while it is refreshed or because the refresh failed),
   * or waited (a miss another caller's or process's generator answered: O2's `waited`).
   */
  request?(namespace: string, layer: 'near' | 'store', result: RequestResult): void;
  /** One store round trip: its command, how long it took, whether it failed. */
  storeCall?(command: string, seconds: number, failed: boolean): void;
  /** One generator run (S3) and how long it took. */
  generator?(seconds: number, failed: boolean): void;
  /** One lock acquisition (lock, read/write lock, permit): its wait in seconds and how it ended. */
  lockAcquire?(seconds: number, outcome: 'acquired' | 'timeout' | 'error'): void;
}

let nextId = 1;

export class MetricsTap {
  /** Tells this cache's contexts apart on the process-wide tracing channels. */
  readonly id = nextId++;
  readonly store: StoreKind;
  /** Fast flags: some sink wants store call timings, generator timings, lock timings. */
  timesStore = false;
  timesGenerators = false;
  timesLocks = false;
  readonly #sinks = new Set<MetricsSink>();
  readonly #events: Emitter;
  #unlisten: Array<() => void> = [];

  constructor(events: Emitter, store: StoreKind) {
    this.#events = events;
    this.store = store;
  }

  /** Adds a sink; returns its removal. */
  add(sink: MetricsSink): () => void {
    this.#sinks.add(sink);
    this.#refresh();
    return () => {
      this.#sinks.delete(sink);
      this.#refresh();
    };
  }

  #refresh(): void {
    let store = false;
    let gen = false;
    let locks = false;
    let requests = false;
    for (const s of this.#sinks) {
      store ||= s.storeCall !== undefined;
      gen ||= s.generator !== undefined;
      locks ||= s.lockAcquire !== undefined;
      requests ||= s.request !== undefined;
    }
    this.timesStore = store;
    this.timesGenerators = gen;
    this.timesLocks = locks;
    if (requests && this.#unlisten.length === 0) {
      this.#unlisten = [
        this.#events.on('hit', (e: HitEvent) => {
          for (const s of this.#sinks) s.request?.(e.namespace, e.layer, 'hit');
        }),
        this.#events.on('miss', (e: MissEvent) => {
          for (const s of this.#sinks) s.request?.(e.namespace, 'store', 'miss');
        }),
        this.#events.on('waited', (e: MissEvent) => {
          for (const s of this.#sinks) s.request?.(e.namespace, 'store', 'waited');
        }),
      ];
    } else if (!requests && this.#unlisten.length > 0) {
      for (const off of this.#unlisten) off();
      this.#unlisten = [];
    }
  }

  /**
   * A stale serve (S6, S7) of the physical key `pk`, for the sinks that count reads. Rare, so its
   * namespace is parsed from the key here rather than carried down the read path.
   */
  stale(pk: string): void {
    if (this.#unlisten.length === 0) return;
    const parsed = parseAnyKey(pk);
    if (parsed === null) return;
    const namespace = parsed.namespace ?? '';
    for (const s of this.#sinks) s.request?.(namespace, 'store', 'stale');
  }

  /** Whether a store call must go through `storeCall` (a sink times it or a tracer listens). */
  get observesStore(): boolean {
    return this.timesStore || storeChannel.hasSubscribers;
  }

  /** Runs one store round trip, timed for the sinks and traced on `larder:store`. */
  storeCall<T>(command: string, op: () => Promise<T>): Promise<T> {
    const t0 = this.timesStore ? performance.now() : 0;
    let p: Promise<T>;
    if (storeChannel.hasSubscribers) p = storeChannel.tracePromise(op, { operation: command, store: this.store, cacheId: this.id });
    else {
      try {
        p = op();
      } catch (err) {
        p = Promise.reject(err);
      }
    }
    if (this.timesStore) {
      p.then(
        () => this.#storeDone(command, t0, false),
        () => this.#storeDone(command, t0, true),
      );
    }
    return p;
  }

  #storeDone(command: string, t0: number, failed: boolean): void {
    const s = (performance.now() - t0) / 1000;
    for (const sink of this.#sinks) sink.storeCall?.(command, s, failed);
  }

  /** Runs a generator: counted by the caller, timed here, traced on `larder:generator`. */
  generate<T>(namespace: string, key: string, fn: () => T | Promise<T>): Promise<T> {
    const call = async () => await fn();
    const t0 = this.timesGenerators ? performance.now() : 0;
    const p = generatorChannel.hasSubscribers
      ? generatorChannel.tracePromise(call, { operation: 'generate', namespace, key, cacheId: this.id })
      : call();
    if (!this.timesGenerators) return p;
    return p.then(
      (v) => {
        this.#generated(t0, false);
        return v;
      },
      (err: unknown) => {
        this.#generated(t0, true);
        throw err;
      },
    );
  }

  #generated(t0: number, failed: boolean): void {
    const s = (performance.now() - t0) / 1000;
    for (const sink of this.#sinks) sink.generator?.(s, failed);
  }

  /** Whether lock acquisitions must go through `acquire`. */
  get observesLocks(): boolean {
    return this.timesLocks || lockChannel.hasSubscribers;
  }

  /** Runs one lock acquisition, timed for the sinks and traced on `larder:lock`. */
  async acquire<T>(operation: string, namespace: string | null, name: string, fn: () => Promise<T>, isTimeout: (err: unknown) => boolean): Promise<T> {
    const t0 = performance.now();
    const ctx: LockTraceContext = { operation, namespace, name, cacheId: this.id };
    const run = async () => {
      try {
        const v = await fn();
        ctx.outcome = 'acquired';
        return v;
      } catch (err) {
        ctx.outcome = isTimeout(err) ? 'timeout' : 'error';
        throw err;
      }
    };
    try {
      return await (lockChannel.hasSubscribers ? lockChannel.tracePromise(run, ctx) : run());
    } finally {
      if (this.timesLocks) {
        const s = (performance.now() - t0) / 1000;
        const outcome = ctx.outcome ?? 'error';
        for (const sink of this.#sinks) sink.lockAcquire?.(s, outcome);
      }
    }
  }
}
