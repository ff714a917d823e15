// Runs every test file with Node's own test runner (TypeScript through tsx) and ends with the
// line CI reads: `N passed, N failed`. Usage: npm test [-- file-or-dir ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

/**
 * The test files under `path` (a file or a directory), appended to `out`.
 * @param {string} path
 * @param {string[]} out
 * @returns {string[]}
 */
function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const e of readdirSync(path).sort()) {
      if (e === 'support' || e === 'fixtures') continue;
      collect(join(path, e), out);
    }
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length ? args : ['test']).flatMap((p) => collect(p, []));
const dir = mkdtempSync(join(tmpdir(), 'larder-test-'));
const tap = join(dir, 'report.tap');
const concurrency = process.env.LARDER_TEST_CONCURRENCY ?? '4';
const res = spawnSync(
  process.execPath,
  [
    '--conditions=larder-source',
    '--import', 'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=180000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
let passed = 0;
let failed = 0;
try {
  const report = readFileSync(tap, 'utf8');
  passed = Number(/^# pass (\d+)/m.exec(report)?.[1] ?? 0);
  failed = Number(/^# fail (\d+)/m.exec(report)?.[1] ?? 0);
  const cancelled = Number(/^# cancelled (\d+)/m.exec(report)?.[1] ?? 0);
  failed += cancelled;
} catch {
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
if (res.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && res.status === 0 ? 0 : 1);
