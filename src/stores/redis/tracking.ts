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
 *
 * ## A connection that silently stopped delivering (N3)
 *
 * A NAT or proxy idle timeout can drop the invalidation connection without either end seeing a
 * close: the client's socket stays "up" and simply receives nothing, so no 'close' ever makes the
 * near cache inactive, and it would serve overwritten values forever. Two checks catch it:
 *
 *  - A heartbeat on the invalidation connection: a PING (allowed in subscriber mode) every
 *    HEARTBEAT_MS; a PING unanswered for HEARTBEAT_DEADLINE_MS means the channel is lost. The
 *    verdict is taken one event-loop turn after the deadline is seen, so a reply that arrived while
 *    the process was busy is read first (a blocked loop is not a dead link). Worst-case detection:
 *    deadline + one beat, under 5 s. It runs on the system clock, not the store's: a reply takes
 *    real time to arrive, whatever clock a test injects for TTLs and leases.
 *  - The broken redirect: when the invalidation connection is gone on the server's side, Redis
 *    marks the main connection's tracking `broken_redirect` and sends it a `tracking-redir-broken`
 *    push. ioredis drops push frames it does not know (see above), so the same state is read with
 *    CLIENT TRACKINGINFO on the main connection at every beat while active: a broken redirect, or a
 *    redirect to any id but the current invalidation connection's, means lost.
 *
 * Lost means: the sink goes inactive at once (the near cache is emptied and bypassed), a
 * TrackingError `E_TRACKING_LOST` is reported, and the invalidation connection's socket is
 * destroyed so that ioredis dials a fresh one; tracking is pointed at it when it is subscribed.
 *
 * ## Refusals
 *
 * "ERR The client ID you want redirect to does not exist" is transient: the invalidation
 * connection reconnected (a new id) a moment before the main one asked to redirect to the old id.
 * It is retried with the current id. Any other refusal by the server (NOPERM, an unknown command)
 * is permanent: reported once as `E_TRACKING_REFUSED`, and the near cache stays off.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { systemClock, type Clock, type Timer } from '../../clock.js';
import { TrackingError } from '../../errors.js';
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
/** How often the invalidation connection is pinged (and the main connection's redirect checked). */
export const HEARTBEAT_MS = 1000;
/** A PING unanswered this long means the invalidation connection is lost (N3: detected within 5 s). */
export const HEARTBEAT_DEADLINE_MS = 2500;
/** A transient refusal: the redirect target reconnected under a new id a moment ago. */
const REDIRECT_GONE = /client ID you want redirect to does not exist/i;
/** Any other server refusal is permanent (an ACL without CLIENT, a server without the command). */
const TRACKING_REFUSED = /^(NOPERM|ERR)/;

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
  #beat: Timer | undefined;
  /** When the outstanding heartbeat PING was sent (monotonic ms), or -1 if none is outstanding. */
  #pingSentAt = -1;
  /** The deadline was seen passed: the verdict comes at the next beat, after pending replies are read. */
  #suspect = false;
  #checkingRedirect = false;
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
      if (inv !== this.#inv) return;
      // A working channel lost is reported (N3: never silently); a dial that failed is not.
      if (this.#invId !== null) this.#sink.error(new TrackingError('E_TRACKING_LOST', 'near cache bypassed: the invalidation connection closed'));
      this.#invId = null;
      this.#invRound++;
      this.#stopHeartbeat();
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
      this.#startHeartbeat(inv);
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
    if (REDIRECT_GONE.test(e.message)) {
      // Transient (see the file comment): retried below with whatever id is current by then.
      this.#sink.error(new TrackingError('E_TRACKING_LOST', `near cache: tracking redirect target gone, retrying (${e.message})`, { cause: e }));
    } else if (TRACKING_REFUSED.test(e.message)) {
      // A server that refuses tracking refuses it every time: report it once and leave the near
      // cache bypassed, rather than retrying and reporting forever.
      this.#refused = true;
      this.#stopHeartbeat();
      this.#sink.error(new TrackingError('E_TRACKING_REFUSED', `near cache disabled: the server refused client tracking (${e.message})`, { cause: e }));
      return;
    } else {
      this.#sink.error(new TrackingError('E_TRACKING_LOST', `near cache: tracking set-up failed, retrying (${e.message})`, { cause: e }));
    }
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

  // ---------------------------------------------------------------- heartbeat (N3)

  #startHeartbeat(inv: Redis): void {
    this.#stopHeartbeat();
    this.#beat = systemClock.setTimeout((i) => this.#onBeat(i), HEARTBEAT_MS, true, inv);
  }

  #stopHeartbeat(): void {
    this.#beat?.cancel();
    this.#beat = undefined;
    this.#pingSentAt = -1;
    this.#suspect = false;
  }

  #onBeat(inv: Redis): void {
    this.#beat = undefined;
    if (this.#closed || inv !== this.#inv || this.#invId === null) return;
    const now = systemClock.monotonic();
    if (this.#pingSentAt >= 0 && now - this.#pingSentAt >= HEARTBEAT_DEADLINE_MS) {
      if (this.#suspect) {
        this.#silent(inv, `the invalidation connection did not answer a PING within ${HEARTBEAT_DEADLINE_MS} ms`);
        return;
      }
      // Look again after the replies already received are read (a busy loop is not a dead link).
      this.#suspect = true;
      this.#beat = systemClock.setTimeout((i) => this.#onBeat(i), 1, true, inv);
      return;
    }
    if (this.#pingSentAt < 0) {
      this.#pingSentAt = now;
      const round = this.#invRound;
      inv.ping().then(
        () => {
          if (round !== this.#invRound || inv !== this.#inv) return;
          this.#pingSentAt = -1;
          this.#suspect = false;
        },
        () => undefined, // a connection error closes the connection: its 'close' handles it
      );
    }
    if (this.#active) this.#checkRedirect(inv);
    this.#beat = systemClock.setTimeout((i) => this.#onBeat(i), HEARTBEAT_MS, true, inv);
  }

  /** CLIENT TRACKINGINFO on the main connection: the state Redis's `tracking-redir-broken` push reports. */
  #checkRedirect(inv: Redis): void {
    if (this.#checkingRedirect) return;
    const main = this.#conns.main;
    if (main.status !== 'ready') return;
    this.#checkingRedirect = true;
    const round = this.#round;
    const id = this.#invId;
    main
      .call('CLIENT', 'TRACKINGINFO')
      .then((reply: unknown) => {
        if (round !== this.#round || id !== this.#invId || inv !== this.#inv || !this.#active) return;
        const info = trackingInfo(reply);
        if (info === null) return;
        if (info.flags.includes('broken_redirect') || info.redirect !== id) {
          this.#silent(inv, `the server reports the tracking redirect broken (flags ${info.flags.join(' ')}, redirect ${info.redirect})`);
        }
      })
      .catch(() => undefined) // the main connection's own failures are the store's to report
      .finally(() => {
        this.#checkingRedirect = false;
      });
  }

  /** The invalidation channel is lost though no connection closed: go inactive, then dial again. */
  #silent(inv: Redis, why: string): void {
    this.#stopHeartbeat();
    this.#invId = null;
    this.#invRound++;
    this.#lost();
    this.#sink.error(new TrackingError('E_TRACKING_LOST', `near cache bypassed: ${why}`));
    // Destroying the socket makes ioredis see a lost connection and reconnect (a FIN alone would
    // wait for an answer a half-open link never gives); 'ready' then subscribes the new one.
    // A subscribed connection has dialled, so its stream is there.
    inv.stream.destroy();
  }

  close(): void {
    this.#closed = true;
    this.#lost();
    this.#retry?.cancel();
    this.#stopHeartbeat();
    this.#conns.main.off('ready', this.#onMainReady);
    this.#conns.main.off('close', this.#onMainClose);
    this.#inv?.disconnect();
    this.#inv = null;
  }
}

/** The flags and redirect id of a CLIENT TRACKINGINFO reply (RESP2 array or RESP3 map), or null. */
function trackingInfo(reply: unknown): { flags: string[]; redirect: number } | null {
  let fields: Array<[string, unknown]>;
  if (Array.isArray(reply)) {
    fields = [];
    for (let i = 0; i + 1 < reply.length; i += 2) fields.push([String(reply[i]), reply[i + 1]]);
  } else if (reply instanceof Map) {
    fields = [...(reply as Map<unknown, unknown>)].map(([k, v]) => [String(k), v]);
  } else if (typeof reply === 'object' && reply !== null) {
    fields = Object.entries(reply);
  } else {
    return null;
  }
  let flags: string[] = [];
  let redirect = Number.NaN;
  for (const [k, v] of fields) {
    if (k === 'flags') flags = Array.isArray(v) ? v.map(String) : [String(v)];
    else if (k === 'redirect') redirect = Number(v);
  }
  return { flags, redirect };
}
