/**
 * A real Redis Cluster for tests: six redis-server processes (three masters, three replicas) on
 * free ports, joined with `redis-cli --cluster create --cluster-replicas 1`, with a short node
 * timeout so that a killed master's replica takes over in about two seconds.
 *
 * Every process and temporary directory is removed by `stop()`, and the processes are SIGKILLed
 * when the test process exits whatever happened (redis-server.ts registers them). Bus ports are
 * chosen explicitly (`cluster-port`), because port + 10000 may not exist or may be taken.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { keySlot } from '../../src/stores/redis/cluster.js';
import { freePort, startRedis, type RedisServer } from './redis-server.js';

/** One line of CLUSTER NODES, as seen by some node. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's id for a replica. */
  masterId: string | null;
  failed: boolean;
  /** Slot ranges served (masters only), as [from, to] inclusive. */
  slots: Array<[number, number]>;
}

export interface RedisCluster {
  /** All six servers, in start order. Roles change after a fail-over: ask `topology()`. */
  readonly servers: RedisServer[];
  readonly nodeTimeoutMs: number;
  /** `{ host, port }` of every server: ioredis startup nodes. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** CLUSTER NODES as seen by a live node. */
  topology(): Promise<ClusterNodeInfo[]>;
  /** The servers that currently are masters with slots, ordered by their first slot. */
  masters(): Promise<RedisServer[]>;
  /** The replicas, in the order of `masters()`'s masters. */
  replicas(): Promise<RedisServer[]>;
  /** The server and id of the master currently serving `slot`. */
  ownerOf(slot: number): Promise<{ server: RedisServer; id: string }>;
  /**
   * SIGKILLs the i-th master (of `masters()`) and resolves once its replica has been promoted and
   * every live node reports `cluster_state:ok`. Resolves to the killed server and its successor.
   */
  killMaster(i: number, opts?: { onKilled?: () => void }): Promise<{ killed: RedisServer; promoted: RedisServer }>;
  /** Restarts a killed server (it rejoins from its nodes.conf) and waits for `cluster_state:ok`. */
  revive(server: RedisServer): Promise<void>;
  /** `redis-cli --cluster reshard`: moves `slots` slots from one master to another. */
  reshard(opts: { from: RedisServer; to: RedisServer; slots: number }): Promise<void>;
  /**
   * Moves one slot (and its keys) to another master by hand: IMPORTING/MIGRATING, MIGRATE of its
   * keys, then SETSLOT NODE on every node, as `redis-cli --cluster reshard` does per slot.
   */
  moveSlot(slot: number, to: RedisServer): Promise<void>;
  /** Waits until every live node reports `cluster_state:ok` and agrees on who serves every slot. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every server and removes their directories. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** cluster-node-timeout, in ms (default 1000). */
  nodeTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a program to completion; rejects with its output if it exits non-zero. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${out.slice(-2000)}`));
    });
  });
}

export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const flags = f[2]!.split(',');
    const slots: Array<[number, number]> = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated or imported
      const [a, b] = s.split('-');
      slots.push([Number(a), Number(b ?? a)]);
    }
    out.push({
      id: f[0]!,
      port: Number(/:(\d+)@/.exec(f[1]!)?.[1]),
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: f[3] === '-' ? null : f[3]!,
      failed: flags.includes('fail') || flags.includes('fail?') || flags.includes('noaddr'),
      slots,
    });
  }
  return out;
}

/** A master's INFO replication shows an online replica that acknowledged its whole stream. */
export function replicaCaughtUp(info: string): boolean {
  const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
  const slave = /slave0:.*state=online,offset=(\d+),lag=(\d+)/.exec(info);
  return offset !== undefined && offset !== '0' && slave !== null && slave[1] === offset;
}

function isUp(s: RedisServer): boolean {
  return s.process.exitCode === null && s.process.signalCode === null;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<RedisCluster> {
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 1000;
  const servers: RedisServer[] = [];
  const clientsToClose: Array<Map<number, Redis>> = [];
  const stopAll = async () => {
    for (const m of clientsToClose) for (const c of m.values()) c.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const busPort = await freePort();
        servers.push(
          await startRedis({
            args: [
              '--cluster-enabled', 'yes',
              '--cluster-config-file', 'nodes.conf',
              '--cluster-node-timeout', String(nodeTimeoutMs),
              '--cluster-port', String(busPort),
              // A replica may always take over, however long since it last heard its master:
              // tests kill masters seconds after the cluster formed.
              '--cluster-replica-validity-factor', '0',
              '--appendonly', 'no',
            ],
          }),
        );
      }),
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
  servers.sort((a, b) => a.port - b.port);

  const byPort = (port: number) => {
    const s = servers.find((x) => x.port === port);
    if (s === undefined) throw new Error(`no server on port ${port}`);
    return s;
  };

  // Polls go through one kept connection per node rather than a redis-cli process each: a fail-over
  // is watched with dozens of queries a second, and spawning them would load a busy CI machine.
  const clients = new Map<number, Redis>();
  clientsToClose.push(clients);
  const ask = async (server: RedisServer, ...args: string[]): Promise<string> => {
    let c = clients.get(server.port);
    if (c === undefined) {
      c = new Redis({
        host: server.host,
        port: server.port,
        protocol: 2,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: 1000,
        retryStrategy: (times) => Math.min(times * 50, 200),
      });
      c.on('error', () => {});
      clients.set(server.port, c);
    }
    const reply = await c.call(args[0]!, ...args.slice(1));
    return Array.isArray(reply) ? reply.map((r) => (Array.isArray(r) ? '' : String(r))).join('\n') : String(reply);
  };

  const topology = async (): Promise<ClusterNodeInfo[]> => {
    for (const s of servers) {
      if (!isUp(s)) continue;
      const out = await ask(s, 'CLUSTER', 'NODES');
      if (out.includes('master') || out.includes('slave')) return parseClusterNodes(out);
    }
    throw new Error('no live cluster node answers CLUSTER NODES');
  };

  const waitHealthy = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    let last = '';
    for (;;) {
      const live = servers.filter(isUp);
      const infos = await Promise.all(live.map((s) => ask(s, 'CLUSTER', 'INFO')));
      const ok = infos.every((i) => i.includes('cluster_state:ok'));
      // Every node must report the same slot owners (the same CLUSTER SLOTS master lines), so a
      // client that asks any node gets a consistent map.
      const owners = await Promise.all(
        live.map(async (s) => parseClusterNodes(await ask(s, 'CLUSTER', 'NODES'))
          .filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed)
          .map((n) => `${n.port}:${n.slots.map((r) => r.join('-')).join(',')}`)
          .sort()
          .join(' ')),
      );
      const agree = owners.every((o) => o === owners[0]) && owners.length > 0;
      if (ok && agree) return;
      last = `${infos.map((i) => /cluster_state:\w+/.exec(i)?.[0]).join(' ')} / ${owners.join(' | ')}`;
      if (performance.now() > deadline) throw new Error(`cluster not healthy in ${timeoutMs} ms: ${last}`);
      await sleep(50);
    }
  };

  const masters = async (): Promise<RedisServer[]> => {
    const t = await topology();
    return t
      .filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed)
      .sort((a, b) => a.slots[0]![0] - b.slots[0]![0])
      .map((n) => byPort(n.port));
  };

  const cluster: RedisCluster = {
    servers,
    nodeTimeoutMs,
    startupNodes: servers.map((s) => ({ host: s.host, port: s.port })),
    topology,
    masters,
    async replicas() {
      const t = await topology();
      const ms = t
        .filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed)
        .sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
      return ms.map((m) => {
        const r = t.find((n) => n.role === 'replica' && n.masterId === m.id && !n.failed);
        if (r === undefined) throw new Error(`master ${m.port} has no live replica`);
        return byPort(r.port);
      });
    },
    async ownerOf(slot) {
      const t = await topology();
      const m = t.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (m === undefined) throw new Error(`no master serves slot ${slot}`);
      return { server: byPort(m.port), id: m.id };
    },
    async killMaster(i, opts) {
      const t = await topology();
      const ms = t.filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed).sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
      const victim = ms[i];
      if (victim === undefined) throw new Error(`no master #${i}`);
      const replica = t.find((n) => n.role === 'replica' && n.masterId === victim.id && !n.failed);
      if (replica === undefined) throw new Error(`master ${victim.port} has no replica to take over`);
      // The replica must have synced, or it has nothing to serve (and may refuse to fail over).
      const deadline = performance.now() + 10_000;
      while (!(await ask(byPort(replica.port), 'INFO', 'replication')).includes('master_link_status:up')) {
        if (performance.now() > deadline) throw new Error(`replica ${replica.port} never synced`);
        await sleep(50);
      }
      const killed = byPort(victim.port);
      await killed.kill();
      opts?.onKilled?.();
      const promoted = byPort(replica.port);
      const until = performance.now() + nodeTimeoutMs * 10 + 10_000;
      while (!(await ask(promoted, 'ROLE')).startsWith('master')) {
        if (performance.now() > until) throw new Error(`replica ${replica.port} was not promoted`);
        await sleep(50);
      }
      await waitHealthy();
      return { killed, promoted };
    },
    async revive(server) {
      await server.restart();
      await waitHealthy();
    },
    async reshard({ from, to, slots }) {
      const t = await topology();
      const id = (s: RedisServer) => {
        const n = t.find((x) => x.port === s.port);
        if (n === undefined) throw new Error(`server ${s.port} is not in the cluster`);
        return n.id;
      };
      await run('redis-cli', [
        '--cluster', 'reshard', `${from.host}:${from.port}`,
        '--cluster-from', id(from),
        '--cluster-to', id(to),
        '--cluster-slots', String(slots),
        '--cluster-yes',
        '--cluster-pipeline', '50',
      ]);
      await waitHealthy();
    },
    async moveSlot(slot, to) {
      const t = await topology();
      const src = await cluster.ownerOf(slot);
      const dst = t.find((n) => n.port === to.port);
      if (dst?.role !== 'master') throw new Error(`server ${to.port} is not a master`);
      if (src.id === dst.id) return;
      await to.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.id);
      await src.server.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.id);
      for (;;) {
        const keys = (await src.server.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter((k) => k !== '');
        if (keys.length === 0) break;
        await src.server.cli('MIGRATE', to.host, String(to.port), '', '0', '5000', 'KEYS', ...keys);
      }
      await to.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', dst.id);
      await src.server.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', dst.id);
      for (const m of t.filter((n) => n.role === 'master' && !n.failed)) {
        const s = servers.find((x) => x.port === m.port);
        if (s && isUp(s) && s !== to && s !== src.server) await s.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', dst.id);
      }
      await waitHealthy();
    },
    waitHealthy,
    stop: async () => {
      await stopAll();
    },
  };

  try {
    await run('redis-cli', [
      '--cluster', 'create', ...servers.map((s) => `${s.host}:${s.port}`),
      '--cluster-replicas', '1', '--cluster-yes',
    ]);
    await waitHealthy(30_000);
    // Gossip may still show a freshly joined replica as a master without slots: wait until the
    // view has three slot-owning masters, each with a replica, before reading roles from it.
    const deadline = performance.now() + 15_000;
    let t = await topology();
    const settled = (nodes: ClusterNodeInfo[]): boolean => {
      const ms = nodes.filter((n) => n.role === 'master' && n.slots.length > 0);
      const rs = nodes.filter((n) => n.role === 'replica' && ms.some((m) => m.id === n.masterId));
      return ms.length === 3 && rs.length === 3 && ms.length + rs.length === nodes.length;
    };
    while (!settled(t)) {
      if (performance.now() > deadline) throw new Error('cluster roles never settled after create');
      await sleep(50);
      t = await topology();
    }
    // Replicas attached and synced, so that any master may be killed from the start.
    for (const r of t.filter((n) => n.role === 'replica')) {
      while (!(await ask(byPort(r.port), 'INFO', 'replication')).includes('master_link_status:up')) {
        if (performance.now() > deadline) throw new Error(`replica ${r.port} never synced`);
        await sleep(50);
      }
    }
    // And every master has heard its replica acknowledge (the first ACK after a sync can take up
    // to a second; a WAIT before it would see 0 replicas).
    // A replica that just finished its first sync gets no writes until its first ACK (up to a
    // second later): write once on every master and wait for the replica to have it.
    for (const m of t.filter((n) => n.role === 'master' && n.slots.length > 0)) {
      const [from, to] = m.slots[0]!;
      let probe = '';
      for (let i = 0; probe === ''; i++) {
        const slot = keySlot(`harness{${i}}`);
        if (slot >= from && slot <= to) probe = `harness{${i}}`;
      }
      await byPort(m.port).cli('SET', probe, '1');
      while (!replicaCaughtUp(await ask(byPort(m.port), 'INFO', 'replication'))) {
        if (performance.now() > deadline) throw new Error(`master ${m.port} has no acknowledging replica`);
        await sleep(50);
      }
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return cluster;
}
