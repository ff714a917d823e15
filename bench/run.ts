/**
 * The benchmark harness (issue 7): larder and its peers behind one adapter interface, every
 * scenario measuring all its systems in this one process run.
 *
 *   npm run bench                          full run (about 12 min), rewrites BENCHMARKS.md's harness section and bench/charts/
 *   npm run bench -- --quick               about a minute, fewer and shorter rounds; prints only
 *   npm run bench -- --only locks,stampede  some scenarios; prints only
 *   add --write to a quick or --only run to write its results anyway (--only merges into results.json)
 *   npm run bench -- --render              no measuring: re-renders charts, summary and BENCHMARKS.md from bench/charts/results.json
 *   npm run bench -- --baseline DIR        also measures every larder system as loaded from the checkout DIR (e.g. a
 *                                          worktree of the commit before a change) in the same run, and prints
 *                                          current ÷ baseline per scenario and figure; prints only unless --write
 *
 * --baseline exists because "no scenario is more than 5% slower" can only be judged within one
 * run on this shared machine: two runs differ by more than 5% (bench/harness/baseline.ts).
 *
 * Starts its own redis-servers on free ports (persistence off) and stops them at the end, on
 * error and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { machineInfo, table } from './lib.js';
import type { Setup } from './harness/adapter.js';
import { baselineOf, versusTable, type Versus } from './harness/baseline.js';
import { cleanUp, installSignalHandlers } from './harness/cleanup.js';
import type { Timing } from './harness/measure.js';
import { describeRedis, startBenchRedis } from './harness/redis.js';
import { summaryTable, versions, writeArtifacts, type RunInfo } from './harness/report.js';
import type { Context, Result, Scenario } from './harness/scenario.js';
import { hitHeavy } from './harness/scenarios/hit-heavy.js';
import { largeValues } from './harness/scenarios/large-values.js';
import { locks } from './harness/scenarios/locks.js';
import { memory } from './harness/scenarios/memory.js';
import { memoryHits } from './harness/scenarios/memory-hits.js';
import { maxBytes } from './harness/scenarios/max-bytes.js';
import { patternDelete } from './harness/scenarios/pattern-delete.js';
import { stampede } from './harness/scenarios/stampede.js';
import { writeHeavy } from './harness/scenarios/write-heavy.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIOS: Scenario[] = [hitHeavy, memoryHits, stampede, writeHeavy, largeValues, patternDelete, locks, memory, maxBytes];
const ORDER = SCENARIOS.map((s) => s.id);

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? (args[onlyArg + 1] ?? '').split(',').filter(Boolean) : undefined;
if (only !== undefined) {
  const unknown = only.filter((id) => !ORDER.includes(id));
  if (only.length === 0 || unknown.length > 0) {
    console.error(`--only takes a comma-separated list of: ${ORDER.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
    process.exit(2);
  }
}
const baselineArg = args.indexOf('--baseline');
if (baselineArg >= 0 && (args[baselineArg + 1] ?? '--').startsWith('--')) {
  console.error('--baseline takes the directory of a larder checkout (its src/index.ts is measured beside this one)');
  process.exit(2);
}
const baseline = (() => {
  if (baselineArg < 0) return undefined;
  try {
    return baselineOf(args[baselineArg + 1]!);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  }
})();
// A baseline run carries twins through every table: it writes only when asked to.
const write = args.includes('--write') || (!quick && only === undefined && baseline === undefined && !args.includes('--no-write'));
// Many short rounds rather than a few long ones: on a shared machine a burst of someone else's
// load lasts seconds, and a round of every system must be short for the burst to hit all alike.
const timing: Timing = quick ? { rounds: 2, durationMs: 150, warmupMs: 50 } : { rounds: 9, durationMs: 500, warmupMs: 300 };
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;

/** The larder code measured: HEAD, and whether src/ had uncommitted changes (the tree is shared). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root }).toString().trim() !== '';
    return `${head}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown';
  }
}

if (args.includes('--render')) {
  writeArtifacts(root, ORDER, []);
  console.log('re-rendered bench/charts/*.svg, bench/charts/summary.md and the harness section of BENCHMARKS.md from bench/charts/results.json');
  process.exit(0);
}

installSignalHandlers();
const t0 = performance.now();
let failed = 0;
try {
  const redis = await startBenchRedis();
  const setup: Setup = { redisUrl: redis.url, host: redis.host, port: redis.port, maxEntries: 200_000 };
  const run: RunInfo = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    command: `${command}  (= node ${process.execArgv.join(' ')} bench/run.ts${args.length ? ` ${args.join(' ')}` : ''})`,
    node: process.version,
    larder: revision(),
    ...(baseline ? { baseline: `${baseline.commit} (${baseline.dir})` } : {}),
    quick,
    machine: machineInfo(),
    versions: versions(root, ['ioredis', 'bentocache', 'cache-manager', 'keyv', '@keyv/redis', '@redis/client', 'redlock', 'redis-semaphore', 'tsx']),
    redis: await describeRedis(redis),
    timing: `throughput: ${timing.rounds} rounds × ${timing.durationMs} ms per system after a ${timing.warmupMs} ms warm-up, medians`,
    totalSeconds: 0,
  };
  const m = run.machine;
  console.log(`# larder benchmark harness — ${run.date}`);
  console.log(`# command: ${run.command}`);
  console.log(`# larder: commit ${run.larder}`);
  if (baseline) console.log(`# baseline: commit ${baseline.commit} from ${baseline.dir}/src/index.ts, each larder system's twin named "… @${baseline.commit}"`);
  console.log(`# machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB, ${m.os}, load ${m.load.toFixed(2)}; node ${run.node}`);
  console.log(`# packages: ${run.versions.map(([n, v]) => `${n} ${v}`).join(', ')}`);
  console.log(`# redis-server ${run.redis.version}: ${run.redis.config.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  console.log(`# ${run.timing}\n`);

  const admin = new Redis(redis.url);
  const ctx: Context = { quick, redis, setup, timing, ...(baseline ? { baseline } : {}), log: (line) => console.log(line) };
  const results: Result[] = [];
  for (const s of SCENARIOS) {
    if (only !== undefined && !only.includes(s.id)) continue;
    console.log(`## ${s.title}`);
    await admin.flushall(); // each scenario starts from an empty server
    const s0 = performance.now();
    try {
      const r = { id: s.id, title: s.title, ...(await s.run(ctx)), seconds: (performance.now() - s0) / 1000 };
      results.push(r);
      for (const t of r.tables) console.log(`\n${t.caption}\n${table(t.rows)}`);
      for (const n of r.notes) console.log(`\n${n}`);
      if (baseline && r.versus?.length) console.log(`\nagainst the baseline (same run):\n${versusTable(r.versus, baseline)}`);
      console.log(`\n(${r.seconds.toFixed(0)} s)\n`);
    } catch (err) {
      failed++;
      console.error(`scenario ${s.id} failed:`, err);
    }
  }
  admin.disconnect();
  run.totalSeconds = (performance.now() - t0) / 1000;
  console.log('## Summary\n');
  console.log(summaryTable(results.flatMap((r) => r.summary)));
  if (baseline) {
    const all: Versus[] = results.flatMap((r) => (r.versus ?? []).map((v) => ({ ...v, metric: `${r.id}: ${v.metric}` })));
    console.log(`\n## Against the baseline @${baseline.commit} (current ÷ baseline, same run)\n\n${versusTable(all, baseline)}`);
  }
  console.log(`\ntotal ${(run.totalSeconds / 60).toFixed(1)} min`);
  if (write && results.length > 0) {
    writeArtifacts(root, ORDER, results, run);
    console.log('wrote bench/charts/*.svg, bench/charts/results.json, bench/charts/summary.md and the harness section of BENCHMARKS.md');
  } else {
    console.log('(not written: quick or partial run; add --write to write anyway)');
  }
} catch (err) {
  failed++;
  console.error(err);
} finally {
  await cleanUp();
}
// Some peers keep sockets or timers open after disconnecting; the run is over.
process.exit(failed > 0 ? 1 : 0);
