import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../../src/store/bitfield.js'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'
import { PiecePicker } from '../../../../src/swarm/policy/piece-picker.js'

/** A peer as the fetcher keeps it: what it has, and what it is fetching (updated here). */
class Peer {
  readonly inFlight = new Set<number>()
  constructor (readonly has: (chunk: number) => boolean = () => true) {}

  take (s: PiecePicker): number | undefined {
    const chunk = s.next(this)
    if (chunk !== undefined) {
      expect(this.inFlight.has(chunk)).toBe(false) // never asked of the same peer twice
      this.inFlight.add(chunk)
    }
    return chunk
  }

  done (s: PiecePicker, chunk: number, ok: boolean, verified?: Bitfield): void {
    this.inFlight.delete(chunk)
    if (ok) verified?.set(chunk)
    s.finish(chunk, ok)
  }
}

describe('PiecePicker', () => {
  it('hands out chunks in order from the start, wrapping around the end', () => {
    const s = new PiecePicker(new Bitfield(10), { start: 7 })
    const p = new Peer()
    const order = Array.from({ length: 10 }, () => p.take(s))
    expect(order).toEqual([7, 8, 9, 0, 1, 2, 3, 4, 5, 6])
    expect(p.take(s)).toBeUndefined() // one peer: no duplicate of its own requests
  })

  it('hands every chunk out once before any duplicate', () => {
    const total = 12
    const s = new PiecePicker(new Bitfield(total), { start: 5, endgameRemaining: total }) // endgame from the start
    const peers = [new Peer(), new Peer(), new Peer()]
    const handed: number[] = []
    for (let i = 0; handed.length < total + 6; i++) {
      const chunk = peers[i % 3].take(s)
      if (chunk === undefined) break
      handed.push(chunk)
    }
    expect(new Set(handed.slice(0, total)).size).toBe(total)
    expect(handed.length).toBe(total + 6)
    for (const c of handed.slice(total)) expect(handed.slice(0, total)).toContain(c)
    for (let c = 0; c < total; c++) expect(handed.filter(h => h === c).length).toBeLessThanOrEqual(2)
  })

  it('skips chunks already verified', () => {
    const verified = new Bitfield(8)
    for (const c of [0, 1, 5]) verified.set(c)
    const s = new PiecePicker(verified, { start: 4 })
    const p = new Peer()
    expect([p.take(s), p.take(s), p.take(s), p.take(s), p.take(s), p.take(s)]).toEqual([4, 6, 7, 2, 3, undefined])
  })

  it('retries a failed chunk first', () => {
    const s = new PiecePicker(new Bitfield(10), { start: 0 })
    const p = new Peer()
    for (let i = 0; i < 5; i++) p.take(s)
    p.done(s, 2, false)
    p.done(s, 4, false)
    expect(p.take(s)).toBe(2)
    expect(p.take(s)).toBe(4)
    expect(p.take(s)).toBe(5)
  })

  it('does not retry a chunk that was verified meanwhile', () => {
    const verified = new Bitfield(4)
    const s = new PiecePicker(verified, { start: 0, maxDuplicates: 1 }) // no endgame duplicates: only retries show
    const a = new Peer()
    const b = new Peer()
    for (let i = 0; i < 4; i++) a.take(s)
    expect(b.take(s)).toBeUndefined()
    a.done(s, 2, false)
    verified.set(3) // arrived from elsewhere
    a.done(s, 3, false)
    expect(b.take(s)).toBe(2)
    expect(b.take(s)).toBeUndefined()
  })

  it('keeps the duplicate bound when a copy fails while another is in flight', () => {
    const s = new PiecePicker(new Bitfield(1), { start: 0, maxDuplicates: 2 })
    const [a, b, c, d] = [new Peer(), new Peer(), new Peer(), new Peer()]
    expect(a.take(s)).toBe(0)
    expect(b.take(s)).toBe(0)
    a.done(s, 0, false) // b still fetches it
    expect(c.take(s)).toBe(0)
    expect(d.take(s)).toBeUndefined()
  })

  it('gives a peer only chunks it has, and a failed chunk to a peer that has it', () => {
    const s = new PiecePicker(new Bitfield(10), { start: 0, endgameRemaining: 10 })
    const even = new Peer(c => c % 2 === 0)
    const all = new Peer()
    const got: number[] = []
    for (let c = even.take(s); c !== undefined; c = even.take(s)) got.push(c)
    expect(got).toEqual([0, 2, 4, 6, 8])
    even.done(s, 4, false)
    const odd = new Peer(c => c % 2 === 1)
    expect(odd.take(s)).toBe(1) // the retry (4) is not something odd has
    expect(all.take(s)).toBe(4)
    expect(even.take(s)).toBe(4) // endgame: a copy of the one chunk in flight elsewhere that it has
    expect(even.take(s)).toBeUndefined()
    expect(odd.take(s)).toBe(3)
  })

  it('in the endgame, duplicates a chunk at most maxDuplicates times and never to a peer fetching it', () => {
    for (const maxDuplicates of [1, 2, 3]) {
      const total = 3
      const s = new PiecePicker(new Bitfield(total), { start: 1, maxDuplicates })
      const peers = Array.from({ length: 5 }, () => new Peer())
      const count = new Map<number, number>()
      let progress = true
      while (progress) {
        progress = false
        for (const p of peers) {
          const c = p.take(s)
          if (c === undefined) continue
          progress = true
          count.set(c, (count.get(c) ?? 0) + 1)
        }
      }
      expect([...count.keys()].sort()).toEqual([0, 1, 2])
      for (const n of count.values()) expect(n).toBe(maxDuplicates)
    }
  })

  it('never duplicates a chunk that is verified, and stops when all are', () => {
    const verified = new Bitfield(2)
    const s = new PiecePicker(verified, { start: 0 })
    const a = new Peer()
    const b = new Peer()
    expect([a.take(s), a.take(s)]).toEqual([0, 1])
    verified.set(0) // arrived from elsewhere while a still waits for it
    expect(b.take(s)).toBe(1)
    a.done(s, 1, true, verified)
    b.done(s, 1, true, verified)
    expect(b.take(s)).toBeUndefined()
    a.done(s, 0, true, verified)
    expect(a.take(s)).toBeUndefined()
  })

  it('frees a slot when a duplicate finishes', () => {
    const s = new PiecePicker(new Bitfield(1), { start: 0, maxDuplicates: 2 })
    const [a, b, c] = [new Peer(), new Peer(), new Peer()]
    expect(a.take(s)).toBe(0)
    expect(b.take(s)).toBe(0)
    expect(c.take(s)).toBeUndefined() // two in flight already
    b.done(s, 0, false)
    expect(c.take(s)).toBe(0)
  })

  it('handles a release with no chunks', () => {
    const s = new PiecePicker(new Bitfield(0), { start: 0 })
    expect(s.next(new Peer())).toBeUndefined()
    expect(s.total).toBe(0)
  })
})

describe('PiecePicker: rarest first and endgame order', () => {
  it('asks for the chunk the fewest partial peers hold, ties in order from the start', () => {
    const s = new PiecePicker(new Bitfield(6), { start: 2 })
    const held = (cs: number[]): Bitfield => { const b = new Bitfield(6); for (const c of cs) b.set(c); return b }
    s.addHave(held([2, 3, 4, 5])) // a partial peer holds these
    s.addHave(held([2, 3]))
    const seeder = new Peer()
    // 0 and 1 nobody else holds: they come first, in order from the start (2, 3, 4, 5, 0, 1)
    expect(seeder.take(s)).toBe(0)
    expect(seeder.take(s)).toBe(1)
    expect(seeder.take(s)).toBe(4) // held once
    expect(seeder.take(s)).toBe(5)
    expect(seeder.take(s)).toBe(2) // held twice, in order
    s.addChunk(3) // now held three times: still the only one left
    expect(seeder.take(s)).toBe(3)
  })

  it('forgets a peer that left', () => {
    const s = new PiecePicker(new Bitfield(3), { start: 0 })
    const b = new Bitfield(3); b.set(0); b.set(1)
    s.addHave(b)
    s.addHave(b, -1)
    expect(new Peer().take(s)).toBe(0)
  })

  it('in the endgame duplicates the chunk outstanding longest first', () => {
    const clock = new ManualClock(1000)
    const verified = new Bitfield(3)
    const s = new PiecePicker(verified, { start: 0, clock })
    const slow = new Peer()
    const fast = new Peer()
    expect(slow.take(s)).toBe(0)
    clock.advance(10)
    expect(fast.take(s)).toBe(1)
    clock.advance(10)
    expect(fast.take(s)).toBe(2)
    fast.done(s, 1, true, verified)
    fast.done(s, 2, true, verified)
    expect(fast.take(s)).toBe(0) // the slow peer's, outstanding since 1000
    expect(s.copies(0)).toBe(2)
  })
})

describe('PiecePicker: endgame only near the end or for stragglers', () => {
  it('gives no second copy while more than endgameRemaining chunks are missing, unless one straggles', () => {
    const clock = new ManualClock(0)
    const verified = new Bitfield(20)
    const s = new PiecePicker(verified, { start: 0, clock, endgameRemaining: 4, stragglerAfter: 10_000 })
    const slow = new Peer(c => c < 2) // holds 0 and 1 only
    const fast = new Peer(c => c < 2)
    expect(slow.take(s)).toBe(0)
    expect(slow.take(s)).toBe(1)
    expect(s.remaining).toBe(20)
    expect(fast.take(s)).toBeUndefined() // 20 missing > 4: no copy of a healthy request
    clock.advance(9_999)
    expect(fast.take(s)).toBeUndefined()
    clock.advance(2)
    expect(fast.take(s)).toBe(0) // a straggler: in flight for more than 10 s
    expect(s.copies(0)).toBe(2)
    expect(fast.take(s)).toBe(1)
  })

  it('copies a straggler before handing out new chunks, so a trickler frees its buffer soon', () => {
    const clock = new ManualClock(0)
    const verified = new Bitfield(20)
    const s = new PiecePicker(verified, { start: 0, clock, endgameRemaining: 4, stragglerAfter: 30_000 })
    const trickler = new Peer()
    const seed = new Peer()
    expect(trickler.take(s)).toBe(0)
    expect(seed.take(s)).toBe(1) // not a straggler yet: a new chunk
    clock.advance(30_001)
    expect(seed.take(s)).toBe(0) // 18 new chunks are left, but chunk 0 straggles: its copy first
    expect(seed.take(s)).toBe(2)
  })

  it('gives a chunk one copy beyond maxDuplicates when every copy in flight straggles, and no more', () => {
    const clock = new ManualClock(0)
    const verified = new Bitfield(4)
    for (const c of [1, 2, 3]) verified.set(c)
    const s = new PiecePicker(verified, { start: 0, clock, maxDuplicates: 2, endgameRemaining: 8, stragglerAfter: 30_000 })
    const [t1, t2, seed, other] = [new Peer(), new Peer(), new Peer(), new Peer()]
    expect(t1.take(s)).toBe(0) // a trickler takes the last chunk
    clock.advance(1000)
    expect(t2.take(s)).toBe(0) // its endgame copy goes to another trickler
    expect(seed.take(s)).toBeUndefined() // two copies: maxDuplicates
    clock.advance(29_000)
    expect(seed.take(s)).toBeUndefined() // the newest copy is 29 s old: not yet a straggler
    clock.advance(1000)
    expect(seed.take(s)).toBe(0) // both straggle: a third copy
    expect(s.copies(0)).toBe(3)
    clock.advance(60_000)
    expect(other.take(s)).toBeUndefined() // never a fourth
    seed.done(s, 0, true, verified)
    expect(s.remaining).toBe(0)
  })

  it('duplicates any chunk in flight once at most endgameRemaining are missing', () => {
    const clock = new ManualClock(0)
    const verified = new Bitfield(6)
    const s = new PiecePicker(verified, { start: 0, clock, endgameRemaining: 2, stragglerAfter: 60_000 })
    const a = new Peer()
    const b = new Peer()
    for (let c = 0; c < 6; c++) expect(a.take(s)).toBe(c)
    expect(b.take(s)).toBeUndefined()
    for (let c = 0; c < 4; c++) a.done(s, c, true, verified)
    expect(s.remaining).toBe(2)
    expect(b.take(s)).toBe(4)
    expect(b.take(s)).toBe(5)
  })

  it('counts what a partial fetch leaves out as not missing', () => {
    const verified = new Bitfield(10)
    const wanted = new Bitfield(10)
    for (const c of [2, 3, 4]) wanted.set(c)
    const s = new PiecePicker(verified, { wanted, endgameRemaining: 3 })
    expect(s.remaining).toBe(3)
    const a = new Peer()
    const b = new Peer()
    expect(a.take(s)).toBe(2)
    expect(b.take(s)).toBe(3)
    expect(b.take(s)).toBe(4)
    expect(b.take(s)).toBe(2) // within the last 3: a copy of the other peer's chunk
  })
})

describe('PiecePicker: the bitfield shortcut', () => {
  it('picks exactly as without it (random swarms, random starts, sizes not a multiple of 8)', () => {
    let seed = 7
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    for (let round = 0; round < 40; round++) {
      const total = 1 + Math.floor(rnd() * 70)
      const start = Math.floor(rnd() * total)
      const verified = [new Bitfield(total), new Bitfield(total), new Bitfield(total)]
      for (let c = 0; c < total; c++) if (rnd() < 0.4) for (const v of verified) v.set(c)
      // Without bits, with bits, with bits that are exactly `has`.
      const [a, b, e] = verified.map(v => new PiecePicker(v, { start }))
      const peers = Array.from({ length: 4 }, () => {
        const have = new Bitfield(total)
        for (let c = 0; c < total; c++) if (rnd() < 0.5) have.set(c)
        for (const p of [a, b, e]) p.addHave(have)
        return have
      })
      for (let step = 0; step < 3 * total; step++) {
        const have = peers[step % peers.length]
        const inFlight = new Set<number>()
        const x = a.next({ has: c => have.has(c), inFlight })
        const y = b.next({ has: c => have.has(c), inFlight, bits: have.bytes })
        const z = e.next({ has: c => have.has(c), inFlight, bits: have.bytes, exact: true })
        expect(y).toBe(x)
        expect(z).toBe(x)
        if (x !== undefined && rnd() < 0.5) {
          for (const v of verified) v.set(x)
          for (const p of [a, b, e]) p.finish(x, true)
        } else if (x !== undefined && rnd() < 0.3) {
          for (const p of [a, b, e]) p.finish(x, false) // back to be asked again
        }
      }
    }
  })
})

describe('PiecePicker: a quiet peer (stillQuiet)', () => {
  it('promises "nothing for this peer" only while next would indeed answer undefined (random runs)', () => {
    let seed = 11
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    let promises = 0
    let broken = 0
    for (let round = 0; round < 60; round++) {
      const total = 8 + Math.floor(rnd() * 60)
      const clock = new ManualClock()
      const verified = new Bitfield(total)
      const s = new PiecePicker(verified, { start: Math.floor(rnd() * total), clock, endgameRemaining: 3, stragglerAfter: 1000 })
      const peers = Array.from({ length: 5 }, () => {
        const have = new Bitfield(total)
        for (let c = 0; c < total; c++) if (rnd() < 0.3) have.set(c)
        return { have, inFlight: new Set<number>(), quiet: undefined as { version: number, until: number } | undefined }
      })
      for (let step = 0; step < 30 * total && verified.count < total; step++) {
        const r = rnd()
        if (r < 0.5) {
          const p = peers[Math.floor(rnd() * peers.length)]
          const view = { has: (c: number) => p.have.has(c), inFlight: p.inFlight, bits: p.have.bytes }
          const promised = p.quiet !== undefined && s.stillQuiet(p.quiet.version, p.quiet.until, view)
          const chunk = s.next(view)
          if (promised) {
            promises++
            if (chunk !== undefined) broken++
          }
          if (chunk === undefined) p.quiet = { version: s.version, until: s.quietUntil() }
          else p.inFlight.add(chunk)
        } else if (r < 0.8) {
          // A request ends: verified, or not (back to be asked again).
          const p = peers[Math.floor(rnd() * peers.length)]
          const chunk = [...p.inFlight][0]
          if (chunk === undefined) continue
          p.inFlight.delete(chunk)
          const ok = rnd() < 0.6
          if (ok) verified.set(chunk)
          s.finish(chunk, ok)
        } else if (r < 0.9) {
          // A peer gets a chunk: the caller forgets what it knew of that peer.
          const p = peers[Math.floor(rnd() * peers.length)]
          p.have.set(Math.floor(rnd() * total))
          p.quiet = undefined
        } else {
          clock.advance(Math.floor(rnd() * 400))
        }
      }
    }
    expect(promises).toBeGreaterThan(500)
    expect(broken).toBe(0)
  })

  it('wakes a quiet peer for a chunk it has that came back, and when a chunk in flight straggles', () => {
    const clock = new ManualClock()
    const s = new PiecePicker(new Bitfield(40), { clock, stragglerAfter: 1000, endgameRemaining: 2 })
    const a = { has: (c: number) => c < 20, inFlight: new Set<number>() }
    const b = { has: (c: number) => c === 0, inFlight: new Set<number>() }
    const c = { has: (c: number) => c === 30, inFlight: new Set<number>() }
    for (let chunk = 0; chunk < 20; chunk++) a.inFlight.add(s.next(a) as number)
    expect(s.next(c)).toBe(30)
    expect(s.next(a)).toBeUndefined()
    expect(s.next(b)).toBeUndefined() // its one chunk is in flight, and no straggler yet
    const quietA = { version: s.version, until: s.quietUntil() }
    const quietB = { ...quietA }
    expect(quietA.until).toBe(1000) // chunk 0, asked at 0, straggles then
    expect(s.stillQuiet(quietA.version, quietA.until, a)).toBe(true)
    s.finish(30, false) // back to be asked again, but not a chunk a has
    expect(s.stillQuiet(quietA.version, quietA.until, a)).toBe(true)
    a.inFlight.delete(5)
    s.finish(5, false) // back, and a has it
    expect(s.stillQuiet(quietA.version, quietA.until, a)).toBe(false)
    expect(s.next(a)).toBe(5)
    expect(s.stillQuiet(quietB.version, quietB.until, b)).toBe(true)
    clock.advance(999)
    expect(s.stillQuiet(quietB.version, quietB.until, b)).toBe(true)
    expect(s.next(b)).toBeUndefined()
    clock.advance(1)
    expect(s.stillQuiet(quietB.version, quietB.until, b)).toBe(false)
    expect(s.next(b)).toBeUndefined() // 0 was asked at 0: a straggler only after 1000
    clock.advance(1)
    expect(s.next(b)).toBe(0) // a copy of the straggler
  })
})
