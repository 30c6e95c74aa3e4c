/**
 * --relay: a relay that is down at start does not stop the node; the reservation is retried
 * (with backoff) until it holds, made again when it lapses, and never after stop().
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { configuredRelays } from '../../../src/net/configured-relays.js'

const RELAY = '/ip4/10.9.0.1/tcp/4001/p2p/12D3KooWMMSvZoondc7LoeB6fpi7DW6Zt71is4LHQFSswDR5e7qC'
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('configuredRelays', () => {
  it('retries a relay that is down, stops retrying once reserved, reserves again when the address is gone, stops on stop()', async () => {
    const listened: string[] = []
    let ours: Multiaddr[] = []
    let up = false
    const service = configuredRelays([RELAY], 20)({
      logger: { forComponent: () => Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) } as any,
      addressManager: { getAddresses: () => ours } as any,
      transportManager: {
        listen: async (addrs: Multiaddr[]) => {
          listened.push(addrs[0].toString())
          if (!up) throw new Error('ECONNREFUSED')
          ours = [multiaddr(`${RELAY}/p2p-circuit/p2p/12D3KooWSDtuP8pXTH45Hf3FsdJativPYrNbJLVEVaUgg2pVH2Db`)]
        }
      } as any
    }) as any
    service.start()
    service.afterStart()
    await sleep(150)
    const whileDown = listened.length
    expect(whileDown).toBeGreaterThanOrEqual(2)
    expect(whileDown).toBeLessThan(8) // backoff: 20, 40, 80 ms...
    expect(listened.every(a => a === `${RELAY}/p2p-circuit`)).toBe(true)
    up = true
    const end = Date.now() + 3000
    while (ours.length === 0 && Date.now() < end) await sleep(10)
    expect(ours.length).toBe(1)
    const afterUp = listened.length
    await sleep(100)
    expect(listened.length).toBe(afterUp) // reserved: nothing more to do
    ours = [] // the reservation lapsed
    while (ours.length === 0 && Date.now() < end) await sleep(10)
    expect(listened.length).toBe(afterUp + 1)
    service.stop()
    ours = []
    await sleep(100)
    expect(listened.length).toBe(afterUp + 1)
  })
})
