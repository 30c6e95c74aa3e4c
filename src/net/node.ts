/**
 * createNode(): the libp2p assembly every p2pweights process runs. TCP and WebSockets, circuit
 * relay v2 (client, and server with --relay-service), Noise encryption, yamux multiplexing,
 * identify + ping (the DHT needs both), the Kademlia DHT(s), AutoNAT and UPnP port mapping for
 * reachability, and as peer discovery a bootstrap list and, on a LAN, mDNS.
 *
 * Which DHT is decided by its protocol string alone. The default is the public IPFS Amino DHT
 * (/ipfs/kad/1.0.0): thousands of always-on nodes, reachable through the standard bootstrap
 * peers, so a fresh node can announce and find providers with no infrastructure of ours. Any
 * other protocol string makes a closed swarm (tests, private clusters); there every node is a
 * DHT server and private addresses are kept, since the peers are on one machine or one LAN.
 * Beside the public DHT runs a LAN DHT (/ipfs/lan/kad/1.0.0, private addresses only, always a
 * server), as Kubo and Helia do, so a private network works on default flags.
 *
 * Reachability (see reachability.ts): AutoNAT asks peers to dial our public addresses back;
 * UPnP asks the home router to forward a port; --announce adds a known public address; a node
 * that is none of these reserves a slot on a circuit relay it learns of (connected peers that
 * speak the relay protocol, a random walk of the DHT, or --relay) and advertises the
 * /p2p-circuit address. No hole punching: DCUtR cannot work from Node (it cannot dial TCP
 * from its listening port, js-libp2p #2620).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify, identifyPush } from '@libp2p/identify'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, removePublicAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { relayFinder } from './relay-finder.js'
import { configuredRelays } from './configured-relays.js'
import { AMINO_DHT_PROTOCOL, DEFAULT_BOOTSTRAP, DEFAULT_LISTEN, DEFAULT_WS_LISTEN, LAN_DHT_PROTOCOL, STREAM_WINDOW } from './constants.js'
import { reachability, type ReachabilityService } from './reachability.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { NAME_NAMESPACE, selectNameRecord, validateNameRecord } from '../names/record.js'
import type { Identify } from '@libp2p/identify'
import type { Metrics, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Datastore } from 'interface-datastore'

// Re-exported: the CLI reads the node's defaults from here.
export { AMINO_DHT_PROTOCOL, DEFAULT_BOOTSTRAP, DEFAULT_LISTEN, DEFAULT_WS_LISTEN, LAN_DHT_PROTOCOL }

/**
 * What a --relay-service node grants each peer. A relayed byte crosses the relay's link twice
 * (in and out), so these bound what relaying can cost the relay's owner: at most
 * maxReservations peers reachable through it, each relayed connection closed after
 * durationLimit ms or dataLimit bytes (whichever first; the fetcher then reconnects).
 */
export interface RelayServiceLimits {
  maxReservations: number
  /** ms per relayed connection; 0 = no limit */
  durationLimit: number
  /** bytes per relayed connection, both directions together (libp2p counts one budget); 0 = no limit */
  dataLimit: number
}

export const DEFAULT_RELAY_LIMITS: RelayServiceLimits = {
  maxReservations: 32,
  durationLimit: 60 * 60_000,
  dataLimit: 4 * 1024 ** 3
}

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
  /** Addresses to advertise besides what we listen on: a forwarded port, a public address. */
  announce?: string[]
  /** Relays to reserve a slot on, full multiaddrs ending in /p2p/<id>. */
  relays?: string[]
  /** Serve as a circuit relay for others, with these limits. */
  relayService?: RelayServiceLimits
  /** Ask the home router for a port mapping (UPnP IGD); default true. */
  upnp?: boolean
  /** yamux stream window, STREAM_WINDOW unless given (tests play a peer that assumes another). */
  streamWindow?: number
}

export interface NodeServices {
  identify: Identify
  ping: Ping
  dht: KadDHT
  /** The LAN DHT, beside the public one; absent in a closed swarm. */
  lanDht?: KadDHT
  reachability: ReachabilityService
  [key: string]: unknown
}

export type P2PNode = Libp2p<NodeServices>

export async function createNode (options: NodeOptions): Promise<P2PNode> {
  const dhtProtocol = options.dhtProtocol ?? AMINO_DHT_PROTOCOL
  const publicDht = dhtProtocol === AMINO_DHT_PROTOCOL
  const upnp = options.upnp ?? true
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if ((options.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: options.bootstrap ?? [], timeout: 100 }))
  const announce = (options.announce ?? []).map(a => multiaddr(a))
  const relays = options.relays ?? []
  // A relay, or a node whose owner announced its public address, needs no relay itself.
  const searchRelay = relays.length === 0 && options.relayService == null && announce.length === 0
  const listen = options.listen ?? DEFAULT_LISTEN

  return await createLibp2p({
    privateKey: options.privateKey,
    datastore: options.datastore,
    metrics: options.metrics,
    // appendAnnounce, not announce: the latter would replace the LAN addresses that LAN peers use.
    addresses: { listen, appendAnnounce: announce.map(a => a.toString()) },
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    // A 1 MiB stream window (STREAM_WINDOW): large enough that a seeder does not wait on window
    // updates (yamux's 256 KiB default caps a stream at a few MB/s per ms of event-loop
    // latency), small enough that seeders cannot push whole chunks into a busy fetcher, where
    // they piled up as buffers old enough for full garbage collections. Both ends assume the
    // same initial window: p2pweights peers do, from this version on (8 MiB before).
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: options.streamWindow ?? STREAM_WINDOW, maxStreamWindowSize: options.streamWindow ?? STREAM_WINDOW } })],
    peerDiscovery,
    connectionManager: {
      maxConnections: options.maxConnections ?? 200,
      inboundConnectionThreshold: options.inboundConnectionThreshold ?? 100,
      maxIncomingPendingConnections: options.maxIncomingPendingConnections ?? 64
    },
    // A connection busy with chunks (above all a relay's, which carries others' transfers) can
    // answer a ping late while the DHT pings the same peer: seen in the relay test, the monitor
    // then aborted the relay connection and every relayed transfer on it. Dead connections are
    // still found by yamux's keep-alive and by the chunk protocol's own timeouts.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      // Tells connected peers when our addresses change (a relay reservation made, a port
      // mapped), so a DHT server hands out the /p2p-circuit address with our provider record.
      identifyPush: identifyPush(),
      ping: ping({ maxInboundStreams: 4, maxOutboundStreams: 4 }),
      dht: kadDHT({
        protocol: dhtProtocol,
        // kad-dht holds every query until its first self-query, which it starts 1 s after
        // start: a fetch's provider search then began a second late, by when a small model
        // had come from the first peer alone. The self-query still waits for a routing table
        // entry (the bootstrap peer) before it runs.
        initialQuerySelfInterval: 0,
        // Signed name records (/p2pw-name/…): kad-dht stores and hands on only what these accept.
        validators: { [NAME_NAMESPACE]: validateNameRecord },
        selectors: { [NAME_NAMESPACE]: selectNameRecord },
        // On the public DHT, server mode is chosen once we are publicly dialable; private
        // addresses are useless to peers there. A closed swarm keeps them and serves at once.
        ...(publicDht ? { peerInfoMapper: removePrivateAddressesMapper } : { clientMode: false, peerInfoMapper: passthroughMapper })
      }),
      // Kubo's LAN DHT: private addresses only, so peers on one network find each other with
      // the default protocol string; always a server, since every LAN peer can dial it.
      ...(publicDht
        ? {
            lanDht: kadDHT({
              protocol: LAN_DHT_PROTOCOL,
              initialQuerySelfInterval: 0,
              validators: { [NAME_NAMESPACE]: validateNameRecord },
              selectors: { [NAME_NAMESPACE]: selectNameRecord },
              peerInfoMapper: removePublicAddressesMapper,
              clientMode: false,
              logPrefix: 'libp2p:dht-lan',
              datastorePrefix: '/dht-lan',
              metricsPrefix: 'libp2p_dht_lan'
            })
          }
        : {}),
      autoNAT: autoNAT(),
      ...(upnp ? { upnpNAT: uPnPNAT() } : {}),
      ...(options.relayService != null ? { relay: circuitRelayServer({ reservations: relayReservations(options.relayService) }) } : {}),
      // --relay reservations are made after start and kept (a relay that is down must not stop us).
      ...(relays.length > 0 ? { configuredRelays: configuredRelays(relays) } : {}),
      // Otherwise a paced search for one (not libp2p's /p2p-circuit listen: see relay-finder.ts).
      ...(searchRelay ? { relayFinder: relayFinder() } : {}),
      reachability: reachability({ upnp, relayService: options.relayService != null }),
      // A service rather than plain discovery, so a fetch can listen to LAN peers alone.
      ...(options.mdns === true ? { mdns: mdns() } : {})
    }
  })
}

function relayReservations (limits: RelayServiceLimits): { maxReservations: number, applyDefaultLimit: boolean, defaultDurationLimit?: number, defaultDataLimit?: bigint } {
  // With no limit at all the relay grants none, and the connection is not "limited" at all.
  if (limits.durationLimit === 0 && limits.dataLimit === 0) return { maxReservations: limits.maxReservations, applyDefaultLimit: false }
  return {
    maxReservations: limits.maxReservations,
    applyDefaultLimit: true,
    // libp2p would take 0 literally (close at once): a huge value stands in for "no limit" on one axis.
    defaultDurationLimit: limits.durationLimit === 0 ? 2 ** 31 - 1 : limits.durationLimit,
    defaultDataLimit: BigInt(limits.dataLimit === 0 ? Number.MAX_SAFE_INTEGER : limits.dataLimit)
  }
}

/** The DHTs a node announces to: the public (or closed) one, and the LAN one beside it. */
export function announceTargets (node: P2PNode): Array<{ name: string, dht: KadDHT }> {
  const lan = node.services.lanDht
  return [{ name: lan != null ? 'the public DHT' : 'the DHT', dht: node.services.dht }, ...(lan != null ? [{ name: 'the LAN DHT', dht: lan }] : [])]
}
