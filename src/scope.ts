/**
 * Which tenant and user a call belongs to, and the physical key that follows (K1, K2). One Scope
 * per cache view: `forNamespace(ns)` fixes the namespace; otherwise the current context's (X1)
 * applies, then the `namespace` option.
 *
 * Argument checks here throw TypeErrors (KeyError for keys) before any I/O (K4).
 */
import { contextUser, currentContext } from './context.js';
import { isObject } from './input.js';
import { namespacePrefix, physicalKey, validateKey, validateScopePart, type KeyScope, type Space } from './keys.js';

export interface ScopeOptions {
  /** Scope the key to a user inside the namespace; `true`: the context's user (K2). */
  user?: string | true;
  /** A key outside every namespace (K1). */
  shared?: boolean;
}

/** Lists and sets take their values as rest arguments, so their scope comes with the name. */
export type KeyRef = string | ({ key: string } & ScopeOptions);

export class Scope {
  /** The view's own namespace (`forNamespace`), or undefined: the context's, else the option's. */
  readonly fixed: string | undefined;
  readonly #fallback: string;

  constructor(fixed: string | undefined, fallback: string) {
    this.fixed = fixed;
    this.#fallback = fallback;
  }

  /** The namespace calls on this view use right now. */
  get namespace(): string {
    return this.fixed ?? currentContext()?.namespace ?? this.#fallback;
  }

  /** The literal prefix of every physical key of the view's namespace (K5). */
  get keyPrefix(): string {
    return namespacePrefix(this.fixed ?? this.#fallback);
  }

  /** Resolves namespace, user and shared for one call (K1, K2). */
  resolve(opts: ScopeOptions | undefined): KeyScope {
    let user: string | null = null;
    let shared = false;
    if (opts !== undefined) {
      if (!isObject(opts)) throw new TypeError('options must be an object');
      const u = opts.user;
      if (u === true) user = contextUser();
      else if (u !== undefined) {
        validateScopePart(u, 'user');
        user = u;
      }
      if (opts.shared !== undefined) {
        if (typeof opts.shared !== 'boolean') throw new TypeError('shared must be a boolean');
        shared = opts.shared;
      }
    }
    return { namespace: this.namespace, user, shared };
  }

  /** The physical key of `key` in `space` for one call's options. */
  key(key: string, opts: ScopeOptions | undefined, space: Space = 'k'): string {
    validateKey(key);
    return physicalKey(this.resolve(opts), space, key);
  }

  /** The physical key and the caller's key of a list or set reference. */
  ref(ref: KeyRef): [physical: string, key: string] {
    if (isObject(ref)) return [this.key(ref.key, ref), ref.key];
    return [this.key(ref, undefined), ref];
  }

  /** Physical keys of several keys of one scope. */
  keys(keys: readonly string[], opts: ScopeOptions | undefined): { scope: KeyScope; physical: string[] } {
    const scope = this.resolve(opts);
    // An index loop, not map(): a hole fails validateKey at once (Z1: map would skip holes and
    // walk a sparse list's whole declared length).
    const physical = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      validateKey(k);
      physical[i] = physicalKey(scope, 'k', k);
    }
    return { scope, physical };
  }
}
