/**
 * The per-node state of a simulated swarm: each node holds the SAME policy units the real node
 * runs (swarm/policy): a PiecePicker and a PeerBook while it fetches, a Choker for what it
 * serves. Everything else here is bookkeeping the real node gets from its streams.
 */
import { Choker } from '../swarm/policy/choker.js'
import type { UploadLimit } from '../swarm/policy/upload-limit.js'
import { PeerBook } from '../swarm/policy/peer-book.js'
import { PiecePicker, type PeerView } from '../swarm/policy/piece-picker.js'
import { Bitfield } from '../store/bitfield.js'
import type { SuperSeeder } from '../swarm/policy/super-seeder.js'
import type { Clock } from '../swarm/policy/clock.js'
import type { SimEvent } from './event-queue.js'
import type { Link, Transfer } from './network.js'

export type Role = 'origin' | 'honest' | 'trickle' | 'liar' | 'corrupt'
export const HOSTILE_ROLES: Role[] = ['trickle', 'liar', 'corrupt']

/** What one node is fetching now (absent when it is not fetching). */
export class FetchState {
  readonly picker: PiecePicker
  readonly book: PeerBook<number>
  free: number
  /** Round-robin position in the neighbour list (the order streams queue for buffers). */
  cursor: number
  /** Pieces in flight per neighbour (PeerView.inFlight). */
  readonly inFlightTo = new Map<number, Set<number>>()
  /** Requests in flight per piece (so the losers of an endgame race can be cancelled). */
  readonly requests = new Map<number, Request[]>()
  /**
   * Per neighbour position: choked by it until (ms; 0: not choked, Infinity: waiting in its
   * list for the next tick), the session's choke backoff. Arrays, not a map: every pump looks
   * at every neighbour, and most of them choke a fetcher in a large swarm.
   */
  readonly chokedUntil: Float64Array
  /** Per neighbour position: the backoff is over and the session waits for a buffer to ask again. */
  readonly due: Uint8Array
  /** Per neighbour position: BUSY answers in a row (the session's backoff doubles with each). */
  readonly chokes: Uint8Array
  wakeAt = Infinity
  /** The request to end at its next chunk boundary (its buffer goes to a faster peer), if any. */
  cut?: { req: Request, event: SimEvent }
  /** SwarmSim.cutFloor's cache (NaN: to recount). */
  cutFloor = NaN

  /**
   * Per neighbour position: the picker had nothing to ask it for (PiecePicker.quietUntil and
   * version then, and the neighbour's offerVersion). Saves the picks that would find nothing
   * again: most of a pump's tries in a large swarm.
   */
  readonly quietUntil: Float64Array
  readonly quietPicker: Float64Array
  readonly quietOffer: Float64Array

  /** Scratch for ordering neighbours by priority (pump). */
  readonly order: Int32Array
  /** Per neighbour position: PeerBook.priority, kept in step when the book learns of it. */
  readonly prio: Float64Array

  constructor (have: Bitfield, clock: Clock, start: number, cursor: number, init: { maxInFlight: number, streamsPerPeer: number, endgameRemaining: number, stragglerAfter: number, neighbours: number }) {
    this.picker = new PiecePicker(have, { start, clock, endgameRemaining: init.endgameRemaining, stragglerAfter: init.stragglerAfter })
    this.book = new PeerBook<number>({ clock, maxSlots: init.streamsPerPeer })
    this.free = init.maxInFlight
    this.cursor = cursor
    this.prio = new Float64Array(init.neighbours).fill(Infinity)
    this.order = new Int32Array(init.neighbours)
    this.chokedUntil = new Float64Array(init.neighbours)
    this.due = new Uint8Array(init.neighbours)
    this.chokes = new Uint8Array(init.neighbours)
    this.quietUntil = new Float64Array(init.neighbours)
    this.quietPicker = new Float64Array(init.neighbours)
    this.quietOffer = new Float64Array(init.neighbours).fill(-1)
  }

  /** Whether the picker would still find nothing to ask the neighbour at `b` (`peer`) for. */
  quiet (b: number, offerVersion: number, peer: PeerView): boolean {
    if (this.quietOffer[b] !== offerVersion || !this.picker.stillQuiet(this.quietPicker[b], this.quietUntil[b], peer)) return false
    this.quietPicker[b] = this.picker.version // nothing came back that it has: less to look at next time
    return true
  }

  /** The picker found nothing to ask the neighbour at `b` for. */
  nothingFrom (b: number, offerVersion: number): void {
    this.quietUntil[b] = this.picker.quietUntil()
    this.quietPicker[b] = this.picker.version
    this.quietOffer[b] = offerVersion
  }

  /** Whether the neighbour at `b` still answers "busy" and the session is not yet due to ask it again. */
  choking (b: number, now: number): boolean {
    return this.chokedUntil[b] > now && this.due[b] === 0
  }

  choke (b: number, until: number): void {
    this.chokedUntil[b] = until
    this.due[b] = 0
  }

  unchoke (b: number): void {
    this.chokedUntil[b] = 0
    this.due[b] = 0
  }

  flight (peer: number): Set<number> {
    let set = this.inFlightTo.get(peer)
    if (set == null) this.inFlightTo.set(peer, set = new Set())
    return set
  }
}

/** One request in flight: to a peer, for a piece, perhaps with bytes moving. */
export interface Request {
  readonly peer: SimNode
  /** The peer's position in the fetcher's neighbour list. */
  readonly b: number
  readonly piece: number
  /** Bytes of the piece the fetcher held (whole chunks) when it asked: only the rest moves. */
  readonly base: number
  transfer?: Transfer
  /** Counted in the server's per-peer uploads. */
  uploading: boolean
  ended: boolean
  /** Waiting in the server's line for an upload slot: the event that answers BUSY. */
  queued?: SimEvent
}

/** A request in a server's line for an upload slot (swarm/upload-slots.ts). */
export interface SlotWait {
  readonly node: SimNode
  readonly f: FetchState
  readonly req: Request
}

const NONE: ReadonlySet<number> = new Set()

export class SimNode {
  /** Its key in the policy units (PeerBook, Choker, SuperSeeder): its index, no string to hash. */
  readonly id: number
  present = false
  arrival = -1
  /** When it first arrived (completion is counted from here), and when it finished. */
  firstArrival = -1
  doneAt = -1
  /** Verified pieces; hostile nodes hold none (they claim all). */
  readonly have: Bitfield
  /**
   * Bytes (whole chunks) received of pieces not yet complete, from requests ended at a chunk
   * boundary. Kept across a restart, as the real fetcher keeps verified chunks on disk.
   */
  readonly partBytes = new Map<number, number>()
  neigh: number[] = []
  /** Neighbour index to its position in `neigh`. */
  pos = new Map<number, number>()
  /** Per neighbour (same order): this node's position in that neighbour's list. */
  rev = new Int32Array(0)
  /** Per neighbour (same order): pieces it claims that this node lacks. */
  interest = new Int32Array(0)
  fetch?: FetchState
  choker?: Choker<number>
  /** How many uploads it runs at once (policy/upload-limit.ts), learnt from its finished uploads. */
  uploadLimit?: UploadLimit
  /** At piece granularity: uploads in flight per piece (one copy of a piece at a time). */
  readonly sending = new Map<number, number>()
  /** Its verified pieces less those in `sending`: the serial view. */
  private readonly idle: Bitfield
  /** Changes when a piece is added to what it offers (got, or no longer sending): FetchState.quiet. */
  offerVersion = 0
  /** Uploads in flight per downloader (the server's per-peer cap). */
  readonly uploadsTo = new Map<number, number>()
  /** Requests waiting for an upload slot, in arrival order; and whether a freed slot is to be handed on. */
  readonly slotQueue: SlotWait[] = []
  slotFreed = false
  leaveAt = -1
  /** The origin's initial seeding (policy/super-seeder.ts), when on. */
  seeder?: SuperSeeder<number>
  /** Fetchers this node choked, and where it sits in each one's neighbour list. */
  readonly waiters = new Map<number, number>()
  tickScheduled = false
  /** Neighbours any of this node's fetches banned (its peer books are replaced on a restart). */
  readonly bannedSeen = new Set<number>()
  /** Neighbours it recorded an offence against. */
  readonly struckSeen = new Set<number>()
  private readonly plainView: PeerView
  private readonly serialView: PeerView

  constructor (readonly index: number, readonly role: Role, readonly link: Link, pieces: number) {
    this.id = index
    this.have = role === 'origin' ? Bitfield.full(pieces) : new Bitfield(pieces)
    this.idle = new Bitfield(pieces, this.have.bytes)
    const honest = role === 'honest'
    this.plainView = { has: p => this.claims(p), inFlight: NONE, bits: honest ? this.have.bytes : undefined, exact: honest }
    // Only honest nodes hold pieces for real and send one copy at a time (SwarmSim.serial):
    // what they claim less what they are sending is exactly `idle`.
    const idle = this.idle
    this.serialView = honest
      ? { has: p => idle.has(p), inFlight: NONE, bits: idle.bytes, exact: true }
      : { has: p => this.claims(p) && !this.sending.has(p), inFlight: NONE }
  }

  /** A piece verified. */
  got (piece: number): void {
    this.have.set(piece)
    if (!this.sending.has(piece)) this.idle.set(piece)
    this.offerVersion++
  }

  /** One more upload of `piece` in flight (SwarmSim.serial). */
  startSending (piece: number): void {
    this.sending.set(piece, (this.sending.get(piece) ?? 0) + 1)
    this.idle.clear(piece)
  }

  /** One upload of `piece` over; true when it was the last (the piece is on offer again). */
  stopSending (piece: number): boolean {
    const n = (this.sending.get(piece) ?? 1) - 1
    if (n > 0) {
      this.sending.set(piece, n)
      return false
    }
    this.sending.delete(piece)
    if (this.have.has(piece)) this.idle.set(piece)
    this.offerVersion++
    return true
  }

  /**
   * What a fetcher's picker sees of this node, with that fetcher's requests to it in flight;
   * `serial`: less the pieces it is sending now (SwarmSim.serial). One object per node, reused
   * (the picker reads it only during `next`): tryPeer runs millions of times.
   */
  view (inFlight: ReadonlySet<number>, serial: boolean): PeerView {
    const view = serial ? this.serialView : this.plainView
    view.inFlight = inFlight
    return view
  }

  get hostile (): boolean {
    return this.role !== 'origin' && this.role !== 'honest'
  }

  /** Whether it says it has the piece (hostile nodes claim every piece). */
  claims (piece: number): boolean {
    if (this.seeder != null) return this.seeder.offers(piece)
    return this.role !== 'honest' || this.have.has(piece)
  }

  claimCount (): number {
    return this.role === 'honest' ? this.have.count : this.have.length
  }

  /** Counted in neighbours' rarest-first availability (peers with everything are not). */
  get partial (): boolean {
    return this.role === 'honest' && !this.have.complete
  }
}
