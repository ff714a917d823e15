/**
 * The one way larder waits for another holder to finish: woken by a message on a channel (a lock
 * released, a value landed), with polling as the fallback, bounded by a deadline.
 *
 * The order matters: a waiter joins the channel and waits for the subscription to be active before
 * it tries again, or a release between its failed try and an active subscription would go unheard
 * until its next poll. Pub/sub is at-most-once (a message published while the subscriber
 * connection is down is lost), so it is never the only path: a waiter tries again within 50–100 ms
 * (jittered with the injected randomness, so waiters of many processes do not poll in step), or
 * sooner when the holder's lease runs out earlier.
 */
import type { Clock } from '../clock.js';
import type { ChannelHub, Membership } from './channel-hub.js';

/** Polling bounds (LK5: at least every 100 ms). */
export const POLL_MIN_MS = 50;
export const POLL_MAX_MS = 100;

export interface WaitSpec {
  hub: ChannelHub;
  channel: string;
  /** Only messages with exactly this content wake us (see ChannelHub). */
  topic?: string;
  clock: Clock;
  random: () => number;
  /** On `clock.monotonic()`. */
  deadline: number;
  /** Aborts a pause: it then rejects with `onAbort()`'s error. */
  signal?: AbortSignal | undefined;
  onAbort?: () => Error;
}

export class Waiter {
  readonly #spec: WaitSpec;
  readonly #member: Membership;
  #woken = false;
  #wake: (() => void) | null = null;

  /** Joins the channel at once: a message from now on wakes the next pause. */
  constructor(spec: WaitSpec) {
    this.#spec = spec;
    this.#member = spec.hub.join(spec.channel, () => this.#onMessage(), spec.topic);
  }

  /** Ms left before the deadline (<= 0: past it). */
  get left(): number {
    return this.#spec.deadline - this.#spec.clock.monotonic();
  }

  /** Waits for the subscription to be active, never past the deadline (a failed one leaves polling). */
  subscribed(): Promise<void> {
    return this.#sleep(Math.max(0, this.left), this.#member.ready);
  }

  /**
   * Returns at once if a message arrived since the last pause; otherwise sleeps until a message,
   * the next poll or the deadline. `hintMs` >= 0: the holder's lease ends then, try just after.
   */
  pause(hintMs: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    let ms = POLL_MIN_MS + this.#spec.random() * (POLL_MAX_MS - POLL_MIN_MS);
    if (hintMs >= 0) ms = Math.min(ms, hintMs + 1);
    return this.#sleep(Math.min(ms, Math.max(0, this.left)), null);
  }

  leave(): void {
    this.#member.leave();
  }

  #onMessage(): void {
    if (this.#wake !== null) this.#wake();
    else this.#woken = true;
  }

  #sleep(ms: number, until: Promise<unknown> | null): Promise<void> {
    const { clock, signal } = this.#spec;
    return new Promise<void>((resolve, reject) => {
      const fail = () => {
        this.#wake = null;
        reject(this.#spec.onAbort?.() ?? new Error('aborted'));
      };
      if (signal?.aborted) {
        fail();
        return;
      }
      let finished = false;
      // done and onAbort run only after the timer is set: a clock's timer never fires as it is set.
      const done = () => {
        if (finished) return;
        finished = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        this.#wake = null;
        this.#woken = false;
        resolve();
      };
      const onAbort = () => {
        if (finished) return;
        finished = true;
        timer.cancel();
        fail();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = clock.setTimeout(done, ms);
      this.#wake = done;
      until?.then(done, done);
    });
  }
}
