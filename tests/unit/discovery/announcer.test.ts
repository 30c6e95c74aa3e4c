/**
 * Announcer with two DHTs (public + LAN): each is announced to and retried on its own, so a
 * LAN DHT that answers at once never hides a public DHT that reached nobody.
 */
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
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
