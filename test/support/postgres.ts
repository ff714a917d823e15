/**
 * A PostgreSQL for the change-feed tests: the one on 127.0.0.1:5432 when it answers (trust auth),
 * else a private server started with initdb/pg_ctl on a free port in a temporary directory (as the
 * `postgres` user when the tests run as root: initdb refuses root). `.ci/run` installs the
 * `postgresql` package when no binaries exist.
 *
 * Every test takes a fresh database (`freshDatabase()`), dropped afterwards, so parallel test files
 * and parallel runs never see each other's tables, triggers or change logs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './redis-server.js';

export interface Postgres {
  readonly host: string;
  readonly port: number;
  /** A connection string to `database`. */
  url(database: string): string;
  /** Creates a new, empty database and returns its name; dropped by `dropAll()`. */
  freshDatabase(): Promise<string>;
  /** Runs SQL through the `psql` command-line client, as a DBA would (the stdout). */
  psql(database: string, sql: string): Promise<string>;
  /** Runs one statement on the `postgres` database (ALTER DATABASE, pg_terminate_backend). */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Drops the databases made here, and stops the server if this harness started it. */
  dropAll(): Promise<void>;
}

const USER = 'postgres';

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(root, versions[0], 'bin');
}

/** Runs a server binary, as the postgres user when we are root. */
function runAs(bin: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'runuser' : bin;
  const argv = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  const res = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${res.stderr || res.stdout}`);
}

async function startOwn(): Promise<{ port: number; stop: () => void }> {
  const bin = binDir();
  if (bin === null) throw new Error('no PostgreSQL on 127.0.0.1:5432 and no binaries under /usr/lib/postgresql: install postgresql (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'larder-pg-'));
  chmodSync(dir, 0o777);
  if (process.getuid?.() === 0) spawnSync('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  const port = await freePort();
  runAs(join(bin, 'initdb'), ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--no-sync']);
  runAs(join(bin, 'pg_ctl'), ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const stop = () => {
    try {
      runAs(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once('exit', () => {
    try {
      stop();
    } catch {
      // already stopped
    }
  });
  return { port, stop };
}

export async function usePostgres(): Promise<Postgres> {
  const host = '127.0.0.1';
  let port = 5432;
  let stop: (() => void) | null = null;
  // LARDER_TEST_OWN_POSTGRES=1 skips the running server (to try the initdb path on a machine that has one).
  const useRunning = process.env.LARDER_TEST_OWN_POSTGRES !== '1';
  if (!useRunning || (!(await answers(`postgres://${USER}@${host}:5432/test`)) && !(await answers(`postgres://${USER}@${host}:5432/postgres`)))) {
    const own = await startOwn();
    port = own.port;
    stop = own.stop;
  }
  const url = (database: string) => `postgres://${USER}@${host}:${port}/${database}`;
  const made: string[] = [];
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    host,
    port,
    url,
    async freshDatabase() {
      const name = `larder_cf_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      made.push(name);
      return name;
    },
    psql(database, sql) {
      return new Promise((resolve, reject) => {
        execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', USER, '-d', database, '-c', sql], (err, stdout, stderr) => {
          if (err) reject(new Error(`psql failed: ${stderr}`, { cause: err }));
          else resolve(stdout);
        });
      });
    },
    admin(sql, params) {
      return admin((c) => c.query(sql, params));
    },
    async dropAll() {
      await admin(async (c) => {
        for (const name of made.splice(0)) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      stop?.();
    },
  };
}
