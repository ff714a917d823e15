/**
 * One subscription per channel, fanned out to this process's listeners. Lock waiters (woken by
 * releases), stampede waiters (woken when a value lands) and process caches (cleared by other
 * processes) all listen this way: however many callers wait on a channel, the store sees one
 * SUBSCRIBE.
 *
 * A listener may give a `topic`: it then hears only messages whose content is exactly that (the
 * stampede's channel is per namespace, its messages name the key that landed), found by one Map
 * lookup, not by asking every listener.
 *
 * After its last listener leaves, a channel stays subscribed for `lingerMs` (Infinity: until the
 * hub closes), so a lock handed around in a loop does not pay SUBSCRIBE/UNSUBSCRIBE each time. A
 * subscription that fails is forgotten: the next join tries again (waiters poll meanwhile).
 */
import type { Clock, Timer } from '../clock.js';
import { ignore } from '../ignore.js';
import type { Store } from '../stores/store.js';

export type Listener = (message: Buffer) => void;

export interface Membership {
  /** Resolves true once the subscription is active, false if it could not be made. */
  readonly ready: Promise<boolean>;
  /** Whether messages are delivered right now. */
  readonly active: boolean;
  /** Stops listening (idempotent). */
  leave(): void;
}

const ALL = '';

class Channel {
  /** Listeners by topic (ALL: every message). */
  readonly listeners = new Map<string, Set<Listener>>();
  count = 0;
  ready: Promise<boolean> = Promise.resolve(false);
  active = false;
  unsubscribe: (() => Promise<void>) | null = null;
  linger: Timer | undefined;

  deliver(message: Buffer): void {
    const all = this.listeners.get(ALL);
    if (all !== undefined) for (const l of all) l(message);
    if (this.listeners.size > (all === undefined ? 0 : 1)) {
      const some = this.listeners.get(message.toString());
      if (some !== undefined) for (const l of some) l(message);
    }
  }
}

export class ChannelHub {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #lingerMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #channels = new Map<string, Channel>();
  #closed = false;

  constructor(store: Store, opts: { clock: Clock; lingerMs: number; onError?: (err: Error) => void }) {
    this.#store = store;
    this.#clock = opts.clock;
    this.#lingerMs = opts.lingerMs;
    this.#onError = opts.onError;
  }

  /** Channels subscribed or being subscribed (for tests). */
  get size(): number {
    return this.#channels.size;
  }

  join(name: string, listener: Listener, topic: string = ALL): Membership {
    const ch = this.#channels.get(name) ?? this.#open(name);
    if (ch.linger !== undefined) {
      ch.linger.cancel();
      ch.linger = undefined;
    }
    let set = ch.listeners.get(topic);
    if (set === undefined) ch.listeners.set(topic, (set = new Set()));
    set.add(listener);
    ch.count++;
    let left = false;
    return {
      ready: ch.ready,
      get active() {
        return !left && ch.active;
      },
      leave: () => {
        if (left) return;
        left = true;
        if (set.delete(listener)) ch.count--;
        if (set.size === 0 && ch.listeners.get(topic) === set) ch.listeners.delete(topic);
        if (ch.count === 0 && ch.unsubscribe !== null) this.#scheduleLinger(name, ch);
      },
    };
  }

  #open(name: string): Channel {
    const ch = new Channel();
    this.#channels.set(name, ch);
    ch.ready = this.#store.subscribe(name, (m) => ch.deliver(m)).then(
      (unsubscribe) => {
        ch.unsubscribe = unsubscribe;
        // Closed, replaced or abandoned while we subscribed.
        if (this.#closed || this.#channels.get(name) !== ch) {
          void unsubscribe().catch(ignore);
          return false;
        }
        ch.active = true;
        if (ch.count === 0) this.#scheduleLinger(name, ch);
        return true;
      },
      (err: unknown) => {
        if (this.#channels.get(name) === ch) this.#channels.delete(name);
        this.#onError?.(err instanceof Error ? err : new Error(String(err)));
        return false;
      },
    );
    return ch;
  }

  #scheduleLinger(name: string, ch: Channel): void {
    if (this.#lingerMs === Infinity) return;
    ch.linger?.cancel();
    ch.linger = this.#clock.setTimeout(
      () => {
        ch.linger = undefined;
        if (ch.count > 0 || this.#channels.get(name) !== ch) return;
        this.#channels.delete(name);
        ch.active = false;
        void ch.unsubscribe?.().catch(ignore);
      },
      this.#lingerMs,
      true,
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    const unsubscribing: Array<Promise<void>> = [];
    for (const ch of channels) {
      ch.linger?.cancel();
      ch.active = false;
      if (ch.unsubscribe !== null) unsubscribing.push(ch.unsubscribe().catch(ignore));
    }
    await Promise.all(unsubscribing);
  }
}
