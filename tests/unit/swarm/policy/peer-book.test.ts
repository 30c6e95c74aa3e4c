import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'
import { PeerBook } from '../../../../src/swarm/policy/peer-book.js'

describe('PeerBook', () => {
  it('gives an unproven peer one slot, a delivering one all, a much slower one one again', () => {
    const book = new PeerBook({ maxSlots: 4, slowFactor: 8 })
    expect(book.slots('a')).toBe(1)
    book.delivered('a', 4_000_000, 20) // 200 bytes/ms
    expect(book.slots('a')).toBe(4)
    book.delivered('b', 4_000_000, 4_000) // 1 byte/ms: 200x slower
    expect(book.slots('b')).toBe(1)
    book.delivered('c', 4_000_000, 100) // 5x slower: fine
    expect(book.slots('c')).toBe(4)
  })

  it('bans after three strikes, at once for a corrupt chunk, and says why', () => {
    const bans: string[] = []
    const book = new PeerBook({ onBan: (p) => bans.push(p) })
    expect(book.offence('t', 'timeout', 'too slow')).toBe(false)
    expect(book.slots('t')).toBe(1)
    expect(book.offence('t', 'stall', 'no data')).toBe(false)
    expect(book.offence('t', 'closed', 'connection reset')).toBe(false) // not a strike
    expect(book.offence('t', 'no-delivery', 'nothing')).toBe(true)
    expect(book.offence('x', 'corrupt', 'bad hash')).toBe(true)
    expect(bans).toEqual(['t', 'x'])
    expect(book.admit('t')).toMatchObject({ ok: false })
    expect(book.slots('t')).toBe(0)
    expect(book.reasons().find(([p]) => p === 't')?.[1]).toMatch(/3 strikes/)
  })

  it('forgives a strike for every `forgiveEvery` chunks delivered', () => {
    const book = new PeerBook({ forgiveEvery: 2 })
    book.offence('p', 'timeout', 'slow once')
    book.offence('p', 'timeout', 'slow twice')
    for (let i = 0; i < 4; i++) book.delivered('p', 1000, 1)
    expect(book.strikes('p')).toBe(0)
    expect(book.offence('p', 'timeout', 'slow again')).toBe(false)
  })

  it('backs off a failing peer, doubling while its sessions deliver nothing, and honours the ban list', () => {
    const clock = new ManualClock(0)
    const elsewhere = new Set(['old'])
    const book = new PeerBook({ clock, firstRetry: 1000, maxRetry: 5000, bannedElsewhere: p => elsewhere.has(p) ? 'sent garbage last week' : undefined })
    expect(book.admit('old')).toMatchObject({ ok: false, reason: 'banned earlier: sent garbage last week' })
    expect(book.sessionEnded('p', 0, 'reset')).toBe(1000)
    expect(book.admit('p')).toMatchObject({ ok: false, retryAt: 1000 })
    clock.advance(1000)
    expect(book.admit('p')).toEqual({ ok: true })
    expect(book.sessionEnded('p', 0, 'reset')).toBe(1000 + 2000)
    expect(book.sessionEnded('p', 0, 'reset')).toBe(1000 + 4000)
    expect(book.sessionEnded('p', 0, 'reset')).toBe(1000 + 5000)
    expect(book.sessionEnded('p', 3, 'reset')).toBe(1000 + 1000) // it had delivered: soon
  })
})

describe('PeerBook.priority', () => {
  it('puts peers not tried yet first, then by rate; struck peers by rate only; banned last', () => {
    const book = new PeerBook({ clock: new ManualClock(0) })
    expect(book.priority('new')).toBe(Infinity)
    book.delivered('fast', 4_000_000, 100)
    book.delivered('slow', 4_000_000, 10_000)
    expect(book.priority('fast')).toBeGreaterThan(book.priority('slow'))
    expect(book.priority('slow')).toBeGreaterThan(0)
    book.offence('trickler', 'timeout', 'too slow')
    expect(book.priority('trickler')).toBe(0) // never delivered: no rate
    book.offence('liar', 'corrupt', 'bad chunk')
    expect(book.priority('liar')).toBe(-1)
  })

  it('drops a peer that lost a race before it delivered anything from "not tried yet" to the back', () => {
    const book = new PeerBook({ clock: new ManualClock(0) })
    book.delivered('seed', 4_000_000, 1000)
    expect(book.priority('trickler')).toBe(Infinity) // never asked: measured first
    // Its first chunk came from another peer first (an endgame copy): it was tried, and was slower.
    book.outrun('trickler')
    expect(book.priority('trickler')).toBe(0)
    expect(book.priority('seed')).toBeGreaterThan(book.priority('trickler'))
    // No strike: losing a race is no offence.
    expect(book.strikes('trickler')).toBe(0)
    expect(book.admit('trickler')).toEqual({ ok: true })
    // A proven peer that loses a race keeps its place by rate, and its slots.
    const before = book.priority('seed')
    book.outrun('seed')
    expect(book.priority('seed')).toBe(before)
    expect(book.slots('seed')).toBe(4)
  })

  it('snubs a peer outrun before it delivered anything: no slot for snubFor, then one again', () => {
    const clock = new ManualClock(0)
    const book = new PeerBook({ clock, snubFor: 30_000 })
    expect(book.slots('t')).toBe(1)
    book.outrun('t') // its first chunk came from elsewhere first: an endgame copy must not go to it
    expect(book.slots('t')).toBe(0)
    clock.advance(29_999)
    expect(book.slots('t')).toBe(0)
    clock.advance(1)
    expect(book.slots('t')).toBe(1)
    // Once it delivers, a lost race no longer snubs it.
    book.delivered('t', 4_000_000, 1000)
    book.outrun('t')
    expect(book.slots('t')).toBe(4)
  })
})
