/**
 * The async context of a request or job (X1): its namespace, its user, and the request-local
 * memory (`cache.local`, `requestCached`). Carried by AsyncLocalStorage, so it follows awaits,
 * timers and callbacks, and two concurrent requests never see each other's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ContextError } from './errors.js';
import { isObject } from './input.js';
import { validateScopePart } from './keys.js';

export interface ContextInput {
  namespace?: string | undefined;
  user?: string | undefined;
}

export interface ContextState {
  readonly namespace: string | undefined;
  readonly user: string | undefined;
  /** `cache.local`: lives exactly as long as the context. */
  readonly local: Map<unknown, unknown>;
  /**
   * Results of requestCached functions in this context, by function then canonical arguments.
   * Values are what the function returned (a promise for an async function), shared by every
   * call with the same arguments in this context.
   */
  readonly memo: Map<object, Map<string, unknown>>;
}

export const contextStorage = new AsyncLocalStorage<ContextState>();

export function currentContext(): ContextState | undefined {
  return contextStorage.getStore();
}

export function makeContext(input: ContextInput): ContextState {
  if (!isObject(input)) throw new TypeError('context must be { namespace?, user? }');
  if (input.namespace !== undefined) validateScopePart(input.namespace, 'namespace');
  if (input.user !== undefined) validateScopePart(input.user, 'user');
  return { namespace: input.namespace, user: input.user, local: new Map(), memo: new Map() };
}

export function runInContext<T>(input: ContextInput, fn: () => T): T {
  return contextStorage.run(makeContext(input), fn);
}

/** The current context, or ContextError naming what needed it (`cache.local`, say). */
export function requireContext(what: string): ContextState {
  const ctx = contextStorage.getStore();
  if (ctx === undefined) throw new ContextError(`${what} needs a context (runInContext or the middleware)`);
  return ctx;
}

/** The context's user, for `user: true` (K2). */
export function contextUser(): string {
  const user = contextStorage.getStore()?.user;
  if (user === undefined) {
    throw new ContextError('user: true needs a context with a user (runInContext or the middleware)');
  }
  return user;
}
