// `npm run lint`: the type check, ESLint and the import-cycle check, run side by side (they are
// independent, and the machine has two cores), each reported whole with its time. Every check
// runs even when another fails, so one run shows all that is wrong. Exits 1 if any check failed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const bin = (/** @type {string} */ name) => join(import.meta.dirname, '..', 'node_modules', '.bin', name);
const checks = [
  { name: 'eslint', cmd: bin('eslint'), args: ['.'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['-p', 'tsconfig.json', '--noEmit'] },
  {
    name: 'import cycles',
    cmd: bin('depcruise'),
    args: ['src', 'test', 'bench', 'examples', 'scripts', '--config', '.dependency-cruiser.cjs'],
  },
];

/**
 * Runs one check to its end, with its output kept for the report.
 * @param {{ name: string, cmd: string, args: string[] }} check
 * @returns {Promise<{ name: string, code: number, ms: number, out: string }>}
 */
function run({ name, cmd, args }) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (/** @type {Buffer} */ d) => (out += d.toString()));
    child.stderr.on('data', (/** @type {Buffer} */ d) => (out += d.toString()));
    child.on('error', (err) => resolve({ name, code: 1, ms: performance.now() - t0, out: `${out}${err.message}\n` }));
    child.on('close', (code) => resolve({ name, code: code ?? 1, ms: performance.now() - t0, out }));
  });
}

const t0 = performance.now();
const results = await Promise.all(checks.map(run));
for (const r of results) {
  console.log(`── ${r.name}: ${r.code === 0 ? 'ok' : 'FAILED'} (${(r.ms / 1000).toFixed(1)} s)`);
  if (r.out.trim() !== '') console.log(r.out.trimEnd());
}
const failed = results.filter((r) => r.code !== 0).map((r) => r.name);
console.log(`lint: ${failed.length === 0 ? 'ok' : `failed (${failed.join(', ')})`} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);
