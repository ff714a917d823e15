/**
 * Everything the harness starts (redis-servers, child processes) is registered here and torn
 * down on every way out: normal end, an error, Ctrl-C, SIGTERM. A benchmark that leaves a
 * redis-server behind on a shared machine skews the next person's run.
 */
/** May return a promise: cleanUp awaits it. */
type Cleanup = () => unknown;

const cleanups = new Set<Cleanup>();

/** Registers `fn`; returns a function that unregisters it (after a normal stop). */
export function track(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function cleanUp(): Promise<void> {
  const fns = [...cleanups].reverse();
  cleanups.clear();
  await Promise.allSettled(fns.map(async (f) => f()));
}

let installed = false;
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping redis-servers and child processes`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
}
