/**
 * Initial seeding (BitTorrent's super-seeding) for the origin of a release. Pure policy (no I/O,
 * an injectable clock), shared by the real server and the simulator.
 *
 * The origin offers (in HAVE, and serves) only the chunks that no connected peer got from it:
 * every chunk leaves it once, and fetchers get the other copies from each other, so the origin
 * uploads about one copy of the model for a crowd of any size. Those first copies are spread:
 * a peer gets at most total / (peers asking lately) of them, so one slow uplink does not end up
 * the only holder of many chunks (a lone fetcher may take them all). The mode lasts as long as
 * the origin serves the release; what keeps a fetcher from starving on it:
 * - a chunk whose receivers have all gone (`peerGone`) is offered again: when every other
 *   holder has left, the origin serves everything a fetcher still needs;
 * - besides, one repeat (a chunk some connected peer already got) is allowed every
 *   `repeatEvery` ms per chunk of it (HAVE shows every chunk while the allowance is open): a
 *   peer that got a chunk and never passes it on (a black hole, a stuck peer) slows the others
 *   down, but cannot stop them.
 * A lone fetcher gets every chunk at full speed, exactly as from an ordinary seeder.
 */
import { systemClock, type Clock } from './clock.js'

export interface SuperSeederInit {
  clock?: Clock
  /** One repeat upload is allowed per this many ms (per chunk unit of the repeat). */
  repeatEvery?: number
  /** Real chunks per unit counted here (the simulator's pieces); 1 for the real server. */
  unitChunks?: number
  /** A peer counts as asking for this long after its last request or HAVE (ms). */
  activeFor?: number
}

/** `K`: how peers are keyed (peer id strings in the node, node numbers in the simulator). */
export class SuperSeeder<K = string> {
  private readonly uploads: Uint32Array
  /** Copies held by connected peers that got them from us. */
  private readonly live: Uint32Array
  /** Chunks uploaded to each connected peer (so its copies can be forgotten when it goes). */
  private readonly sentTo = new Map<K, number[]>()
  private offered: number
  private bits?: Uint8Array
  private readonly none: Uint8Array
  private readonly all: Uint8Array
  private nextRepeat = 0
  private readonly clock: Clock
  private readonly repeatEvery: number
  private readonly unitChunks: number
  private readonly activeFor: number
  /** First copies each peer got from us. */
  private readonly freshTo = new Map<K, number>()
  /** When each peer last asked (a request, a HAVE); how many did lately, recounted each second. */
  private readonly lastAsk = new Map<K, number>()
  /** Connected peers that asked for our HAVE (see `spreads`). */
  private readonly haveAskers = new Set<K>()
  private activeCount = 0
  private countedAt = -Infinity
  /** Repeat uploads so far (for figures and tests). */
  repeats = 0

  constructor (readonly total: number, init: SuperSeederInit = {}) {
    this.uploads = new Uint32Array(total)
    this.live = new Uint32Array(total)
    this.offered = total
    this.none = new Uint8Array(Math.ceil(total / 8))
    this.all = new Uint8Array(Math.ceil(total / 8)).fill(0xff)
    if (total % 8 !== 0) this.all[this.all.length - 1] = (0xff00 >> (total % 8)) & 0xff
    this.clock = init.clock ?? systemClock
    this.repeatEvery = init.repeatEvery ?? 30_000
    this.unitChunks = init.unitChunks ?? 1
    this.activeFor = init.activeFor ?? 30_000
  }

  /** The peer asked for a chunk or for our HAVE: it is fetching. */
  asked (peer: K): void {
    if (!this.lastAsk.has(peer)) this.activeCount++
    this.lastAsk.set(peer, this.clock.now())
  }

  /** The peer asked for our HAVE, as every p2pweights fetcher does before it asks for chunks. */
  haveAsked (peer: K): void {
    this.haveAskers.add(peer)
    this.asked(peer)
  }

  /**
   * Whether a copy sent to `peer` counts as a first copy spread: only when it asked for our HAVE.
   * A peer that just grabs chunks (a connection that only hogs) is served what is on offer but
   * holds nothing back; counted, its copies were kept from everyone else until the next repeat.
   */
  spreads (peer: K): boolean {
    return this.haveAskers.has(peer)
  }

  /** First copies any one peer may get: the chunks shared among the peers asking lately. */
  quota (): number {
    const now = this.clock.now()
    if (now - this.countedAt >= 1000) {
      this.countedAt = now
      for (const [peer, at] of this.lastAsk) if (now - at > this.activeFor) this.lastAsk.delete(peer)
      this.activeCount = this.lastAsk.size
    }
    return Math.ceil(this.total / Math.max(1, this.activeCount))
  }

  /** Initial seeding lasts while the origin serves (kept for callers that ask). */
  get active (): boolean {
    return true
  }

  /** Whether a repeat may go out now (then every chunk is on offer). */
  get repeatOpen (): boolean {
    return this.clock.now() >= this.nextRepeat
  }

  /** When the next repeat is allowed (ms on the clock). */
  get repeatAt (): number {
    return this.nextRepeat
  }

  /** Chunks no connected peer got from us. */
  get fresh (): number {
    return this.offered
  }

  /** Whether a request for `chunk` is served now (to `peer`: within its share of first copies). */
  offers (chunk: number, peer?: K): boolean {
    if (this.repeatOpen) return true
    return this.live[chunk] === 0 && (peer == null || this.mayTakeFresh(peer))
  }

  /** Whether anything is on offer to `peer` now (its HAVE from us is not empty). */
  offersAny (peer: K): boolean {
    return this.repeatOpen || (this.offered > 0 && this.mayTakeFresh(peer))
  }

  /** Whether `peer` may get one more first copy now. */
  mayTakeFresh (peer: K): boolean {
    return (this.freshTo.get(peer) ?? 0) < this.quota()
  }

  /** How often the chunk left the origin. */
  uploadsOf (chunk: number): number {
    return this.uploads[chunk] ?? 0
  }

  /**
   * A chunk's upload to `peer` starts (call only when `offers(chunk)`). Returns true when this
   * was a repeat (the allowance is used up until `repeatAt`).
   */
  uploaded (chunk: number, peer: K): boolean {
    if (chunk < 0 || chunk >= this.total) return false
    const repeat = this.live[chunk] > 0
    this.asked(peer)
    if (!repeat) this.freshTo.set(peer, (this.freshTo.get(peer) ?? 0) + 1)
    this.uploads[chunk]++
    if (this.live[chunk]++ === 0) this.mark(chunk, false)
    let list = this.sentTo.get(peer)
    if (list == null) this.sentTo.set(peer, list = [])
    list.push(chunk)
    if (repeat) {
      this.repeats++
      this.nextRepeat = this.clock.now() + this.repeatEvery * this.unitChunks
    }
    return repeat
  }

  /** The peer disconnected: its copies no longer count. Returns the chunks offered again. */
  peerGone (peer: K): number[] {
    const list = this.sentTo.get(peer)
    this.haveAskers.delete(peer)
    this.freshTo.delete(peer)
    if (this.lastAsk.delete(peer)) this.activeCount--
    if (list == null) return []
    this.sentTo.delete(peer)
    const again: number[] = []
    for (const chunk of list) {
      if (--this.live[chunk] === 0) {
        this.mark(chunk, true)
        again.push(chunk)
      }
    }
    return again
  }

  /**
   * The chunks offered now (to `peer`), as a HAVE bitfield (most significant bit first). Read
   * only: the same bytes are returned again (the simulator asks on every pick).
   */
  bitfield (peer?: K): Uint8Array {
    if (peer != null && !this.repeatOpen && !this.mayTakeFresh(peer)) return this.none
    if (this.repeatOpen) return this.all
    if (this.bits == null) {
      this.bits = new Uint8Array(Math.ceil(this.total / 8))
      for (let c = 0; c < this.total; c++) if (this.live[c] === 0) this.bits[c >> 3] |= 0x80 >> (c & 7)
    }
    return this.bits
  }

  private mark (chunk: number, on: boolean): void {
    this.offered += on ? 1 : -1
    if (this.bits == null) return
    if (on) this.bits[chunk >> 3] |= 0x80 >> (chunk & 7)
    else this.bits[chunk >> 3] &= ~(0x80 >> (chunk & 7))
  }
}
