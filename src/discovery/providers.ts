/**
 * Finds the peers that may hold a release: the --peer addresses the user gave, providers of the
 * CID in the DHT (asked again while the fetch runs, since seeders come and go: every `interval`
 * while it is short of peers, less and less often while it has `enoughPeers`),
 * peers found by mDNS on the LAN, and every connected peer that speaks the chunk protocol
 * (want-broadcast). Every candidate is reported once per search round; the fetcher decides
 * whom to use and ignores the ones it already has or has banned.
 *
 * Bounds, since anyone can put provider records in the DHT: at most `maxPerRound` DHT providers
 * are offered per round, and a candidate reported `failed` (unreachable, or no release) is not
 * offered again until its backoff (5 s doubling to 5 min) has passed. Until a first provider is
 * found, rounds come sooner (1 s doubling up to `interval`): in a flash crowd the DHT often has
 * no record yet in the first seconds.
 */
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import type { PeerId } from '@libp2p/interface'
import type { P2PNode } from '../net/node.js'
import { PROTOCOL } from '../swarm/codec.js'
import { backoffDelay } from '../swarm/policy/backoff.js'
import { BadPeerAddressError } from './errors.js'
import { EMPTY_ROUND_FIRST_WAIT, FAILED_PEER_BACKOFF, PROVIDER_SEARCH_DEFAULTS } from './constants.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:discovery:providers')

export interface ProviderSearchInit {
  peers?: string[]
  interval?: number
  /** The peers the fetch has a session with now; with `enoughPeers` of them rounds slow down. */
  sources?: () => number
  enoughPeers?: number
  maxInterval?: number
  queryTimeout?: number
  /** DHT providers offered per round (provider spam must not flood the dial queue). */
  maxPerRound?: number
  /** Peers taken from one peer-exchange answer. */
  maxPerAnswer?: number
  onPeer: (peer: PeerId) => void
}

/** Parses a --peer argument, which must name the peer: /ip4/…/tcp/…/p2p/<peer id>. */
export function parsePeerAddress (text: string): { peer: PeerId, addr: Multiaddr } {
  try {
    const addr = multiaddr(text)
    const id = addr.getComponents().findLast(c => c.name === 'p2p')?.value
    if (id == null) throw new Error('it has no /p2p/<peer id> part')
    return { peer: peerIdFromString(id), addr }
  } catch (err: any) {
    throw new BadPeerAddressError(`bad peer address "${text}": ${err.message}. Use the full address a seeder prints, e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…`)
  }
}

/** Entries kept per map: hostile DHT records and peer-exchange answers bring fresh ids without end. */
const MAX_REMEMBERED = 1024

/** Sets a key as the newest, dropping the oldest entry past MAX_REMEMBERED. */
function remember<V> (map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as string)
}

export class ProviderSearch {
  private readonly controller = new AbortController()
  private timer?: NodeJS.Timeout
  private readonly onMdnsPeer = (evt: Event): void => { this.init.onPeer((evt as CustomEvent<{ id: PeerId }>).detail.id) }

  constructor (private readonly node: P2PNode, private readonly cid: CID, private readonly init: ProviderSearchInit) {}

  private explicit: PeerId[] = []
  private topology?: Promise<string>
  private readonly onChunkPeer = (peer: PeerId): void => { if (!this.controller.signal.aborted) this.offer(peer) }
  /** Failures of candidates, by peer id, and by transport address for peers a peer exchange named. */
  private readonly backoff = new Map<string, { failures: number, until: number }>()
  /** Peer id -> the address a peer exchange named it at. */
  private readonly exchangedAt = new Map<string, string>()

  /**
   * A candidate could not be used (unreachable, no release): offer it again only later. A peer
   * a peer exchange named holds back its address too, under any id.
   */
  failed (peer: PeerId): void {
    const id = peer.toString()
    this.strike(id)
    const addr = this.exchangedAt.get(id)
    if (addr != null) this.strike(addr)
  }

  /**
   * Peers a peer exchange named (GET_PEERS answers are the answerer's word): at most
   * `maxPerAnswer` of one answer, and none at an address that could not be reached until its
   * backoff has passed, so a liar cannot aim every fetch at one victim with fresh ids each round.
   * Their addresses go to the peer store, the peers to the fetch.
   */
  async exchanged (addrs: Uint8Array[]): Promise<void> {
    for (const bytes of addrs.slice(0, this.init.maxPerAnswer ?? PROVIDER_SEARCH_DEFAULTS.maxPerAnswer)) {
      try {
        const { peer, addr } = parsePeerAddress(multiaddr(bytes).toString())
        if (peer.equals(this.node.peerId)) continue
        const transport = addr.decapsulateCode(CODE_P2P)
        if (this.held(transport.toString())) continue
        remember(this.exchangedAt, peer.toString(), transport.toString())
        await this.node.peerStore.merge(peer, { multiaddrs: [transport] })
        this.init.onPeer(peer)
      } catch (err) {
        log('a peer sent a malformed address, ignored: %e', err)
      }
    }
  }

  private strike (key: string): void {
    const failures = (this.backoff.get(key)?.failures ?? 0) + 1
    remember(this.backoff, key, { failures, until: Date.now() + backoffDelay(failures, FAILED_PEER_BACKOFF) })
  }

  private held (key: string): boolean {
    const b = this.backoff.get(key)
    return b != null && Date.now() < b.until
  }

  private offer (peer: PeerId): boolean {
    if (this.held(peer.toString())) return false
    this.init.onPeer(peer)
    return true
  }

  async start (): Promise<void> {
    for (const { peer, addr } of (this.init.peers ?? []).map(parsePeerAddress)) {
      await this.node.peerStore.merge(peer, { multiaddrs: [addr] })
      this.explicit.push(peer)
      this.init.onPeer(peer)
    }
    const mdns = this.node.services.mdns as EventTarget | undefined
    mdns?.addEventListener('peer', this.onMdnsPeer)
    // Want-broadcast, as Bitswap does: every connected peer that speaks the chunk protocol
    // (bootstrap, mDNS, DHT neighbours, relays' clients) is asked directly, beside the DHT.
    this.topology = this.node.register(PROTOCOL, { onConnect: this.onChunkPeer, notifyOnLimitedConnection: true })
    for (const peer of this.node.getPeers()) void this.node.peerStore.get(peer).then(p => { if (p.protocols.includes(PROTOCOL)) this.onChunkPeer(peer) }, (err: Error) => {
      log('no peer store entry for connected peer %p (%s); not offered', peer, err.message)
    })
    void this.searchLoop()
  }

  stop (): void {
    this.controller.abort(new Error('search stopped'))
    clearTimeout(this.timer)
    const mdns = this.node.services.mdns as EventTarget | undefined
    mdns?.removeEventListener('peer', this.onMdnsPeer)
    void this.topology?.then(id => { this.node.unregister(id) }, (err: Error) => {
      log('the chunk-protocol topology was never registered (%s); nothing to unregister', err.message)
    })
  }

  private async searchLoop (): Promise<void> {
    const { signal } = this.controller
    const interval = this.init.interval ?? PROVIDER_SEARCH_DEFAULTS.interval
    const enough = this.init.enoughPeers ?? PROVIDER_SEARCH_DEFAULTS.enoughPeers
    const slowest = this.init.maxInterval ?? PROVIDER_SEARCH_DEFAULTS.maxInterval
    let empty = 0
    let plenty = 0 // rounds in a row that ended with enough peers
    while (!signal.aborted) {
      // Offered again every round: a --peer that was dropped for a stall may be back.
      for (const peer of this.explicit) this.init.onPeer(peer)
      let offered = 0
      try {
        const query = AbortSignal.any([signal, AbortSignal.timeout(this.init.queryTimeout ?? PROVIDER_SEARCH_DEFAULTS.queryTimeout)])
        for await (const provider of this.node.contentRouting.findProviders(this.cid, { signal: query })) {
          if (provider.id.equals(this.node.peerId)) continue
          if (provider.multiaddrs.length > 0) await this.node.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
          if (this.offer(provider.id)) offered++
          if (offered >= (this.init.maxPerRound ?? PROVIDER_SEARCH_DEFAULTS.maxPerRound)) break
        }
      } catch (err: any) {
        // a round that timed out or found nobody; the next one may
        log('provider round for %c ended after %d offers: %s', this.cid, offered, err?.message)
      }
      if (signal.aborted) return
      empty = offered > 0 || this.explicit.length > 0 ? 0 : empty + 1
      plenty = (this.init.sources?.() ?? 0) >= enough ? plenty + 1 : 0
      const wait = plenty > 0
        ? Math.max(interval, backoffDelay(plenty, { first: 2 * interval, max: slowest }))
        : empty > 0 ? Math.min(interval, backoffDelay(empty, { first: EMPTY_ROUND_FIRST_WAIT, max: interval })) : interval
      // A long wait is checked every `interval`: once peers leave, the next round starts then.
      for (let waited = 0; waited < wait && !signal.aborted;) {
        const step = Math.min(interval, wait - waited)
        await new Promise(resolve => { this.timer = setTimeout(resolve, step) })
        waited += step
        if (plenty > 0 && (this.init.sources?.() ?? 0) < enough) break
      }
    }
  }
}
