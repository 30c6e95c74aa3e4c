import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../../src/store/bitfield.js'
import { SuperSeeder } from '../../../../src/swarm/policy/super-seeder.js'

describe('SuperSeeder', () => {
  it('offers each chunk until it has gone out once, then everything', () => {
    const s = new SuperSeeder(10)
    expect(s.active).toBe(true)
    expect(new Bitfield(10, s.bitfield()).count).toBe(10)
    expect(s.uploaded(3)).toBe(false)
    expect(s.offers(3)).toBe(false)
    expect(s.offers(4)).toBe(true)
    const offered = new Bitfield(10, s.bitfield())
    expect(offered.has(3)).toBe(false)
    expect(offered.count).toBe(9)
    s.uploaded(3) // a second copy (a duplicate in flight) changes nothing
    let ended = false
    for (let c = 0; c < 10; c++) if (c !== 3) ended = s.uploaded(c) || ended
    expect(ended).toBe(true)
    expect(s.active).toBe(false)
    expect(s.offers(3)).toBe(true)
    expect(s.uploaded(5)).toBe(false) // ends once
  })

  it('a crowd gets one copy of every chunk from it before any second copy', () => {
    const total = 64
    const s = new SuperSeeder(total)
    const fromOrigin = new Map<number, number>()
    // 16 fetchers ask in turn for a chunk they do not have; the origin serves only what it offers.
    const have = Array.from({ length: 16 }, () => new Set<number>())
    for (let round = 0; s.active && round < 10_000; round++) {
      const f = have[round % 16]
      const want = Array.from({ length: total }, (_, c) => c).find(c => !f.has(c) && s.offers(c))
      if (want === undefined) continue
      f.add(want)
      s.uploaded(want)
      fromOrigin.set(want, (fromOrigin.get(want) ?? 0) + 1)
    }
    expect(s.active).toBe(false)
    expect([...fromOrigin.values()].every(n => n === 1)).toBe(true)
    expect(fromOrigin.size).toBe(total)
  })
})
