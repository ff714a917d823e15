/**
 * Starts real redis-server processes for tests, on free ports, and stops them afterwards.
 * Nothing here depends on the Redis that may already listen on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** SIGKILL, no shutdown: the data is gone (the server runs with persistence off). */
  kill(): Promise<void>;
  /** Starts the server again on the same port after kill(). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** Runs one command through redis-cli and returns its raw output. */
  cli(...args: string[]): Promise<string>;
}

const live = new Set<RedisServer>();
process.once('exit', () => {
  for (const s of live) s.process.kill('SIGKILL');
});

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.write('PING\r\n');
      });
      sock.once('data', (d) => {
        sock.destroy();
        // A server with requirepass answers NOAUTH: it is up all the same.
        resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface StartOptions {
  /** Extra `--name value` arguments for redis-server. */
  args?: string[];
  port?: number;
  /** The server's requirepass, if `args` set one: cli() then authenticates with it. */
  password?: string;
}

export async function startRedis(opts: StartOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'larder-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--loglevel', 'warning',
    ...(opts.args ?? []),
  ];
  let child: ChildProcess;
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    await waitForPort(port, child);
  };
  await launch();
  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    get process() {
      return child;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await server.kill();
      await launch();
    },
    async stop() {
      live.delete(server);
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async cli(...cmd: string[]) {
      return new Promise<string>((resolve, reject) => {
        const auth = opts.password === undefined ? [] : ['-a', opts.password, '--no-auth-warning'];
        const p = spawn('redis-cli', ['-p', String(port), ...auth, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('error', reject);
        p.on('exit', () => resolve(out));
      });
    },
  };
  live.add(server);
  return server;
}
