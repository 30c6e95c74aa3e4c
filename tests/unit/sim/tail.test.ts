import { describe, expect, it } from 'vitest'
import { parseSimArgs } from '../../../src/sim/args.js'
import { DEFAULT_CONFIG, type SimConfig } from '../../../src/sim/config.js'
import { STATES, formatExplain } from '../../../src/sim/explain.js'
import { SwarmSim } from '../../../src/sim/swarm-sim.js'

const run = (over: Partial<SimConfig>): ReturnType<SwarmSim['run']> => new SwarmSim({ ...DEFAULT_CONFIG, seed: 1, ...over }).run()

describe('the tail of a swarm (--explain)', () => {
  it('samples where time goes without changing the run, and says it by group', () => {
    const cfg: Partial<SimConfig> = { peers: 60, gib: 0.1, hostile: 0.1 }
    const plain = run(cfg)
    const explained = run({ ...cfg, explain: true })
    expect(plain.explain).toBeUndefined()
    expect(explained.times).toEqual(plain.times)
    expect(explained.requests).toBe(plain.requests)
    const groups = explained.explain ?? []
    expect(groups.map(g => g.group)).toEqual(['fastest 50%', 'middle 45-55%', 'slowest 5%'])
    for (const g of groups) {
      expect(g.peers).toBeGreaterThan(0)
      expect(STATES.reduce((a, s) => a + g.states[s], 0)).toBeCloseTo(1, 6)
      expect(Object.values(g.from).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6)
    }
    expect(groups[2].meanSeconds).toBeGreaterThanOrEqual(groups[0].meanSeconds)
    expect(formatExplain(groups)).toMatch(/slowest 5% \(\d+ peers/)
    expect(parseSimArgs(['--explain']).config.explain).toBe(true)
  })

  // The cause of the tail found with --explain: a fetcher whose buffers were all held by slow
  // home uplinks never asked the servers that had choked it again (the simulator polled a choked
  // fetcher only when a buffer happened to be free at its uploader's tick), so their chokers saw
  // it idle, and its slowest 5% got every byte from home peers. The real session waits for a
  // buffer like any other request, by priority (untried and fast peers first), and asks then.
  it('lets a choked fetcher with every buffer busy ask its choking servers again when a buffer frees', () => {
    const r = run({ peers: 300, gib: 0.5, explain: true })
    expect(r.completed).toBe(r.honest)
    const slowest = (r.explain ?? [])[2]
    // Before: 0% from servers, p99/p50 2.2.
    expect(slowest.from.server).toBeGreaterThan(0.25)
    expect(r.p99 / r.p50).toBeLessThan(1.6)
  })
})
