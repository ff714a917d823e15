/**
 * Self time by function of a V8 CPU profile (node --cpu-prof), largest first: the step after
 * profile-mix.ts. Paths are shown relative to their checkout's src/ so that the same function of
 * the current code and of a baseline checkout line up.
 *
 *   node --import tsx bench/harness/probes/profile-top.ts FILE.cpuprofile [rows=30]
 *
 * Under tsx a process writes two profiles: the main thread's is `*.0.001.cpuprofile` (the other is
 * tsx's loader thread).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const [file = '', rowsArg = '30'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
// Time per sample: the delta that follows it (timeDeltas[i + 1] is the time until sample i + 1).
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const where = (url: string) => url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, '$1/').replace(/^node:/, 'node:');
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const n of profile.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  if (us === 0) continue;
  const f = n.callFrame;
  const file = f.url === '' ? '(vm)' : where(f.url);
  const name = `${f.functionName || '(anonymous)'}  ${file}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  const group = file.startsWith('node_modules/') ? file.split('/').slice(0, 2).join('/') : file;
  byFile.set(group, (byFile.get(group) ?? 0) + us);
}
const show = (m: Map<string, number>, rows: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([k, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
    .join('\n');
console.log(`${file}: ${(total / 1e6).toFixed(1)} s of samples\n\nby function (self):\n${show(byFunction, Number(rowsArg))}\n\nby file (self):\n${show(byFile, 25)}`);
