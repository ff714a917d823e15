/**
 * One context per request (X1, X2), for Node's `http`, Express, Fastify and Hono, from one function:
 *
 *   const mw = cache.middleware({ resolve: (req) => ({ namespace: req.header('host'), user: … }) });
 *   http.createServer((req, res) => mw(req, res, () => handler(req, res)));   // Node http
 *   app.use(mw);                                                               // Express 5
 *   await fastify.register(mw);                                                // Fastify 5
 *   app.use(mw);                                                               // Hono
 *
 * The function looks at how it is called: a Fastify instance (it has `addHook`) registers hooks,
 * a Hono context `(c, next)` is awaited around `next`, anything else is `(req, res, next)`.
 *
 * Fastify needs care with AsyncLocalStorage: its body parsing resumes the request in another
 * async context, so `preValidation`, `preHandler` and the handler would lose a context entered in
 * `onRequest`. The hook therefore captures the context in an AsyncResource and re-enters it in
 * `preValidation` (as @fastify/request-context does).
 */
import { AsyncResource } from 'node:async_hooks';
import { contextStorage, makeContext, type ContextInput, type ContextState } from './context.js';
import { isObject } from './input.js';

/** The request as the resolver sees it, whatever the framework. */
export interface RequestInfo {
  /** A request header (case-insensitive); several values are joined with `, `. */
  header(name: string): string | undefined;
  readonly method: string;
  /** The URL as the framework gives it (a path for Node/Express/Fastify, absolute for Hono). */
  readonly url: string;
  /** The framework's own request object: IncomingMessage, Express Request, FastifyRequest, Hono Context. */
  readonly raw: unknown;
}

export interface MiddlewareOptions {
  /** The namespace and user of a request, e.g. from its Host header and its session. */
  resolve?: ((req: RequestInfo) => ContextInput | Promise<ContextInput>) | undefined;
}

/**
 * Typed loosely on purpose: Express, Fastify and Hono each check handlers against their own types,
 * and one function has to satisfy all three.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LarderMiddleware = (...args: any[]) => any;

type Resolver = NonNullable<MiddlewareOptions['resolve']>;

type HeaderMap = Record<string, string | string[] | undefined>;

/** What the middleware reads of a Node, Express or Fastify request; `headers` may be missing on a hand-made one. */
interface NodeLikeRequest {
  headers?: HeaderMap;
  method?: string;
  url?: string;
}

interface HonoLikeContext {
  req: { header(name: string): string | undefined; method: string; url: string; raw: unknown };
}

interface FastifyLike {
  addHook(name: string, hook: (...args: never[]) => unknown): unknown;
}

const RESOURCE = Symbol('larder.context');

function headerOf(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

function nodeInfo(req: NodeLikeRequest): RequestInfo {
  return {
    header: (name) => headerOf(req.headers ?? {}, name),
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    raw: req,
  };
}

function honoInfo(c: HonoLikeContext): RequestInfo {
  return { header: (name) => c.req.header(name), method: c.req.method, url: c.req.url, raw: c };
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Resolves the context of a request, synchronously when the resolver is. */
function withContext(resolve: Resolver, info: RequestInfo, then: (ctx: ContextState) => void, fail: (err: unknown) => void): void {
  let input: ContextInput | Promise<ContextInput>;
  try {
    input = resolve(info);
  } catch (err) {
    fail(err);
    return;
  }
  // A resolver written in JavaScript may return nothing: that is the empty context.
  const enter = (i: ContextInput | undefined) => {
    let ctx: ContextState;
    try {
      ctx = makeContext(i ?? {});
    } catch (err) {
      fail(err);
      return;
    }
    then(ctx);
  };
  if (isPromiseLike(input)) Promise.resolve(input).then(enter, fail);
  else enter(input);
}

function isFastify(a: unknown): a is FastifyLike {
  return typeof a === 'object' && a !== null && typeof (a as FastifyLike).addHook === 'function' && typeof (a as { register?: unknown }).register === 'function';
}

function isHonoContext(a: unknown, b: unknown, c: unknown): a is HonoLikeContext {
  if (typeof b !== 'function' || c !== undefined || typeof a !== 'object' || a === null) return false;
  const req = (a as { req?: unknown }).req;
  return typeof req === 'object' && req !== null && typeof (req as { header?: unknown }).header === 'function' && 'raw' in req;
}

function registerFastify(instance: FastifyLike, resolve: Resolver): void {
  instance.addHook('onRequest', (request: NodeLikeRequest & { [RESOURCE]?: AsyncResource }, _reply: unknown, done: (err?: unknown) => void) => {
    withContext(
      resolve,
      nodeInfo(request),
      (ctx) =>
        contextStorage.run(ctx, () => {
          // Captures the context for preValidation (see the file comment).
          const resource = new AsyncResource('larder:request');
          request[RESOURCE] = resource;
          resource.runInAsyncScope(done, undefined);
        }),
      (err) => done(err instanceof Error ? err : new Error(String(err))),
    );
  });
  instance.addHook('preValidation', (request: { [RESOURCE]?: AsyncResource }, _reply: unknown, done: () => void) => {
    const resource = request[RESOURCE];
    if (resource === undefined) done();
    else resource.runInAsyncScope(done, undefined);
  });
}

export function createMiddleware(opts?: MiddlewareOptions): LarderMiddleware {
  if (opts !== undefined && !isObject(opts)) throw new TypeError('middleware options must be an object');
  const resolve: Resolver = opts?.resolve ?? (() => ({}));
  if (typeof resolve !== 'function') throw new TypeError('resolve must be a function');

  const middleware = function larder(a: unknown, b: unknown, c: unknown): unknown {
    // Fastify: fastify.register(mw) calls mw(instance, opts, done).
    if (isFastify(a)) {
      registerFastify(a, resolve);
      if (typeof c === 'function') (c as () => void)();
      return undefined;
    }
    // Hono: app.use(mw) calls mw(c, next) and awaits the result.
    if (isHonoContext(a, b, c)) {
      const next = b as () => Promise<void>;
      return new Promise<void>((res, rej) => {
        withContext(
          resolve,
          honoInfo(a),
          (ctx) => {
            contextStorage.run(ctx, () => next()).then(res, rej);
          },
          rej,
        );
      });
    }
    // Node http and Express: (req, res, next).
    const req = a as NodeLikeRequest;
    const res = b as { statusCode: number; end(): void; headersSent?: boolean } | undefined;
    const next = typeof c === 'function' ? (c as (err?: unknown) => void) : undefined;
    withContext(
      resolve,
      nodeInfo(req),
      (ctx) => contextStorage.run(ctx, () => next?.()),
      (err) => {
        if (next !== undefined) next(err);
        else if (res !== undefined && !res.headersSent) {
          res.statusCode = 500;
          res.end();
        }
      },
    );
    return undefined;
  };
  // fastify-plugin's marker: the hooks apply to the whole app, not only to an encapsulated child.
  Object.defineProperty(middleware, Symbol.for('skip-override'), { value: true });
  Object.defineProperty(middleware, Symbol.for('fastify.display-name'), { value: 'larder' });
  return middleware;
}
