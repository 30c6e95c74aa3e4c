/**
 * Link classes and the default mix of a simulated swarm. Capacities are drawn uniformly from
 * each class's range, in Mbit/s (1 Mbit/s = 125 bytes per ms). A `--links FILE` replaces the
 * mix with a JSON array of classes of the same shape.
 */
import type { Link, RelayModel } from './network.js'
import type { Prng } from './prng.js'

export interface LinkClass {
  kind: string
  /** Relative weight of this class in the mix. */
  share: number
  upMbit: [number, number]
  downMbit: [number, number]
  latencyMs: [number, number]
  /** Fraction of this class reachable only through a relay (no public address, no port mapping). */
  relayOnly?: number
}

/**
 * The default mix: mostly home connections (fibre and cable, uplinks 20-100 Mbit/s, a fifth of
 * them behind NAT that nothing opens), some servers (1-10 Gbit/s). A user who fetches a 70 GB
 * model at home mostly has a fast downlink; a slow downlink alone decides its own completion
 * time, whatever the swarm does.
 */
export const DEFAULT_LINKS: LinkClass[] = [
  { kind: 'home', share: 0.75, upMbit: [20, 100], downMbit: [300, 1000], latencyMs: [10, 40], relayOnly: 0.2 },
  { kind: 'server', share: 0.25, upMbit: [1000, 10_000], downMbit: [1000, 10_000], latencyMs: [2, 20] }
]

/** A relay run for the swarm (public relays' 128 KiB limit would carry no chunks at all). */
export const DEFAULT_RELAY: RelayModel = { latency: 30, cap: mbit(20) }

export function mbit (n: number): number {
  return n * 125
}

export class LinksFileError extends Error {
  static override name = 'LinksFileError'
  override name = 'LinksFileError'
}

/** Checks a parsed `--links` file. */
export function parseLinkClasses (value: unknown): LinkClass[] {
  if (!Array.isArray(value) || value.length === 0) throw new LinksFileError('a links file holds a non-empty JSON array of link classes')
  const pair = (v: unknown, what: string): [number, number] => {
    if (!Array.isArray(v) || v.length !== 2 || !v.every(n => typeof n === 'number' && Number.isFinite(n) && n >= 0) || v[0] > v[1]) {
      throw new LinksFileError(`${what} must be [min, max] with 0 <= min <= max`)
    }
    return [v[0], v[1]]
  }
  return value.map((c: any, i) => {
    if (c == null || typeof c !== 'object') throw new LinksFileError(`class ${i} is not an object`)
    const share = Number(c.share)
    if (!(share > 0)) throw new LinksFileError(`class ${i}: share must be > 0`)
    const relayOnly = c.relayOnly == null ? 0 : Number(c.relayOnly)
    if (!(relayOnly >= 0 && relayOnly <= 1)) throw new LinksFileError(`class ${i}: relayOnly must be within [0, 1]`)
    const up = pair(c.upMbit, `class ${i}: upMbit`)
    const down = pair(c.downMbit, `class ${i}: downMbit`)
    if (up[0] <= 0 || down[0] <= 0) throw new LinksFileError(`class ${i}: capacities must be > 0`)
    return { kind: String(c.kind ?? `class${i}`), share, upMbit: up, downMbit: down, latencyMs: pair(c.latencyMs ?? [10, 10], `class ${i}: latencyMs`), relayOnly }
  })
}

/** Draws one node's link from the mix. */
export function drawLink (classes: LinkClass[], rng: Prng): Link {
  const total = classes.reduce((n, c) => n + c.share, 0)
  let x = rng.next() * total
  let c = classes[classes.length - 1]
  for (const k of classes) {
    if (x < k.share) { c = k; break }
    x -= k.share
  }
  return {
    kind: c.kind,
    up: mbit(rng.range(c.upMbit[0], c.upMbit[1])),
    down: mbit(rng.range(c.downMbit[0], c.downMbit[1])),
    latency: rng.range(c.latencyMs[0], c.latencyMs[1]),
    relayOnly: rng.next() < (c.relayOnly ?? 0)
  }
}
