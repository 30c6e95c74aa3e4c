/**
 * What one fetch knows of each peer, and what it allows each to do. Pure policy (no I/O, an
 * injectable clock), shared by the real fetcher and the simulator.
 *
 * - Slots: how many requests (and so chunk buffers) a peer may hold at once. A peer that has not
 *   delivered yet gets one, a proven one `maxSlots`; one with strikes, or much slower than the
 *   fastest peer, gets one again. So peers that claim chunks and trickle them cannot hold the
 *   fetch's buffers.
 * - Strikes: a timeout, a stall, a session that ended without delivering a chunk it claimed,
 *   or a protocol violation each cost one; delivered chunks earn them back (one per
 *   `forgiveEvery`). At `banAfter` the peer is banned for the fetch. A corrupt chunk bans at once.
 * - Priority: a free chunk buffer goes to the fastest waiting peer (`priority`), so the buffers
 *   do not sit on slow uplinks while fast ones idle.
 * - Snubbed: a peer whose request lost a race (another peer sent the chunk first) before it
 *   ever delivered gets no slot for `snubFor` and the lowest priority after: a trickler that
 *   claims chunks must not take the endgame copies of the last ones.
 * - Backoff: a peer whose session failed is tried again after 1 s, doubling per session that
 *   delivered nothing, up to `maxRetry`.
 */
import { backoffDelay } from './backoff.js'
import { systemClock, type Clock } from './clock.js'

export type Offence = 'corrupt' | 'timeout' | 'stall' | 'no-delivery' | 'protocol' | 'closed'

export interface PeerBookInit<K = string> {
  clock?: Clock
  maxSlots?: number
  banAfter?: number
  forgiveEvery?: number
  firstRetry?: number
  maxRetry?: number
  /** A peer slower than the fastest by this factor gets one slot. */
  slowFactor?: number
  /** A peer outrun before it delivered anything gets no slot for this long (ms). */
  snubFor?: number
  /** Consulted before a peer is used (the engine's ban list across fetches). */
  bannedElsewhere?: (peer: K) => string | undefined
  /** Told when a peer is banned for this fetch. */
  onBan?: (peer: K, reason: string) => void
}

interface PeerRecord {
  strikes: number
  /** Sessions in a row that ended without a delivery. */
  failures: number
  delivered: number
  sinceForgiven: number
  /** Bytes per ms, averaged over recent requests (0 = unknown). */
  rate: number
  /** Outrun (a lost race) before it delivered anything: no requests until then (ms on the clock; 0: never). */
  snubbedUntil: number
  retryAt: number
  banned?: string
  lastReason?: string
}

/** One answer for every admitted peer: the simulator asks millions of times. */
const ADMITTED = Object.freeze({ ok: true as const })

const STRIKE_OFFENCES = new Set<Offence>(['timeout', 'stall', 'no-delivery', 'protocol'])

/** `K`: how peers are keyed (peer id strings in the node, node numbers in the simulator). */
export class PeerBook<K = string> {
  private readonly peers = new Map<K, PeerRecord>()
  /** The fastest unbanned rate, kept up to date (slots() asks for it on every request). */
  private fastest = 0
  private readonly clock: Clock
  private readonly init: Required<Omit<PeerBookInit<K>, 'clock' | 'bannedElsewhere' | 'onBan'>> & PeerBookInit<K>

  constructor (init: PeerBookInit<K> = {}) {
    this.clock = init.clock ?? systemClock
    this.init = { maxSlots: 4, banAfter: 3, forgiveEvery: 8, firstRetry: 1000, maxRetry: 15_000, slowFactor: 8, snubFor: 30_000, ...init }
  }

  /** Whether a session may be started with this peer now; if not, why and until when. */
  admit (peer: K): { ok: true } | { ok: false, reason: string, retryAt?: number } {
    const r = this.peers.get(peer)
    if (r?.banned != null) return { ok: false, reason: r.banned }
    const elsewhere = this.init.bannedElsewhere?.(peer)
    if (elsewhere != null) return { ok: false, reason: `banned earlier: ${elsewhere}` }
    if (r != null && this.clock.now() < r.retryAt) return { ok: false, reason: r.lastReason ?? 'backing off', retryAt: r.retryAt }
    return ADMITTED
  }

  isBanned (peer: K): boolean {
    return this.peers.get(peer)?.banned != null
  }

  /** A chunk of `bytes` verified from this peer, `ms` after it was asked for. */
  delivered (peer: K, bytes: number, ms: number): void {
    const r = this.record(peer)
    r.delivered++
    r.failures = 0
    const rate = bytes / Math.max(1, ms)
    const was = r.rate
    r.rate = r.rate === 0 ? rate : r.rate * 0.7 + rate * 0.3
    if (r.banned == null && r.rate >= this.fastest) this.fastest = r.rate
    else if (r.banned == null && was >= this.fastest) this.fastest = this.fastestRate() // the fastest slowed down
    if (r.strikes > 0 && ++r.sinceForgiven >= this.init.forgiveEvery) {
      r.strikes--
      r.sinceForgiven = 0
    }
  }

  /**
   * A request to the peer was cancelled because another peer sent the chunk first. A peer that
   * never delivered is then no longer "not tried yet": it was tried, and was slower than
   * another (a trickler whose chunk an endgame copy took). It keeps its slot count and gets no
   * strike; only its place for free buffers drops (`priority`).
   */
  outrun (peer: K): void {
    const r = this.record(peer)
    if (r.delivered === 0) r.snubbedUntil = this.clock.now() + this.init.snubFor
  }

  /** Records an offence; returns whether the peer is now banned for this fetch. */
  offence (peer: K, offence: Offence, reason: string): boolean {
    const r = this.record(peer)
    r.lastReason = reason
    if (r.banned != null) return true
    if (offence === 'corrupt') return this.ban(peer, r, reason)
    if (STRIKE_OFFENCES.has(offence)) {
      r.strikes++
      r.sinceForgiven = 0
      if (r.strikes >= this.init.banAfter) return this.ban(peer, r, `${r.strikes} strikes, the last: ${reason}`)
    }
    return false
  }

  /**
   * A session with the peer ended with `reason` (undefined: cleanly). Returns when it may be
   * tried again (Infinity when banned).
   */
  sessionEnded (peer: K, deliveredInSession: number, reason?: string): number {
    const r = this.record(peer)
    if (r.banned != null) return Infinity
    if (reason == null) return this.clock.now()
    r.lastReason = reason
    r.failures = deliveredInSession > 0 ? 0 : r.failures + 1
    r.retryAt = this.clock.now() + Math.max(this.init.firstRetry, backoffDelay(r.failures, { first: this.init.firstRetry, max: this.init.maxRetry }))
    return r.retryAt
  }

  /** Requests the peer may have in flight now. */
  slots (peer: K): number {
    const r = this.peers.get(peer)
    if (r == null || r.banned != null) return r?.banned != null ? 0 : 1
    if (r.delivered === 0 && this.clock.now() < r.snubbedUntil) return 0
    if (r.delivered === 0 || r.strikes > 0) return 1
    const fastest = this.fastest
    if (fastest > 0 && r.rate * this.init.slowFactor < fastest) return 1
    return this.init.maxSlots
  }

  /**
   * Who gets a free chunk buffer first (higher first): a peer not tried yet (so it is measured),
   * then by its rate; a peer with strikes, or outrun before it delivered anything, by its rate
   * only (0), a banned one never.
   */
  priority (peer: K): number {
    const r = this.peers.get(peer)
    if (r == null) return Infinity
    if (r.banned != null) return -1
    if (r.delivered === 0 && r.strikes === 0 && r.snubbedUntil === 0) return Infinity
    return r.rate
  }

  /** Bytes per ms of this peer's recent requests (0 when unknown). */
  rate (peer: K): number {
    return this.peers.get(peer)?.rate ?? 0
  }

  strikes (peer: K): number {
    return this.peers.get(peer)?.strikes ?? 0
  }

  /** Peers with a recorded reason, for error messages. */
  reasons (): Array<[K, string]> {
    return [...this.peers].filter(([, r]) => r.lastReason != null || r.banned != null).map(([id, r]) => [id, r.banned ?? r.lastReason ?? ''])
  }

  private fastestRate (): number {
    let best = 0
    for (const r of this.peers.values()) if (r.banned == null && r.rate > best) best = r.rate
    return best
  }

  private ban (peer: K, r: PeerRecord, reason: string): true {
    r.banned = reason
    r.retryAt = Infinity
    if (r.rate >= this.fastest) this.fastest = this.fastestRate()
    this.init.onBan?.(peer, reason)
    return true
  }

  private record (peer: K): PeerRecord {
    let r = this.peers.get(peer)
    if (r == null) {
      r = { strikes: 0, failures: 0, delivered: 0, sinceForgiven: 0, rate: 0, snubbedUntil: 0, retryAt: 0 }
      this.peers.set(peer, r)
    }
    return r
  }
}
