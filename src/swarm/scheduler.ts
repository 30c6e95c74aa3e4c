/**
 * Chooses which chunk to ask a peer for next. Chunks go out in order from a random starting
 * point (so two fetchers of the same release start on different chunks and can trade, while
 * reads and writes stay sequential), failed chunks are retried first, and at the end ("endgame")
 * a chunk still in flight may be asked of a second peer so one slow peer cannot hold up the tail.
 */
import type { Bitfield } from '../store/bitfield.js'

export interface PeerView {
  has: (chunk: number) => boolean
  /** Chunks this peer is already fetching: never asked of it twice. */
  inFlight: ReadonlySet<number>
}

export class ChunkScheduler {
  private cursor = 0
  private readonly retry: number[] = []
  private readonly inFlight = new Map<number, number>()

  /** `wanted`: the chunks this fetch needs (a partial fetch); absent = all of them. */
  constructor (private readonly verified: Bitfield, private readonly start = 0, private readonly maxDuplicates = 2, private readonly wanted?: Bitfield) {}

  get total (): number {
    return this.verified.length
  }

  /** The next chunk for this peer, or undefined when it has none we need. Marks it in flight. */
  next (peer: PeerView): number | undefined {
    const chunk = this.fromRetry(peer) ?? this.fromCursor(peer) ?? this.endgame(peer)
    if (chunk !== undefined) this.inFlight.set(chunk, (this.inFlight.get(chunk) ?? 0) + 1)
    return chunk
  }

  /** A request finished (verified or not): the chunk is no longer in flight for that peer. */
  finish (chunk: number, ok: boolean): void {
    const n = (this.inFlight.get(chunk) ?? 1) - 1
    if (n > 0) this.inFlight.set(chunk, n)
    else this.inFlight.delete(chunk)
    if (!ok && !this.done(chunk) && !this.inFlight.has(chunk)) this.retry.push(chunk)
  }

  private fromRetry (peer: PeerView): number | undefined {
    for (let i = 0; i < this.retry.length; i++) {
      const chunk = this.retry[i]
      if (this.done(chunk) || this.inFlight.has(chunk)) {
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

  private fromCursor (peer: PeerView): number | undefined {
    for (let pos = this.advance(); pos < this.total; pos++) {
      const chunk = this.at(pos)
      if (!this.done(chunk) && !this.inFlight.has(chunk) && peer.has(chunk)) return chunk
    }
    return undefined
  }

  private endgame (peer: PeerView): number | undefined {
    let best: number | undefined
    let bestCount = Infinity
    for (const [chunk, count] of this.inFlight) {
      if (count < bestCount && count < this.maxDuplicates && !peer.inFlight.has(chunk) && !this.done(chunk) && peer.has(chunk)) {
        best = chunk
        bestCount = count
      }
    }
    return best
  }

  /** Moves the cursor past chunks that are verified or in flight; returns it. */
  private advance (): number {
    while (this.cursor < this.total) {
      const chunk = this.at(this.cursor)
      if (!this.done(chunk) && !this.inFlight.has(chunk)) break
      this.cursor++
    }
    return this.cursor
  }

  /** Verified, or not wanted by this fetch: never asked for. */
  private done (chunk: number): boolean {
    return this.verified.has(chunk) || (this.wanted != null && !this.wanted.has(chunk))
  }

  private at (pos: number): number {
    return (this.start + pos) % this.total
  }
}
