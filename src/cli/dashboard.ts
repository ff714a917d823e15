/**
 * `larder-cache dashboard` (OP3): a small HTTP server (node:http) that serves one hand-written
 * page (assets/dashboard: HTML, CSS, JS drawing SVG; no build step, no CDN) and streams, once a
 * second over Server-Sent Events, the telemetry snapshot (feed.ts) and the last doctor summary
 * (doctor.ts, re-run every `doctorEverySec` with the same bounded scan as the command).
 *
 *   GET /             the page          GET /events         text/event-stream, one `snapshot` a second
 *   GET /app.js       its script        GET /api/snapshot   the same document once, as JSON
 *   GET /style.css    its styles
 *
 * It binds to 127.0.0.1 unless told otherwise (`--host`): the page shows key names and tenants.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Aggregator, listenTelemetry, type StatsSnapshot } from './feed.js';
import { runDoctor, DOCTOR_DEFAULTS, type Finding } from './doctor.js';
import type { ScanLimits } from './scan.js';
import type { Target } from './target.js';

export const DASHBOARD_SCHEMA = 'larder-cache/dashboard@1';

export interface DoctorSummary {
  at: number;
  ok: boolean;
  /** Why the last run failed, if it did. */
  error: string | null;
  scannedKeys: number;
  namespaces: number;
  findings: Finding[];
}

export interface DashboardDocument {
  schema: typeof DASHBOARD_SCHEMA;
  store: { kind: string; endpoint: string };
  stats: StatsSnapshot;
  doctor: DoctorSummary | null;
}

export interface DashboardOptions {
  port: number;
  host: string;
  /** Seconds between two doctor runs; 0: never. */
  doctorEverySec: number;
  /** How often the page is sent a snapshot, ms (at most 2 s: OP3). */
  pushEveryMs: number;
  limits: ScanLimits;
  windowSec: number;
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

const ASSETS = new URL('../../assets/dashboard/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export async function startDashboard(target: Target, opts: DashboardOptions): Promise<Dashboard> {
  const agg = new Aggregator(opts.windowSec);
  const stopFeed = await listenTelemetry(target, (m) => agg.add(m));
  let doctor: DoctorSummary | null = null;
  let doctorTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const runDoctorOnce = async () => {
    try {
      const r = await runDoctor(target, { ...DOCTOR_DEFAULTS, ...opts.limits }, { stderr: process.stderr, quiet: true });
      doctor = { at: Date.now(), ok: r.findings.length === 0, error: null, scannedKeys: r.scanned.keys, namespaces: r.namespaces.length, findings: r.findings };
    } catch (err) {
      doctor = { at: Date.now(), ok: false, error: err instanceof Error ? err.message : String(err), scannedKeys: 0, namespaces: 0, findings: [] };
    }
    if (!closed && opts.doctorEverySec > 0) doctorTimer = setTimeout(() => void runDoctorOnce(), opts.doctorEverySec * 1000);
  };
  if (opts.doctorEverySec > 0) void runDoctorOnce();

  const documentNow = (): DashboardDocument => ({
    schema: DASHBOARD_SCHEMA,
    store: { kind: target.kind, endpoint: target.endpoint },
    stats: agg.snapshot(),
    doctor,
  });

  const streams = new Set<ServerResponse>();
  const push = setInterval(() => {
    if (streams.size === 0) return;
    const frame = `event: snapshot\ndata: ${JSON.stringify(documentNow())}\n\n`;
    for (const res of streams) res.write(frame);
  }, opts.pushEveryMs);

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(documentNow())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (path === '/api/snapshot') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(documentNow()));
      return;
    }
    const asset = FILES[path];
    if (asset === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    readFile(new URL(asset.file, ASSETS)).then(
      (body) => res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('asset missing from the package\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    async close() {
      closed = true;
      clearInterval(push);
      clearTimeout(doctorTimer);
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await stopFeed();
    },
  };
}
