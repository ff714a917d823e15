/**
 * A real Sentinel group for tests: one master and one replica (both with `requirepass` and
 * `masterauth`) and three sentinels (with their own `requirepass`, which they also use between
 * themselves), on free ports. `down-after-milliseconds` is 1000 and the fail-over timeout short,
 * so killing the master promotes the replica in a few seconds.
 *
 * `stop()` kills every process and removes every directory; the processes are also SIGKILLed when
 * the test process exits, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { replicaCaughtUp } from './cluster.js';
import { freePort, startRedis, type RedisServer } from './redis-server.js';

export interface SentinelProcess {
  readonly host: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Runs one command against this sentinel through redis-cli (authenticated). */
  cli(...args: string[]): Promise<string>;
}

export interface SentinelGroup {
  /** The master group name sentinels monitor. */
  readonly name: string;
  /** requirepass / masterauth of the data nodes. */
  readonly password: string;
  /** requirepass of the sentinels. */
  readonly sentinelPassword: string;
  /** The two data nodes, the initial master first. Roles change after a fail-over. */
  readonly servers: RedisServer[];
  readonly sentinels: SentinelProcess[];
  /** `{ host, port }` of each sentinel, for ioredis' `sentinels`. */
  readonly sentinelAddresses: Array<{ host: string; port: number }>;
  /** The data node the sentinels currently name as master. */
  currentMaster(): Promise<RedisServer>;
  /**
   * SIGKILLs the current master and resolves once the sentinels name the replica as master and it
   * answers as one.
   */
  killMaster(opts?: { onKilled?: () => void }): Promise<{ killed: RedisServer; promoted: RedisServer }>;
  /** down-after-milliseconds of the group. */
  readonly downAfterMs: number;
  /** Restarts a killed data node; the sentinels turn it into a replica of the current master. */
  revive(server: RedisServer): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const liveSentinels = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of liveSentinels) p.kill('SIGKILL');
});

async function answers(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
    });
    sock.once('error', () => resolve(false));
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function cliAt(port: number, password: string, args: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', () => resolve(out));
  });
}

async function startSentinel(
  dir: string,
  masterName: string,
  masterPort: number,
  password: string,
  sentinelPassword: string,
): Promise<SentinelProcess> {
  const port = await freePort();
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'loglevel warning',
      `requirepass ${sentinelPassword}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      `sentinel auth-pass ${masterName} ${password}`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 3000`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  liveSentinels.add(child);
  child.once('exit', () => liveSentinels.delete(child));
  await until(`sentinel on ${port} starts`, 5000, async () => {
    if (child.exitCode !== null) throw new Error(`sentinel exited with code ${child.exitCode}`);
    return answers(port);
  });
  return {
    host: '127.0.0.1',
    port,
    process: child,
    cli: (...args) => cliAt(port, sentinelPassword, args),
  };
}

function field(reply: string, name: string): string | undefined {
  const lines = reply.split('\n').map((l) => l.trim());
  const i = lines.indexOf(name);
  return i >= 0 ? lines[i + 1] : undefined;
}

export async function startSentinelGroup(opts: { name?: string } = {}): Promise<SentinelGroup> {
  const name = opts.name ?? 'larder-master';
  const password = 'data-secret';
  const sentinelPassword = 'sentinel-secret';
  const dir = mkdtempSync(join(tmpdir(), 'larder-sentinel-'));
  const servers: RedisServer[] = [];
  const sentinels: SentinelProcess[] = [];
  const auth = ['--requirepass', password, '--masterauth', password];
  const stop = async () => {
    await Promise.all(
      sentinels.map(async (s) => {
        if (s.process.exitCode !== null || s.process.signalCode !== null) return;
        const exited = new Promise((r) => s.process.once('exit', r));
        s.process.kill('SIGKILL');
        await exited;
      }),
    );
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedis({ args: auth, password });
    servers.push(master);
    const replica = await startRedis({ args: [...auth, '--replicaof', master.host, String(master.port)], password });
    servers.push(replica);
    await until('the replica syncs', 10_000, async () =>
      (await replica.cli('INFO', 'replication')).includes('master_link_status:up'),
    );
    // A replica that just finished its first sync gets no writes until its first ACK (up to a
    // second later): write once and wait until the replica has it.
    await master.cli('SET', 'harness', '1');
    await until('the replica acknowledges', 10_000, async () => replicaCaughtUp(await master.cli('INFO', 'replication')));
    for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(dir, name, master.port, password, sentinelPassword));
    // A fail-over needs a quorum of sentinels that know each other and the replica (they learn
    // of each other through hello messages on the master, every 2 s).
    await until('the sentinels know each other and the replica', 20_000, async () => {
      const views = await Promise.all(sentinels.map((s) => s.cli('SENTINEL', 'MASTER', name)));
      return views.every((v) => field(v, 'num-other-sentinels') === '2' && field(v, 'num-slaves') === '1');
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const byPort = (port: number) => {
    const s = servers.find((x) => x.port === port);
    if (s === undefined) throw new Error(`no data node on port ${port}`);
    return s;
  };
  const namedMaster = async (): Promise<number> => {
    for (const s of sentinels) {
      const out = (await s.cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).trim().split('\n');
      if (out.length >= 2) return Number(out[1]);
    }
    throw new Error('no sentinel names a master');
  };

  return {
    name,
    password,
    sentinelPassword,
    downAfterMs: 1000,
    servers,
    sentinels,
    sentinelAddresses: sentinels.map((s) => ({ host: s.host, port: s.port })),
    currentMaster: async () => byPort(await namedMaster()),
    async killMaster(opts) {
      const killed = byPort(await namedMaster());
      const other = servers.find((s) => s !== killed)!;
      await until('the replica is in sync before the kill', 10_000, async () =>
        (await other.cli('INFO', 'replication')).includes('master_link_status:up'),
      );
      await killed.kill();
      opts?.onKilled?.();
      await until('the sentinels promote the replica', 30_000, async () => {
        const views = await Promise.all(
          sentinels.map(async (s) => Number((await s.cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).trim().split('\n')[1])),
        );
        return views.every((p) => p === other.port) && (await other.cli('ROLE')).startsWith('master');
      });
      return { killed, promoted: other };
    },
    async revive(server) {
      await server.restart();
      await until('the revived node replicates the new master', 20_000, async () =>
        (await server.cli('INFO', 'replication')).includes('master_link_status:up'),
      );
    },
    stop,
  };
}
