/**
 * Time as a shared suite's test of time logic sees it, so that one test body runs on both kinds:
 * on a store that can run on the fake clock (the embedded store) the test moves the clock and
 * asserts exactly; on Redis, which expires keys and leases on its own clock and answers in real
 * time, the same body waits for real time.
 */
import { performance } from 'node:perf_hooks';
import { delay } from '../../src/clock.js';
import type { FakeClock } from './fake-clock.js';

export interface TestTime {
  /** On the fake clock: exact, where real time allows only bounds. */
  readonly fake: boolean;
  /** Lets `ms` pass: the fake clock moves on (running what falls due), real time is waited out. */
  pass(ms: number): Promise<void>;
  /** Resolves `ms` from now (on the fake clock: once the test moves it that far). */
  delay(ms: number): Promise<void>;
  /** Awaits `p`; on the fake clock, moving from timer to timer until it settles. */
  run<T>(p: Promise<T>): Promise<T>;
  /** Ms from an arbitrary origin. */
  now(): number;
}

// Redis expires keys and leases on its own clock, and its replies come in real time: on a server
// the tests of time logic wait for real time, and this is where they do.
const realDelay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const realTime: TestTime = Object.freeze({
  fake: false,
  pass: realDelay,
  delay: realDelay,
  run: <T>(p: Promise<T>) => p,
  now: () => performance.now(),
});

export function fakeTime(clock: FakeClock): TestTime {
  return {
    fake: true,
    pass: (ms) => clock.advance(ms),
    delay: (ms) => delay(clock, ms),
    run: (p) => clock.runUntil(p),
    now: () => clock.monotonic(),
  };
}
