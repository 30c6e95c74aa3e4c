/**
 * Which peers this node uploads to: BitTorrent's unchoke slots. Pure policy (no I/O, an
 * injectable clock and random source), shared by the real server and the simulator.
 *
 * While no more peers want chunks than there are places (`slots` + `optimistic`, default 8 + 2:
 * more than BitTorrent's 4 + 1, since a fetcher here pulls from many peers at once), everyone is
 * served. Beyond that, every `interval` the `slots` regular places go to the interested peers
 * that uploaded most to us lately (reciprocity), then to those we upload to fastest (they pass
 * the chunks on sooner), and `optimistic` places go to other interested peers picked at random,
 * re-drawn every `optimisticInterval`, so a newcomer with nothing to offer yet gets a start. A
 * choked peer's requests are answered "busy" at once; it asks again later or elsewhere.
 */
import { systemClock, type Clock } from './clock.js'

export interface ChokerInit {
  slots?: number
  optimistic?: number
  interval?: number
  optimisticInterval?: number
  /** A peer that sent no request for this long is no longer interested. */
  idleAfter?: number
  clock?: Clock
  random?: () => number
}

interface PeerStats {
  lastRequest: number
  /** Bytes received from / sent to the peer, halved every interval (a moving window). */
  received: number
  sent: number
}

/** `K`: how peers are keyed (peer id strings in the node, node numbers in the simulator). */
export class Choker<K = string> {
  private readonly peers = new Map<K, PeerStats>()
  private unchoked = new Set<K>()
  private optimisticPeers = new Set<K>()
  private nextRound = 0
  private nextOptimistic = 0
  private readonly init: Required<Omit<ChokerInit, 'clock' | 'random'>>
  private readonly clock: Clock
  private readonly random: () => number

  constructor (init: ChokerInit = {}) {
    this.init = { slots: 8, optimistic: 2, interval: 10_000, optimisticInterval: 30_000, idleAfter: 15_000, ...init }
    this.clock = init.clock ?? systemClock
    this.random = init.random ?? Math.random
  }

  /** A peer asks for a chunk: may it have one now? */
  request (peer: K): boolean {
    const now = this.clock.now()
    const stats = this.stats(peer)
    stats.lastRequest = now
    if (now >= this.nextRound) this.round(now)
    if (this.unchoked.has(peer) || this.optimisticPeers.has(peer)) return true
    // A free place (a peer left, or few want chunks) goes to whoever asks first.
    if (this.unchoked.size + this.optimisticPeers.size < this.init.slots + this.init.optimistic) {
      this.unchoked.add(peer)
      return true
    }
    return false
  }

  /** Bytes we received from the peer (verified chunks): what earns it a regular slot. */
  received (peer: K, bytes: number): void {
    this.stats(peer).received += bytes
  }

  sent (peer: K, bytes: number): void {
    this.stats(peer).sent += bytes
  }

  /** Peers served now (for status and tests). */
  get serving (): K[] {
    return [...this.unchoked, ...this.optimisticPeers]
  }

  private round (now: number): void {
    this.nextRound = now + this.init.interval
    for (const [id, s] of this.peers) {
      if (now - s.lastRequest > this.init.idleAfter) {
        this.peers.delete(id)
        continue
      }
    }
    const interested = [...this.peers.keys()]
    if (interested.length <= this.init.slots + this.init.optimistic) {
      this.unchoked = new Set(interested)
      this.optimisticPeers.clear()
    } else {
      const ranked = interested
        .map(id => ({ id, s: this.peers.get(id) as PeerStats, tie: this.random() }))
        .sort((a, b) => (b.s.received - a.s.received) || (b.s.sent - a.s.sent) || (a.tie - b.tie))
      this.unchoked = new Set(ranked.slice(0, this.init.slots).map(r => r.id))
      const keep = [...this.optimisticPeers].filter(id => this.peers.has(id) && !this.unchoked.has(id))
      if (now >= this.nextOptimistic || keep.length < this.init.optimistic) {
        this.nextOptimistic = now + this.init.optimisticInterval
        const rest = ranked.slice(this.init.slots).map(r => r.id)
        const picked: K[] = []
        while (picked.length < this.init.optimistic && rest.length > 0) picked.push(rest.splice(Math.floor(this.random() * rest.length), 1)[0])
        this.optimisticPeers = new Set(picked)
      } else {
        this.optimisticPeers = new Set(keep)
      }
    }
    for (const s of this.peers.values()) {
      s.received /= 2
      s.sent /= 2
    }
  }

  private stats (peer: K): PeerStats {
    let s = this.peers.get(peer)
    if (s == null) {
      s = { lastRequest: this.clock.now(), received: 0, sent: 0 }
      this.peers.set(peer, s)
    }
    return s
  }
}
