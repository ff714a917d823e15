/**
 * Reading the change log without skipping a late commit (CF2), resuming, and pruning (CF3).
 *
 * ## Why an id alone is not a position
 *
 * Log ids are drawn when a row is written, not when its transaction commits. Transaction A draws
 * id 10, B draws 11 and commits; a reader sees 11 and would remember "up to 11"; then A commits and
 * its row 10 lands behind the reader for good. So a position is a pair (lastId, snapshot): the
 * highest id read, and the `pg_current_snapshot()` of the very statement that read it. A log row
 * has been read exactly when `id <= lastId` and its transaction was visible in that snapshot
 * (`pg_visible_in_snapshot`: finished before the snapshot, i.e. committed, as aborted rows do not
 * exist). Every row still to come is therefore either
 *   - `id > lastId` (the usual case: ids are drawn in order, CACHE 1), or
 *   - `id <= lastId` from a transaction the snapshot saw running (in its xip list, or at or above its
 *     xmax): a late commit. Those rows have `xid >= pg_snapshot_xmin(snapshot)`, which the xid index
 *     finds without reading the log from its start.
 * One statement reads both sets and takes the new snapshot, so they agree; the new position is
 * (highest id read, that snapshot). A page cut short by LIMIT gives a valid position too: the rows
 * above its last id are simply still `id > lastId`. Each row is read once by a running feed; a
 * position saved a little late (a crash between invalidating and saving) replays a few rows, and
 * replaying an invalidation is harmless.
 *
 * The cost: while a long transaction is open anywhere on the server, xmin stays behind, and the
 * late-commit half of each read filters every row written since it began (by index, still).
 *
 * ## Pruning and the retention fallback (CF3)
 *
 * `prune()` deletes rows older than the retention that every *fresh* position (saved within the
 * retention) has read: `id <= lastId` and `xid < xmin(snapshot)`, the conservative half of "read".
 * A position older than the retention is stale: pruning no longer waits for it, and a feed that
 * resumes from it invalidates its doctypes wholesale instead (`resume()` says so). Resuming and
 * pruning take the same advisory lock, and resuming refreshes the position's time under it, so a
 * prune never races a feed that has just found its position fresh. A feed that runs saves its
 * position (a heartbeat) well within the retention even when nothing changes.
 */

import type { ClientBase } from 'pg';

/** A node-postgres client (only its query() is used). */
export type Queryable = Pick<ClientBase, 'query'>;

export interface Position {
  /** Highest log id read (a bigint, kept as its decimal text). */
  readonly lastId: string;
  /** The pg_snapshot, as text, of the statement that read it. */
  readonly snapshot: string;
}

export interface LogRow {
  readonly id: string;
  readonly tbl: string;
  readonly doc_name: string | null;
  readonly doc_row: Record<string, unknown> | null;
}

export interface Page {
  readonly rows: LogRow[];
  readonly position: Position;
  /** The LIMIT was reached: more rows may be waiting. */
  readonly full: boolean;
}

export class LogQueries {
  readonly #log: string;
  readonly #positions: string;
  readonly #lockKey: string;

  /** `schema` is the quoted identifier of the feed's schema. */
  constructor(schema: string, rawSchema: string) {
    this.#log = `${schema}.change_log`;
    this.#positions = `${schema}.feed_position`;
    this.#lockKey = `larder-cf-prune:${rawSchema}`;
  }

  /** The position of "now": everything committed so far counts as read. */
  async head(db: Queryable): Promise<Position> {
    const { rows } = await db.query<{ last_id: string; snap: string }>(
      `SELECT coalesce(max(id), 0)::text AS last_id, pg_current_snapshot()::text AS snap FROM ${this.#log}`,
    );
    const r = rows[0]!;
    return { lastId: r.last_id, snapshot: r.snap };
  }

  /** The next rows after `from`: late commits below it, then up to `limit` new ones, in one statement. */
  async read(db: Queryable, from: Position, limit: number): Promise<Page> {
    const { rows } = await db.query<{ snap: string; kind: string | null; id: string | null; tbl: string; doc_name: string | null; doc_row: Record<string, unknown> | null }>(
      `SELECT s.snap::text AS snap, c.kind, c.id::text AS id, c.tbl, c.doc_name, c.doc_row
         FROM (SELECT pg_current_snapshot() AS snap) s
         LEFT JOIN LATERAL (
           (SELECT 'late' AS kind, id, tbl, doc_name, doc_row FROM ${this.#log}
             WHERE id <= $1::bigint AND xid >= pg_snapshot_xmin($2::pg_snapshot)
               AND NOT pg_visible_in_snapshot(xid, $2::pg_snapshot))
           UNION ALL
           (SELECT 'new' AS kind, id, tbl, doc_name, doc_row FROM ${this.#log}
             WHERE id > $1::bigint ORDER BY id LIMIT $3)
         ) c ON true`,
      [from.lastId, from.snapshot, limit],
    );
    const snapshot = rows[0]!.snap;
    let lastId = BigInt(from.lastId);
    let fresh = 0;
    const out: LogRow[] = [];
    for (const r of rows) {
      if (r.id === null) continue;
      out.push({ id: r.id, tbl: r.tbl, doc_name: r.doc_name, doc_row: r.doc_row });
      if (r.kind === 'new') {
        fresh++;
        const id = BigInt(r.id);
        if (id > lastId) lastId = id;
      }
    }
    return { rows: out, position: { lastId: lastId.toString(), snapshot }, full: fresh >= limit };
  }

  /**
   * The saved position of `name`, refreshed, and whether it is older than the retention (the log
   * may have been pruned past it: the caller invalidates wholesale). `null`: never saved (a new feed
   * starts from `head()`).
   */
  async resume(db: Queryable, name: string, retentionSec: number): Promise<{ position: Position; stale: boolean } | null> {
    await db.query('BEGIN');
    try {
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.#lockKey]);
      const { rows } = await db.query<{ last_id: string; snap: string; stale: boolean }>(
        `UPDATE ${this.#positions} p SET updated_at = now() FROM ${this.#positions} o
          WHERE p.name = $1 AND o.name = p.name
          RETURNING p.last_id::text AS last_id, p.snap::text AS snap, o.updated_at < now() - make_interval(secs => $2) AS stale`,
        [name, retentionSec],
      );
      await db.query('COMMIT');
      const r = rows[0];
      return r === undefined ? null : { position: { lastId: r.last_id, snapshot: r.snap }, stale: r.stale };
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Saves `position` for `name`. Never moves a saved position back: several processes may run the
   * same feed, and a slower one must not make a restart replay (or let pruning keep) more than needed.
   */
  async save(db: Queryable, name: string, position: Position): Promise<void> {
    await db.query(
      `INSERT INTO ${this.#positions} AS p (name, last_id, snap, updated_at) VALUES ($1, $2::bigint, $3::pg_snapshot, now())
       ON CONFLICT (name) DO UPDATE SET
         last_id = CASE WHEN EXCLUDED.last_id >= p.last_id THEN EXCLUDED.last_id ELSE p.last_id END,
         snap = CASE WHEN EXCLUDED.last_id >= p.last_id THEN EXCLUDED.snap ELSE p.snap END,
         updated_at = now()`,
      [name, position.lastId, position.snapshot],
    );
  }

  /**
   * Deletes what the retention lets go (see the header). Returns how many log rows went, or null
   * when another process was pruning at that moment.
   */
  async prune(db: Queryable, retentionSec: number): Promise<number | null> {
    await db.query('BEGIN');
    try {
      const { rows: got } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok', [this.#lockKey]);
      if (got[0]?.ok !== true) {
        await db.query('ROLLBACK');
        return null;
      }
      const res = await db.query(
        `WITH fresh AS (
           SELECT last_id, pg_snapshot_xmin(snap) AS xmin FROM ${this.#positions}
            WHERE updated_at >= now() - make_interval(secs => $1)
         )
         DELETE FROM ${this.#log}
          WHERE at < now() - make_interval(secs => $1)
            AND id <= coalesce((SELECT min(last_id) FROM fresh), 9223372036854775807)
            AND xid < coalesce((SELECT xmin FROM fresh ORDER BY xmin LIMIT 1), pg_snapshot_xmin(pg_current_snapshot()))`,
        [retentionSec],
      );
      await db.query('COMMIT');
      return res.rowCount ?? 0;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
}
