/**
 * Server-assisted client-side caching for the near cache (N1–N3): Redis remembers which keys the
 * command connection read and sends an invalidation when any client changes one of them.
 *
 *   main connection          CLIENT TRACKING ON REDIRECT <id> NOLOOP   (reads register keys)
 *   invalidation connection  RESP2, SUBSCRIBE __redis__:invalidate     (<id> is its CLIENT ID)
 *
 * Why RESP2 with a redirect, not RESP3 push messages: ioredis 6 drops push frames it does not
 * know (DataHandler.returnPush handles only pub/sub types; `invalidate` is ignored), while a RESP2
 * connection subscribed to `__redis__:invalidate` receives invalidations as ordinary pub/sub
 * messages, which ioredis hands over as `messageBuffer` (channel, array of keys | null). A null
 * payload means "drop everything" (FLUSHALL, FLUSHDB, or the server's tracking table overflowing).
 *
 * Why NOLOOP: without it, this process's own writes would come back as invalidations and drop the
 * values it just wrote (N1: own writes are visible at once, with no round trip). The price is that
 * every own write must drop or refresh its key itself: the value paths write through near/near-store.ts for that.
 *
 * Tracking is only trusted while both connections are up and the main connection's tracking points
 * at the current invalidation connection. Either connection closing makes the sink inactive (the
 * near cache empties and is bypassed: N3); when both are ready again, tracking is switched on
 * again with the new id and the sink becomes active. A connection lost means invalidations lost:
 * the server forgets a disconnected client's tracked keys, and a redirect to a dead connection
 * goes nowhere.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { Clock, Timer } from '../../clock.js';
import type { InvalidationSink } from '../store.js';
import { subscriberOverrides } from './connect.js';

export const INVALIDATE_CHANNEL = '__redis__:invalidate';

export interface TrackingConnections {
  /** The connection whose reads Redis tracks. */
  main: Redis;
  /** A fresh connection with the store's overrides and `extra`: the invalidation connection. */
  open: (extra: RedisOptions) => Redis;
}

/** A standalone or Sentinel store's command connection, and invalidation connections duplicated from it. */
export function trackingConnections(main: Redis, commandTimeoutMs: number): TrackingConnections {
  return { main, open: (extra) => main.duplicate({ ...subscriberOverrides(commandTimeoutMs), ...extra }) };
}

const RETRY_MS = 250;

export class RedisTracking {
  readonly #conns: TrackingConnections;
  readonly #sink: InvalidationSink;
  readonly #clock: Clock;
  #inv: Redis | null = null;
  /** CLIENT ID of the invalidation connection while it is subscribed; null otherwise. */
  #invId: number | null = null;
  /** Bumped on every change of either connection: a tracking reply of an older round is ignored. */
  #round = 0;
  /** Bumped when the invalidation connection closes: a subscription of an older one is ignored. */
  #invRound = 0;
  #active = false;
  #retry: Timer | undefined;
  #closed = false;
  #refused = false;
  readonly #onMainReady = () => this.#startRound();
  readonly #onMainClose = () => this.#lost();

  /** `clock`: the store's, for the retry after a failed set-up. */
  constructor(conns: TrackingConnections, sink: InvalidationSink, clock: Clock) {
    this.#conns = conns;
    this.#sink = sink;
    this.#clock = clock;
    // The store connects lazily; the invalidation connection is dialled when the main one is.
    conns.main.on('ready', this.#onMainReady);
    conns.main.on('close', this.#onMainClose);
    if (conns.main.status === 'ready') this.#startRound();
  }

  get active(): boolean {
    return this.#active;
  }

  #lost(): void {
    this.#round++;
    if (this.#active) {
      this.#active = false;
      this.#sink.setActive(false);
    }
  }

  #ensureInvalidationConnection(): void {
    if (this.#inv !== null || this.#closed) return;
    // RESP2: see the file comment. lazyConnect off: dial now.
    const inv = this.#conns.open({ protocol: 2, lazyConnect: false });
    this.#inv = inv;
    inv.on('error', () => {
      // Dial failures are retried by ioredis and reported by the store's own connection.
    });
    inv.on('close', () => {
      this.#invId = null;
      this.#invRound++;
      this.#lost();
    });
    inv.on('ready', () => void this.#subscribe(inv));
    // A message is the invalidated keys (Buffers; one Buffer or an array), or null for a flush.
    inv.on('messageBuffer', (channel: Buffer, message: Buffer | Buffer[] | null | undefined) => {
      if (channel.toString() !== INVALIDATE_CHANNEL) return;
      if (message === null || message === undefined) this.#sink.invalidate(null);
      else if (Array.isArray(message)) this.#sink.invalidate(message.map((k) => String(k)));
      else this.#sink.invalidate([String(message)]);
    });
  }

  async #subscribe(inv: Redis): Promise<void> {
    const round = this.#invRound;
    try {
      // CLIENT ID before SUBSCRIBE: a RESP2 connection in subscriber mode takes no other command.
      // Typed a number, but a string when the client's options say stringNumbers.
      const reply: unknown = await inv.client('ID');
      const id = Number(reply);
      await inv.subscribe(INVALIDATE_CHANNEL);
      if (round !== this.#invRound || inv !== this.#inv) return;
      this.#invId = id;
      this.#startRound();
    } catch (err) {
      this.#failed(err);
    }
  }

  /** Points the main connection's tracking at the current invalidation connection. */
  #startRound(): void {
    if (this.#closed || this.#refused) return;
    this.#ensureInvalidationConnection();
    const id = this.#invId;
    const main = this.#conns.main;
    if (id === null || main.status !== 'ready') return;
    const round = ++this.#round;
    main
      .call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'NOLOOP')
      .then(() => {
        if (round !== this.#round || this.#closed || this.#invId !== id || main.status !== 'ready') return;
        if (!this.#active) {
          this.#active = true;
          this.#sink.setActive(true);
        }
      })
      .catch((err: unknown) => {
        if (round === this.#round) this.#failed(err);
      });
  }

  #failed(err: unknown): void {
    if (this.#closed || this.#refused) return;
    const e = err instanceof Error ? err : new Error(String(err));
    // A server that refuses tracking (an ACL without CLIENT, say) refuses it every time: report it
    // once and leave the near cache bypassed, rather than retrying and reporting forever.
    if (/^(NOPERM|ERR)/.test(e.message)) {
      this.#refused = true;
      this.#sink.error(new Error(`near cache disabled: the server refused client tracking (${e.message})`, { cause: e }));
      return;
    }
    this.#sink.error(e);
    if (this.#retry !== undefined) return;
    this.#retry = this.#clock.setTimeout(
      () => {
        this.#retry = undefined;
        const inv = this.#inv;
        if (inv !== null && inv.status === 'ready' && this.#invId === null) void this.#subscribe(inv);
        else this.#startRound();
      },
      RETRY_MS,
      true,
    );
  }

  close(): void {
    this.#closed = true;
    this.#lost();
    this.#retry?.cancel();
    this.#conns.main.off('ready', this.#onMainReady);
    this.#conns.main.off('close', this.#onMainClose);
    this.#inv?.disconnect();
    this.#inv = null;
  }
}
