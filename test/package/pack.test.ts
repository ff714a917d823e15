/**
 * The package as a user gets it (issue 13, SPEC §0): build once, `npm pack`, install the tarball
 * into a fresh project outside this repository, then
 *  - import it as ESM and `require` it (Node ≥ 20.19 loads ES modules from require),
 *  - type-check a strict consumer (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess)
 *    together with every ```ts block of the README,
 *  - run every README block against a test redis-server (LARDER_REDIS_URL), each as its own module.
 *
 * A README block preceded by `<!-- readme-check: compile only: <why> -->` is type-checked but not
 * run (it needs servers the test cannot give it: a cluster at fixed addresses, three Redis hosts).
 * Names a block uses without declaring come from fixtures/prelude.ts (a `cache`, a `db`, an `app` …).
 *
 * Installing is offline first (the npm cache holds ioredis after `npm ci`), then from the registry.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

let work: string;
let app: string;
let tarball: string;
let server: RedisServer;
let hasIoredis5 = false;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A README code block: its text, the line it starts on, and whether it may only be compiled. */
interface Block {
  code: string;
  line: number;
  compileOnly: boolean;
}

export function readmeBlocks(readme: string): Block[] {
  const lines = readme.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const compileOnly = /<!--\s*readme-check:\s*compile only/.test(lines[i - 1] ?? '');
    out.push({ code: lines.slice(start, end).join('\n'), line: start + 1, compileOnly });
    i = end;
  }
  return out;
}

const preludeNames = [...readFileSync(join(here, 'fixtures/prelude.ts'), 'utf8').matchAll(/^export (?:const|async function|function) (\w+)/gm)]
  .map((m) => m[1]!)
  .concat(['http']);

/** Names the block itself declares or imports (then the prelude must not supply them). */
function declared(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(/\b(?:const|let|var|class|function|using)\s+(\w+)/g)) names.add(m[1]!);
  for (const m of code.matchAll(/\b(?:const|let|var)\s+\{([^}]*)\}/g)) for (const n of m[1]!.split(',')) names.add(n.split(':').pop()!.trim());
  for (const m of code.matchAll(/^import\s+(?:type\s+)?\{([^}]*)\}/gm)) {
    for (const n of m[1]!.split(',')) names.add(n.replace(/^\s*type\s+/, '').split(/\s+as\s+/).pop()!.trim());
  }
  return names;
}

const larderValues = [
  'createCache', 'createMemoryStore', 'createRedisStore', 'createRedlock', 'LarderError', 'ClosedError', 'StoreUnavailableError', 'LockTimeoutError',
  'docTag', 'doctypeTag',
];

/** The block as a module of its own: imports of what it uses from the package and the prelude. */
function moduleOf(block: Block): string {
  const own = declared(block.code);
  const uses = (n: string) => !own.has(n) && new RegExp(`(?<![.\\w$])${n}\\b`).test(block.code);
  const fromPrelude = preludeNames.filter(uses);
  const fromLarder = larderValues.filter((n) => uses(n) && !fromPrelude.includes(n));
  const head = [];
  if (fromLarder.length > 0) head.push(`import { ${fromLarder.join(', ')} } from 'larder-cache';`);
  if (fromPrelude.length > 0) head.push(`import { ${fromPrelude.join(', ')} } from './prelude.js';`);
  return `${head.join(' ')}\n${block.code}\nexport {};\n`;
}

describe('the packed package (SPEC §0, issue 13)', { timeout: 300_000 }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'larder-pack-'));
    server = await startRedis();
    // Build once, outside the repository, from the same tsconfig the `build` script uses.
    const staged = join(work, 'package');
    mkdirSync(staged);
    run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(staged, 'dist')], root);
    for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) cpSync(join(root, f), join(staged, f));
    const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], staged)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed[0]!.filename);
    writeFileSync(join(work, 'files.json'), JSON.stringify(packed[0]!.files.map((f) => f.path)));

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const install = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', tarball];
    try {
      run('npm', [...install, '--offline'], app);
    } catch {
      run('npm', [...install, '--prefer-offline'], app);
    }
    // An app's own ioredis 5 (most apps have it): from the npm cache or the registry; the check
    // that uses it is left out (and says so) when neither has it.
    try {
      run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--prefer-offline', 'ioredis5@npm:ioredis@5'], app);
      hasIoredis5 = true;
    } catch {
      hasIoredis5 = false;
    }
    // The consumer's compiler and Node types: the repository's own (not part of what is tested).
    mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
    symlinkSync(join(root, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'));
    symlinkSync(join(root, 'node_modules/undici-types'), join(app, 'node_modules/undici-types'));
    // The optional peer dependencies the README's metrics blocks use (larder-cache/otel, /prometheus).
    mkdirSync(join(app, 'node_modules/@opentelemetry'), { recursive: true });
    symlinkSync(join(root, 'node_modules/@opentelemetry/api'), join(app, 'node_modules/@opentelemetry/api'));
    symlinkSync(join(root, 'node_modules/prom-client'), join(app, 'node_modules/prom-client'));
  });

  after(async () => {
    await server.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the build, the licence and the docs, and no tests or sources', () => {
    const files = JSON.parse(readFileSync(join(work, 'files.json'), 'utf8')) as string[];
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) assert.ok(files.includes(f), f);
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('bench/')), files.join(' '));
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/larder-cache/package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(installed.name, 'larder-cache');
    assert.equal(installed.license, 'MIT');
    assert.equal(installed.sideEffects, false);
    for (const k of ['repository', 'homepage', 'keywords']) assert.ok(installed[k] !== undefined, k);
  });

  it('embeds the sources in its source maps (they point at files that are not shipped)', () => {
    const dist = join(app, 'node_modules/larder-cache/dist');
    const map = JSON.parse(readFileSync(join(dist, 'cache.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    assert.equal(map.sources.length, 1);
    assert.ok(map.sourcesContent?.[0]?.includes('export class Cache'), 'sourcesContent holds cache.ts');
  });

  it('imports as ESM and requires on Node 20', () => {
    const esm = run(process.execPath, ['--input-type=module', '-e', `
      import { createCache } from 'larder-cache';
      const cache = createCache({ store: 'memory' });
      await cache.setValue('k', { n: 1 });
      console.log(JSON.stringify(await cache.getValue('k')));
      await cache.close();`], app);
    assert.equal(esm.trim(), '{"n":1}');
    const cjs = run(process.execPath, ['-e', `
      const { createCache, LarderError } = require('larder-cache');
      const cache = createCache();
      cache.incr('n').then((n) => { console.log(n, typeof LarderError); return cache.close(); });`], app);
    assert.equal(cjs.trim(), '1 function');
  });

  it('type-checks a strict consumer and every README block, which then run against Redis', () => {
    const src = join(app, 'src');
    mkdirSync(src);
    cpSync(join(here, 'fixtures/prelude.ts'), join(src, 'prelude.ts'));
    cpSync(join(here, 'fixtures/consumer.ts'), join(src, 'consumer.ts'));
    if (hasIoredis5) cpSync(join(here, 'fixtures/io5.ts'), join(src, 'io5.ts'));
    else console.log('# ioredis 5 could not be installed (offline?): the ioredis 5 client check is left out');
    // ioredis' own .d.ts import the untyped 'redis-errors': any strict consumer needs this line.
    writeFileSync(join(src, 'shims.d.ts'), "declare module 'redis-errors';\n");
    const blocks = readmeBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
    assert.ok(blocks.length >= 20, `README blocks found: ${blocks.length}`);
    blocks.forEach((b, i) => writeFileSync(join(src, `readme-${String(i).padStart(2, '0')}-line-${b.line}.ts`), moduleOf(b)));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2024', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext',
        strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, noImplicitOverride: true,
        // The package's own .d.ts are checked too; skipLibCheck would hide an error in them.
        skipLibCheck: false, types: ['node'], outDir: 'out', rootDir: 'src', noUnusedLocals: false,
      },
      include: ['src'],
    }));
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc found errors:\n${r.stdout}${r.stderr}`);
    // A project with legacy decorators (experimentalDecorators, NestJS's default) uses @cache.cached() too.
    mkdirSync(join(app, 'legacy'));
    cpSync(join(here, 'fixtures/legacy.ts'), join(app, 'legacy/legacy.ts'));
    writeFileSync(join(app, 'legacy/shims.d.ts'), "declare module 'redis-errors';\n");
    writeFileSync(join(app, 'tsconfig.legacy.json'), JSON.stringify({
      extends: './tsconfig.json',
      // The package's .d.ts were checked by the first project; this one checks the decorator's call form.
      compilerOptions: { experimentalDecorators: true, skipLibCheck: true, outDir: 'out-legacy', rootDir: 'legacy' },
      include: ['legacy'],
    }));
    const legacy = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.legacy.json'], { cwd: app, encoding: 'utf8' });
    assert.equal(legacy.status, 0, `tsc (experimentalDecorators) found errors:\n${legacy.stdout}${legacy.stderr}`);

    // Run them: each block as its own module, one process, against the test's redis-server.
    const runnable = readdirSync(join(app, 'out')).filter((f) => f.startsWith('readme-') && f.endsWith('.js')).sort();
    const skipped = new Set(blocks.flatMap((b, i) => (b.compileOnly ? [`readme-${String(i).padStart(2, '0')}-line-${b.line}.js`] : [])));
    const runner = `
      for (const f of ${JSON.stringify(runnable.filter((f) => !skipped.has(f)))}) {
        try { await import('./out/' + f); } catch (err) { console.error('README block ' + f + ' threw:', err); process.exit(1); }
      }
      await import('./out/consumer.js').then((m) => m.main());
      await import('./out-legacy/legacy.js').then((m) => m.main());
      if (${JSON.stringify(hasIoredis5)}) await import('./out/io5.js').then((m) => m.main());
      process.exit(0);`;
    writeFileSync(join(app, 'run.mjs'), runner);
    execFileSync(process.execPath, ['run.mjs'], { cwd: app, env: { ...process.env, LARDER_REDIS_URL: server.url }, stdio: 'pipe', timeout: 120_000 });
  });
});
