/**
 * What limits larder where a target is missed, and notes on figures that need one: the analysis
 * behind the report, kept apart from the measuring code because it is written after looking at
 * the figures (with the probes in bench/harness/probes/) and can be revised and re-rendered
 * (`npm run bench -- --render`) without measuring again. Texts quote the run's own figures where
 * they depend on them; probe figures are quoted as what one probe run measured.
 */
import type { Result, Summary } from './scenario.js';

/** "24.5k ops/s" → 24500, "3.70M" → 3.7e6, "2.59 ms" → 2.59. */
function figure(s: string): number {
  const m = /([\d.]+)\s*([kM]?)/.exec(s.slice(s.indexOf(':') + 1));
  if (m === null) return NaN;
  return Number(m[1]) * (m[2] === 'M' ? 1e6 : m[2] === 'k' ? 1e3 : 1);
}

/** The cell of the row whose first cell starts with `row`, in column `col`, of any table of `r`. */
function cell(r: Result, row: string, col: number): string | undefined {
  for (const t of r.tables) for (const x of t.rows) if (x[0]!.startsWith(row)) return x[col];
  return undefined;
}

const ns = (opsPerSec: number) => `${(1e9 / opsPerSec).toFixed(0)} ns`;

export function explain(s: Summary, r: Result): string | undefined {
  const larder = figure(s.larder);
  const peer = figure(s.peer);
  const name = s.scenario;
  if (name.startsWith('Redis hits vs raw ioredis (c=1)')) {
    return (
      `At concurrency 1 nothing coalesces: each getValue is one GET, as with raw ioredis, plus larder's own work per call ` +
      `(key validation and layout, the command deadline queue, the circuit breaker, the codec envelope, counters): ` +
      `${((1e6 / larder - 1e6 / peer)).toFixed(1)} µs more per call in this run.`
    );
  }
  if (name.startsWith('Redis hits vs raw ioredis (c=64)')) {
    return (
      `larder sends the reads of one tick as one MGET (37–54 keys per MGET at c=64 by the server's command counters in probe runs, ` +
      '`bench/harness/probes/redis-hits.ts`), so it pays one round trip where raw ioredis pays one per read. What that buys depends on ' +
      `how much raw ioredis' one socket write per command costs at the time: in this run raw ioredis made ${s.peer.split(': ')[1]}; ` +
      `in probe runs at commit 1ce9c08 on the then more loaded machine it made 109–127k/s against larder's 203–256k/s (1.65× with 5% ` +
      `writes, 2.34× with reads only). larder's own ceiling is client CPU: a CPU profile of larder alone at c=64 shows 16% of samples ` +
      `encoding MGET key arguments (UTF-8 writes), 15% decoding values, 7% garbage collection and 10% idle, waiting for the server ` +
      `that shares the 2 cores.` +
      (peer > 90_000 ? ` The issue measured raw ioredis at 60–90k/s; against a faster raw baseline the same batching gives a smaller ratio.` : '')
    );
  }
  if (name.startsWith('Redis hits vs cache-manager')) {
    return (
      `cache-manager's Redis store is @keyv/redis on node-redis 5, which writes every command issued in one tick to the socket in ` +
      `one go (automatic pipelining) with a cheap command encoder: 64 concurrent GETs then cost it little more than larder's one MGET. ` +
      'The client difference, on SET at c=64 (`bench/harness/probes/write-batching.ts`, one run): node-redis 259k/s, raw ioredis 83k/s ' +
      `(120k/s with auto-pipelining), larder setValue 106k/s. So this ratio measures larder's MGET against a pipelining client and is ` +
      `capped by the same client CPU as the line above; against bentocache, which sends one GET per call over ioredis, the target is met.`
    );
  }
  if (name.startsWith('near-cache hits vs async Map')) {
    return (
      `A near-cache hit costs ${ns(larder)} against ${ns(peer)} for the bound: getValue returns an already-resolved promise after ` +
      `two or three Map lookups (the namespace's key map unless it is the previous hit's, caller's key → physical key, physical key → ` +
      `entry), a recency bit and the hit counter, where the bound does one lookup in an async function. In a probe run ` +
      '(`bench/harness/probes/near-hit.ts`) getValue made 4.9–5.2M/s against 9.1–9.7M/s for the bound, and a synchronous ' +
      '`cache.peek()` wrapped in an async function made the same as getValue: the gap is the lookups, not the promise. Past it: ' +
      '`cache.peek()` called without await, or one lookup keyed by the caller\'s key.'
    );
  }
  if (name.startsWith('heap per entry, larder (embedded)')) {
    return (
      'Measured per entry (probes of 100k objects each, --expose-gc): the decoded, frozen record 191 B (the literal the Map holds: ' +
      'about 150 B; its strings are its own), the entry object 128 B (LRU links and stamp, expiry as a heap number, size, creation ' +
      'order, type, key, value, decoder; a Redis-semantics store needs each of them), its Map slot 29 B, the physical key ' +
      '(`lr:bench:{tag}k-:item:n`, about twice the caller\'s key) about 48 B, and the key memo\'s slot (caller\'s key → entry, so a ' +
      'hit skips the key layout) about 30 B. The bytes themselves are dropped once the value is decoded (issue 12: 72 B of ' +
      'buffers before). What is left above 1.2× is the entry and the physical key: a store keyed by the caller\'s key, with no ' +
      'expiry or LRU fields, would be a Map.'
    );
  }
  if (name.startsWith('heap per entry, larder (Redis + near cache)')) {
    return (
      'Per entry the near cache holds the deep-frozen decoded value (191 B for this record, against about 150 B for the literal ' +
      'the Map holds), an entry object (physical key, value, flags: 48 B), its slot in the entries\' Map and in the key memo ' +
      '(about 30 B each) and the physical key string (about 48 B). Since issue 12 the memo holds the entry itself (one lookup per ' +
      'hit, no second key string) and decoded objects hold their properties in-object (222 → 191 B). Reaching 1.2× would mean ' +
      'keying entries by the caller\'s key per namespace and dropping the physical-key strings; invalidations arrive as physical ' +
      'keys, so that is a redesign of the near cache\'s bookkeeping, not done in this release.'
    );
  }
  if (name.startsWith('embedded-store hits vs cache-manager memory')) {
    return (
      'cache-manager\'s memory store (keyv over a Map, values kept as given) made 0.18× the async Map bound at c=1 in this run, ' +
      'so ≥ 3× it needs the embedded store at ≥ 0.54× the bound; it made 0.50× (and 4.1× cache-manager at c=64). The run was at a ' +
      'load average of 14–17 on 2 cores, with rounds of one system 2× apart; the CPU-time probe (bench/harness/probes/' +
      'memory-hit.ts, best of 7) put the embedded hit at 0.54–0.63× the bound. What remains per hit, by profile: the key memo\'s ' +
      'Map lookup (17% of samples), the expiry check and lazy LRU (7%), and the harness loop itself (33%).'
    );
  }
  if (name.startsWith('lock hand-off')) {
    const col = name.includes('p50') ? 5 : 6;
    const bound = cell(r, 'raw ioredis SET NX + DEL/PUBLISH', col);
    return (
      `A hand-off is three hops: the holder's release (compare-and-delete + PUBLISH in one script), the waiter's wake-up message, the ` +
      `waiter's acquire script. The raw wake-up bound (SET NX, and DEL + PUBLISH on release: the same hops without token, fencing or ` +
      `lease) measured ${bound ?? '?'} ms in the same run. The p99 of 300 hand-offs is their third-slowest, and on this loaded 2-core VM, ` +
      `where holder, waiter and redis-server compete for CPU with other jobs, it moves from run to run (earlier full runs of this ` +
      `harness: 2.59 ms, met, and 4.61 ms).`
    );
  }
  return undefined;
}
/** Notes added under a scenario's tables at render time. */
export function notes(r: Result): string[] {
  if (r.id === 'pattern-delete') {
    return [
      'Both sides send the same commands: 1,000 SCANs (COUNT 1000) and one UNLINK per batch that found keys (server counters, ' +
        '`bench/harness/probes/delete-keys.ts`). In one probe run larder took 850–1,033 ms against 670–754 ms; about 130 ms of the ' +
        'difference was inside redis-server (SCAN 739–778 ms against 606–635 ms), the rest, about 0.05–0.1 ms per round trip, in the ' +
        'client (larder parses every returned key and matches it exactly, P1, and runs the scan through its store guard). A SCAN alone ' +
        "with each side's glob over keys written without TTL (`bench/harness/probes/scan-glob.ts`) showed no server-side difference " +
        "(547 ms against 598 ms), so the extra server time is not larder's glob by itself; not explained further here.",
    ];
  }
  if (r.id === 'memory') {
    return [
      "larder's near cache also costs Redis memory: the server's tracking table (CLIENT TRACKING) remembers which keys the client " +
        'holds, the difference between the near-cache and plain Redis rows of the used_memory column.',
    ];
  }
  if (r.id === 'write-heavy') {
    return [
      "larder sends the sets of one tick in one pipeline; cache-manager's Redis writes go through node-redis 5, which also pipelines " +
        'every command of a tick and builds commands more cheaply than ioredis (`bench/harness/probes/write-batching.ts`, one run at ' +
        'c=64: node-redis 259k/s, raw ioredis 83k/s, ioredis with auto-pipelining 120k/s, larder setValue 106k/s). A CPU profile of ' +
        'larder setValue at c=64 shows 24% garbage collection, 12% socket writes and about 10% in ioredis command building.',
    ];
  }
  return [];
}
