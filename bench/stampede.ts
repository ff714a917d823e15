/**
 * Issue 5's stampede figure (S5): generator runs when 4 processes × 200 concurrent callers miss
 * one key at once and the generator takes 200 ms, for larder (lease + "landed" pub/sub), bentocache
 * 1.6.1 (memory L1 + Redis L2 + Redis bus, its documented multi-tier set-up) and cache-manager
 * 7.2.9 with @keyv/redis 5.1.6 (`wrap`). Each system in each round gets a fresh key and 4 fresh
 * processes that have opened their connections before the race starts; the target is 1 run.
 * Also reported: how long the slowest of the 800 callers waited (the 200 ms generator is the floor).
 *
 *   node --conditions=larder-source --import tsx bench/stampede.ts [--quick]
 *
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRedis } from '../test/support/redis-server.js';
import { machine, median, table } from './lib.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 2 : 5;
const PROCESSES = 4;
const CONCURRENCY = 200;
const GEN_MS = 200;
const systems = ['larder', 'bentocache', 'cache-manager'];
const child = fileURLToPath(new URL('./stampede-child.ts', import.meta.url));

interface Done {
  runs: number;
  errors: number;
  slowest: number;
}

function spawnChild(system: string, url: string, key: string) {
  const proc = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', child, system, url, key, String(CONCURRENCY), String(GEN_MS)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: Array<{ type: string }> = [];
  const waiters: Array<(m: { type: string }) => void> = [];
  proc.on('message', (m: { type: string }) => {
    const w = waiters.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const next = <T>() => new Promise<T>((resolve) => {
    const m = messages.shift();
    if (m) resolve(m as T);
    else waiters.push((x) => resolve(x as T));
  });
  return { proc, next };
}

const server = await startRedis();
const results = new Map<string, Array<{ runs: number; errors: number; slowest: number }>>(systems.map((s) => [s, []]));
try {
  for (let round = 0; round < rounds; round++) {
    // Systems alternate within each round, so machine noise hits all alike.
    for (const system of systems) {
      const key = `stampede-${system}-${round}-${Date.now()}`;
      const children = Array.from({ length: PROCESSES }, () => spawnChild(system, server.url, key));
      await Promise.all(children.map((c) => c.next()));
      for (const c of children) c.proc.send({ type: 'go' });
      const done = await Promise.all(children.map((c) => c.next<Done>()));
      await Promise.all(children.map((c) => (c.proc.exitCode === null ? new Promise((r) => c.proc.once('exit', r)) : Promise.resolve())));
      results.get(system)!.push({
        runs: done.reduce((n, d) => n + d.runs, 0),
        errors: done.reduce((n, d) => n + d.errors, 0),
        slowest: Math.max(...done.map((d) => d.slowest)),
      });
    }
  }
} finally {
  await server.stop();
}

console.log(`Stampede (S5): ${PROCESSES} processes × ${CONCURRENCY} concurrent misses of one key, generator ${GEN_MS} ms, ${rounds} rounds`);
console.log(machine());
const larderRuns = median(results.get('larder')!.map((r) => r.runs));
const rows = [['system', 'generator runs per round', 'median', 'vs larder', 'caller errors', 'slowest caller (median)']];
for (const system of systems) {
  const rs = results.get(system)!;
  const m = median(rs.map((r) => r.runs));
  rows.push([
    system,
    rs.map((r) => r.runs).join(' '),
    String(m),
    `${(m / larderRuns).toFixed(1)}×`,
    String(rs.reduce((n, r) => n + r.errors, 0)),
    `${median(rs.map((r) => r.slowest)).toFixed(0)} ms`,
  ]);
}
console.log(table(rows));
