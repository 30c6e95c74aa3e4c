/**
 * A seeded pseudo-random source for the simulator (mulberry32: 32 bits of state, fast, good
 * enough for drawing links and tie-breaks). Everything random in a run comes from one seed, so
 * the same seed gives the same run.
 */
export class Prng {
  private state: number

  constructor (seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9
  }

  /** A float in [0, 1). */
  next (): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /** A float in [lo, hi]. */
  range (lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }

  /** An exponential variate with the given rate (mean 1 / rate). */
  exp (rate: number): number {
    return -Math.log(1 - this.next()) / rate
  }

  /** An independent stream for one part of the model (so adding draws elsewhere changes nothing here). */
  fork (): Prng {
    return new Prng(Math.floor(this.next() * 4294967296))
  }

  /** `() => number` in [0, 1), for policy units that take a random source. */
  get random (): () => number {
    return () => this.next()
  }
}
