/**
 * The handler of a failure dropped on purpose: `p.catch(ignore)` where the caller has already
 * failed or given up (a release after an error, a best-effort unsubscribe), and the no-op callback.
 * One named function, so each use reads as a decision rather than an accident.
 */
export function ignore(): void {
  // Nothing to do: that is the point.
}
