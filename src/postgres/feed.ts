/**
 * A PostgreSQL change feed (SPEC §16): rows changed by any writer invalidate their cached documents
 * (and everything else carrying their `doc:` tag, T2; invalidate.ts).
 *
 * ## The loop
 *
 * One connection (node-postgres `Client`) per feed, used for everything, one query at a time:
 *   connect → LISTEN on the feed's channel → find the position (in memory if this process was
 *   already reading; else the saved one; else "now") → read pages of the log and invalidate until a
 *   page comes back short → save the position → `'live'` → wait for a NOTIFY (or the poll timer,
 *   which also saves a heartbeat position and prunes when due) → read again.
 * If the connection drops (`pg_terminate_backend`, a restart, a network cut) the state is
 * `'disconnected'` and the loop reconnects with backoff; on return it reads from where it was
 * (CF2). A NOTIFY sent while it was away is lost and does not matter: the log is what it reads.
 * Health says `'live'` only after the backlog's invalidations are done, not merely read.
 *
 * ## Several processes, one feed
 *
 * Each process that runs the feed reads the whole log and invalidates in its own cache. With an
 * embedded store per process that is required (each has its own documents). Over one Redis it
 * repeats each store-level invalidation once per extra process: harmless (invalidate.ts explains
 * why: idempotent, never stale), and cheap next to a database write (one invalidateTags call per
 * namespace and log page, per process). The saved position is shared by name and only moves forward; it is what a
 * restarting process resumes from. A process that restarts lost its own in-process copies, and the
 * store-level work of the changes it missed was done by the others over a shared store (or its
 * embedded store is new): so resuming from the most advanced position is sound. Give feeds over
 * *different* shared stores different names.
 */
import type { Client, Notification } from 'pg';
import type { Cache } from '../cache.js';
import { LogQueries, type LogRow, type Position } from './cursor.js';
import { ddl, ident, installScript, qualified, validateSqlName, type WatchedTable } from './ddl.js';
import { tagInvalidator, type Invalidate, type Target } from './invalidate.js';

export type FeedHealth = 'starting' | 'catching-up' | 'live' | 'disconnected';

export interface ChangeFeedTable {
  /** The doctype of the table's rows (default: the table's name). */
  doctype?: string;
  /** The column holding the document's name (default: the table's one-column primary key). */
  name?: string;
  /** The table's schema (default: the connection's search path). */
  schema?: string;
  /** A column whose value is the row's namespace (tenant): `tenant_id` designs. */
  namespaceColumn?: string;
  /** Columns captured for the `namespace` function (default: the whole row when it is a function). */
  columns?: string[];
}

/** What a namespace function is told besides the row. */
export interface ChangeContext {
  readonly table: string;
  readonly doctype: string;
}

export interface PostgresChangeFeedOptions {
  connectionString: string;
  /** Watched tables: table name → doctype and name column. */
  tables: Record<string, ChangeFeedTable>;
  /**
   * The tenant of a change. A string: every row of this connection's database belongs to it (one
   * feed per tenant database, Frappe's site per database). A function: the namespace of a row (the
   * old row for DELETE; old and new rows for UPDATE, each invalidated). A table's
   * `namespaceColumn` wins over both. Default: the cache view's namespace.
   */
  namespace?: string | ((row: Readonly<Record<string, unknown>>, change: ChangeContext) => string);
  /**
   * The namespaces a wholesale invalidation (TRUNCATE, or a feed away past the retention) covers
   * when namespaces come from rows. Default: those of the table's current rows.
   */
  namespaces?: () => Iterable<string> | Promise<Iterable<string>>;
  /** The feed's identity for resuming (default: derived from the tables). */
  name?: string;
  /** How long the change log keeps entries, in seconds (CF3). Default 86,400. */
  retentionSec?: number;
  /** The schema of the change log and positions (default `larder`). */
  schema?: string;
  /** A read without a NOTIFY at least this often, in ms (default 5,000, capped at a quarter of the retention). */
  pollIntervalMs?: number;
  /** Prune the log this often, in seconds (default 300, capped at half the retention); 0: never (call prune()). */
  pruneEverySec?: number;
  /** Log rows per read (default 5,000). */
  batchSize?: number;
  /** Errors the feed recovers from (a lost connection, a failed invalidation). Default: a process warning. */
  onError?: (err: Error) => void;
}

const DEFAULT_RETENTION_SEC = 86_400;
const DEFAULT_POLL_MS = 5_000;
const DEFAULT_PRUNE_SEC = 300;
const DEFAULT_BATCH = 5_000;
const CONNECT_TIMEOUT_MS = 10_000;
const KEEPALIVE_MS = 10_000;
const QUERY_TIMEOUT_MS = 30_000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 2_000;

type PgModule = typeof import('pg');

async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    return mod.default ?? mod;
  } catch (err) {
    throw new Error('larder-cache/postgres needs the "pg" package: npm install pg', { cause: err });
  }
}

/** PostgreSQL's undefined_table / invalid_schema_name: the DDL was never run on this database. */
function notInstalled(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '42P01' || code === '3F000';
}

function isObjectLike(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveNumber(v: unknown, what: string, fallback: number, allowZero = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new TypeError(`${what} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return v;
}

function resolveTables(tables: unknown, fnNamespace: boolean): WatchedTable[] {
  if (!isObjectLike(tables) || Object.keys(tables).length === 0) {
    throw new TypeError('tables must be an object naming at least one table: { tabItem: { doctype: "Item" } }');
  }
  return Object.entries(tables).map(([table, spec]) => {
    validateSqlName(table, 'table name');
    if (!isObjectLike(spec)) throw new TypeError(`tables.${table} must be an object`);
    const { doctype, name, schema, namespaceColumn, columns } = spec as ChangeFeedTable;
    if (doctype !== undefined && (typeof doctype !== 'string' || doctype === '')) throw new TypeError(`tables.${table}.doctype must be a non-empty string`);
    if (name !== undefined) validateSqlName(name, `tables.${table}.name`);
    if (schema !== undefined) validateSqlName(schema, `tables.${table}.schema`);
    if (namespaceColumn !== undefined) validateSqlName(namespaceColumn, `tables.${table}.namespaceColumn`);
    if (columns !== undefined) {
      if (!Array.isArray(columns)) throw new TypeError(`tables.${table}.columns must be an array of column names`);
      for (const c of columns as unknown[]) validateSqlName(c, `tables.${table}.columns[]`);
    }
    let capture: string[] | null;
    if (columns !== undefined || namespaceColumn !== undefined) {
      capture = [...new Set([...(namespaceColumn === undefined ? [] : [namespaceColumn]), ...(columns ?? [])])];
    } else {
      capture = fnNamespace ? null : [];
    }
    return {
      table,
      schema: schema ?? null,
      doctype: doctype ?? table,
      nameColumn: name ?? null,
      capture,
      namespaceColumn: namespaceColumn ?? null,
    };
  });
}

interface Table extends WatchedTable {
  readonly namespaceColumn: string | null;
}

function sleep(ms: number, signal: { wake?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

export class PostgresChangeFeed {
  readonly #cache: Cache;
  readonly #connectionString: string;
  readonly #tables: Table[];
  readonly #byLabel: Map<string, Table>;
  readonly #namespace: PostgresChangeFeedOptions['namespace'];
  readonly #namespaces: PostgresChangeFeedOptions['namespaces'];
  readonly #name: string;
  readonly #schema: string;
  readonly #channel: string;
  readonly #retentionSec: number;
  readonly #pollMs: number;
  readonly #pruneMs: number;
  readonly #heartbeatMs: number;
  readonly #batch: number;
  readonly #onError: (err: Error) => void;
  readonly #queries: LogQueries;
  readonly #invalidate: Invalidate;

  #health: FeedHealth = 'starting';
  #running: Promise<void> | null = null;
  #stopped = false;
  #client: Client | null = null;
  /** This process's own position, kept across reconnects (null until the first read). */
  #position: Position | null = null;
  /** Date.now() of the read that produced #position. */
  #positionAt = 0;
  #savedAt = 0;
  #prunedAt = 0;
  #dirty = false;
  #waiter: { wake?: () => void } = {};
  #liveWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  /** @internal Use postgresChangeFeed(). */
  constructor(cache: Cache, opts: PostgresChangeFeedOptions, invalidate?: Invalidate) {
    if (!isObjectLike(opts)) throw new TypeError('postgresChangeFeed(cache, { connectionString, tables }) needs options');
    if (typeof opts.connectionString !== 'string' || opts.connectionString === '') throw new TypeError('connectionString must be a non-empty string');
    const ns = opts.namespace;
    if (ns !== undefined && typeof ns !== 'function' && (typeof ns !== 'string' || ns === '')) {
      throw new TypeError('namespace must be a non-empty string or a function of the row');
    }
    if (opts.namespaces !== undefined && typeof opts.namespaces !== 'function') throw new TypeError('namespaces must be a function');
    if (opts.onError !== undefined && typeof opts.onError !== 'function') throw new TypeError('onError must be a function');
    const schema = opts.schema ?? 'larder';
    validateSqlName(schema, 'schema');
    if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name === '')) throw new TypeError('name must be a non-empty string');
    this.#cache = cache;
    this.#connectionString = opts.connectionString;
    this.#tables = resolveTables(opts.tables, typeof ns === 'function') as Table[];
    this.#byLabel = new Map(this.#tables.map((t) => [t.table, t]));
    this.#namespace = ns;
    this.#namespaces = opts.namespaces;
    this.#name = opts.name ?? `tables:${this.#tables.map((t) => `${t.schema ?? ''}.${t.table}`).sort().join(',')}`;
    this.#schema = schema;
    this.#channel = `larder_cf_${schema}`.slice(0, 63);
    this.#retentionSec = positiveNumber(opts.retentionSec, 'retentionSec', DEFAULT_RETENTION_SEC);
    const quarter = (this.#retentionSec * 1000) / 4;
    this.#pollMs = Math.min(positiveNumber(opts.pollIntervalMs, 'pollIntervalMs', DEFAULT_POLL_MS), quarter);
    this.#heartbeatMs = Math.min(60_000, quarter);
    const prune = positiveNumber(opts.pruneEverySec, 'pruneEverySec', DEFAULT_PRUNE_SEC, true);
    this.#pruneMs = prune === 0 ? 0 : Math.min(prune * 1000, (this.#retentionSec * 1000) / 2);
    this.#batch = Math.floor(positiveNumber(opts.batchSize, 'batchSize', DEFAULT_BATCH));
    this.#onError = opts.onError ?? ((err) => process.emitWarning(err));
    this.#queries = new LogQueries(ident(schema), schema);
    this.#invalidate = invalidate ?? tagInvalidator(cache);
  }

  /** The feed's identity: the saved position is under this name. */
  get name(): string {
    return this.#name;
  }

  /** The DDL `install()` runs (idempotent), for migration tools: no BEGIN/COMMIT of its own. */
  sql(): string {
    return ddl(this.#plan());
  }

  #plan() {
    return { schema: this.#schema, channel: this.#channel, tables: this.#tables };
  }

  /** Creates (or updates) the change log, the positions table and the triggers. Idempotent. */
  async install(): Promise<void> {
    const pg = await loadPg();
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: 'larder-feed-install' });
    await client.connect();
    try {
      await client.query(installScript(this.#plan()));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.end();
    }
  }

  /** 'starting' | 'catching-up' | 'live' | 'disconnected' (CF2). */
  health(): FeedHealth {
    return this.#health;
  }

  /**
   * Starts reading. Resolves once the feed is first `'live'` (the backlog invalidated); while
   * PostgreSQL cannot be reached it keeps trying (health `'disconnected'`). stop() rejects it.
   */
  start(): Promise<void> {
    if (this.#running === null) {
      this.#stopped = false;
      this.#health = 'starting';
    }
    const live = new Promise<void>((resolve, reject) => {
      if (this.#health === 'live') resolve();
      else this.#liveWaiters.push({ resolve, reject });
    });
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return live;
  }

  /** Stops reading and closes the connection. The position stays for the next start(), here or elsewhere. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#waiter.wake?.();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
    await this.#running;
    this.#health = 'disconnected';
    for (const w of this.#liveWaiters.splice(0)) w.reject(new Error('the change feed stopped before it was live'));
  }

  /**
   * Deletes what the retention lets go (CF3). The feed does it on its own every `pruneEverySec`;
   * this is for a cron job. Resolves to the rows deleted (null: another process was pruning).
   */
  async prune(): Promise<number | null> {
    const pg = await loadPg();
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: 'larder-feed-prune' });
    await client.connect();
    try {
      return await this.#queries.prune(client, this.#retentionSec);
    } finally {
      await client.end();
    }
  }

  #report(err: unknown): void {
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A throwing error handler must not stop the feed.
    }
  }

  // Read through methods: the loop awaits between checks, and stop() or a NOTIFY may change them.
  #isStopped(): boolean {
    return this.#stopped;
  }

  #isDirty(): boolean {
    return this.#dirty;
  }

  async #run(): Promise<void> {
    const pg = await loadPg().catch((err: unknown) => {
      this.#report(err);
      return null;
    });
    if (pg === null) {
      for (const w of this.#liveWaiters.splice(0)) w.reject(new Error('larder-cache/postgres needs the "pg" package'));
      return;
    }
    let backoff = BACKOFF_MIN_MS;
    while (!this.#stopped) {
      const client = new pg.Client({
        connectionString: this.#connectionString,
        application_name: `larder-feed:${this.#name}`.slice(0, 63),
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        // A connection that silently stopped answering (a NAT or proxy idle timeout) must surface
        // as an error, or the feed would wait on it forever while claiming to be live.
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_MS,
        query_timeout: QUERY_TIMEOUT_MS,
      });
      let broken: Error | null = null;
      const onBroken = (err?: Error) => {
        broken ??= err ?? new Error('the change feed connection ended');
        this.#waiter.wake?.();
      };
      client.on('error', onBroken);
      client.on('end', () => onBroken());
      client.on('notification', (_n: Notification) => {
        this.#dirty = true;
        this.#waiter.wake?.();
      });
      this.#client = client;
      try {
        await client.connect();
        await client.query(`LISTEN ${ident(this.#channel)}`);
        if (this.#isStopped()) break;
        this.#health = 'catching-up';
        await this.#session(client, () => broken);
      } catch (err) {
        if (!this.#isStopped()) this.#report(notInstalled(err) ? new Error(`the change log is missing: run feed.install() (or feed.sql() in a migration) first`, { cause: err }) : err);
      } finally {
        client.removeAllListeners('notification');
        await client.end().catch(() => undefined);
        client.on('error', () => undefined);
      }
      if (this.#isStopped()) break;
      if (this.health() === 'live') backoff = BACKOFF_MIN_MS;
      this.#health = 'disconnected';
      await sleep(backoff, this.#waiter);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }

  /** One connection's life: find the position, drain, then wait and drain until it breaks. */
  async #session(client: Client, broken: () => Error | null): Promise<void> {
    await this.#findPosition(client);
    for (;;) {
      this.#dirty = false;
      await this.#drain(client);
      if (this.#health !== 'live') {
        this.#health = 'live';
        for (const w of this.#liveWaiters.splice(0)) w.resolve();
      }
      const now = Date.now();
      if (now - this.#savedAt >= this.#heartbeatMs) await this.#save(client);
      if (this.#pruneMs > 0 && now - this.#prunedAt >= this.#pruneMs) {
        this.#prunedAt = now;
        await this.#queries.prune(client, this.#retentionSec);
      }
      const err = broken();
      if (err !== null) throw err;
      if (this.#isStopped()) return;
      if (!this.#isDirty()) await sleep(this.#pollMs, this.#waiter);
      const after = broken();
      if (after !== null) throw after;
      if (this.#isStopped()) return;
    }
  }

  async #findPosition(client: Client): Promise<void> {
    const retentionMs = this.#retentionSec * 1000;
    if (this.#position !== null && Date.now() - this.#positionAt <= retentionMs) return;
    let stale = this.#position !== null;
    if (!stale) {
      const saved = await this.#queries.resume(client, this.#name, this.#retentionSec);
      if (saved !== null && !saved.stale) {
        this.#position = saved.position;
        this.#positionAt = Date.now();
        return;
      }
      stale = saved !== null;
    }
    // A new feed starts from now. A stale one (away past the retention: the log may have been
    // pruned past it) also starts from now, but first takes "now" and then invalidates its doctypes
    // wholesale, so a change made during that is still read afterwards (CF3).
    this.#position = await this.#queries.head(client);
    this.#positionAt = Date.now();
    if (stale) {
      for (const t of this.#tables) await this.#wholesale(client, t);
    }
    await this.#save(client);
  }

  async #save(client: Client): Promise<void> {
    if (this.#position === null) return;
    await this.#queries.save(client, this.#name, this.#position);
    this.#savedAt = Date.now();
  }

  async #drain(client: Client): Promise<void> {
    for (;;) {
      const from = this.#position;
      if (from === null) throw new Error('the change feed read before it had a position');
      const page = await this.#queries.read(client, from, this.#batch);
      await this.#apply(client, page.rows);
      this.#position = page.position;
      this.#positionAt = Date.now();
      if (page.rows.length > 0) await this.#save(client);
      if (!page.full || this.#isStopped()) return;
    }
  }

  #namespaceOf(t: Table, row: Readonly<Record<string, unknown>> | null): string {
    if (t.namespaceColumn !== null) {
      const v = row?.[t.namespaceColumn];
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number' || typeof v === 'bigint') return String(v);
      return this.#fixedNamespace();
    }
    const ns = this.#namespace;
    if (typeof ns === 'function') {
      const got = ns(row ?? {}, { table: t.table, doctype: t.doctype });
      if (typeof got !== 'string' || got === '') throw new TypeError(`namespace(row) returned ${JSON.stringify(got)} for a row of ${t.table}`);
      return got;
    }
    return this.#fixedNamespace();
  }

  #fixedNamespace(): string {
    return typeof this.#namespace === 'string' ? this.#namespace : this.#cache.namespace;
  }

  async #apply(client: Client, rows: LogRow[]): Promise<void> {
    const byNamespace = new Map<string, Target[]>();
    const whole = new Set<Table>();
    for (const r of rows) {
      const t = this.#byLabel.get(r.tbl);
      // Another feed's table in the same log: not ours.
      if (t === undefined) continue;
      if (r.doc_name === null) {
        whole.add(t);
        continue;
      }
      let ns: string;
      try {
        ns = this.#namespaceOf(t, r.doc_row);
      } catch (err) {
        this.#report(err);
        continue;
      }
      let list = byNamespace.get(ns);
      if (list === undefined) byNamespace.set(ns, (list = []));
      list.push({ doctype: t.doctype, name: r.doc_name });
    }
    for (const t of whole) await this.#wholesale(client, t);
    // A failure here (the store refusing under onStoreError 'throw') ends the session before the
    // position moves: the page is read and applied again after the reconnect.
    const report = (err: Error) => this.#report(err);
    await Promise.all([...byNamespace].map(([ns, targets]) => this.#invalidate(ns, targets, report)));
  }

  /** Invalidates a table's doctype in every namespace it may have (TRUNCATE, retention fallback). */
  async #wholesale(client: Client, t: Table): Promise<void> {
    const report = (err: Error) => this.#report(err);
    for (const ns of await this.#namespacesOf(client, t)) await this.#invalidate(ns, [{ doctype: t.doctype, name: null }], report);
  }

  async #namespacesOf(client: Client, t: Table): Promise<Set<string>> {
    const out = new Set<string>();
    if (t.namespaceColumn === null && typeof this.#namespace !== 'function') {
      out.add(this.#fixedNamespace());
      return out;
    }
    if (this.#namespaces !== undefined) {
      for (const ns of await this.#namespaces()) out.add(ns);
      return out;
    }
    // The namespaces of the rows there now. A tenant whose rows are all gone is not found: give
    // `namespaces` when that matters.
    if (t.namespaceColumn !== null) {
      const { rows } = await client.query<{ ns: unknown }>(`SELECT DISTINCT ${ident(t.namespaceColumn)} AS ns FROM ${qualified(t)}`);
      for (const r of rows) out.add(this.#namespaceOf(t, { [t.namespaceColumn]: r.ns }));
    } else {
      const expr = t.capture === null ? 'to_jsonb(r)' : `jsonb_build_object(${t.capture.map((c) => `'${c.replaceAll("'", "''")}', r.${ident(c)}`).join(', ')})`;
      const { rows } = await client.query<{ row: Record<string, unknown> }>(`SELECT DISTINCT ${expr} AS row FROM ${qualified(t)} r`);
      for (const r of rows) {
        try {
          out.add(this.#namespaceOf(t, r.row));
        } catch (err) {
          this.#report(err);
        }
      }
    }
    out.add(this.#fixedNamespace());
    return out;
  }
}
