/**
 * Bounded waiting for the specs: every wait has a limit and fails with a message naming what did not happen, so a
 * hung server shows as a clear failure instead of mocha's generic timeout. Not timing assertions: the bounds are
 * generous and the assertions are on what happened.
 */

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run `fn` with a bound: rejects with `what` if it has not settled within `ms` milliseconds. */
export async function within<T>(ms: number, what: string, fn: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
