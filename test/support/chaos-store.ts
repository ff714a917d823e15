/**
 * Wraps any Store and, on demand, makes its calls fail (as an unreachable server would) or stall
 * (accepted, never answered). Also counts calls, so tests can prove that bad input did no I/O.
 */
import { StoreUnavailableError } from '../../src/errors.js';
import type { Store } from '../../src/stores/store.js';

export type ChaosMode = 'ok' | 'fail' | 'stall';

export interface ChaosStore extends Store {
  mode: ChaosMode;
  /** Calls made through the wrapper, by method name. */
  readonly calls: Map<string, number>;
  totalCalls(): number;
}

const PASS_THROUGH = new Set(['kind', 'watch', 'close']);
/** Capabilities the wrapper must not claim: it can fail and stall, whatever the store inside can do. */
const HIDDEN = new Set(['inProcess', 'boundsCalls', 'trackInvalidations', 'readShared']);

export function chaosStore(inner: Store): ChaosStore {
  const calls = new Map<string, number>();
  const state = { mode: 'ok' as ChaosMode };
  const proxy = new Proxy(inner as unknown as Record<string | symbol, unknown>, {
    // Not an instance of the inner class: the cache must treat the wrapper as a store that can hang.
    getPrototypeOf() {
      return Object.prototype;
    },
    get(target, prop) {
      if (prop === 'mode') return state.mode;
      if (prop === 'calls') return calls;
      if (prop === 'totalCalls') return () => [...calls.values()].reduce((a, b) => a + b, 0);
      if (typeof prop === 'string' && HIDDEN.has(prop)) return undefined;
      const value = target[prop];
      if (typeof value !== 'function' || typeof prop !== 'string' || PASS_THROUGH.has(prop)) {
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      }
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        if (state.mode === 'fail') {
          if (prop === 'scan') {
            // eslint-disable-next-line require-yield -- a scan that fails before its first batch
            return (async function* () {
              throw new StoreUnavailableError('chaos: store is down');
            })();
          }
          return Promise.reject(new StoreUnavailableError('chaos: store is down'));
        }
        if (state.mode === 'stall') {
          if (prop === 'scan') {
            // eslint-disable-next-line require-yield -- a scan that stalls before its first batch
            return (async function* () {
              await new Promise(() => {});
            })();
          }
          return new Promise(() => {});
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
    set(_target, prop, value) {
      if (prop === 'mode') {
        state.mode = value as ChaosMode;
        return true;
      }
      return false;
    },
  });
  return proxy as unknown as ChaosStore;
}
