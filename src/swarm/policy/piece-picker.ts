/**
 * Chooses which chunk to ask a peer for next. Pure policy (no I/O, an injectable clock), shared
 * by the real fetcher and the simulator.
 *
 * - Failed chunks are retried first.
 * - Rarest first: among the chunks a peer has that we still need, the one the fewest partial
 *   peers hold (peers that hold everything count the same for every chunk, so they do not
 *   change the order). Ties go to the first in order from a random starting point, different
 *   for every fetcher, so fetchers ask for different chunks while disk access stays sequential.
 * - Endgame: when nothing is left to hand out, a chunk still in flight may be asked of a second
 *   peer (at most `maxDuplicates` copies, never twice from one peer), the one outstanding
 *   longest first: that is the one a slow peer holds. The first copy to verify wins; the
 *   fetcher cancels the others. Only near the end (at most `endgameRemaining` chunks missing)
 *   or for a straggler (a chunk in flight for `stragglerAfter` ms): earlier, a second copy
 *   mostly races a healthy first one and wastes its bytes. A straggler's copy comes before
 *   new chunks (the chunk is late; its copy frees the slow peer's buffer when it wins, and the
 *   peer book then snubs a peer that never delivered). A chunk whose copies all straggle
 *   (the newest asked `stragglerAfter` ago) may get one copy beyond `maxDuplicates`: two
 *   peers that both trickle cannot hold the last chunk of a fetch until their deadlines.
 */
import { systemClock, type Clock } from './clock.js'
import { Bitfield } from '../../store/bitfield.js'

export interface PeerView {
  has: (chunk: number) => boolean
  /** Chunks this peer is already fetching: never asked of it twice. */
  inFlight: ReadonlySet<number>
  /**
   * Bytes of a bitfield (most significant bit first) that holds every chunk `has` says yes to
   * (the peer's HAVE, or just that): lets the scan skip 8 chunks at once where none is one we
   * still need and have not asked for (same choice, less work). The closer to `has`, the more
   * it skips.
   */
  bits?: Uint8Array
  /** `bits` holds exactly the chunks `has` says yes to: the scan need not ask `has` again. */
  exact?: boolean
}

/** Anything with `has` over chunk numbers (a Bitfield). */
export interface ChunkSet { has: (chunk: number) => boolean, readonly length: number }

export interface PiecePickerInit {
  /** Where in-order tie-breaking starts (random per fetcher). */
  start?: number
  maxDuplicates?: number
  clock?: Clock
  /** The chunks this fetch needs (a partial fetch: --include/--exclude); absent = all of them. */
  wanted?: ChunkSet
  /** Endgame copies for any chunk in flight once at most this many chunks are missing. */
  endgameRemaining?: number
  /** Before that, only for a chunk in flight this long (ms). */
  stragglerAfter?: number
}

/** How many chunks finished unverified `stillQuiet` looks back on. */
const RECENT = 16

export class PiecePicker {
  private cursor = 0
  private readonly retry: number[] = []
  /** Copies in flight per chunk, when the first and the newest were asked. */
  private readonly inFlight = new Map<number, { count: number, since: number, last: number }>()
  /** The chunks in `inFlight`, as a bitfield: the scan masks whole bytes with it. */
  private readonly flying: Bitfield
  /** How many partial peers hold each chunk. */
  private readonly availability: Uint16Array
  private readonly start: number
  private readonly maxDuplicates: number
  private readonly clock: Clock
  private readonly wanted?: ChunkSet
  private readonly endgameRemaining: number
  private readonly stragglerAfter: number
  /** Chunks neither verified nor wanted at the start (they never become verified here). */
  private readonly skipped: number
  /** Requests finished unverified: the only way a chunk becomes askable again (`version`). */
  private failed = 0
  /** The last chunks finished unverified: `recent[v % RECENT]` at version v. */
  private readonly recent = new Int32Array(RECENT)

  constructor (private readonly verified: Bitfield, init: PiecePickerInit = {}) {
    this.start = init.start ?? 0
    this.maxDuplicates = init.maxDuplicates ?? 2
    this.clock = init.clock ?? systemClock
    this.wanted = init.wanted
    this.endgameRemaining = init.endgameRemaining ?? 8
    this.stragglerAfter = init.stragglerAfter ?? 30_000
    this.availability = new Uint16Array(verified.length)
    this.flying = new Bitfield(verified.length)
    let skipped = 0
    if (init.wanted != null) for (let c = 0; c < verified.length; c++) if (!init.wanted.has(c) && !verified.has(c)) skipped++
    this.skipped = skipped
  }

  /** Chunks this fetch still needs (neither verified nor left out). */
  get remaining (): number {
    return this.verified.length - this.verified.count - this.skipped
  }

  get total (): number {
    return this.verified.length
  }

  /**
   * When `next` has answered undefined for a peer, a caller with many idle peers (the
   * simulator) need not ask again while the answer holds: it keeps `version` and
   * `quietUntil()` from then, and asks `stillQuiet` (and must itself ask again once the
   * peer has a new chunk). Changes when a request finishes unverified.
   */
  get version (): number {
    return this.failed
  }

  /**
   * Until when (clock ms) an undefined from `next` can hold: a chunk in flight becomes a
   * straggler, or the wait for a copy beyond `maxDuplicates` runs out (a chunk asked for
   * later straggles no sooner than `stragglerAfter` from now). Near the end, when any chunk
   * in flight may be copied, now: nothing is promised.
   */
  quietUntil (): number {
    const now = this.clock.now()
    if (this.remaining <= this.endgameRemaining) return now
    let until = now + this.stragglerAfter
    for (const { count, since, last } of this.inFlight.values()) {
      if (count < this.maxDuplicates) until = Math.min(until, since + this.stragglerAfter)
      else if (count === this.maxDuplicates) until = Math.min(until, Math.max(since, last) + this.stragglerAfter)
    }
    return until
  }

  /**
   * Whether `next`, having answered undefined for `peer` at `version` (`until`: quietUntil()
   * then), still would, the peer's chunks unchanged. Meanwhile chunks verified or asked for
   * only take candidates away; one finished unverified brings one back if the peer has it.
   */
  stillQuiet (version: number, until: number, peer: PeerView): boolean {
    if (this.clock.now() >= until || this.remaining <= this.endgameRemaining) return false
    if (this.failed - version > RECENT) return false
    const bits = peer.bits
    for (let v = version; v < this.failed; v++) {
      const chunk = this.recent[v % RECENT]
      if ((bits === undefined || (bits[chunk >> 3] & (0x80 >> (chunk & 7))) !== 0) && peer.has(chunk)) return false
    }
    return true
  }

  /** Copies of this chunk in flight now. */
  copies (chunk: number): number {
    return this.inFlight.get(chunk)?.count ?? 0
  }

  /** A partial peer's chunks become known (its HAVE), or stop counting (`sign` -1: it left). */
  addHave (have: ChunkSet, sign: 1 | -1 = 1): void {
    for (let c = 0; c < this.total; c++) if (have.has(c)) this.bump(c, sign)
  }

  /** A partial peer got one more chunk (a HAVE update). */
  addChunk (chunk: number): void {
    if (chunk >= 0 && chunk < this.total) this.bump(chunk, 1)
  }

  /** The next chunk for this peer, or undefined when it has none we need. Marks it in flight. */
  next (peer: PeerView): number | undefined {
    const chunk = this.fromRetry(peer) ?? this.endgame(peer, true) ?? this.rarest(peer) ?? this.endgame(peer, false)
    if (chunk !== undefined) {
      const entry = this.inFlight.get(chunk)
      const now = this.clock.now()
      if (entry != null) {
        entry.count++
        entry.last = now
      } else {
        this.inFlight.set(chunk, { count: 1, since: now, last: now })
        this.flying.set(chunk)
      }
    }
    return chunk
  }

  /**
   * A request finished: one copy of the chunk is no longer in flight. `ok`: the chunk is
   * verified (the caller sets it in the bitfield before it picks again).
   */
  finish (chunk: number, ok: boolean): void {
    if (!ok) this.recent[this.failed++ % RECENT] = chunk
    const entry = this.inFlight.get(chunk)
    if (entry != null && entry.count > 1) {
      entry.count--
    } else if (this.inFlight.delete(chunk)) {
      this.flying.clear(chunk)
    }
    if (!ok && !this.done(chunk) && !this.flies(chunk)) this.retry.push(chunk)
  }

  private bump (chunk: number, sign: 1 | -1): void {
    const n = this.availability[chunk] + sign
    this.availability[chunk] = n < 0 ? 0 : n > 0xffff ? 0xffff : n
  }

  private fromRetry (peer: PeerView): number | undefined {
    for (let i = 0; i < this.retry.length; i++) {
      const chunk = this.retry[i]
      if (this.done(chunk) || this.flies(chunk)) {
        this.retry.splice(i--, 1)
        continue
      }
      if (peer.has(chunk)) {
        this.retry.splice(i, 1)
        return chunk
      }
    }
    return undefined
  }

  /**
   * The first chunk (from the cursor) with the lowest availability among those the peer has.
   * Stops at the first chunk nobody else holds, so with seeders alone this is one step.
   */
  private rarest (peer: PeerView): number | undefined {
    let best: number | undefined
    let bestCount = Infinity
    const bits = peer.bits
    const exact = peer.exact === true
    const mine = this.verified.bytes
    const flying = this.flying.bytes
    const total = this.total
    let pos = this.advance()
    while (pos < total) {
      const chunk = this.at(pos)
      if (bits !== undefined && (chunk & 7) === 0 && chunk + 8 <= total) {
        // A whole byte: the next 8 positions are these 8 chunks (no wrap-around inside an
        // aligned byte that ends before the last). Only the chunks the peer may have that we
        // neither hold nor have asked for are looked at, in order (most significant bit first).
        let m = bits[chunk >> 3] & ~(mine[chunk >> 3] | flying[chunk >> 3]) & 0xff
        while (m !== 0) {
          const bit = Math.clz32(m) - 24
          m ^= 0x80 >> bit
          const c = chunk + bit
          if ((this.wanted != null && !this.wanted.has(c)) || (!exact && !peer.has(c))) continue
          const count = this.availability[c]
          if (count < bestCount) {
            best = c
            bestCount = count
            if (count === 0) return best
          }
        }
        pos += 8
        continue
      }
      pos++
      if (this.done(chunk) || this.flies(chunk) || !peer.has(chunk)) continue
      const count = this.availability[chunk]
      if (count < bestCount) {
        best = chunk
        bestCount = count
        if (count === 0) break
      }
    }
    return best
  }

  private endgame (peer: PeerView, stragglersOnly: boolean): number | undefined {
    if (this.inFlight.size === 0) return undefined
    let best: number | undefined
    // Near the end any chunk in flight; before, only stragglers.
    const now = this.clock.now()
    let bestSince = this.remaining <= this.endgameRemaining && !stragglersOnly ? Infinity : now - this.stragglerAfter
    // Entries are added as chunks are first asked for and `since` never changes, so the first
    // in the map is the oldest: when it is not a straggler, none is (most calls, at once). On
    // Date.now() a clock stepped back can only delay a straggler's copy by that step.
    if (bestSince !== Infinity && (this.inFlight.values().next().value as { since: number }).since >= bestSince) return undefined
    for (const [chunk, { count, since, last }] of this.inFlight) {
      // One more copy than maxDuplicates when every copy in flight straggles.
      const room = count < this.maxDuplicates || (count === this.maxDuplicates && now - last >= this.stragglerAfter)
      if (room && since < bestSince && !peer.inFlight.has(chunk) && !this.done(chunk) && peer.has(chunk)) {
        best = chunk
        bestSince = since
      }
    }
    return best
  }

  /** Moves the cursor past chunks that are verified or in flight; returns it. */
  private advance (): number {
    while (this.cursor < this.total) {
      const chunk = this.at(this.cursor)
      if (!this.done(chunk) && !this.flies(chunk)) break
      this.cursor++
    }
    return this.cursor
  }

  /** At least one copy in flight. */
  private flies (chunk: number): boolean {
    return this.flying.has(chunk)
  }

  /** Verified, or not wanted by this fetch: never asked for. */
  private done (chunk: number): boolean {
    return this.verified.has(chunk) || (this.wanted != null && !this.wanted.has(chunk))
  }

  private at (pos: number): number {
    return (this.start + pos) % this.total
  }
}
