/**
 * The relay search (net/relay-finder.ts), with real nodes on 127.0.0.1:
 * - two nodes and no relay among them stay quiet: libp2p's own relay discovery ran DHT random
 *   walks back to back there (about 80 KB/s each way on one connection, a third of a core on each
 *   node, for as long as they were connected);
 * - a node bootstrapped from a relay reserves a slot on it without being told it is a relay.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, DEFAULT_RELAY_LIMITS, type P2PNode } from '../../../src/net/node.js'

const DHT = '/p2pweights-relay-finder-test/kad/1.0.0'
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const nodes: P2PNode[] = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  for (const s of servers.splice(0)) s.close()
})

async function node (init: { bootstrap?: string[], relayService?: boolean } = {}): Promise<P2PNode> {
  const n = await createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: init.bootstrap ?? [],
    mdns: false,
    upnp: false,
    dhtProtocol: DHT,
    ...(init.relayService === true ? { relayService: DEFAULT_RELAY_LIMITS } : {})
  })
  await n.start()
  nodes.push(n)
  return n
}

/** A TCP proxy on 127.0.0.1 in front of `port` that counts the bytes it carries. */
async function countingProxy (port: number): Promise<{ port: number, bytes: () => number }> {
  let bytes = 0
  const sockets: Socket[] = []
  const server = createServer(client => {
    const upstream = connect(port, '127.0.0.1')
    sockets.push(client, upstream)
    client.on('data', d => { bytes += d.length; upstream.write(d) })
    upstream.on('data', d => { bytes += d.length; client.write(d) })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  server.on('close', () => { for (const s of sockets) s.destroy() })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as { port: number }).port, bytes: () => bytes }
}

const tcpPort = (n: P2PNode): number => Number(n.getMultiaddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)

describe('relay finder', () => {
  it('two connected nodes with no relay anywhere exchange almost nothing while idle', async () => {
    const a = await node()
    const b = await node()
    const proxy = await countingProxy(tcpPort(b))
    await a.dial(multiaddr(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${b.peerId.toString()}`))
    await sleep(1500) // identify, the DHT's first queries, the first relay search round
    const before = proxy.bytes()
    await sleep(4000)
    const idle = proxy.bytes() - before
    // libp2p's discovery moved ~300 KB here in 4 s; a paced search a few KB at most.
    expect(idle).toBeLessThan(32 * 1024)
    expect(a.getConnections(b.peerId).length).toBeGreaterThan(0)
  }, 20_000)

  it('a node bootstrapped from a relay reserves a slot on it and says it is relayed', async () => {
    const relay = await node({ relayService: true })
    const relayAddr = relay.getMultiaddrs()[0].toString()
    const home = await node({ bootstrap: [relayAddr] })
    const end = Date.now() + 15_000
    let report = home.services.reachability.report()
    while (report.state !== 'relayed' && Date.now() < end) {
      await sleep(100)
      report = home.services.reachability.report()
    }
    expect(report.state).toBe('relayed')
    expect(report.relays).toEqual([relay.peerId.toString()])
    expect(home.getMultiaddrs().some(a => a.toString().includes(`/p2p/${relay.peerId.toString()}/p2p-circuit`))).toBe(true)
  }, 30_000)
})

describe('relay finder against a hostile DHT', () => {
  it('a DHT that answers every search with 100 peers that never answer gets at most 4 dials a round, rounds backing off', async () => {
    const { relayFinder } = await import('../../../src/net/relay-finder.js')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const fakes = await Promise.all(Array.from({ length: 100 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const rounds: number[] = []
    let dials = 0
    const finder = relayFinder({ interval: 20, maxInterval: 80, dialsPerRound: 4, roundTimeout: 1000 })({
      logger: { forComponent: () => Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) } as any,
      addressManager: { getAddressesWithMetadata: () => [] } as any, // lan-only: it keeps searching
      transportManager: { listen: async () => { throw new Error('not a relay') } } as any,
      peerStore: { all: async () => [], merge: async () => {} } as any,
      events: new EventTarget() as any,
      connectionManager: {
        getConnections: () => [],
        isDialable: async () => true,
        openConnection: async () => { dials++; throw new Error('ECONNREFUSED') }
      } as any,
      dht: {
        getClosestPeers: async function * () {
          rounds.push(dials)
          for (const id of fakes) yield { name: 'FINAL_PEER', peer: { id, multiaddrs: [multiaddr('/ip4/10.9.9.9/tcp/4001')] } } as any
        }
      }
    }) as any
    finder.start()
    finder.afterStart()
    await sleep(400)
    finder.stop()
    const after = rounds.length
    await sleep(150)
    expect(rounds.length).toBe(after) // nothing after stop
    expect(rounds.length).toBeGreaterThanOrEqual(2)
    // 20, 40, 80, 80… ms apart: well under one round per 20 ms.
    expect(rounds.length).toBeLessThan(12)
    expect(dials).toBeLessThanOrEqual(4 * rounds.length)
    for (let i = 1; i < rounds.length; i++) expect(rounds[i] - rounds[i - 1]).toBeLessThanOrEqual(4)
  })

  // libp2p's peer routing looked up, with a DHT walk each, every peer a walk returned without
  // an address: in a crowd of 16 that was most of the DHT's messages. The finder asks the DHT
  // service itself and passes over a peer with no address known, with no lookup.
  it('a walk full of peers without addresses costs no lookups: only peers with a known address are dialled', async () => {
    const { relayFinder } = await import('../../../src/net/relay-finder.js')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const ids = await Promise.all(Array.from({ length: 12 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const known = new Map([[ids[3].toString(), multiaddr('/ip4/10.9.9.3/tcp/4001')], [ids[7].toString(), multiaddr('/ip4/10.9.9.7/tcp/4001')]])
    const dialled: string[] = []
    let walks = 0
    const lookups = (): never => { throw new Error('looked up through peer routing') }
    const finder = relayFinder({ interval: 60_000, dialsPerRound: 4, roundTimeout: 1000 })({
      logger: { forComponent: () => Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) } as any,
      addressManager: { getAddressesWithMetadata: () => [] } as any,
      transportManager: { listen: async () => { throw new Error('not a relay') } } as any,
      peerStore: {
        all: async () => [],
        merge: async () => {},
        get: async (id: any) => {
          const addr = known.get(id.toString())
          if (addr == null) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
          return { addresses: [{ multiaddr: addr }] }
        }
      } as any,
      events: new EventTarget() as any,
      connectionManager: {
        getConnections: () => [],
        isDialable: async (addrs: unknown[]) => addrs.length > 0,
        openConnection: async (peer: any) => { dialled.push(peer.toString()); throw new Error('ECONNREFUSED') }
      } as any,
      peerRouting: { findPeer: lookups, getClosestPeers: lookups } as any,
      dht: {
        getClosestPeers: async function * () {
          walks++
          for (const id of ids) {
            yield { name: 'PEER_RESPONSE', from: id, closer: [], providers: [] } as any
            yield { name: 'FINAL_PEER', peer: { id, multiaddrs: [] } } as any
          }
        }
      }
    } as any) as any
    finder.start()
    finder.afterStart()
    const end = Date.now() + 2000
    while (walks === 0 || dialled.length < 2) {
      if (Date.now() > end) break
      await sleep(10)
    }
    await sleep(50)
    finder.stop()
    expect(walks).toBe(1)
    expect(dialled.sort()).toEqual([ids[3].toString(), ids[7].toString()].sort())
  })
})
