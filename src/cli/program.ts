/**
 * The command line (SPEC §15, OP1–OP3): `npx larder-cache <command> --store … [--namespace NS] [--json]`.
 *
 * Libraries, and why: commander (argument parsing, help and errors: the most used Node CLI parser,
 * no dependencies, v14 supports Node 20), cli-table3 (plain-text tables) and cli-progress (the
 * progress bar on stderr); the last two share string-width, their only dependency. All three are
 * dependencies of the package because the CLI ships with it.
 *
 * Exit codes (OP1): 0 healthy, 1 findings (doctor findings, a failed `acl --check`, `stats` that
 * heard no cache), 2 could not run (bad arguments, an unreachable store), with a one-line reason
 * on stderr. `runCli` returns the code instead of exiting, so tests run it in-process.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Writable } from 'node:stream';
import { aclRules, checkAcl, operatorRules, quoteRules, ACL_SCHEMA } from './acl.js';
import { DOCTOR_DEFAULTS, formatBytes, runDoctor, type DoctorReport } from './doctor.js';
import { startDashboard } from './dashboard.js';
import { Aggregator, listenTelemetry, type StatsSnapshot } from './feed.js';
import { runInspect } from './inspect.js';
import { runKeys } from './keys.js';
import { runLocks } from './locks.js';
import { formatTtl, nsName, percent, table, writeJson, writeLine } from './output.js';
import { DEFAULT_LIMITS, type ScanIo, type ScanLimits } from './scan.js';
import { CliFailure, openTarget, type Target } from './target.js';
import type { Space } from '../keys.js';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** Resolves when a long-running command (dashboard) should stop; default: SIGINT or SIGTERM. */
  until?: Promise<void>;
  /** Called with the dashboard's URL once it listens (tests). */
  onListening?: (url: string) => void;
}

interface Common {
  store?: string;
  namespace?: string;
  json?: boolean;
  count: number;
  rate: number;
  quiet?: boolean;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number between 0 and 1');
  return n;
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--store <store>', 'redis://[user:pass@]host:port[/db], cluster:host:port,… or sentinel:host:port,…/NAME (default: $LARDER_REDIS_URL)')
    .option('--namespace <ns>', 'only this tenant')
    .option('--json', 'print one JSON document (schemas in the README)')
    .addOption(new Option('--count <n>', 'SCAN COUNT per call').argParser(positiveInt).default(DEFAULT_LIMITS.count))
    .addOption(new Option('--rate <keys-per-sec>', 'scan at most this many keys a second').argParser(positiveInt).default(DEFAULT_LIMITS.rate))
    .option('--quiet', 'no progress bar on stderr');
}

const limitsOf = (o: Common): ScanLimits => ({ count: o.count, rate: o.rate });

function printDoctor(out: Writable, r: DoctorReport): void {
  writeLine(out, `larder doctor: ${r.store.kind} ${r.store.endpoint} as ${r.store.user}, ${r.store.masters.length} master(s), ${r.scanned.keys.toLocaleString('en-US')} keys scanned in ${r.scanned.ms} ms`);
  writeLine(out, `maxmemory-policy: ${r.config.maxmemoryPolicy ?? '(not readable)'}; CLIENT TRACKING: ${r.tracking.allowed === null ? 'unknown' : r.tracking.allowed ? 'allowed' : 'refused'}`);
  writeLine(out);
  if (r.namespaces.length === 0) {
    writeLine(out, 'No larder keys found.');
  } else {
    writeLine(
      out,
      table(
        ['namespace', 'keys', 'entries', 'no TTL', 'no TTL %', 'locks etc.', 'bytes', 'biggest key'],
        r.namespaces.map((n) => [
          nsName(n.namespace),
          n.keys,
          n.entries,
          n.noTtl,
          percent(n.noTtlShare),
          n.coordination,
          formatBytes(n.bytes),
          n.biggest[0] === undefined ? '' : `${n.biggest[0].key} (${formatBytes(n.biggest[0].bytes)})`,
        ]),
      ),
    );
  }
  writeLine(out);
  if (r.findings.length === 0) {
    writeLine(out, 'No findings.');
    return;
  }
  writeLine(out, `${r.findings.length} finding(s):`);
  for (const f of r.findings) {
    writeLine(out, `  ${f.code}  ${f.message}`);
    writeLine(out, `      → ${f.advice}`);
  }
}

function printStats(out: Writable, s: StatsSnapshot): void {
  writeLine(out, `${s.sources.length} cache(s) publishing; rates over the last ${s.windowSec} s`);
  writeLine(
    out,
    table(
      ['namespace', 'caches', 'near hits', 'store hits', 'misses', 'hit ratio', `hit ratio (${s.windowSec} s)`, 'reads/s'],
      s.namespaces.map((n) => [
        n.namespace,
        n.sources,
        n.nearHits,
        n.storeHits,
        n.misses,
        n.hitRatio === null ? '-' : percent(n.hitRatio),
        n.windowHitRatio === null ? '-' : percent(n.windowHitRatio),
        n.readsPerSec.toFixed(1),
      ]),
    ),
  );
  const l = s.storeLatencyMs;
  const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)} ms`);
  writeLine(out, `store latency: p50 ${ms(l.p50)}, p99 ${ms(l.p99)} (${l.count} calls)`);
  writeLine(out, `generator runs: ${s.generator.runs} (${s.generator.runsPerSec.toFixed(1)}/s, mean ${ms(s.generator.meanMs)})`);
  writeLine(out, `locks: ${s.locks.acquired} acquired, ${s.locks.waits} waits, ${s.locks.timeouts} timeouts`);
  if (s.near !== null) {
    writeLine(out, `near cache: ${s.near.active}/${s.near.caches} active, ${s.near.entries} entries, ${formatBytes(s.near.bytes)}, ${s.near.evictions} evictions`);
  }
  if (s.errors.total > 0) writeLine(out, `errors: ${Object.entries(s.errors.byCode).map(([c, n]) => `${c} ${n}`).join(', ')}`);
}

/** Tables show at most 300 characters of a value (`--json` has all of it). */
function clip(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters; --json for all)` : s;
}

function signals(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const targets: Target[] = [];
  const target = (o: Common): Target => {
    const t = openTarget(o.store);
    targets.push(t);
    return t;
  };
  const scanIo = (o: Common): ScanIo => ({ stderr: io.stderr, quiet: o.quiet === true });

  const program = new Command('larder-cache')
    .description('Inspect and operate the Redis behind larder caches (read-only unless a command says otherwise).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError(false);

  withCommon(program.command('doctor').description('memory-bloat and risk report; exit 1 when there are findings'))
    .addOption(new Option('--big-bytes <n>', 'flag values larger than this').argParser(positiveInt).default(DOCTOR_DEFAULTS.bigBytes))
    .addOption(new Option('--max-no-ttl-share <share>', 'flag a namespace when more than this share of its entries has no TTL').argParser(share).default(DOCTOR_DEFAULTS.noTtlShare))
    .addOption(new Option('--top <n>', 'biggest keys listed per namespace').argParser(positiveInt).default(DOCTOR_DEFAULTS.top))
    .action(async (o: Common & { bigBytes: number; maxNoTtlShare: number; top: number }) => {
      const r = await runDoctor(
        target(o),
        { ...limitsOf(o), namespace: o.namespace, bigBytes: o.bigBytes, noTtlShare: o.maxNoTtlShare, top: o.top },
        scanIo(o),
      );
      if (o.json === true) writeJson(io.stdout, r);
      else printDoctor(io.stdout, r);
      code = r.findings.length > 0 ? 1 : 0;
    });

  withCommon(program.command('keys').argument('<pattern>', 'P1 pattern: * is the only wildcard, a trailing * is implied').description('logical keys of a namespace'))
    .option('--user <user>', 'only keys of this user scope')
    .option('--unscoped', 'only keys with no user scope')
    .option('--shared', 'shared keys instead of a namespace')
    .addOption(new Option('--limit <n>', 'list at most this many').argParser(positiveInt).default(10_000))
    .action(async (pattern: string, o: Common & { user?: string; unscoped?: boolean; shared?: boolean; limit: number }) => {
      const r = await runKeys(
        target(o),
        pattern,
        {
          ...limitsOf(o),
          namespace: o.shared === true ? null : (o.namespace ?? 'default'),
          user: o.user ?? (o.unscoped === true ? null : undefined),
          limit: o.limit,
        },
        scanIo(o),
      );
      if (o.json === true) {
        writeJson(io.stdout, r);
        return;
      }
      writeLine(io.stdout, table(['key', 'user', 'TTL', 'physical key'], r.keys.map((k) => [k.key, k.user ?? '', formatTtl(k.ttlMs), k.physical])));
      writeLine(io.stdout, `${r.keys.length} key(s)${r.truncated ? ' (stopped at --limit)' : ''}`);
    });

  withCommon(program.command('inspect').argument('<key>', 'the key as the application writes it').description('one key: physical key, slot, type, TTL, size, decoded value, lease'))
    .option('--user <user>', 'the user scope of the key')
    .option('--shared', 'a shared key')
    .addOption(new Option('--kind <space>', 'k value, m memo, d document, p process cache, L lock, F fencing, S lease, V version').default('k').choices(['k', 'm', 'd', 'p', 'L', 'F', 'S', 'V']))
    .action(async (key: string, o: Common & { user?: string; shared?: boolean; kind: Space }) => {
      const r = await runInspect(target(o), key, { namespace: o.namespace ?? 'default', user: o.user ?? null, shared: o.shared === true, space: o.kind });
      if (o.json === true) {
        writeJson(io.stdout, r);
        return;
      }
      const rows: Array<[string, string]> = [
        ['key', r.key],
        ['namespace', nsName(r.namespace)],
        ['user', r.user ?? '(none)'],
        ['physical key', r.physical],
        ['slot', String(r.slot)],
        ['type', r.type],
        ['TTL', r.exists ? formatTtl(r.ttlMs) : '-'],
        ['encoded size', r.encodedBytes === null ? '-' : formatBytes(r.encodedBytes)],
        ['memory usage', r.memoryBytes === null ? '-' : formatBytes(r.memoryBytes)],
        ['value', r.decodeError === null ? clip(JSON.stringify(r.value)) : `(undecodable: ${r.decodeError})`],
        ['stale envelope', r.envelope === null ? '-' : `logical expiry ${new Date(r.envelope.logicalExpiry).toISOString()}, computed in ${r.envelope.computeMs} ms`],
        ['generator lease', r.lease.held ? `held, ${formatTtl(r.lease.ttlMs)} left` : 'none'],
      ];
      writeLine(io.stdout, table(['field', 'value'], rows));
      if (!r.exists) code = 1;
    });

  withCommon(program.command('locks').description('held locks: namespace, name, TTL left, fencing counter')).action(async (o: Common) => {
    const r = await runLocks(target(o), o.namespace, limitsOf(o), scanIo(o));
    if (o.json === true) {
      writeJson(io.stdout, r);
      return;
    }
    writeLine(
      io.stdout,
      table(
        ['namespace', 'lock', 'user', 'kind', 'holders', 'TTL left', 'fencing'],
        r.locks.map((l) => [nsName(l.namespace), l.name, l.user ?? '', l.kind, l.holders, formatTtl(l.ttlMs), l.fencing ?? '-']),
      ),
    );
    writeLine(io.stdout, `${r.locks.length} lock key(s)`);
  });

  withCommon(program.command('stats').description('live counters published by running caches (telemetry option), per namespace'))
    .addOption(new Option('--seconds <n>', 'listen this long').argParser(positiveInt).default(5))
    .action(async (o: Common & { seconds: number }) => {
      const agg = new Aggregator(o.seconds);
      const stop = await listenTelemetry(target(o), (m) => agg.add(m));
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      await stop();
      let s = agg.snapshot();
      if (o.namespace !== undefined) s = { ...s, namespaces: s.namespaces.filter((n) => n.namespace === o.namespace) };
      if (o.json === true) writeJson(io.stdout, s);
      else printStats(io.stdout, s);
      if (s.sources.length === 0) {
        io.stderr.write(`no cache published telemetry within ${o.seconds} s (set the telemetry option: { publishEverySec })\n`);
        code = 1;
      }
    });

  withCommon(
    program
      .command('acl')
      .argument('[namespace]', 'the tenant')
      .description('the ACL SETUSER line confining one tenant (or, with --operator, a read-only user for this command line); --check proves a tenant\'s live (writes and deletes larder-acl-check keys)'),
  )
    .option('--user <name>', 'the Redis user (default: the namespace; larder-operator with --operator)')
    .option('--password <pw>', 'its password (default: a placeholder; required with --check)')
    .option('--check', 'connect as that user and exercise larder, and fail to reach another tenant')
    .option('--operator', 'a read-only user for doctor, keys, inspect, locks, stats and the dashboard (all namespaces, or the one given)')
    .action(async (namespace: string | undefined, o: Common & { user?: string; password?: string; check?: boolean; operator?: boolean }) => {
      if (o.operator === true) {
        const user = o.user ?? 'larder-operator';
        const rules = operatorRules(namespace, { user, password: o.password });
        if (o.json === true) writeJson(io.stdout, { schema: ACL_SCHEMA, namespace: namespace ?? null, user, rules, line: quoteRules(rules) });
        else writeLine(io.stdout, quoteRules(rules));
        return;
      }
      if (namespace === undefined) throw new CliFailure('acl needs a NAMESPACE (or --operator)');
      const user = o.user ?? namespace;
      if (o.check !== true) {
        const rules = aclRules(namespace, { user, password: o.password });
        if (o.json === true) writeJson(io.stdout, { schema: ACL_SCHEMA, namespace, user, rules, line: quoteRules(rules) });
        else writeLine(io.stdout, quoteRules(rules));
        return;
      }
      if (o.password === undefined) throw new CliFailure('acl --check needs --password (the tenant user\'s)');
      const r = await checkAcl(target(o), namespace, user, o.password);
      if (o.json === true) writeJson(io.stdout, r);
      else {
        writeLine(io.stdout, table(['check', 'result'], r.steps.map((s) => [s.step, s.ok ? 'ok' : `FAILED: ${s.detail ?? ''}`])));
        writeLine(io.stdout, r.ok ? `user ${user} is confined to namespace ${namespace} and larder works` : `user ${user}: the check failed`);
      }
      code = r.ok ? 0 : 1;
    });

  withCommon(program.command('dashboard').description('a live web page: hit ratios, latency, generator runs, locks, near cache, doctor findings'))
    .addOption(new Option('--port <port>', 'HTTP port (0: any free one)').argParser((v) => Number(v)).default(8080))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--doctor-every <sec>', 'seconds between doctor runs (0: never)').argParser((v) => Number(v)).default(60))
    .addOption(new Option('--window <sec>', 'seconds that rates and ratios are taken over').argParser(positiveInt).default(10))
    .action(async (o: Common & { port: number; host: string; doctorEvery: number; window: number }) => {
      const d = await startDashboard(target(o), {
        port: o.port,
        host: o.host,
        doctorEverySec: o.doctorEvery,
        pushEveryMs: 1000,
        limits: limitsOf(o),
        windowSec: o.window,
      });
      io.stderr.write(`larder dashboard on ${d.url} (Ctrl-C to stop)\n`);
      io.onListening?.(d.url);
      await (io.until ?? signals());
      await d.close();
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors 2 (commander already printed the reason).
      code = err.exitCode === 0 ? 0 : 2;
    } else if (err instanceof CliFailure) {
      io.stderr.write(`larder-cache: ${err.message}\n`);
      code = 2;
    } else {
      const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      io.stderr.write(`larder-cache: ${msg}\n`);
      code = 2;
    }
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
  return code;
}
