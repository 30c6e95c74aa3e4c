/**
 * Announcer with two DHTs (public + LAN): each is announced to and retried on its own, so a
 * LAN DHT that answers at once never hides a public DHT that reached nobody.
 * Then retries with doubling backoff up to its cap, the staleness warning, stop, and timeouts,
 * against scripted DHTs (the announcer's seam), under fake timers where time matters.
 */
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Announcer, type AnnounceTarget } from '../../../src/discovery/announcer.js'

function fakeDht (reachesPeers: boolean): AnnounceTarget['dht'] & { calls: number, cancelled: number } {
  const dht = {
    calls: 0,
    cancelled: 0,
    provide: async function * () {
      dht.calls++
      if (reachesPeers) yield { name: 'PEER_RESPONSE', messageName: 'ADD_PROVIDER' }
    } as any,
    cancelReprovide: async () => { dht.cancelled++ }
  }
  return dht
}

describe('Announcer with several DHTs', () => {
  it('reports success per DHT, warns and retries only the one that reached nobody, withdraws from both', async () => {
    const lan = fakeDht(true)
    const pub = fakeDht(false)
    const announced: Array<{ cid: string, peers: number, dht?: string }> = []
    const warnings: string[] = []
    const announcer = new Announcer([{ name: 'the public DHT', dht: pub }, { name: 'the LAN DHT', dht: lan }], {
      backoff: 50,
      onAnnounced: e => announced.push(e),
      onWarning: m => warnings.push(m)
    })
    announcer.start()
    const cid = CID.createV1(0x71, await sha256.digest(new Uint8Array([7])))
    try {
      announcer.add(cid)
      announcer.add(cid) // a second add of the same CID is a no-op
      const end = Date.now() + 3000
      while (pub.calls < 3 && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 20))
      expect(announced).toEqual([{ cid: cid.toString(), peers: 1, dht: 'the LAN DHT' }])
      expect(lan.calls).toBe(1)
      expect(pub.calls).toBeGreaterThanOrEqual(3)
      expect(warnings[0]).toMatch(/on the public DHT reached no peer/)
      expect(warnings.every(w => !w.includes('LAN'))).toBe(true)
      announcer.withdraw(cid)
      const calls = pub.calls
      await new Promise(resolve => setTimeout(resolve, 300))
      expect(pub.calls).toBe(calls)
      expect([pub.cancelled, lan.cancelled]).toEqual([1, 1])
    } finally {
      announcer.stop()
    }
  })
})

/** A DHT whose answers the test scripts: `reach(call)` peers for the call-th provide. */
function scriptedDht (reach: (call: number) => number): AnnounceTarget['dht'] & { times: number[] } {
  const dht = {
    times: [] as number[],
    provide: async function * () {
      const call = dht.times.length
      dht.times.push(Date.now())
      for (let i = 0; i < reach(call); i++) yield { name: 'PEER_RESPONSE', messageName: 'ADD_PROVIDER' }
    } as any,
    cancelReprovide: async () => {}
  }
  return dht
}

async function someCid (seed: number): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new Uint8Array([seed, 1, 2])))
}

const HOUR = 3_600_000

describe('Announcer retries, backoff and staleness (fake timers)', () => {
  afterEach(() => { vi.useRealTimers() })

  it('retries an announce that reached nobody with a doubling wait, capped at maxBackoff, and says so each time', async () => {
    vi.useFakeTimers()
    const start = Date.now()
    const dht = scriptedDht(() => 0)
    const warnings: string[] = []
    const announcer = new Announcer(dht, { backoff: 1000, maxBackoff: 5000, onWarning: w => warnings.push(w) })
    announcer.start()
    try {
      announcer.add(await someCid(1))
      await vi.advanceTimersByTimeAsync(22_500)
      expect(dht.times.map(t => t - start)).toEqual([0, 1000, 3000, 7000, 12_000, 17_000, 22_000])
      expect(warnings.map(w => /Retrying in (\d+) s/.exec(w)?.[1])).toEqual(['1', '2', '4', '5', '5', '5', '5'])
      expect(warnings[0]).toMatch(/reached no peer; others cannot find this node/)
    } finally {
      announcer.stop()
    }
  })

  it('stops retrying once an announce reaches a peer, and reports it once', async () => {
    vi.useFakeTimers()
    const dht = scriptedDht(call => call < 2 ? 0 : 3)
    const announced: Array<{ cid: string, peers: number }> = []
    const announcer = new Announcer(dht, { backoff: 1000, onAnnounced: e => announced.push(e) })
    announcer.start()
    try {
      const cid = await someCid(2)
      announcer.add(cid)
      await vi.advanceTimersByTimeAsync(60 * 60_000)
      expect(dht.times).toHaveLength(3)
      expect(announced).toEqual([{ cid: cid.toString(), peers: 3 }])
    } finally {
      announcer.stop()
    }
  })

  it('warns when a CID has gone more than a day without a successful announce, not before, and not once withdrawn', async () => {
    vi.useFakeTimers()
    const dht = scriptedDht(call => call === 0 || call === 1 ? 1 : 0)
    const warnings: string[] = []
    const announcer = new Announcer(dht, { backoff: 1000, maxBackoff: 10 * 60_000, onWarning: w => warnings.push(w) })
    announcer.start()
    try {
      const [kept, withdrawn] = [await someCid(3), await someCid(4)]
      announcer.add(kept)
      announcer.add(withdrawn)
      await vi.advanceTimersByTimeAsync(23 * HOUR)
      expect(warnings.filter(w => w.includes('old'))).toEqual([])
      announcer.withdraw(withdrawn)
      await vi.advanceTimersByTimeAsync(2 * HOUR)
      const stale = warnings.filter(w => w.includes('old'))
      expect(stale).toHaveLength(1)
      expect(stale[0]).toContain(kept.toString())
      expect(stale[0]).toMatch(/is 25 h old; provider records expire after 48 h/)
    } finally {
      announcer.stop()
    }
  })

  it('keeps warning about a CID whose announces keep failing, and retries it at most every maxBackoff', async () => {
    vi.useFakeTimers()
    const dht = scriptedDht(() => 0)
    const warnings: string[] = []
    const announcer = new Announcer(dht, { backoff: 1000, maxBackoff: 10 * 60_000, onWarning: w => warnings.push(w) })
    announcer.start()
    try {
      announcer.add(await someCid(5))
      await vi.advanceTimersByTimeAsync(26 * HOUR)
      expect(warnings.filter(w => w.includes('h old'))).toHaveLength(2) // the checks at 25 h and 26 h
      // 10 quick retries (1 s .. 512 s, ~17 min), then one every 10 minutes.
      expect(dht.times.length).toBeGreaterThan(26 * 6)
      expect(dht.times.length).toBeLessThanOrEqual(26 * 6 + 11)
    } finally {
      announcer.stop()
    }
  })

  it('asks nothing more after stop, and ignores an add after stop', async () => {
    vi.useFakeTimers()
    const dht = scriptedDht(() => 0)
    const announcer = new Announcer(dht, { backoff: 1000 })
    announcer.start()
    announcer.add(await someCid(6))
    await vi.advanceTimersByTimeAsync(1500)
    expect(dht.times).toHaveLength(2)
    announcer.stop()
    announcer.add(await someCid(7))
    await vi.advanceTimersByTimeAsync(HOUR)
    expect(dht.times).toHaveLength(2)
  })
})

describe('Announcer timeouts (real timers)', () => {
  /** A DHT that reaches `peers` peers, then never ends until the announce is aborted. */
  function hangingDht (peers: number): AnnounceTarget['dht'] {
    return {
      provide: async function * (_cid: CID, options: { signal: AbortSignal }) {
        for (let i = 0; i < peers; i++) yield { name: 'PEER_RESPONSE', messageName: 'ADD_PROVIDER' }
        await new Promise<void>((_resolve, reject) => options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true }))
      } as any,
      cancelReprovide: async () => {}
    }
  }

  it('ends an announce that hangs at its timeout: with peers reached it counts, with none it is retried', async () => {
    const announced: string[] = []
    const warnings: string[] = []
    const reached = new Announcer([{ name: 'the DHT', dht: hangingDht(2) }], { timeout: 100, backoff: 60_000, onAnnounced: e => announced.push(`${e.cid} ${e.peers}`) })
    const nobody = new Announcer([{ name: 'the DHT', dht: hangingDht(0) }], { timeout: 100, backoff: 60_000, onWarning: w => warnings.push(w) })
    try {
      const [a, b] = [await someCid(8), await someCid(9)]
      reached.add(a)
      nobody.add(b)
      const end = Date.now() + 5000
      while ((announced.length === 0 || warnings.length === 0) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 20))
      expect(announced).toEqual([`${a.toString()} 2`])
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/reached no peer.*Retrying in 60 s/)
    } finally {
      reached.stop()
      nobody.stop()
    }
  })
})
