/**
 * Time for the swarm policy. The policy units never read the wall clock themselves: the real
 * fetcher and server pass `systemClock`, a simulation or a unit test passes its own.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for timeouts and rates. */
  now: () => number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock a test or simulation moves by hand. */
export class ManualClock implements Clock {
  constructor (private time = 0) {}
  now (): number { return this.time }
  advance (ms: number): void { this.time += ms }
}
