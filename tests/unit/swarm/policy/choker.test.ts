import { describe, expect, it } from 'vitest'
import { Choker } from '../../../../src/swarm/policy/choker.js'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'

/** A seeded random source, so draws are repeatable. */
function seeded (seed: number): () => number {
  let x = seed
  return () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31 }
}

describe('Choker', () => {
  it('serves everyone while no more peers want chunks than there are slots', () => {
    const choker = new Choker({ slots: 2, optimistic: 1 })
    expect(['a', 'b', 'c'].map(p => choker.request(p))).toEqual([true, true, true])
    expect(choker.request('d')).toBe(false)
  })

  it('gives the regular slots to the peers that uploaded most to us, and one optimistic slot to another', () => {
    const clock = new ManualClock(0)
    const choker = new Choker({ slots: 2, optimistic: 1, interval: 1000, optimisticInterval: 3000, clock, random: seeded(7) })
    const peers = ['a', 'b', 'c', 'd', 'e', 'f']
    for (const p of peers) choker.request(p)
    choker.received('e', 5_000_000)
    choker.received('f', 3_000_000)
    clock.advance(1000)
    for (const p of peers) choker.request(p)
    const served = choker.serving
    expect(served.slice(0, 2)).toEqual(['e', 'f'])
    expect(served.length).toBe(3)
    expect(['a', 'b', 'c', 'd']).toContain(served[2])
    expect(choker.request(served[2])).toBe(true)
    const choked = peers.filter(p => !served.includes(p))
    for (const p of choked) expect(choker.request(p)).toBe(false)
  })

  it('rotates the optimistic slot over time, so every interested peer gets a turn', () => {
    const clock = new ManualClock(0)
    const choker = new Choker({ slots: 1, optimistic: 1, interval: 1000, optimisticInterval: 1000, clock, random: seeded(3) })
    const peers = ['a', 'b', 'c', 'd']
    choker.received('a', 1_000_000)
    const lucky = new Set<string>()
    for (let round = 0; round < 40; round++) {
      clock.advance(1000)
      for (const p of peers) choker.request(p)
      choker.received('a', 1_000_000)
      for (const p of choker.serving) if (p !== 'a') lucky.add(p)
    }
    expect([...lucky].sort()).toEqual(['b', 'c', 'd'])
  })

  it('forgets peers that stopped asking, freeing their slots', () => {
    const clock = new ManualClock(0)
    const choker = new Choker({ slots: 1, optimistic: 0, interval: 1000, idleAfter: 2000, clock })
    expect(choker.request('a')).toBe(true)
    expect(choker.request('b')).toBe(false)
    clock.advance(3000)
    expect(choker.request('b')).toBe(true)
  })

  it('decides the same whatever the peer key (string ids in the node, numbers in the simulator)', () => {
    // The simulator keys the same policy by node number; only the key type may differ.
    const run = <K>(key: (i: number) => K): boolean[] => {
      const clock = new ManualClock(0)
      const choker = new Choker<K>({ clock, random: seeded(3) })
      const rng = seeded(9)
      const answers: boolean[] = []
      for (let step = 0; step < 400; step++) {
        const peer = key(Math.floor(rng() * 30))
        if (rng() < 0.3) choker.received(peer, Math.floor(rng() * 4_000_000))
        if (rng() < 0.2) choker.sent(peer, Math.floor(rng() * 4_000_000))
        answers.push(choker.request(peer))
        clock.advance(Math.floor(rng() * 500))
      }
      return answers
    }
    const byString = run(i => `peer-${i}`)
    expect(run(i => i)).toEqual(byString)
    // Not a run that says yes (or no) to everything: the slots were contested.
    expect(byString.filter(Boolean).length).toBeGreaterThan(40)
    expect(byString.filter(x => !x).length).toBeGreaterThan(40)
  })
})
