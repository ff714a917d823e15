// Child processes for resilience tests: spawned with the source condition and tsx, talking IPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Child {
  proc: ChildProcess;
  /** The next IPC message of this type (messages are queued until asked for). */
  next<T = Record<string, unknown>>(type: string, timeoutMs?: number): Promise<T>;
  send(msg: object): void;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

export function spawnFixture(file: string, args: string[]): Child {
  const path = fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
  const proc = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const inbox: Array<{ type: string }> = [];
  const waiting: Array<{ type: string; resolve: (m: unknown) => void }> = [];
  proc.on('message', (m: { type: string }) => {
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return {
    proc,
    next<T>(type: string, timeoutMs = 30_000) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} message from ${file} in ${timeoutMs} ms`)), timeoutMs);
        const exit = (code: number | null) => reject(new Error(`${file} exited (${code}) before sending ${type}`));
        proc.once('exit', exit);
        waiting.push({
          type,
          resolve: (m) => {
            clearTimeout(timer);
            proc.off('exit', exit);
            resolve(m as T);
          },
        });
      });
    },
    send(msg) {
      proc.send(msg);
    },
  };
}
