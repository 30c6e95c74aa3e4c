/**
 * ProviderSearch: --peer parsing, explicit peers, and the bounds that hold against a hostile DHT
 * (provider spam capped per round, our own id skipped, a failed candidate held back by its
 * backoff, a query that never ends cut by queryTimeout), plus the round schedule.
 *
 * A real libp2p node on 127.0.0.1 (its peer store, topology and connections are real); only its
 * DHT answers are written by the test, as the hostile DHT. The round schedule is checked on the
 * smallest node the search needs, under fake timers, so no assertion depends on the clock.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parsePeerAddress, ProviderSearch } from '../../../src/discovery/providers.js'
import { EMPTY_ROUND_FIRST_WAIT, FAILED_PEER_BACKOFF } from '../../../src/discovery/constants.js'
import { createNode, type P2PNode } from '../../../src/net/node.js'
import { errorOf } from '../helpers.js'
import type { PeerId, PeerInfo } from '@libp2p/interface'

const nodes: P2PNode[] = []
const searches: ProviderSearch[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const s of searches.splice(0)) s.stop()
  await Promise.all(nodes.splice(0).map(async n => await n.stop()))
})

async function peerId (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

async function cid (): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(crypto.getRandomValues(new Uint8Array(8))))
}

async function realNode (): Promise<P2PNode> {
  const n = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dhtProtocol: '/p2pweights-unit/kad/1.0.0', upnp: false, mdns: false })
  nodes.push(n)
  await n.start()
  return n
}

type Rounds = Array<{ pulled: number }>
/** Replaces the node's DHT answers with `answer(round)`; records how many records each round pulled. */
function hostileDht (node: P2PNode, answer: (round: number, signal: AbortSignal) => AsyncIterable<PeerInfo>): Rounds {
  const rounds: Rounds = []
  ;(node.contentRouting as any).findProviders = async function * (_cid: CID, options: { signal: AbortSignal }) {
    const round = { pulled: 0 }
    rounds.push(round)
    for await (const info of answer(rounds.length - 1, options.signal)) {
      round.pulled++
      yield info
    }
  }
  return rounds
}

function providerInfo (id: PeerId, port = 4001): PeerInfo {
  return { id, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${port}`)] }
}

async function until (check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 10))
}

function count (offered: PeerId[], peer: PeerId): number {
  return offered.filter(p => p.equals(peer)).length
}

describe('parsePeerAddress', () => {
  it('takes a full address and names its peer', async () => {
    const id = await peerId()
    const parsed = parsePeerAddress(`/ip4/127.0.0.1/tcp/4001/p2p/${id.toString()}`)
    expect(parsed.peer.equals(id)).toBe(true)
    expect(parsed.addr.toString()).toBe(`/ip4/127.0.0.1/tcp/4001/p2p/${id.toString()}`)
  })

  it('refuses an address without a peer id, a bad peer id and garbage, as BadPeerAddressError naming the input', async () => {
    for (const text of ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4001/p2p/notapeerid', 'not a multiaddr', '']) {
      const err = await errorOf(() => parsePeerAddress(text))
      expect(err.name, text).toBe('BadPeerAddressError')
      expect(err.message).toContain(`"${text}"`)
    }
  })
})

describe('ProviderSearch against a hostile DHT (real node on 127.0.0.1)', () => {
  it('offers at most maxPerRound providers per round of a spamming DHT and stops pulling its records', async () => {
    const node = await realNode()
    const spam = await Promise.all(Array.from({ length: 40 }, async () => await peerId()))
    const rounds = hostileDht(node, async function * () { for (const [i, id] of spam.entries()) yield providerInfo(id, 5000 + i) })
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), { interval: 60_000, maxPerRound: 3, onPeer: p => offered.push(p) })
    searches.push(search)
    await search.start()
    await until(() => offered.length >= 3)
    await until(() => false, 200) // a round that did not stop would go on offering
    expect(rounds).toHaveLength(1)
    expect(offered.map(p => p.toString())).toEqual(spam.slice(0, 3).map(p => p.toString()))
    expect(rounds[0].pulled).toBe(3)
    // The addresses of the offered providers reached the peer store, so they can be dialled.
    const stored = await node.peerStore.get(spam[0])
    expect(stored.addresses.map(a => a.multiaddr.toString())).toContain('/ip4/127.0.0.1/tcp/5000')
  })

  it('never offers this node itself, even when the DHT lists it', async () => {
    const node = await realNode()
    const other = await peerId()
    hostileDht(node, async function * () { yield providerInfo(node.peerId); yield providerInfo(other) })
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), { interval: 60_000, onPeer: p => offered.push(p) })
    searches.push(search)
    await search.start()
    await until(() => offered.length >= 1)
    expect(offered.map(String)).toEqual([other.toString()])
  })

  it('holds back a failed provider until its backoff has passed, while others keep being offered', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }) // only the clock the backoff reads; timers stay real
    const node = await realNode()
    const [bad, good] = [await peerId(), await peerId()]
    const rounds = hostileDht(node, async function * () { yield providerInfo(bad, 4001); yield providerInfo(good, 4002) })
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), { interval: 20, onPeer: p => offered.push(p) })
    searches.push(search)
    await search.start()
    await until(() => count(offered, bad) === 1)
    search.failed(bad)
    const after = rounds.length
    await until(() => rounds.length >= after + 4)
    expect(count(offered, bad)).toBe(1)
    expect(count(offered, good)).toBeGreaterThanOrEqual(4)

    // Just before the first backoff ends: still held back.
    vi.setSystemTime(Date.now() + FAILED_PEER_BACKOFF.first - 100)
    const before = rounds.length
    await until(() => rounds.length >= before + 3)
    expect(count(offered, bad)).toBe(1)
    // Past it: offered again.
    vi.setSystemTime(Date.now() + 200)
    await until(() => count(offered, bad) === 2)
    expect(count(offered, bad)).toBe(2)

    // A second failure doubles the wait.
    search.failed(bad)
    vi.setSystemTime(Date.now() + FAILED_PEER_BACKOFF.first + 100)
    const again = rounds.length
    await until(() => rounds.length >= again + 3)
    expect(count(offered, bad)).toBe(2)
    vi.setSystemTime(Date.now() + FAILED_PEER_BACKOFF.first)
    await until(() => count(offered, bad) === 3)
    expect(count(offered, bad)).toBe(3)
  })

  it('cuts a DHT query that never ends at queryTimeout and goes on with the next round', async () => {
    const node = await realNode()
    const late = await peerId()
    const rounds = hostileDht(node, async function * (round, signal) {
      if (round > 0) { yield providerInfo(late); return }
      await new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
    })
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), { interval: 50, queryTimeout: 150, onPeer: p => offered.push(p) })
    searches.push(search)
    await search.start()
    await until(() => offered.length > 0)
    expect(rounds.length).toBeGreaterThanOrEqual(2)
    expect(offered.map(String)).toContain(late.toString())
  })

  it('offers --peer addresses at once, stores their address, and offers them again every round', async () => {
    const node = await realNode()
    const explicit = await peerId()
    const rounds = hostileDht(node, async function * () {})
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), {
      peers: [`/ip4/127.0.0.1/tcp/4999/p2p/${explicit.toString()}`], interval: 20, onPeer: p => offered.push(p)
    })
    searches.push(search)
    await search.start()
    expect(count(offered, explicit)).toBeGreaterThanOrEqual(1) // before any DHT round has answered
    const stored = await node.peerStore.get(explicit)
    expect(stored.addresses.map(a => a.multiaddr.toString())).toContain('/ip4/127.0.0.1/tcp/4999')
    await until(() => rounds.length >= 4)
    expect(count(offered, explicit)).toBeGreaterThanOrEqual(4)
  })

  it('refuses a bad --peer at start with BadPeerAddressError', async () => {
    const node = await realNode()
    const search = new ProviderSearch(node, await cid(), { peers: ['/ip4/127.0.0.1/tcp/4001'], onPeer: () => {} })
    searches.push(search)
    expect((await errorOf(async () => await search.start())).name).toBe('BadPeerAddressError')
  })

  it('asks nothing more after stop', async () => {
    const node = await realNode()
    const rounds = hostileDht(node, async function * () {})
    const search = new ProviderSearch(node, await cid(), { interval: 20, onPeer: () => {} })
    await search.start()
    await until(() => rounds.length >= 2)
    search.stop()
    const n = rounds.length
    await until(() => false, 200)
    expect(rounds.length).toBeLessThanOrEqual(n + 1) // a round already waiting may start once
  })
})

describe('ProviderSearch round schedule (fake timers)', () => {
  /** The least a ProviderSearch touches of a node: a peer store, a topology, a DHT. */
  function smallNode (self: PeerId, answer: () => PeerInfo[]): { node: P2PNode, roundTimes: number[] } {
    const roundTimes: number[] = []
    const node = {
      peerId: self,
      services: {},
      peerStore: { merge: async () => {}, get: async () => ({ protocols: [] }) },
      register: async () => 'topology',
      unregister: () => {},
      getPeers: () => [],
      contentRouting: {
        findProviders: async function * () { roundTimes.push(Date.now()); for (const p of answer()) yield p }
      }
    }
    return { node: node as unknown as P2PNode, roundTimes }
  }

  it('while the DHT has no provider, rounds come sooner: 1 s doubling up to the interval', async () => {
    vi.useFakeTimers()
    const start = Date.now()
    const { node, roundTimes } = smallNode(await peerId(), () => [])
    const search = new ProviderSearch(node, await cid(), { interval: 10_000, onPeer: () => {} })
    searches.push(search)
    await search.start()
    await vi.advanceTimersByTimeAsync(36_000)
    const f = EMPTY_ROUND_FIRST_WAIT
    expect(roundTimes.map(t => t - start)).toEqual([0, f, 3 * f, 7 * f, 15 * f, 25 * f, 35 * f])
  })

  it('once providers answer, rounds come every interval', async () => {
    vi.useFakeTimers()
    const start = Date.now()
    const provider = await peerId()
    const { node, roundTimes } = smallNode(await peerId(), () => [providerInfo(provider)])
    const offered: PeerId[] = []
    const search = new ProviderSearch(node, await cid(), { interval: 10_000, onPeer: p => offered.push(p) })
    searches.push(search)
    await search.start()
    await vi.advanceTimersByTimeAsync(35_000)
    expect(roundTimes.map(t => t - start)).toEqual([0, 10_000, 20_000, 30_000])
    expect(offered).toHaveLength(4)
  })

  it('with enough peers in session, rounds slow down (2x interval doubling to maxInterval) and come back to the interval when peers leave', async () => {
    vi.useFakeTimers()
    const start = Date.now()
    const provider = await peerId()
    const { node, roundTimes } = smallNode(await peerId(), () => [providerInfo(provider)])
    let peers = 8
    const search = new ProviderSearch(node, await cid(), {
      interval: 10_000, enoughPeers: 8, maxInterval: 60_000, sources: () => peers, onPeer: () => {}
    })
    searches.push(search)
    await search.start()
    await vi.advanceTimersByTimeAsync(215_000)
    // 0, then waits of 20, 40, 60 (capped), 60 s.
    expect(roundTimes.map(t => t - start)).toEqual([0, 20_000, 60_000, 120_000, 180_000])
    // Peers leave in the middle of a 60 s wait: the next round comes at the next 10 s check,
    // and then every interval while the fetch is short.
    peers = 3
    await vi.advanceTimersByTimeAsync(30_000)
    expect(roundTimes.map(t => t - start).slice(5)).toEqual([220_000, 230_000, 240_000])
  })

  it('a fetch one peer short of enough keeps the interval', async () => {
    vi.useFakeTimers()
    const start = Date.now()
    const provider = await peerId()
    const { node, roundTimes } = smallNode(await peerId(), () => [providerInfo(provider)])
    const search = new ProviderSearch(node, await cid(), {
      interval: 10_000, enoughPeers: 8, maxInterval: 60_000, sources: () => 7, onPeer: () => {}
    })
    searches.push(search)
    await search.start()
    await vi.advanceTimersByTimeAsync(35_000)
    expect(roundTimes.map(t => t - start)).toEqual([0, 10_000, 20_000, 30_000])
  })
})
