import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, GiB, MiB, type SimConfig } from '../../../src/sim/config.js'
import type { Link } from '../../../src/sim/network.js'
import { SwarmSim } from '../../../src/sim/swarm-sim.js'
import { CHOKE_BACKOFF, SERVER_DEFAULTS } from '../../../src/swarm/constants.js'

// The server's upload slots as the simulator models them (swarm/server.ts, upload-slots.ts): a
// request that finds every slot taken waits in line up to queueTimeout, unless as many wait
// already as run; then BUSY, and the session asks again after 1 s doubling to 4 s.

const mbit = (m: number): number => m * 125
const link = (up: number, down: number): Link => ({ up: mbit(up), down: mbit(down), latency: 5, relayOnly: false, kind: 'server' })

/** An origin (a plain seeder) and `fetchers` fetchers, every node with `maxUploads` upload slots. */
function swarm (over: Partial<SimConfig> & { fetchers: number }): SwarmSim {
  const { fetchers, ...rest } = over
  return new SwarmSim({
    ...DEFAULT_CONFIG,
    peers: fetchers,
    initialSeeding: false,
    fixedLinks: Array.from({ length: fetchers }, () => link(1000, 1000)),
    fixedArrivals: Array.from({ length: fetchers }, () => 0),
    maxTimeMs: 600_000,
    ...rest
  })
}

describe('upload slots in the simulator', () => {
  it('keeps the real defaults: 2 s in line, BUSY backoff 1 s doubling to 4 s', () => {
    expect(DEFAULT_CONFIG.queueTimeout).toBe(SERVER_DEFAULTS.queueTimeout)
    expect(CHOKE_BACKOFF).toEqual({ first: 1000, max: 4000 })
  })

  it('lets a request that finds every slot taken wait in line and take the next free one: no BUSY while uploads are short', () => {
    // Two fetchers of 32 MiB with one buffer each, one upload slot per node: at most one
    // request runs and one waits at any node, and a chunk takes ~35 ms at 1 Gbit/s, so a
    // request in line always gets its slot within the 2 s.
    const queued = swarm({ fetchers: 2, gib: 32 * MiB / GiB, maxUploads: 1, maxInFlight: 1 })
    const r = queued.run()
    expect(r.completed).toBe(2)
    expect(queued.counters.busy).toBe(0)
    expect(queued.nodes.every(n => n.slotQueue.length === 0)).toBe(true)
    // With no time in line each such request hears BUSY and backs off instead.
    const refused = swarm({ fetchers: 2, gib: 32 * MiB / GiB, maxUploads: 1, maxInFlight: 1, queueTimeout: 0 })
    const r0 = refused.run()
    expect(r0.completed).toBe(2)
    expect(refused.counters.busy).toBeGreaterThan(0)
  })

  it('answers BUSY after queueTimeout while the one slot stays taken, and the session backs off 1, 2, 4, 4 s', () => {
    // One 4 MiB chunk, an origin with one slot on a 1 Mbit/s uplink (33.6 s for the chunk):
    // fetcher 1 takes the slot at once; fetcher 2 arrives 0.1 s later and waits in line. Each
    // wait ends in BUSY after 2 s (plus a round trip), then the session waits its backoff.
    const sim = swarm({ fetchers: 2, gib: 4 * MiB / GiB, maxUploads: 1, originMbit: 1, fixedArrivals: [0, 100] })
    const busyAt: number[] = []
    const count = (): void => {
      if (sim.counters.busy > busyAt.length) busyAt.push(sim.queue.now())
      if (sim.queue.now() < 40_000) sim.queue.after(10, count)
    }
    sim.queue.at(0, count)
    const r = sim.run()
    expect(r.completed).toBe(2)
    // BUSY at ~2.1 s, then asked again 1 s later and BUSY 2 s after that (~5.1), then 2 s
    // backoff (~9.1), then 4 s (~15.1, ~21.1, ~27.1, ~33.1): seven until the slot frees.
    expect(busyAt.length).toBe(7)
    const gaps = busyAt.slice(1).map((t, i) => t - busyAt[i])
    for (const [i, backoff] of [1000, 2000, 4000, 4000, 4000, 4000].entries()) {
      expect(gaps[i]).toBeGreaterThan(backoff + SERVER_DEFAULTS.queueTimeout - 50)
      expect(gaps[i]).toBeLessThan(backoff + SERVER_DEFAULTS.queueTimeout + 100)
    }
    // Fetcher 2 got the chunk from fetcher 1 or the origin once the slot was free.
    expect(sim.nodes[2].doneAt).toBeGreaterThan(33_000)
  })

  it('scales the wait in line with the piece at piece granularity (a slot turns over once per piece)', () => {
    // As above with one piece of 2 chunks: the first BUSY comes after 2 x queueTimeout.
    const sim = swarm({ fetchers: 2, gib: 8 * MiB / GiB, pieceChunks: 2, maxUploads: 1, originMbit: 1, fixedArrivals: [0, 100] })
    expect(sim.plan.pieceChunks).toBe(2)
    let firstBusy = -1
    const watch = (): void => {
      if (firstBusy < 0 && sim.counters.busy > 0) firstBusy = sim.queue.now()
      if (firstBusy < 0 && sim.queue.now() < 20_000) sim.queue.after(10, watch)
    }
    sim.queue.at(0, watch)
    sim.run()
    expect(firstBusy).toBeGreaterThan(100 + 2 * SERVER_DEFAULTS.queueTimeout)
    expect(firstBusy).toBeLessThan(100 + 2 * SERVER_DEFAULTS.queueTimeout + 100)
  })

  it('answers BUSY at once when as many requests wait in line as uploads run', () => {
    // One slot and a slow uplink: the first fetcher uploads, the second waits in line, the
    // rest are refused at once (a round trip, no 2 s wait): more BUSY than with a long line.
    const sim = swarm({ fetchers: 6, gib: 4 * MiB / GiB, maxUploads: 1, originMbit: 1 })
    let longest = 0
    const watch = (): void => {
      longest = Math.max(longest, sim.nodes[0].slotQueue.length)
      if (sim.queue.now() < 30_000) sim.queue.after(50, watch)
    }
    sim.queue.at(0, watch)
    const r = sim.run()
    expect(r.completed).toBe(6)
    expect(longest).toBe(1)
    expect(sim.nodes.every(n => n.slotQueue.length === 0)).toBe(true)
  })
})
