/**
 * The fetching side of the swarm: one PeerSession per provider (session.ts), each with a few
 * streams pulling chunks. Policy lives in small units: the PiecePicker chooses chunks (rarest
 * first, endgame), the PeerBook decides how many requests each peer may hold, strikes and bans
 * (policy/). Every chunk is verified by the store before it is written; a peer that sends a bad
 * chunk is banned for the fetch and reported to the engine's ban list.
 */
import { logger } from '@libp2p/logger'
import { ChunkBuffers } from './chunk-buffers.js'
import { PeerBook, type Offence } from './policy/peer-book.js'
import { PiecePicker, type PeerView } from './policy/piece-picker.js'
import { backoffDelay } from './policy/backoff.js'
import { PeerSession, type SessionHost } from './session.js'
import type { RateLimiter } from './rate-limiter.js'
import type { Bitfield } from '../store/bitfield.js'
import { ChunkHashMismatchError } from '../manifest/errors.js'
import type { ChunkIndex } from '../manifest/manifest.js'
import type { Release } from '../manifest/signed.js'
import type { PeerId, Stream } from '@libp2p/interface'
import { withDefaults } from '../util/defaults.js'
import { CancelledError, LocalStoreError, NoProgressError } from './errors.js'
import { FETCHER_DEFAULTS } from './constants.js'

const log = logger('p2pweights:swarm:fetcher')

/** What the fetcher needs of a download (store/download.ts). */
export interface ChunkSink {
  readonly release: Release
  readonly index: ChunkIndex
  have: () => Bitfield
  writeChunk: (global: number, data: Uint8Array) => Promise<boolean>
  /** True when every wanted chunk is verified. */
  readonly complete: boolean
  /** The chunks to fetch (a partial fetch: --include/--exclude); absent = all. */
  readonly wanted?: Bitfield
}

/** Bans that outlive one fetch (the engine's BanList). */
export interface BanRegistry {
  banned: (peer: string, addr?: string) => string | undefined
  ban: (peer: string, addr: string | undefined, reason: string) => number
}

export interface FetchProgress {
  /** Verified bytes: held before this run plus fetched in it. */
  bytes: number
  total: number
  /** Verified bytes fetched from peers in this run. */
  downloaded: number
  peers: number
}

export interface FetcherInit {
  /** Opens a chunk-protocol stream to a peer. */
  dial: (peer: PeerId, signal: AbortSignal) => Promise<Stream>
  sink: ChunkSink
  /** Bytes already verified when the fetch starts. */
  startBytes: number
  streamsPerPeer?: number
  /** Chunk requests in flight across all peers (each holds a chunk-sized buffer). */
  maxInFlight?: number
  /** A request that receives no byte for this long fails and drops the peer (ms). */
  stallTimeout?: number
  /** A chunk response slower than this in all (bytes/s) fails and costs its peer a strike. */
  minRate?: number
  /** Give up when no chunk was verified for this long (ms). */
  giveUpAfter?: number
  /**
   * A dropped (not banned) peer is tried again by itself after 1 s, doubling after each session
   * that delivered nothing, up to this (ms). Discovery offering it again does not bypass this.
   */
  retryAfter?: number
  /** Peer exchange while short of peers (FETCHER_DEFAULTS says why): how often, with how many. */
  pexInterval?: number
  pexPeers?: number
  /** Shared download limit; none when absent. */
  rateLimiter?: RateLimiter
  /** Bans across fetches; consulted before a peer is used, told of every ban. */
  banList?: BanRegistry
  /** The remote address of a connected peer (for address-prefix bans). */
  addressOf?: (peer: PeerId) => string | undefined
  /** Peers a peer told us about (binary multiaddrs with /p2p/): the caller may offer them. */
  onPeers?: (addrs: Uint8Array[]) => void
  /** Most peers fetched from at once. */
  maxPeers?: number
  /** Each chunk verified in this fetch (so the server can push HAVE updates). */
  onChunk?: (chunk: number, peer: string, bytes: number) => void
  onProgress?: (progress: FetchProgress) => void
  onPeerDropped?: (event: { peerId: string, reason: string, banned: boolean, connected: boolean }) => void
}

export interface FetchResult {
  downloaded: number
  fromPeers: Record<string, number>
}

type Defaults = 'streamsPerPeer' | 'maxInFlight' | 'stallTimeout' | 'minRate' | 'giveUpAfter' | 'retryAfter' | 'pexInterval' | 'pexPeers' | 'maxPeers'

export class ChunkFetcher {
  private readonly init: Required<Pick<FetcherInit, Defaults>> & FetcherInit
  private readonly picker: PiecePicker
  readonly book: PeerBook
  /** @internal taken by sessions for each request */
  readonly buffers: ChunkBuffers
  private readonly sessions = new Map<string, PeerSession>()
  private readonly retryTimers = new Map<string, NodeJS.Timeout>()
  /** Sessions in a row that never reached the peer. */
  private readonly unreachable = new Map<string, number>()
  /** Requests in flight per chunk, so the losers of an endgame race can be cancelled. */
  private readonly requests = new Map<number, Set<AbortController>>()
  private readonly fromPeers: Record<string, number> = {}
  private downloaded = 0
  private lastProgress = Date.now()
  private readonly controller = new AbortController()
  private settle?: { resolve: () => void, reject: (err: Error) => void }
  private readonly totalBytes: number
  private readonly host: SessionHost

  constructor (init: FetcherInit) {
    this.init = withDefaults(FETCHER_DEFAULTS, init)
    const total = init.sink.index.total
    this.buffers = new ChunkBuffers(this.init.maxInFlight, init.sink.index.chunkSize)
    this.totalBytes = wantedBytes(init.sink)
    this.picker = new PiecePicker(init.sink.have(), { start: total > 0 ? Math.floor(Math.random() * total) : 0, wanted: init.sink.wanted })
    this.book = new PeerBook({
      maxSlots: this.init.streamsPerPeer,
      maxRetry: this.init.retryAfter,
      bannedElsewhere: peer => init.banList?.banned(peer, this.address(peer)),
      onBan: (peer, reason) => init.banList?.ban(peer, this.address(peer), reason)
    })
    const fetcher = this // eslint-disable-line @typescript-eslint/no-this-alias
    this.host = {
      get finished () { return fetcher.finished },
      slots: peer => this.book.slots(peer),
      takeBuffer: async (signal, peer) => await this.buffers.take(signal, () => this.book.priority(peer)),
      giveBuffer: buffer => this.buffers.give(buffer),
      pick: view => this.pick(view),
      abandon: (chunk, cancel, peer) => {
        if (cancel.aborted) this.book.outrun(peer) // lost the race: no longer "not tried yet"
        this.untrack(chunk, cancel, false)
      },
      deliver: async (peer, chunk, data, ms, cancel) => await this.deliver(peer, chunk, data, ms, cancel),
      offence: (peer, offence, reason) => this.offence(peer, offence, reason),
      haveChanged: (before, after) => {
        if (before != null && before !== 'all') this.picker.addHave(before, -1)
        if (after !== 'all') this.picker.addHave(after, 1)
      },
      chunksAdded: chunks => { for (const c of chunks) this.picker.addChunk(c) },
      morePeers: addrs => init.onPeers?.(addrs)
    }
  }

  /** Peers this fetch has a session with now (the discovery cadence reads it). */
  get peers (): number {
    return this.sessions.size
  }

  /** Offers a provider. Ignored if already in use, banned, or backing off (it is retried then). */
  addPeer (peer: PeerId): void {
    const id = peer.toString()
    if (this.sessions.has(id) || this.controller.signal.aborted || this.sessions.size >= this.init.maxPeers) return
    const admit = this.book.admit(id)
    if (!admit.ok) {
      if (admit.retryAt != null && !this.retryTimers.has(id)) this.retryLater(peer, admit.retryAt)
      return
    }
    clearTimeout(this.retryTimers.get(id))
    this.retryTimers.delete(id)
    const session = new PeerSession(this.host, peer, {
      dial: this.init.dial,
      cid: this.init.sink.release.cid,
      index: this.init.sink.index,
      streams: this.init.streamsPerPeer,
      stallTimeout: this.init.stallTimeout,
      minRate: this.init.minRate,
      rateLimiter: this.init.rateLimiter
    })
    this.sessions.set(id, session)
    void session.run(this.controller.signal).then(
      () => this.endSession(peer, session, undefined),
      (err: Error) => this.endSession(peer, session, err)
    )
  }

  /** Resolves when every chunk is verified; rejects with NoProgressError when stuck. */
  async run (signal?: AbortSignal): Promise<FetchResult> {
    if (this.init.sink.complete) return { downloaded: 0, fromPeers: {} }
    const watchdog = setInterval(() => {
      const idle = Date.now() - this.lastProgress
      if (idle >= this.init.giveUpAfter) this.fail(new NoProgressError(this.stuckMessage(idle)))
    }, Math.min(1000, this.init.giveUpAfter))
    // Peer exchange 1, 2, 4, 8 s in, then every pexInterval: a crowd's first answers are thin.
    let pex: NodeJS.Timeout | undefined
    const exchange = (round: number): void => {
      pex = setTimeout(() => { this.exchangePeers(); exchange(round + 1) }, backoffDelay(round, { first: 1000, max: this.init.pexInterval }))
    }
    exchange(1)
    const onAbort = (): void => this.fail(signal?.reason ?? new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await new Promise<void>((resolve, reject) => { this.settle = { resolve, reject } })
      return { downloaded: this.downloaded, fromPeers: { ...this.fromPeers } }
    } finally {
      clearInterval(watchdog)
      clearTimeout(pex)
      signal?.removeEventListener('abort', onAbort)
      for (const t of this.retryTimers.values()) clearTimeout(t)
      this.controller.abort(new Error('fetch ended'))
    }
  }

  /** Short of peers: a few of the connected ones, picked at random, are asked whom they know. */
  private exchangePeers (): void {
    if (this.sessions.size >= this.init.maxInFlight || this.finished) return
    const connected = [...this.sessions.values()].filter(s => s.connected)
    for (let n = 0; n < this.init.pexPeers && connected.length > 0; n++) {
      const [session] = connected.splice(Math.floor(Math.random() * connected.length), 1)
      session.exchange(this.controller.signal).catch((err: Error) => {
        log('peer exchange with %p failed (%s)', session.peerId, err.message)
      })
    }
  }

  get finished (): boolean {
    return this.init.sink.complete || this.controller.signal.aborted
  }

  private pick (view: PeerView): { chunk: number, cancel: AbortSignal } | undefined {
    const chunk = this.picker.next(view)
    if (chunk === undefined) return undefined
    const controller = new AbortController()
    let set = this.requests.get(chunk)
    if (set == null) this.requests.set(chunk, set = new Set())
    set.add(controller)
    return { chunk, cancel: controller.signal }
  }

  /** One request for `chunk` is over; with `won`, the others are cancelled. */
  private untrack (chunk: number, cancel: AbortSignal, ok: boolean): void {
    const set = this.requests.get(chunk)
    for (const c of set ?? []) {
      if (c.signal === cancel) set?.delete(c)
      else if (ok) c.abort(new CancelledError(`chunk ${chunk} arrived from another peer`))
    }
    if (set?.size === 0) this.requests.delete(chunk)
    this.picker.finish(chunk, ok)
  }

  /** A chunk's bytes from a session; throws ChunkHashMismatchError if they are wrong. */
  private async deliver (peer: string, chunk: number, data: Uint8Array, ms: number, cancel: AbortSignal): Promise<void> {
    let ok = false
    try {
      const written = await this.init.sink.writeChunk(chunk, data)
      ok = true
      this.book.delivered(peer, data.byteLength, ms)
      if (written) {
        const bytes = data.byteLength
        this.downloaded += bytes
        this.fromPeers[peer] = (this.fromPeers[peer] ?? 0) + bytes
        this.lastProgress = Date.now()
        this.init.onChunk?.(chunk, peer, bytes)
        this.init.onProgress?.({ bytes: this.init.startBytes + this.downloaded, total: this.totalBytes, downloaded: this.downloaded, peers: this.sessions.size })
      }
    } catch (err: any) {
      // A bad chunk is the peer's fault (the caller drops it); anything else is ours (a full
      // disk, an I/O error) and no other peer can fix it: end the fetch with it.
      if (err instanceof ChunkHashMismatchError) {
        this.book.offence(peer, 'corrupt', `sent a corrupt chunk (${err.message})`)
      } else {
        this.fail(new LocalStoreError(`cannot store the download: ${err.message}. Fix this (e.g. free disk space), then run the same command again: it resumes`))
      }
      throw err
    } finally {
      this.untrack(chunk, cancel, ok)
      if (this.init.sink.complete) this.settle?.resolve()
    }
  }

  private offence (peer: string, offence: Offence, reason: string): boolean {
    return this.book.offence(peer, offence, reason)
  }

  private address (peer: string): string | undefined {
    const session = this.sessions.get(peer)
    return session == null ? undefined : this.init.addressOf?.(session.peerId)
  }

  /**
   * A peer whose session failed is tried again by itself (a closed connection or one stall
   * should not cost a lone seeder half a minute), sooner if it had been delivering; a banned
   * peer never is.
   */
  private endSession (peer: PeerId, session: PeerSession, err: Error | undefined): void {
    const id = peer.toString()
    // A session that ends without a delivery is not a strike by itself: a busy or overloaded
    // honest peer (an origin in a crowd) closes streams too, and banning it can strand the
    // last chunks. Claims without delivery cost strikes per request (stall, deadline, HAVE lie).
    this.sessions.delete(id)
    if (err == null || this.finished) return
    const banned = this.book.isBanned(id)
    const retryAt = this.book.sessionEnded(id, session.delivered, err.message)
    const reason = banned ? (this.book.reasons().find(([p]) => p === id)?.[1] ?? err.message) : err.message
    // A peer we never reached is left to discovery after a few tries (it offers it again).
    const unreachable = !session.connected && (this.unreachable.get(id) ?? 0) >= 2
    if (!session.connected) this.unreachable.set(id, (this.unreachable.get(id) ?? 0) + 1)
    if (!banned && !unreachable) this.retryLater(peer, retryAt)
    this.init.onPeerDropped?.({ peerId: id, reason, banned, connected: session.connected })
  }

  private retryLater (peer: PeerId, at: number): void {
    const id = peer.toString()
    clearTimeout(this.retryTimers.get(id))
    const timer = setTimeout(() => { this.retryTimers.delete(id); this.addPeer(peer) }, Math.max(0, at - Date.now()))
    timer.unref()
    this.retryTimers.set(id, timer)
  }

  private stuckMessage (idle: number): string {
    const missing = this.init.sink.index.total - this.init.sink.have().count
    const reasons = this.book.reasons().map(([peer, reason]) => `${peer}: ${reason}`)
    return `no chunk arrived for ${Math.round(idle / 1000)} s with ${missing} chunk(s) still missing and ${this.sessions.size} peer(s) connected` +
      (reasons.length > 0 ? `; dropped peers: ${reasons.join('; ')}` : '; no provider was reachable') +
      '. Check that a seeder of this CID is online (or pass --peer), then run the same command again: it resumes.'
  }

  private fail (err: Error): void {
    this.settle?.reject(err)
    this.controller.abort(err)
  }
}

/** Bytes of the files this fetch wants (a file is wanted whole or not at all). */
function wantedBytes (sink: ChunkSink): number {
  const { files } = sink.release.manifest
  let bytes = 0
  files.forEach((f, i) => {
    if (sink.wanted == null || (f.size > 0 && sink.wanted.has(sink.index.first(i)))) bytes += f.size
  })
  return bytes
}
