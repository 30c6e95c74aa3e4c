import { describe, expect, it } from 'vitest'
import { formatResult, parseSimArgs } from '../../../src/sim/args.js'
import { DEFAULT_CONFIG, GiB, MiB, type SimConfig } from '../../../src/sim/config.js'
import type { Link } from '../../../src/sim/network.js'
import { SwarmSim } from '../../../src/sim/swarm-sim.js'

const mbit = (m: number): number => m * 125
const link = (up: number, down: number, kind: string): Link => ({ up: mbit(up), down: mbit(down), latency: 5, relayOnly: false, kind })

/**
 * One fetcher (peer 1) with 2 buffers; two complete seeders: a slow one (8 Mbit/s, peer 2)
 * there from the start, and a fast one (800 Mbit/s, peer 3) arriving at 20 s; a slow origin
 * (1 Mbit/s). 64 MiB: 4 pieces of 4 chunks, or 16 of 1.
 */
function scenario (pieceChunks: number, chunkCuts = true): SwarmSim {
  const cfg: SimConfig = {
    ...DEFAULT_CONFIG,
    peers: 3,
    gib: 64 * MiB / GiB,
    pieceChunks,
    maxInFlight: 2,
    originMbit: 1,
    initialSeeding: false,
    fixedLinks: [link(1000, 1000, 'server'), link(8, 1000, 'home'), link(800, 1000, 'server')],
    fixedArrivals: [0, 0, 20_000],
    maxTimeMs: 600_000,
    chunkCuts
  }
  const sim = new SwarmSim(cfg)
  for (const seeder of [sim.nodes[2], sim.nodes[3]]) for (let p = 0; p < sim.plan.pieces; p++) seeder.got(p)
  return sim
}

const sum = (xs: ArrayLike<number>): number => Array.from(xs).reduce((a, b) => a + b, 0)

describe('a piece request at chunk boundaries (coarse pieces)', () => {
  it('ends a slow uploader\'s piece at a chunk boundary when a faster peer waits, the fast one sends only the rest, no byte twice', () => {
    const sim = scenario(4)
    sim.run()
    const fetcher = sim.nodes[1]
    const model = sim.plan.modelBytes
    expect(fetcher.have.complete).toBe(true)
    expect(sim.counters.cuts).toBeGreaterThanOrEqual(1)
    // Without the cut the fast seeder waits for the slow one's whole 16 MiB piece (done at
    // about 34 s); with it, the buffer moves at the next 4 MiB boundary after 20 s.
    expect(fetcher.doneAt).toBeLessThan(25_000)
    // A piece was split between the two seeders: the slow one's share is not whole pieces.
    const slow = sim.counters.useful[2]
    expect(slow % sim.plan.pieceBytes).not.toBe(0)
    expect(slow % (sim.plan.pieceBytes / 4)).toBeLessThan(2)
    expect(sim.counters.useful[3]).toBeGreaterThan(0)
    // Every byte the fetcher needed was counted once; everything else sent is counted as wasted.
    expect(Math.abs(sum(sim.counters.useful) - model)).toBeLessThan(2)
    expect(Math.abs(sum(sim.net.sent) - model - sim.counters.endgame)).toBeLessThan(2)
    expect(fetcher.partBytes.size).toBe(0)
  })

  it('gives about the time of the chunk-granularity run of the same scenario; without the cut, not', () => {
    const coarse = scenario(4)
    coarse.run()
    const fine = scenario(1)
    fine.run()
    const uncut = scenario(4, false)
    uncut.run()
    expect(fine.counters.cuts).toBe(0)
    expect(uncut.counters.cuts).toBe(0)
    expect(Math.abs(coarse.nodes[1].doneAt - fine.nodes[1].doneAt)).toBeLessThan(3000)
    // The slow seeder holds the buffer for its whole piece: done about 12 s later.
    expect(uncut.nodes[1].doneAt - fine.nodes[1].doneAt).toBeGreaterThan(8000)
  })

  it('changes nothing at chunk granularity: no request ends early, no partial piece', () => {
    const sim = new SwarmSim({ ...DEFAULT_CONFIG, peers: 80, gib: 0.25, pieceChunks: 1, hostile: 0.1, seed: 4 })
    const r = sim.run()
    expect(r.completed).toBe(r.honest)
    expect(sim.counters.cuts).toBe(0)
    expect(sim.nodes.every(n => n.partBytes.size === 0)).toBe(true)
  })

  it('is on by default, off with --no-chunk-cuts, and a coarse run says it is coarse', () => {
    expect(parseSimArgs([]).config.chunkCuts).toBe(true)
    expect(parseSimArgs(['--no-chunk-cuts']).config.chunkCuts).toBe(false)
    const coarse = scenario(4)
    const text = formatResult(coarse.run(), 1)
    expect(text).toMatch(/ended at a chunk boundary/)
    expect(text).toMatch(/^coarse: a peer passes a piece on only once it holds all 4 chunks/m)
    expect(formatResult(scenario(1).run(), 1)).not.toMatch(/coarse:|chunk boundary/)
  })

  it('keeps coarse runs whole: every honest peer done, the needed bytes counted once', () => {
    const sim = new SwarmSim({ ...DEFAULT_CONFIG, peers: 80, gib: 0.5, pieceChunks: 8, hostile: 0.1, seed: 4 })
    const r = sim.run()
    expect(r.completed).toBe(r.honest)
    expect(sim.counters.cuts).toBeGreaterThan(0)
    expect(Math.abs(sum(sim.counters.useful) - r.honest * sim.plan.modelBytes)).toBeLessThan(r.honest * 2)
    expect(sim.nodes.every(n => n.partBytes.size === 0)).toBe(true)
  })
})

/**
 * A slow seeder (8 Mbit/s, peer 1) holds 16 MiB as one piece of 4 chunks (or 4 of 1); three
 * fast fetchers (peers 2-4) arrive at once; a very slow origin (0.1 Mbit/s).
 */
function oneHolder (pieceChunks: number, serialPieces = true): SwarmSim {
  const cfg: SimConfig = {
    ...DEFAULT_CONFIG,
    peers: 4,
    gib: 16 * MiB / GiB,
    pieceChunks,
    originMbit: 0.1,
    initialSeeding: false,
    fixedLinks: [link(8, 1000, 'home'), link(1000, 1000, 'server'), link(1000, 1000, 'server'), link(1000, 1000, 'server')],
    fixedArrivals: [0, 100, 100, 100],
    maxTimeMs: 600_000,
    serialPieces
  }
  const sim = new SwarmSim(cfg)
  for (let p = 0; p < sim.plan.pieces; p++) sim.nodes[1].got(p)
  return sim
}

const lastDone = (sim: SwarmSim): number => Math.max(...sim.nodes.slice(2).map(n => n.doneAt))

describe('a coarse piece leaves its holder one copy at a time', () => {
  it('passes the piece on at the holder\'s full rate, as the real chunks do, not at a share of it to everyone at once', () => {
    const serial = oneHolder(4)
    serial.run()
    const shared = oneHolder(4, false)
    shared.run()
    const fine = oneHolder(1)
    fine.run()
    for (const sim of [serial, shared, fine]) expect(sim.nodes.slice(2).every(n => n.have.complete)).toBe(true)
    // At chunk granularity the fetchers ask the holder for chunks at once (some the same) and
    // swap them: all done at about 30 s. As one piece sent to all three at once, a third of the
    // uplink each: about 50 s. One copy at a time: the first in 17 s, the others from it or
    // from the holder again, within a quarter of the fine run.
    expect(lastDone(serial)).toBeLessThan(1.25 * lastDone(fine))
    expect(lastDone(shared)).toBeGreaterThan(1.5 * lastDone(fine))
    expect(Math.min(...serial.nodes.slice(2).map(n => n.doneAt))).toBeLessThan(20_000)
    // Never two copies of the piece from one peer at once.
    expect(serial.net.sent[1]).toBeLessThan(2.1 * serial.plan.modelBytes)
    expect(serial.nodes.every(n => n.sending.size === 0)).toBe(true)
  })

  it('changes nothing at chunk granularity', () => {
    const a = oneHolder(1)
    const b = oneHolder(1, false)
    expect(a.run()).toEqual(b.run())
  })
})
