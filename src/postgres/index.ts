// The public entry of `larder-cache/postgres` (SPEC §16): database change feeds. `pg` is an
// optional peer dependency, loaded only when a feed installs, starts or prunes.
import type { Cache } from '../cache.js';
import { PostgresChangeFeed, type PostgresChangeFeedOptions } from './feed.js';

export { PostgresChangeFeed } from './feed.js';
export type { ChangeContext, ChangeFeedTable, FeedHealth, PostgresChangeFeedOptions } from './feed.js';

/** A feed that invalidates `cache`'s documents when rows of `tables` change, by any writer (CF1–CF3). */
export function postgresChangeFeed(cache: Cache, opts: PostgresChangeFeedOptions): PostgresChangeFeed {
  return new PostgresChangeFeed(cache, opts);
}
