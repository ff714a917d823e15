/**
 * The DDL a change feed needs (CF1), as text: `install()` runs it (in one transaction), `sql()`
 * returns it for migration tools (without BEGIN/COMMIT: the tool has its own transaction).
 * Idempotent: every statement can run again over an earlier install.
 *
 * ## What it creates, in the feed's schema (default `larder`)
 *
 *   change_log      one row per document a committed statement touched: id (an identity sequence,
 *                   cache 1, so ids grow in the order they are drawn), xid (the writing transaction,
 *                   `pg_current_xact_id()`), at (the transaction's start), tbl (the watched table, as
 *                   the options name it), doc_name (the row's name column as text; NULL for a
 *                   TRUNCATE: the whole table), doc_row (the captured columns, or NULL)
 *   feed_position   where each feed (by name) has got to: the last id it read and the snapshot of
 *                   that read (see cursor.ts for why both)
 *   capture_<hash>  one trigger function per watched table, fired once per statement (transition
 *                   tables, not a trigger per row: a 10,000-row UPDATE is one INSERT … SELECT into
 *                   the log) and once per TRUNCATE; it ends with one NOTIFY on the feed's channel.
 *                   NOTIFY is only the wake-up: it is delivered at commit (never for a rollback) and
 *                   lost by a listener that is away; the log is what a feed reads.
 *
 * The name column defaults to the table's primary key, looked up when the DDL runs (a DO block),
 * so the text does not depend on a live connection. PostgreSQL 13 or later (xid8, pg_snapshot).
 */
import { createHash } from 'node:crypto';

/** One watched table, resolved from the feed options. */
export interface WatchedTable {
  /** The table's name as the options give it (its key in `tables`): what the log's `tbl` holds. */
  readonly table: string;
  /** The table's schema, or null for the search path. */
  readonly schema: string | null;
  readonly doctype: string;
  /** The column whose value is the document's name; null: the primary key. */
  readonly nameColumn: string | null;
  /** The columns captured into `doc_row`; null: the whole row; []: none. */
  readonly capture: readonly string[] | null;
}

export interface DdlPlan {
  readonly schema: string;
  readonly channel: string;
  readonly tables: readonly WatchedTable[];
}

/** `"ident"`, with embedded quotes doubled. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `'text'`, with embedded quotes doubled (standard_conforming_strings is on since 9.1). */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The table as SQL: `"schema"."table"` or `"table"`. */
export function qualified(t: Pick<WatchedTable, 'schema' | 'table'>): string {
  return t.schema === null ? ident(t.table) : `${ident(t.schema)}.${ident(t.table)}`;
}

/**
 * Names that go inside the DDL's dollar-quoted bodies must not hold `$` (it could end a body
 * early) or NUL (PostgreSQL refuses it). Everything else is quoted, so any other character is fine.
 */
export function validateSqlName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || name === '' || name.includes('$') || name.includes('\u0000') || Buffer.byteLength(name) > 63) {
    throw new TypeError(`${what} must be a non-empty identifier of at most 63 bytes without "$" or NUL: ${JSON.stringify(name)}`);
  }
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The trigger function of one table (schema-qualified): stable across installs. */
function captureFunction(schema: string, t: WatchedTable): string {
  return `${ident(schema)}.${ident(`capture_${hashOf(`${t.schema ?? ''}\u0000${t.table}`)}`)}`;
}

/** What goes into doc_row for a row aliased `r`. */
function rowExpression(capture: readonly string[] | null): string {
  if (capture === null) return 'to_jsonb(r)';
  if (capture.length === 0) return 'NULL::jsonb';
  return `jsonb_build_object(${capture.map((c) => `${literal(c)}, r.${ident(c)}`).join(', ')})`;
}

/** Where the name column goes in the trigger body; format()'s `%1$I` replaces it when the DDL runs. */
const NAME_SLOT = '\u0001name\u0001';

/** format() reads `%` as a directive: text spliced into its pattern doubles them. */
function forFormat(text: string): string {
  return text.replaceAll('%', '%%');
}

function tableDdl(plan: DdlPlan, t: WatchedTable): string {
  const s = ident(plan.schema);
  const log = `${s}.change_log`;
  const fn = captureFunction(plan.schema, t);
  const label = literal(t.table);
  const row = rowExpression(t.capture);
  // Trigger names carry the schema so that two feeds (two schemas) can watch one table.
  const trig = (op: string) => ident(`larder_${plan.schema}_${op}`);
  const select = (from: string) => `SELECT ${label}, r.${NAME_SLOT}::text, ${row} FROM ${from} r`;
  const body = `
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${log} (tbl, doc_name, doc_row) ${select('larder_new')};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO ${log} (tbl, doc_name, doc_row) ${select('larder_old')};
  ELSIF TG_OP = 'UPDATE' THEN
    -- Old and new versions both: a rename or a move between tenants invalidates both (UNION drops
    -- the copy when nothing captured changed).
    INSERT INTO ${log} (tbl, doc_name, doc_row) ${select('larder_old')} UNION ${select('larder_new')};
  ELSE
    INSERT INTO ${log} (tbl, doc_name, doc_row) VALUES (${label}, NULL, NULL);
  END IF;
  PERFORM pg_notify(${literal(plan.channel)}, '');
  RETURN NULL;
END
$body$`;
  const target = qualified(t);
  return `
DO $larder$
DECLARE
  target regclass := to_regclass(${literal(target)});
  key text := ${t.nameColumn === null ? 'NULL' : literal(t.nameColumn)};
  n int;
BEGIN
  IF target IS NULL THEN
    RAISE EXCEPTION 'larder change feed: table % does not exist', ${literal(target)};
  END IF;
  IF key IS NULL THEN
    SELECT min(a.attname), count(*) INTO key, n
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = target AND i.indisprimary;
    IF n <> 1 THEN
      RAISE EXCEPTION 'larder change feed: table % needs a one-column primary key, or the name option', ${literal(target)};
    END IF;
  END IF;
  EXECUTE format($fmt$${forFormat(body).replaceAll(NAME_SLOT, () => '%1$I')}$fmt$, key);
END
$larder$;
DROP TRIGGER IF EXISTS ${trig('ins')} ON ${target};
DROP TRIGGER IF EXISTS ${trig('upd')} ON ${target};
DROP TRIGGER IF EXISTS ${trig('del')} ON ${target};
DROP TRIGGER IF EXISTS ${trig('trunc')} ON ${target};
CREATE TRIGGER ${trig('ins')} AFTER INSERT ON ${target} REFERENCING NEW TABLE AS larder_new FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
CREATE TRIGGER ${trig('upd')} AFTER UPDATE ON ${target} REFERENCING OLD TABLE AS larder_old NEW TABLE AS larder_new FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
CREATE TRIGGER ${trig('del')} AFTER DELETE ON ${target} REFERENCING OLD TABLE AS larder_old FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
CREATE TRIGGER ${trig('trunc')} AFTER TRUNCATE ON ${target} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
`;
}

/**
 * The whole DDL, without a transaction around it (a migration tool brings its own); install()
 * runs it inside one, under an advisory lock so two installs at once do not collide.
 */
export function ddl(plan: DdlPlan): string {
  const s = ident(plan.schema);
  return `-- larder change feed (SPEC §16): change log, feed positions, capture triggers. Idempotent.
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.change_log (
  id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1) PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  at timestamptz NOT NULL DEFAULT now(),
  tbl text NOT NULL,
  doc_name text,
  doc_row jsonb
);
CREATE INDEX IF NOT EXISTS change_log_xid ON ${s}.change_log (xid);
CREATE TABLE IF NOT EXISTS ${s}.feed_position (
  name text PRIMARY KEY,
  last_id bigint NOT NULL,
  snap pg_snapshot NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
${plan.tables.map((t) => tableDdl(plan, t)).join('')}`;
}

/** ddl() as install() runs it: one transaction, one installer at a time. */
export function installScript(plan: DdlPlan): string {
  return `BEGIN;
SELECT pg_advisory_xact_lock(hashtext(${literal(`larder-cf-install:${plan.schema}`)}));
${ddl(plan)}
COMMIT;
`;
}
