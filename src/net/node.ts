/**
 * createNode(): the libp2p assembly every p2pweights process runs. TCP, Noise encryption, yamux
 * multiplexing, identify + ping (the DHT needs both), the Kademlia DHT, and as peer discovery a
 * bootstrap list and, on a LAN, mDNS.
 *
 * Which DHT is decided by its protocol string alone. The default is the public IPFS Amino DHT
 * (/ipfs/kad/1.0.0): thousands of always-on nodes, reachable through the standard bootstrap
 * peers, so a fresh node can announce and find providers with no infrastructure of ours. Any
 * other protocol string makes a closed swarm (tests, private clusters); there every node is a
 * DHT server and private addresses are kept, since the peers are on one machine or one LAN.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { Metrics, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Datastore } from 'interface-datastore'

export const AMINO_DHT_PROTOCOL = '/ipfs/kad/1.0.0'

/**
 * The standard public bootstrap peers of the IPFS network. They are only an entry point: once a
 * node knows some DHT peers it no longer needs them, and any other Amino peer serves as well.
 */
export const DEFAULT_BOOTSTRAP = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
]

const STREAM_WINDOW = 8 * 1024 * 1024

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0']

export interface NodeOptions {
  privateKey: PrivateKey
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  dhtProtocol?: string
  maxConnections?: number
  /**
   * Inbound connections one host may open per second, and connections still being upgraded
   * (Noise, yamux) at once. libp2p's defaults (5 and 10) reset a flash crowd of fetchers arriving
   * together; these are sized for a few hundred.
   */
  inboundConnectionThreshold?: number
  maxIncomingPendingConnections?: number
  /** Peer store and DHT records; libp2p keeps them in memory when absent. */
  datastore?: Datastore
  metrics?: (components: any) => Metrics
}

export interface NodeServices {
  identify: Identify
  ping: Ping
  dht: KadDHT
  [key: string]: unknown
}

export type P2PNode = Libp2p<NodeServices>

export async function createNode (options: NodeOptions): Promise<P2PNode> {
  const dhtProtocol = options.dhtProtocol ?? AMINO_DHT_PROTOCOL
  const publicDht = dhtProtocol === AMINO_DHT_PROTOCOL
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if ((options.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: options.bootstrap ?? [], timeout: 100 }))

  return await createLibp2p({
    privateKey: options.privateKey,
    datastore: options.datastore,
    metrics: options.metrics,
    addresses: { listen: options.listen ?? DEFAULT_LISTEN },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A stream window that holds a whole chunk response, so a seeder sends a chunk without
    // waiting for window updates (yamux's 256 KiB default caps a stream at a few MB/s per ms
    // of event-loop latency). Both ends assume the same initial window: p2pweights peers do.
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: STREAM_WINDOW, maxStreamWindowSize: STREAM_WINDOW } })],
    peerDiscovery,
    connectionManager: {
      maxConnections: options.maxConnections ?? 200,
      inboundConnectionThreshold: options.inboundConnectionThreshold ?? 100,
      maxIncomingPendingConnections: options.maxIncomingPendingConnections ?? 64
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: dhtProtocol,
        // On the public DHT, server mode is chosen once we are publicly dialable; private
        // addresses are useless to peers there. A closed swarm keeps them and serves at once.
        ...(publicDht ? { peerInfoMapper: removePrivateAddressesMapper } : { clientMode: false, peerInfoMapper: passthroughMapper })
      }),
      // A service rather than plain discovery, so a fetch can listen to LAN peers alone.
      ...(options.mdns === true ? { mdns: mdns() } : {})
    }
  })
}
