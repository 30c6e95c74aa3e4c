import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../../src/store/bitfield.js'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'
import { SuperSeeder } from '../../../../src/swarm/policy/super-seeder.js'

/** A seeder whose repeat allowance is closed at the start (as after a first repeat). */
function seeder (total: number, clock = new ManualClock(0), repeatEvery = 5000): SuperSeeder {
  const s = new SuperSeeder(total, { clock, repeatEvery })
  // Use up the allowance that is open at time 0, on a peer that then leaves.
  s.uploaded(0, 'x')
  s.uploaded(0, 'x')
  s.peerGone('x')
  return s
}

describe('SuperSeeder', () => {
  it('offers each chunk until a connected peer got it, and only that in HAVE', () => {
    const clock = new ManualClock(0)
    const s = seeder(10, clock)
    expect(new Bitfield(10, s.bitfield()).count).toBe(10)
    expect(s.uploaded(3, 'a')).toBe(false)
    expect(s.offers(3)).toBe(false)
    expect(s.offers(4)).toBe(true)
    const offered = new Bitfield(10, s.bitfield())
    expect(offered.has(3)).toBe(false)
    expect(offered.count).toBe(9)
    expect(s.fresh).toBe(9)
  })

  it('a crowd gets about one copy of the model from it, whatever its size', () => {
    const total = 64
    const clock = new ManualClock(0)
    const s = seeder(total, clock)
    const before = s.uploadsOf(0)
    // 40 fetchers ask in turn, one request every 10 ms, for a chunk they lack that it offers
    // them; they also get chunks from each other (modelled as: a fetcher copies one chunk from
    // a neighbour per turn), for 60 s.
    const have = Array.from({ length: 40 }, () => new Set<number>())
    let fromOrigin = 0
    for (let turn = 0; turn < 6000; turn++, clock.advance(10)) {
      const i = turn % 40
      const f = have[i]
      const id = `f${i}`
      s.asked(id)
      const want = Array.from({ length: total }, (_, c) => c).find(c => !f.has(c) && s.offers(c, id))
      if (want !== undefined) {
        s.uploaded(want, id)
        f.add(want)
        fromOrigin++
      }
      const other = have[(i + 1) % 40]
      const copy = [...other].find(c => !f.has(c))
      if (copy !== undefined) f.add(copy)
    }
    expect(have.every(f => f.size === total)).toBe(true)
    expect(s.uploadsOf(0) - before).toBeLessThanOrEqual(2)
    // One copy of each chunk, plus at most one repeat per 5 s of the 60 s.
    expect(fromOrigin).toBeLessThanOrEqual(total + 13)
    expect(s.repeats).toBeLessThanOrEqual(13)
  })

  it('spreads first copies: a peer gets at most its share while others ask', () => {
    const s = seeder(8)
    for (const p of ['a', 'b', 'c', 'd']) s.asked(p)
    expect(s.quota()).toBe(2)
    expect(s.offers(1, 'a')).toBe(true)
    s.uploaded(1, 'a')
    s.uploaded(2, 'a')
    expect(s.offers(3, 'a')).toBe(false) // its share is taken
    expect(new Bitfield(8, s.bitfield('a')).count).toBe(0)
    expect(s.offersAny('a')).toBe(false)
    expect(s.offers(3, 'b')).toBe(true)
  })

  it('a lone fetcher gets every chunk from it at once', () => {
    const s = seeder(50)
    for (let c = 0; c < 50; c++) {
      expect(s.offers(c, 'alone')).toBe(true)
      s.uploaded(c, 'alone')
    }
    expect(s.repeats).toBe(1) // the one from the helper
  })

  it('when every receiver of a chunk has gone, the chunk is offered again: no starving on the origin', () => {
    const s = seeder(4)
    for (let c = 0; c < 4; c++) s.uploaded(c, 'first') // someone took it all, then left
    expect(s.fresh).toBe(0)
    expect(s.offersAny('late')).toBe(false)
    expect(s.peerGone('first').sort()).toEqual([0, 1, 2, 3])
    expect(s.fresh).toBe(4)
    for (let c = 0; c < 4; c++) expect(s.offers(c, 'late')).toBe(true)
    expect(s.peerGone('nobody')).toEqual([])
  })

  it('a black hole (takes chunks, stays, never passes them on) slows the others, never stops them', () => {
    const clock = new ManualClock(0)
    const s = seeder(6, clock, 5000)
    for (let c = 0; c < 6; c++) s.uploaded(c, 'hole')
    const got = new Set<number>()
    // An honest fetcher polls every second for 60 s; each repeat window lets one chunk through.
    for (let t = 0; t < 60 && got.size < 6; t++, clock.advance(1000)) {
      s.asked('honest')
      if (!s.offersAny('honest')) continue
      const c = [0, 1, 2, 3, 4, 5].find(x => !got.has(x) && s.offers(x, 'honest'))
      if (c === undefined) continue
      expect(s.uploaded(c, 'honest')).toBe(true) // a repeat
      got.add(c)
      expect(s.offersAny('honest')).toBe(false) // closed until repeatAt
      expect(s.repeatAt).toBe(clock.now() + 5000)
    }
    expect(got.size).toBe(6)
  })

  it('HAVE during a repeat window shows every chunk, with no stray bits past the end', () => {
    const clock = new ManualClock(0)
    const s = new SuperSeeder(11, { clock })
    s.uploaded(0, 'a')
    const bits = s.bitfield('b')
    expect(bits.length).toBe(2)
    expect(new Bitfield(11, bits).count).toBe(11) // Bitfield rejects bits past the end
  })

  it('counts a peer as asking only for a while', () => {
    const clock = new ManualClock(0)
    const s = new SuperSeeder(12, { clock, activeFor: 30_000 })
    for (const p of ['a', 'b', 'c']) s.asked(p)
    expect(s.quota()).toBe(4)
    clock.advance(20_000)
    s.asked('a')
    clock.advance(15_000)
    expect(s.quota()).toBe(12) // b and c went quiet
  })
})
