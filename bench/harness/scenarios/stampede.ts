/**
 * Stampede: many concurrent get-or-compute calls of one missing key whose generator takes
 * 200 ms; how many times the generator runs. For the Redis systems the callers are spread over
 * 4 processes sharing one Redis (the case a per-process single flight cannot cover); the
 * embedded/memory systems get the same number of callers in one process. Each round uses a fresh
 * key; processes stay up across rounds (connected and warm before the first race).
 *
 * Target (issue 7): 1 generator run across processes for larder on Redis (S5).
 */
import type { Setup } from '../adapter.js';
import { spawnChild, type Child } from '../children.js';
import type { Chart, Scenario, Summary } from '../scenario.js';
import { alternate, median } from '../../lib.js';
import { versus } from '../baseline.js';
import { withTwins, type CacheId } from '../systems.js';

const GEN_MS = 200;
const CALLERS = 800;

interface Done {
  runs: number;
  errors: number;
  empty: number;
  slowestMs: number;
}

const SYSTEMS: Array<{ id: CacheId; name: string; role: 'larder' | 'peer'; shared: boolean }> = [
  { id: 'larder-redis', name: 'larder (Redis)', role: 'larder', shared: true },
  { id: 'larder-near', name: 'larder (Redis + near cache)', role: 'larder', shared: true },
  { id: 'bento-redis', name: 'bentocache (Redis)', role: 'peer', shared: true },
  { id: 'bento-tiered', name: 'bentocache (memory+Redis+bus)', role: 'peer', shared: true },
  { id: 'cm-redis', name: 'cache-manager (Redis)', role: 'peer', shared: true },
  { id: 'larder-memory', name: 'larder (embedded)', role: 'larder', shared: false },
  { id: 'bento-memory', name: 'bentocache (memory)', role: 'peer', shared: false },
  { id: 'cm-memory', name: 'cache-manager (memory)', role: 'peer', shared: false },
];

export const stampede: Scenario = {
  id: 'stampede',
  title: 'Stampede: get-or-compute with a slow generator',
  async run(ctx) {
    const processes = ctx.quick ? 2 : 4; // 800 callers divide evenly either way
    const rounds = ctx.quick ? 2 : 5;
    const setup: Setup = ctx.setup;
    const systems = withTwins(SYSTEMS, ctx.baseline);
    const children = new Map<string, Child[]>();
    try {
      // Start every process of every system first (in parallel per system), so that no race
      // competes with a process still loading.
      for (const s of systems) {
        const n = s.shared ? processes : 1;
        const cs = Array.from({ length: n }, () => spawnChild(['stampede', s.id, JSON.stringify(setup)]));
        children.set(s.name, cs);
        await Promise.all(cs.map((c) => c.next()));
        ctx.log(`  ${s.name}: ${n} process${n > 1 ? 'es' : ''} ready`);
      }
      const samples = await alternate(
        systems.map((s) => s.name),
        rounds,
        async (name, round) => {
          const cs = children.get(name)!;
          const key = `stampede:${round}:${name.replace(/\W+/g, '-')}`;
          for (const c of cs) c.send({ type: 'go', key, callers: CALLERS / cs.length, genMs: GEN_MS });
          const done = await Promise.all(cs.map((c) => c.next<Done>()));
          return {
            runs: done.reduce((n, d) => n + d.runs, 0),
            errors: done.reduce((n, d) => n + d.errors + d.empty, 0),
            slowestMs: Math.max(...done.map((d) => d.slowestMs)),
          };
        },
      );
      const rows = [['system', 'processes × callers', 'generator runs, each round', 'median', 'failed callers', 'slowest caller (median)']];
      for (const s of systems) {
        const xs = samples.get(s.name)!;
        const n = children.get(s.name)!.length;
        rows.push([s.name, `${n} × ${CALLERS / n}`, xs.map((x) => x.runs).join(' '), String(median(xs.map((x) => x.runs))), String(xs.reduce((a, x) => a + x.errors, 0)), `${median(xs.map((x) => x.slowestMs)).toFixed(0)} ms`]);
        ctx.log(`    ${s.name.padEnd(32)} runs ${xs.map((x) => x.runs).join(' ')}`);
      }
      const runsOf = (name: string) => samples.get(name)!.map((x) => x.runs);
      const chart: Chart = {
        file: 'stampede.svg',
        title: `Stampede: ${CALLERS} concurrent misses of one key, generator ${GEN_MS} ms — generator runs (lower is better)`,
        axis: 'generator runs per race, median of the rounds (1 is the ideal)',
        log: false,
        groups: [
          { label: `${processes} processes sharing one Redis`, bars: systems.filter((s) => s.shared).map((s) => ({ label: s.name, value: median(runsOf(s.name)), role: s.role })) },
          { label: 'one process (embedded / memory)', bars: systems.filter((s) => !s.shared).map((s) => ({ label: s.name, value: median(runsOf(s.name)), role: s.role })) },
        ],
      };
      const peers = systems.filter((s) => s.shared && s.role === 'peer').map((s) => s.name);
      const best = peers.reduce((a, b) => (median(runsOf(a)) <= median(runsOf(b)) ? a : b));
      const larderRuns = runsOf('larder (Redis)');
      const summary: Summary[] = [
        {
          scenario: `stampede across ${processes} processes (generator runs, worst round)`,
          larder: `${Math.max(...larderRuns)} run${Math.max(...larderRuns) === 1 ? '' : 's'}`,
          peer: `${best}: ${median(runsOf(best))} (median)`,
          ratio: `${(median(runsOf(best)) / median(larderRuns)).toFixed(0)}× fewer`,
          target: '1 run',
          met: larderRuns.every((r) => r === 1),
        },
      ];
      return {
        method:
          `${CALLERS} callers ask for one missing key at once; the generator sleeps ${GEN_MS} ms and counts its runs. Redis systems: ` +
          `${processes} processes × ${CALLERS / processes} callers on one redis-server; memory systems: one process × ${CALLERS}. ` +
          `${rounds} rounds, systems alternating, a fresh key each round. larder: \`getValue(key, { generator })\` (lease key + "landed" ` +
          `message across processes, S5); bentocache: \`getOrSet\`; cache-manager: \`wrap\`. "failed callers": calls that threw or returned nothing.`,
        tables: [{ caption: 'generator runs per race (lower is better; 1 is the ideal)', rows }],
        charts: [chart],
        summary,
        notes: [],
        versus: [
          ...versus(systems.map((s) => s.name), ctx.baseline, 'generator runs (median)', 'lower', (n) => median(runsOf(n))),
          ...versus(systems.map((s) => s.name), ctx.baseline, 'slowest caller ms (median)', 'lower', (n) => median(samples.get(n)!.map((x) => x.slowestMs))),
        ],
      };
    } finally {
      await Promise.allSettled([...children.values()].flat().map((c) => c.exit()));
    }
  },
};
