/**
 * How the command line prints: a human table (cli-table3) by default, or one JSON document with
 * `--json`. Tables are plain (no colours): they are read in terminals, CI logs and pasted into
 * tickets alike. Numbers are formatted for people in tables only; JSON keeps raw numbers.
 */
import Table from 'cli-table3';
import type { Writable } from 'node:stream';

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true }, wordWrap: false });
  for (const r of rows) t.push(r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)));
  return t.toString();
}

export function writeLine(out: Writable, text = ''): void {
  out.write(`${text}\n`);
}

export function writeJson(out: Writable, doc: unknown): void {
  out.write(`${JSON.stringify(doc, null, 2)}\n`);
}

/** A TTL in ms for a table: `none`, `850 ms`, `42 s`, `3.5 h`. */
export function formatTtl(ms: number | null): string {
  if (ms === null) return 'none';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.1 ? 1 : 0)}%`;
}

export function nsName(ns: string | null): string {
  return ns ?? '(shared)';
}
