/**
 * Finds a circuit relay for a node that others may not reach directly, and keeps one
 * reservation on it. It replaces libp2p's own relay discovery (a `/p2p-circuit` listen address),
 * which runs the DHT random walk back to back until a relay turns up: in a swarm with no relay
 * (a LAN, a closed swarm, two nodes) that walk never ends, and with one other peer it ran about
 * a hundred DHT queries a second, a third of a core on each node for as long as they were
 * connected. Here the search is paced.
 *
 * - A connected peer that speaks the hop protocol (seen at start in the peer store, or when
 *   identify reports it) is asked for a reservation at once.
 * - Otherwise one DHT query for a random key every `interval` (5 s, doubling to 5 min while
 *   nothing is found), dialling at most `dialsPerRound` peers it returns that we are not
 *   connected to, so identify tells us what they speak. The query goes to the DHT service
 *   itself, not through libp2p's peer routing: that one looks up, with a DHT walk of its own,
 *   every returned peer the walk gave no address for, whether we dial it or not. In a crowd of
 *   16 fetchers on 127.0.0.1 those lookups were most of the DHT's messages
 *   (docs/architecture.md, "The relay search's DHT walks").
 * - Nothing is searched while the node has a relay address, or is reachable without one (a
 *   public address AutoNAT confirmed, a UPnP mapping, an address the owner announced).
 */
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import type { ComponentLogger, Logger, PeerId, PeerStore, Startable, TypedEventTarget, Libp2pEvents, IdentifyResult } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import type { QueryEvent } from '@libp2p/kad-dht'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { assessReachability } from './reachability.js'

/** The part of the DHT service (`services.dht`, a component by that name) the search uses. */
export interface RandomWalk {
  getClosestPeers: (key: Uint8Array, options: { signal: AbortSignal }) => AsyncIterable<QueryEvent>
}

export interface RelayFinderComponents {
  transportManager: TransportManager
  addressManager: AddressManager
  connectionManager: ConnectionManager
  peerStore: PeerStore
  /** The DHT service; without one, only relays already known are tried. */
  dht?: RandomWalk
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface RelayFinderInit {
  /** First pause between searches (ms); doubles while nothing is found. */
  interval?: number
  /** Longest pause between searches (ms). */
  maxInterval?: number
  /** Peers from one DHT query that may be dialled to learn whether they relay. */
  dialsPerRound?: number
  /** Time for one search round: the query and its dials (ms). */
  roundTimeout?: number
}

class RelayFinder implements Startable {
  private readonly log: Logger
  private readonly init: Required<RelayFinderInit>
  private timer?: NodeJS.Timeout
  private running = false
  private interval: number
  private reserving = false
  private readonly controller = new AbortController()

  constructor (private readonly components: RelayFinderComponents, init: RelayFinderInit) {
    this.log = components.logger.forComponent('p2pweights:relay-finder')
    this.init = { interval: 5_000, maxInterval: 5 * 60_000, dialsPerRound: 4, roundTimeout: 30_000, ...init }
    this.interval = this.init.interval
    this.onIdentify = this.onIdentify.bind(this)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  start (): void {
    this.running = true
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  afterStart (): void {
    // The first round at once: bootstrap peers may be relays.
    this.schedule(0)
  }

  stop (): void {
    this.running = false
    this.controller.abort()
    clearTimeout(this.timer)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
  }

  /** True while this node should look for a relay. */
  private wanted (): boolean {
    const report = assessReachability(this.components.addressManager.getAddressesWithMetadata(), { upnp: false, relayService: false })
    return report.state === 'lan-only'
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    if (evt.detail.protocols.includes(RELAY_V2_HOP_CODEC)) void this.reserve(evt.detail.peerId)
  }

  /** A relay address went away (the relay restarted, the reservation lapsed): search soon. */
  private onSelfUpdate (): void {
    if (!this.running || !this.wanted() || this.interval === this.init.interval) return
    this.interval = this.init.interval
    this.schedule(this.interval)
  }

  /** Tries the relays the peer store knows; true when this node no longer needs one. */
  private async fromPeerStore (): Promise<boolean> {
    try {
      const relays = await this.components.peerStore.all({ filters: [peer => peer.protocols.includes(RELAY_V2_HOP_CODEC)] })
      for (const relay of relays) {
        if (await this.reserve(relay.id)) return true
      }
    } catch (err) {
      this.log.error('could not read the peer store - %e', err)
    }
    return !this.wanted()
  }

  /** Asks a connected relay for a reservation; true when this node no longer needs one. */
  private async reserve (relay: PeerId): Promise<boolean> {
    if (!this.running || !this.wanted()) return true
    if (this.reserving || !this.components.connectionManager.getConnections(relay).some(c => c.status === 'open' && c.limits == null)) return false
    this.reserving = true
    try {
      // The open connection is reused: /p2p/<relay>/p2p-circuit names no transport address.
      await this.components.transportManager.listen([multiaddr(`/p2p/${relay.toString()}/p2p-circuit`)])
      this.log('reserved a slot on relay %p', relay)
      this.interval = this.init.interval
      return true
    } catch (err) {
      this.log.error('relay %p gave no reservation - %e', relay, err)
      return false
    } finally {
      this.reserving = false
    }
  }

  private schedule (ms: number): void {
    if (!this.running) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.round() }, ms)
    this.timer.unref()
  }

  /** One paced search: known relays first, then a random-key DHT query and a few dials. */
  private async round (): Promise<void> {
    try {
      if (this.running && this.wanted() && !await this.fromPeerStore()) await this.search()
    } finally {
      const wanted = this.wanted()
      this.schedule(wanted ? this.interval : this.init.interval)
      this.interval = wanted ? Math.min(this.interval * 2, this.init.maxInterval) : this.init.interval
    }
  }

  private async search (): Promise<void> {
    const dht = this.walk()
    if (dht == null) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.roundTimeout)])
    let dials = 0
    try {
      for await (const event of dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)), { signal })) {
        if (event.name !== 'FINAL_PEER') continue
        if (dials >= this.init.dialsPerRound) break
        const peer = event.peer
        if (this.components.connectionManager.getConnections(peer.id).length > 0) continue
        // A FINAL_PEER carries the addresses its answer gave (kad-dht does not store them: they
        // go to the peer store below, for the dial by id). One that carried none is dialled at
        // addresses already stored, or passed over: never looked up.
        const addrs = peer.multiaddrs.length > 0 ? peer.multiaddrs : await this.storedAddresses(peer.id)
        if (addrs.length === 0 || !await this.components.connectionManager.isDialable(addrs)) continue
        dials++
        if (peer.multiaddrs.length > 0) await this.components.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs })
        // Identify runs on the new connection; onIdentify reserves if the peer relays.
        await this.components.connectionManager.openConnection(peer.id, { signal }).catch(err => {
          this.log('could not dial %p to ask whether it relays - %e', peer.id, err)
        })
      }
    } catch (err) {
      if (!this.controller.signal.aborted) this.log('relay search round ended - %e', err)
    }
  }

  private walk (): RandomWalk | undefined {
    try {
      return this.components.dht
    } catch {
      return undefined // libp2p's components throw for a service that is not there
    }
  }

  private async storedAddresses (peer: PeerId): Promise<Multiaddr[]> {
    try {
      return (await this.components.peerStore.get(peer)).addresses.map(a => a.multiaddr)
    } catch {
      return [] // not in the peer store
    }
  }
}

export function relayFinder (init: RelayFinderInit = {}): (components: RelayFinderComponents) => Startable {
  return (components) => new RelayFinder(components, init)
}
