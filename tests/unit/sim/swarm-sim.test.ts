import { describe, expect, it, vi } from 'vitest'
import { parseArrivals, parseSimArgs } from '../../../src/sim/args.js'
import { DEFAULT_CONFIG, SimConfigError, piecePlan, type SimConfig } from '../../../src/sim/config.js'
import { LinksFileError, parseLinkClasses } from '../../../src/sim/links.js'
import { completionSvg, gini, percentile } from '../../../src/sim/report.js'
import { SwarmSim } from '../../../src/sim/swarm-sim.js'
import { Choker } from '../../../src/swarm/policy/choker.js'
import { PeerBook } from '../../../src/swarm/policy/peer-book.js'
import { PiecePicker } from '../../../src/swarm/policy/piece-picker.js'
import { UploadLimit } from '../../../src/swarm/policy/upload-limit.js'

const small = (over: Partial<SimConfig> = {}): SimConfig => ({ ...DEFAULT_CONFIG, peers: 50, gib: 0.25, ...over })

describe('a small simulated swarm', () => {
  it('finishes every honest peer, sends the model out of the origin at least once, bans corrupt senders and HAVE liars', () => {
    const sim = new SwarmSim(small({ hostile: 0.2, seed: 3 }))
    // The simulated nodes run the shipped policy units, not copies.
    const anyFetcher = sim.nodes.find(n => n.role === 'honest') as (typeof sim.nodes)[number]
    expect(anyFetcher.choker).toBeInstanceOf(Choker)
    const r = sim.run()
    expect(r.honest).toBe(40)
    expect(r.completed).toBe(r.honest)
    expect(r.times.every(t => t > 0 && Number.isFinite(t))).toBe(true)
    expect(r.originUploadRatio).toBeGreaterThanOrEqual(1)
    // Every byte an honest peer holds was sent by someone.
    const sent = sim.net.sent.reduce((a, b) => a + b, 0)
    expect(sent).toBeGreaterThanOrEqual(r.honest * sim.plan.modelBytes)
    // One corrupt chunk bans at once; a pair whose first answer was still on its way when the
    // fetch finished was never judged.
    const { corrupt, liar } = r.hostileBanned
    expect(corrupt.pairs).toBeGreaterThan(0)
    expect(corrupt.banned).toBe(corrupt.struck)
    expect(corrupt.banned).toBeGreaterThanOrEqual(0.95 * corrupt.pairs)
    expect(liar.pairs).toBeGreaterThan(0)
    // Every liar asked was caught; a struck peer is asked last (PeerBook.priority), so a fetch
    // may finish before it asks a liar the third time.
    expect(liar.struck).toBe(liar.pairs)
    expect(liar.banned).toBeGreaterThanOrEqual(0.8 * liar.pairs)
    expect(r.wasted.corrupt).toBeGreaterThan(0)
    expect(r.wastedRatio).toBeGreaterThan(0)
    expect(r.wastedRatio).toBeLessThan(1)
    expect(r.p50).toBeLessThanOrEqual(r.p90)
    expect(r.p90).toBeLessThanOrEqual(r.p99)
  })

  it('gives the same result for the same seed and another for another seed', () => {
    const cfg = (seed: number): SimConfig => small({ peers: 30, gib: 0.25, hostile: 0.1, churn: 0.2, churnWindowMs: 20_000, seed })
    const a = new SwarmSim(cfg(11)).run()
    const b = new SwarmSim(cfg(11)).run()
    const c = new SwarmSim(cfg(12)).run()
    expect(b).toEqual(a)
    expect(c.times).not.toEqual(a.times)
  })

  it('strikes tricklers at the chunk deadline and bans most of them when fetches last long enough (a slow origin)', () => {
    const r = new SwarmSim(small({ peers: 30, gib: 0.25, hostile: 0.3, originMbit: 4, seed: 5 })).run()
    expect(r.completed).toBe(r.honest)
    const { pairs, struck, banned } = r.hostileBanned.trickle
    expect(pairs).toBeGreaterThan(0)
    // A fetch that asked a trickler less than three deadlines before it finished cannot have banned it.
    expect(struck).toBeGreaterThanOrEqual(0.9 * pairs)
    expect(banned).toBeGreaterThanOrEqual(0.5 * pairs)
    expect(r.wasted.trickle).toBeGreaterThan(0)
  })

  it('survives churn: peers that leave mid-fetch come back and finish', () => {
    const sim = new SwarmSim(small({ peers: 30, churn: 0.5, churnWindowMs: 20_000, churnAwayMs: [5_000, 20_000], seed: 8 }))
    const r = sim.run()
    expect(r.completed).toBe(r.honest)
    expect(r.wasted.churn).toBeGreaterThan(0)
  })

  it('asks a peer only for a chunk it picked: a fetcher with nothing to take from a peer never reaches its choker', () => {
    // As swarm/session.ts: take a buffer, pick from the peer's HAVE, and only then request; with
    // nothing to pick, no request (so the peer's choker does not count it as interested).
    const sim = new SwarmSim(small({ peers: 60, gib: 0.5, seed: 5 }))
    let asks = 0
    let unpicked = 0
    const real = Choker.prototype.request
    const spy = vi.spyOn(Choker.prototype, 'request').mockImplementation(function (this: Choker<number>, peer: number) {
      asks++
      const fetcher = sim.nodes[peer]
      const uploader = sim.nodes.find(n => n.choker === this) as (typeof sim.nodes)[number]
      const f = fetcher.fetch
      // The chunk picked for this request: marked in flight by the picker, not yet requested.
      let picked = false
      for (let p = 0; f != null && p < sim.plan.pieces && !picked; p++) {
        picked = uploader.claims(p) && !fetcher.have.has(p) && f.picker.copies(p) > (f.requests.get(p)?.length ?? 0)
      }
      if (!picked) unpicked++
      return real.call(this, peer)
    })
    try {
      const r = sim.run()
      expect(r.completed).toBe(r.honest)
    } finally {
      spy.mockRestore()
    }
    expect(asks).toBeGreaterThan(500)
    expect(sim.counters.busy).toBeGreaterThan(50)
    expect(unpicked).toBe(0)
  })

  it('skips only the picks that would find nothing: the same run with and without the shortcut, with fewer picks', () => {
    // Coarse pieces (one copy at a time from a holder), hostile peers and churn: every way a
    // neighbour's offer or the picker's state changes.
    const cfg = small({ peers: 60, gib: 1, pieceChunks: 5, hostile: 0.1, churn: 0.3, churnWindowMs: 30_000, churnAwayMs: [5_000, 20_000], seed: 4 })
    const run = (quietPicks: boolean): { result: ReturnType<SwarmSim['run']>, picks: number, sent: number[] } => {
      const spy = vi.spyOn(PiecePicker.prototype, 'next')
      try {
        const sim = new SwarmSim({ ...cfg, quietPicks })
        const result = sim.run()
        return { result, picks: spy.mock.calls.length, sent: Array.from(sim.net.sent) }
      } finally {
        spy.mockRestore()
      }
    }
    const slow = run(false)
    const fast = run(true)
    expect(slow.result.completed).toBe(slow.result.honest)
    expect(fast.result).toEqual(slow.result)
    expect(fast.sent).toEqual(slow.sent)
    expect(fast.picks).toBeLessThan(0.8 * slow.picks)
  })

  it('hands fetchers the shipped picker and peer book', () => {
    const started = new SwarmSim(small({ peers: 5, gib: 0.05, arrivals: { kind: 'flash', windowMs: 0 } }))
    started.queue.at(0, () => {})
    ;(started as any).arrive(started.nodes[1], 0)
    expect(started.nodes[1].fetch?.picker).toBeInstanceOf(PiecePicker)
    expect(started.nodes[1].fetch?.book).toBeInstanceOf(PeerBook)
  })

  it('runs the shipped upload limit: on 2-8 Mbit/s uplinks home peers learn to run fewer than 32 uploads', () => {
    const slowHomes: SimConfig['links'] = [
      { kind: 'home', share: 0.9, upMbit: [2, 8], downMbit: [50, 200], latencyMs: [10, 40] },
      { kind: 'server', share: 0.1, upMbit: [100, 1000], downMbit: [100, 1000], latencyMs: [2, 20] }
    ]
    const sim = new SwarmSim(small({ peers: 60, gib: 0.25, links: slowHomes, seed: 2 }))
    const result = sim.run()
    expect(result.completed).toBe(result.honest)
    const honest = sim.nodes.slice(1).filter(n => !n.hostile)
    expect(honest.every(n => n.uploadLimit instanceof UploadLimit)).toBe(true)
    const homeLimits = honest.filter(n => n.link.kind === 'home').map(n => (n.uploadLimit as UploadLimit).value)
    expect(Math.min(...homeLimits)).toBeLessThan(32)
    expect(Math.min(...homeLimits)).toBeGreaterThanOrEqual(2)
  })
})

describe('simulator inputs and figures', () => {
  it('parses arrivals and flags, and names bad input', () => {
    expect(parseArrivals('flash')).toEqual({ kind: 'flash', windowMs: 10_000 })
    expect(parseArrivals('flash:60')).toEqual({ kind: 'flash', windowMs: 60_000 })
    expect(parseArrivals('poisson:2.5')).toEqual({ kind: 'poisson', perSecond: 2.5 })
    expect(() => parseArrivals('poisson:0')).toThrow(SimConfigError)
    expect(() => parseArrivals('burst')).toThrow(expect.objectContaining({ name: 'SimConfigError' }))
    const { config, json } = parseSimArgs(['--peers', '10', '--gib', '2', '--hostile', '0.1', '--seed', '4', '--json'])
    expect(config).toMatchObject({ peers: 10, gib: 2, hostile: 0.1, seed: 4 })
    expect(json).toBe(true)
    expect(() => parseSimArgs(['--peers', 'many'])).toThrow(SimConfigError)
    expect(() => new SwarmSim(small({ hostile: 1 }))).toThrow(expect.objectContaining({ name: 'SimConfigError' }))
  })

  it('checks a links file', () => {
    const ok = parseLinkClasses([{ kind: 'nas', share: 1, upMbit: [10, 20], downMbit: [100, 100], latencyMs: [5, 10], relayOnly: 0.5 }])
    expect(ok[0]).toMatchObject({ kind: 'nas', relayOnly: 0.5 })
    for (const bad of [[], {}, [{ share: 0, upMbit: [1, 2], downMbit: [1, 2] }], [{ share: 1, upMbit: [3, 2], downMbit: [1, 2] }], [{ share: 1, upMbit: [0, 2], downMbit: [1, 2] }], [{ share: 1, upMbit: [1, 2], downMbit: [1, 2], relayOnly: 2 }]]) {
      expect(() => parseLinkClasses(bad)).toThrow(LinksFileError)
    }
  })

  it('coarsens pieces only when a run would be too big', () => {
    expect(piecePlan(small()).pieceChunks).toBe(1)
    const big = piecePlan({ ...DEFAULT_CONFIG, peers: 10_000, gib: 70 })
    expect(big.pieceChunks).toBeGreaterThan(1)
    expect(big.pieces * big.pieceBytes).toBeCloseTo(big.modelBytes, 0)
  })

  it('counts peers not done by the time limit as never done', () => {
    const r = new SwarmSim(small({ peers: 20, gib: 0.25, maxTimeMs: 5_000 })).run()
    expect(r.completed).toBeLessThan(r.honest)
    expect(r.p99).toBe(Infinity)
  })

  it('stops between simulated minutes when told to (Ctrl-C), with the figures so far; untold, as run()', async () => {
    // A slow origin: 0.25 GiB at 4 Mbit/s takes minutes.
    const cfg = small({ peers: 20, gib: 0.25, originMbit: 4 })
    let minutes = 0
    const cut = new SwarmSim(cfg)
    const r = await cut.runUntil(() => minutes >= 1, () => { minutes++ })
    expect(minutes).toBe(1)
    expect(cut.queue.now()).toBeLessThanOrEqual(60_000)
    expect(r.completed).toBeLessThan(r.honest)
    const whole = await new SwarmSim(cfg).runUntil(() => false)
    expect(whole).toEqual(new SwarmSim(cfg).run())
    expect(whole.completed).toBe(whole.honest)
  })

  it('computes percentiles, Gini and an SVG', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2)
    expect(percentile([1, 2, 3, 4], 0.99)).toBe(4)
    expect(gini([1, 1, 1, 1])).toBe(0)
    expect(gini([0, 0, 0, 4])).toBeCloseTo(0.75, 6)
    const r = new SwarmSim(small({ peers: 8, gib: 0.05 })).run()
    const svg = completionSvg(r, 'a <title>')
    expect(svg).toMatch(/^<svg /)
    expect(svg).toContain('a &lt;title>')
    expect(svg).toContain('p99')
  })
})
