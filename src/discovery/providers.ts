/**
 * Finds the peers that may hold a release: the --peer addresses the user gave, providers of the
 * CID in the DHT (asked again every `interval` while the fetch runs, since seeders come and go),
 * peers found by mDNS on the LAN, and every connected peer that speaks the chunk protocol
 * (want-broadcast). Every candidate is reported once per search round; the fetcher decides
 * whom to use and ignores the ones it already has or has banned.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import type { PeerId } from '@libp2p/interface'
import type { P2PNode } from '../net/node.js'
import { PROTOCOL } from '../swarm/codec.js'

export interface ProviderSearchInit {
  peers?: string[]
  interval?: number
  queryTimeout?: number
  onPeer: (peer: PeerId) => void
}

export class BadPeerAddressError extends Error {
  static override name = 'BadPeerAddressError'
  override name = 'BadPeerAddressError'
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

export class ProviderSearch {
  private readonly controller = new AbortController()
  private timer?: NodeJS.Timeout
  private readonly onMdnsPeer = (evt: Event): void => { this.init.onPeer((evt as CustomEvent<{ id: PeerId }>).detail.id) }

  constructor (private readonly node: P2PNode, private readonly cid: CID, private readonly init: ProviderSearchInit) {}

  private explicit: PeerId[] = []
  private topology?: Promise<string>
  private readonly onChunkPeer = (peer: PeerId): void => { if (!this.controller.signal.aborted) this.init.onPeer(peer) }

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
    for (const peer of this.node.getPeers()) void this.node.peerStore.get(peer).then(p => { if (p.protocols.includes(PROTOCOL)) this.onChunkPeer(peer) }, () => {})
    void this.searchLoop()
  }

  stop (): void {
    this.controller.abort(new Error('search stopped'))
    clearTimeout(this.timer)
    const mdns = this.node.services.mdns as EventTarget | undefined
    mdns?.removeEventListener('peer', this.onMdnsPeer)
    void this.topology?.then(id => { this.node.unregister(id) }, () => {})
  }

  private async searchLoop (): Promise<void> {
    const { signal } = this.controller
    while (!signal.aborted) {
      // Offered again every round: a --peer that was dropped for a stall may be back.
      for (const peer of this.explicit) this.init.onPeer(peer)
      try {
        const query = AbortSignal.any([signal, AbortSignal.timeout(this.init.queryTimeout ?? 30_000)])
        for await (const provider of this.node.contentRouting.findProviders(this.cid, { signal: query })) {
          if (provider.id.equals(this.node.peerId)) continue
          if (provider.multiaddrs.length > 0) await this.node.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
          this.init.onPeer(provider.id)
        }
      } catch {
        // a round that timed out or found nobody; the next one may
      }
      if (signal.aborted) return
      await new Promise(resolve => { this.timer = setTimeout(resolve, this.init.interval ?? 10_000) })
    }
  }
}
