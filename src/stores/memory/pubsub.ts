/**
 * In-process publish/subscribe. Delivery is asynchronous (a microtask after the publish), to the
 * handlers subscribed at publish time that are still subscribed at delivery; each gets its own copy.
 */

import type { MessageHandler } from '../store.js';

interface Subscription {
  readonly handler: MessageHandler;
  active: boolean;
}

export class PubSub {
  private readonly channels = new Map<string, Set<Subscription>>();

  constructor(private readonly report: (err: unknown) => void) {}

  publish(channel: string, message: Buffer): number {
    const subs = this.channels.get(channel);
    if (subs === undefined) return 0;
    const targets = Array.from(subs);
    const bytes = Buffer.from(message);
    queueMicrotask(() => {
      for (let i = 0; i < targets.length; i++) {
        const s = targets[i]!;
        if (!s.active) continue;
        try {
          s.handler(i === targets.length - 1 ? bytes : Buffer.from(bytes));
        } catch (err) {
          this.report(err);
        }
      }
    });
    return targets.length;
  }

  subscribe(channel: string, handler: MessageHandler): () => void {
    const sub: Subscription = { handler, active: true };
    let subs = this.channels.get(channel);
    if (subs === undefined) this.channels.set(channel, (subs = new Set()));
    subs.add(sub);
    return () => {
      if (!sub.active) return;
      sub.active = false;
      const current = this.channels.get(channel);
      if (current === undefined) return;
      current.delete(sub);
      if (current.size === 0) this.channels.delete(channel);
    };
  }

  clear(): void {
    for (const subs of this.channels.values()) for (const s of subs) s.active = false;
    this.channels.clear();
  }
}
