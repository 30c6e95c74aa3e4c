import { describe, expect, it } from 'vitest'
import { EventQueue } from '../../../src/sim/event-queue.js'
import { Network, type Link } from '../../../src/sim/network.js'
import { Prng } from '../../../src/sim/prng.js'

describe('EventQueue', () => {
  it('runs events in time order, ties in scheduling order, and moves its clock', () => {
    const q = new EventQueue()
    const seen: string[] = []
    const times = [50, 10, 30, 10, 0, 99, 30]
    times.forEach((t, i) => q.at(t, () => seen.push(`${q.now()}:${i}`)))
    q.run()
    expect(seen).toEqual(['0:4', '10:1', '10:3', '30:2', '30:6', '50:0', '99:5'])
    expect(q.now()).toBe(99)
  })

  it('skips cancelled events, runs events scheduled from events, and stops where told', () => {
    const q = new EventQueue()
    const seen: number[] = []
    const doomed = q.at(5, () => seen.push(-1))
    q.at(1, () => { q.cancel(doomed); q.after(2, () => seen.push(q.now())) })
    q.at(20, () => seen.push(20))
    q.run({ until: 10 })
    expect(seen).toEqual([3])
    q.run()
    expect(seen).toEqual([3, 20])
  })

  it('keeps order over many random events (heap property)', () => {
    const q = new EventQueue()
    const rng = new Prng(7)
    const seen: number[] = []
    for (let i = 0; i < 5000; i++) q.at(rng.int(1000), () => seen.push(q.now()))
    q.run()
    expect(seen).toHaveLength(5000)
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1])
  })

  it('takes a cancelled event out of the heap at once, keeping order', () => {
    const q = new EventQueue()
    const seen: number[] = []
    const events = Array.from({ length: 20_000 }, (_, i) => q.at(20_000 - i, () => seen.push(q.now())))
    events.forEach((e, i) => { if (i % 10 !== 0) q.cancel(e) })
    expect(q.size).toBe(2000)
    q.run()
    expect(seen).toHaveLength(2000)
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1])
  })

  it('runs exactly in (time, scheduling) order through ties, cancels, reschedules and nested scheduling', () => {
    // A reference: every event scheduled or rescheduled gets the next sequence number; the run
    // must follow (time, seq) among those not cancelled when their turn comes.
    const q = new EventQueue()
    const rng = new Prng(11)
    const log: number[] = []
    const all: Array<{ id: number, time: number, seq: number, ev: ReturnType<EventQueue['at']>, ran: boolean }> = []
    let seq = 0
    const schedule = (time: number, depth: number): void => {
      const entry = { id: all.length, time: Math.max(time, q.now()), seq: seq++, ev: undefined as unknown as ReturnType<EventQueue['at']>, ran: false }
      entry.ev = q.at(time, () => {
        entry.ran = true
        log.push(entry.id)
        // Some events schedule more (at now or later), cancel or move a random pending one.
        if (depth < 2 && rng.next() < 0.3) schedule(q.now() + rng.int(3) * 5, depth + 1)
        if (rng.next() < 0.2) q.cancel(all[rng.int(all.length)].ev)
        if (rng.next() < 0.2) move(all[rng.int(all.length)], q.now() + rng.int(4) * 5)
      })
      all.push(entry)
    }
    const move = (entry: (typeof all)[number], time: number): void => {
      if (entry.ev.cancelled) return // ran or cancelled: not pending (reschedule would make it anew)
      entry.ev = q.reschedule(entry.ev, time)
      entry.time = Math.max(time, q.now())
      entry.seq = seq++
    }
    // Few distinct times: most events tie with others.
    for (let i = 0; i < 12_000; i++) schedule(rng.int(40) * 5, 0)
    for (let i = 0; i < 3000; i++) move(all[rng.int(all.length)], rng.int(40) * 5)
    for (let i = 0; i < 6000; i++) q.cancel(all[rng.int(all.length)].ev)
    q.run()
    const expected = all.filter(e => e.ran).sort((a, b) => a.time - b.time || a.seq - b.seq).map(e => e.id)
    expect(log).toEqual(expected)
    // Nothing that was cancelled before its turn ran, and everything else did.
    expect(all.filter(e => !e.ran).every(e => e.ev.cancelled)).toBe(true)
    expect(all.filter(e => e.ran).length).toBeGreaterThan(5000)
    expect(q.size).toBe(0)
  })

  it('leaves an event that ran alone when it is cancelled, and schedules one anew when it is rescheduled', () => {
    const q = new EventQueue()
    const pending = Array.from({ length: 1000 }, (_, i) => q.at(1000 + i, () => {}))
    const ran = Array.from({ length: 600 }, (_, i) => q.at(i / 10, () => {}))
    expect(q.run({ until: 999 })).toBe(600)
    for (const e of ran) q.cancel(e)
    expect(q.size).toBe(1000)
    for (const e of pending.slice(0, 400)) q.cancel(e)
    expect(q.size).toBe(600)
    let again = 0
    const ev = q.at(2000, () => again++)
    expect(q.run()).toBe(601)
    q.reschedule(ev, 3000)
    expect(q.run()).toBe(1)
    expect([again, q.now()]).toEqual([2, 3000])
  })

  it('is a Clock: never schedules into the past', () => {
    const q = new EventQueue()
    q.at(10, () => q.at(3, () => expect(q.now()).toBe(10)))
    expect(q.run()).toBe(2)
  })
})

describe('Prng', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = new Prng(42)
    const b = new Prng(42)
    const c = new Prng(43)
    const xs = Array.from({ length: 100 }, () => a.next())
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs)
    expect(xs.every(x => x >= 0 && x < 1)).toBe(true)
  })

  it('draws roughly uniform integers and exponentials with the right mean', () => {
    const r = new Prng(1)
    const counts = new Array(10).fill(0)
    for (let i = 0; i < 20_000; i++) counts[r.int(10)]++
    for (const n of counts) expect(Math.abs(n - 2000)).toBeLessThan(200)
    let sum = 0
    for (let i = 0; i < 20_000; i++) sum += r.exp(4)
    expect(sum / 20_000).toBeCloseTo(0.25, 1)
  })
})

const link = (upMbit: number, downMbit: number, latency = 0, relayOnly = false): Link =>
  ({ up: upMbit * 125, down: downMbit * 125, latency, relayOnly, kind: 'test' })

describe('Network (link sharing)', () => {
  it('splits an uploader equally among its uploads and gives the rest back when one ends', () => {
    const q = new EventQueue()
    // One uploader at 8 Mbit/s (1000 bytes/ms), two fast downloaders.
    const net = new Network(q, [link(8, 8), link(1000, 1000), link(1000, 1000)], { latency: 0, cap: Infinity })
    const done: Record<string, number> = {}
    net.start(0, 1, 1000_000, () => { done.a = q.now() })
    net.start(0, 2, 2000_000, () => { done.b = q.now() })
    q.run()
    // Both at 500 bytes/ms until a finishes at 2000 ms; b has 1,000,000 left at 1000 bytes/ms.
    expect(done.a).toBeCloseTo(2000, 6)
    expect(done.b).toBeCloseTo(3000, 6)
    expect(net.sent[0]).toBeCloseTo(3000_000, 3)
  })

  it('is limited by the downloader, the relay between two relay-only nodes, and a cap; adds the round trip', () => {
    const q = new EventQueue()
    const net = new Network(q, [link(1000, 1000, 5), link(1000, 8, 5), link(1000, 1000, 5, true), link(1000, 1000, 5, true)], { latency: 10, cap: 250 })
    const done: number[] = []
    net.start(0, 1, 100_000, () => done.push(q.now())) // 1000 bytes/ms down: 100 ms + rtt 20
    q.run()
    net.start(2, 3, 100_000, () => done.push(q.now())) // relayed: 250 bytes/ms, rtt 2 * (5 + 5 + 10)
    q.run()
    net.start(0, 2, 1000, () => done.push(q.now()), 10) // capped at 10 bytes/ms
    q.run()
    expect(done[0]).toBeCloseTo(120, 6)
    expect(done[1] - done[0]).toBeCloseTo(400 + 40, 6)
    expect(done[2] - done[1]).toBeCloseTo(100 + 20, 6)
  })

  it('counts what a cancelled transfer moved and frees its share', () => {
    const q = new EventQueue()
    const net = new Network(q, [link(8, 8), link(1000, 1000), link(1000, 1000)], { latency: 0, cap: Infinity })
    let bDone = 0
    const a = net.start(0, 1, 1000_000, () => { throw new Error('cancelled transfer completed') })
    net.start(0, 2, 1000_000, () => { bDone = q.now() })
    let moved = 0
    q.at(1000, () => { moved = net.cancel(a) })
    q.run()
    expect(moved).toBeCloseTo(500_000, 3)
    expect(bDone).toBeCloseTo(1500, 6)
  })
})

describe('Network (water-filling)', () => {
  it('gives a downloader\'s share that a slow uploader cannot use to the other transfers', () => {
    const q = new EventQueue()
    // Downloader 2 at 80 Mbit/s (10,000 bytes/ms) from a slow (8 Mbit/s = 1000) and a fast uploader.
    const net = new Network(q, [link(8, 1000), link(1000, 1000), link(1000, 80)], { latency: 0, cap: Infinity })
    const slow = net.start(0, 2, 1000_000, () => {})
    const fast = net.start(1, 2, 9000_000, () => {})
    expect(slow.rate).toBeCloseTo(1000, 6)
    expect(fast.rate).toBeCloseTo(9000, 6)
    q.run()
    expect(q.now()).toBeCloseTo(1000, 6)
  })
})
