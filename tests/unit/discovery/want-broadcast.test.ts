/**
 * Want-broadcast: a fetch offers every connected peer that speaks the chunk protocol as a
 * candidate, at start and as peers connect, without waiting for the DHT. Real libp2p nodes on
 * 127.0.0.1, in process.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { ProviderSearch } from '../../../src/discovery/providers.js'
import { createNode, type P2PNode } from '../../../src/net/node.js'
import { PROTOCOL } from '../../../src/swarm/codec.js'
import type { PeerId } from '@libp2p/interface'

const nodes: P2PNode[] = []
afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => await n.stop())) })

async function node (chunks: boolean): Promise<P2PNode> {
  const n = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dhtProtocol: '/p2pweights-unit/kad/1.0.0', upnp: false })
  nodes.push(n)
  await n.start()
  if (chunks) await n.handle(PROTOCOL, (stream) => { stream.abort(new Error('test')) })
  return n
}

async function until (check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 20))
}

describe('ProviderSearch want-broadcast', () => {
  it('offers connected chunk peers at start and on connect, never peers without the protocol, nothing after stop', async () => {
    const [fetcher, early, late, plain, afterStop] = [await node(false), await node(true), await node(true), await node(false), await node(true)]
    await fetcher.dial(early.getMultiaddrs()[0])
    await fetcher.dial(plain.getMultiaddrs()[0])
    await until(() => fetcher.getPeers().length === 2)
    // identify has told the fetcher what the early peer speaks before the search starts
    await until(() => false, 300)
    const offered: PeerId[] = []
    const cid = CID.createV1(0x71, await sha256.digest(new Uint8Array([1])))
    const search = new ProviderSearch(fetcher, cid, { interval: 60_000, queryTimeout: 1000, onPeer: p => offered.push(p) })
    await search.start()
    await until(() => offered.some(p => p.equals(early.peerId)))
    expect(offered.some(p => p.equals(early.peerId))).toBe(true)

    await fetcher.dial(late.getMultiaddrs()[0])
    await until(() => offered.some(p => p.equals(late.peerId)))
    expect(offered.some(p => p.equals(late.peerId))).toBe(true)
    expect(offered.some(p => p.equals(plain.peerId))).toBe(false)

    search.stop()
    await fetcher.dial(afterStop.getMultiaddrs()[0])
    await until(() => false, 500)
    expect(offered.some(p => p.equals(afterStop.peerId))).toBe(false)
  }, 20_000)
})
