/**
 * Child processes of the harness (bench/harness/child.ts), spoken to over IPC: the stampede
 * scenario needs several processes racing on one Redis, and heap figures need a fresh process
 * per system so that nothing another system left in the heap shows up in the difference.
 * Every child is registered for clean-up and killed if the run ends early.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track } from './cleanup.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

export interface Child {
  proc: ChildProcess;
  send(msg: object): void;
  /** The next message from the child (rejects if it exits first). */
  next<T>(): Promise<T>;
  /** Asks the child to close its adapter and exit; resolves when it has. */
  exit(): Promise<void>;
}

export function spawnChild(args: string[], opts: { exposeGc?: boolean } = {}): Child {
  const node = ['--conditions=larder-source', '--import', 'tsx', ...(opts.exposeGc ? ['--expose-gc'] : [])];
  const proc = spawn(process.execPath, [...node, CHILD, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const untrack = track(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const inbox: unknown[] = [];
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void }> = [];
  let exited: Error | undefined;
  proc.on('message', (m) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else inbox.push(m);
  });
  const ended = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      untrack();
      exited = new Error(`child ${args.join(' ')} exited (${code ?? signal})`);
      for (const w of waiting.splice(0)) w.reject(exited);
      resolve();
    }),
  );
  return {
    proc,
    send: (msg) => proc.send(msg),
    next<T>() {
      if (inbox.length > 0) return Promise.resolve(inbox.shift() as T);
      if (exited) return Promise.reject(exited);
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (m: unknown) => void, reject }));
    },
    async exit() {
      if (proc.exitCode === null && proc.signalCode === null && proc.connected) proc.send({ type: 'exit' });
      await ended;
    },
  };
}
