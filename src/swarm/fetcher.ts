/**
 * The fetching side of the swarm: one session per provider, each with a few streams, each stream
 * asking for one chunk at a time as the scheduler decides. Every chunk is verified by the store
 * before it is written; a peer that sends a bad chunk is dropped for the rest of the fetch and
 * its chunk is asked of another; a peer that stalls or fails is dropped and may come back later.
 */
import { ChunkBuffers } from './chunk-buffers.js'
import { ChunkScheduler } from './scheduler.js'
import type { RateLimiter } from './rate-limiter.js'
import { Channel } from './channel.js'
import { RemoteError, ErrorCode } from './codec.js'
import { Bitfield } from '../store/bitfield.js'
import { ChunkHashMismatchError } from '../manifest/verify.js'
import type { ChunkIndex } from '../manifest/manifest.js'
import type { Release } from '../manifest/signed.js'
import type { PeerId, Stream } from '@libp2p/interface'
import { withDefaults } from '../util/defaults.js'
import { sleep } from '../util/sleep.js'

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
  /** Give up when no chunk was verified for this long (ms). */
  giveUpAfter?: number
  /**
   * A dropped (not banned) peer is tried again by itself after 1 s, doubling after each session
   * that delivered nothing, up to this (ms). Discovery offering it again does not bypass this.
   */
  retryAfter?: number
  /** Shared download limit; none when absent. */
  rateLimiter?: RateLimiter
  onProgress?: (progress: FetchProgress) => void
  onPeerDropped?: (event: { peerId: string, reason: string, banned: boolean, connected: boolean }) => void
}

export class NoProgressError extends Error {
  static override name = 'NoProgressError'
  override name = 'NoProgressError'
}

/** Writing verified data failed on this machine (full disk, I/O error). */
export class LocalStoreError extends Error {
  static override name = 'LocalStoreError'
  override name = 'LocalStoreError'
}

export interface FetchResult {
  downloaded: number
  fromPeers: Record<string, number>
}

interface Dropped {
  reason: string
  banned: boolean
  /** Consecutive sessions that ended in an error without delivering a chunk. */
  failures: number
  retryAt: number
  timer?: NodeJS.Timeout
}

const FIRST_RETRY = 1000

export class ChunkFetcher {
  private readonly init: Required<Omit<FetcherInit, 'onProgress' | 'onPeerDropped' | 'rateLimiter'>> & FetcherInit
  private readonly scheduler: ChunkScheduler
  /** @internal taken by sessions for each request */
  readonly buffers: ChunkBuffers
  private readonly sessions = new Map<string, PeerSession>()
  private readonly dropped = new Map<string, Dropped>()
  private readonly fromPeers: Record<string, number> = {}
  private downloaded = 0
  private lastProgress = Date.now()
  private readonly controller = new AbortController()
  private settle?: { resolve: () => void, reject: (err: Error) => void }
  private readonly totalBytes: number

  constructor (init: FetcherInit) {
    this.init = withDefaults({ streamsPerPeer: 4, maxInFlight: 8, stallTimeout: 20_000, giveUpAfter: 60_000, retryAfter: 15_000 }, init)
    const total = init.sink.index.total
    this.buffers = new ChunkBuffers(this.init.maxInFlight, init.sink.index.chunkSize)
    this.totalBytes = wantedBytes(init.sink)
    this.scheduler = new ChunkScheduler(init.sink.have(), total > 0 ? Math.floor(Math.random() * total) : 0, undefined, init.sink.wanted)
  }

  /** Offers a provider. Ignored if already in use, banned, or dropped too recently. */
  addPeer (peer: PeerId): void {
    const id = peer.toString()
    if (this.sessions.has(id) || this.controller.signal.aborted) return
    const dropped = this.dropped.get(id)
    if (dropped != null && (dropped.banned || Date.now() < dropped.retryAt)) return
    clearTimeout(dropped?.timer)
    const session = new PeerSession(this, peer, this.init)
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
    const onAbort = (): void => this.fail(signal?.reason ?? new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await new Promise<void>((resolve, reject) => { this.settle = { resolve, reject } })
      return { downloaded: this.downloaded, fromPeers: { ...this.fromPeers } }
    } finally {
      clearInterval(watchdog)
      signal?.removeEventListener('abort', onAbort)
      for (const d of this.dropped.values()) clearTimeout(d.timer)
      this.controller.abort(new Error('fetch ended'))
    }
  }

  /** @internal called by sessions */
  nextChunk (view: { has: (c: number) => boolean, inFlight: ReadonlySet<number> }): number | undefined {
    return this.scheduler.next(view)
  }

  /** @internal called by sessions with a chunk's bytes; throws ChunkHashMismatchError if they are wrong. */
  async deliver (peer: string, chunk: number, data: Uint8Array): Promise<void> {
    let ok = false
    try {
      const written = await this.init.sink.writeChunk(chunk, data)
      ok = true
      if (written) {
        const bytes = data.byteLength
        this.downloaded += bytes
        this.fromPeers[peer] = (this.fromPeers[peer] ?? 0) + bytes
        this.lastProgress = Date.now()
        this.init.onProgress?.({ bytes: this.init.startBytes + this.downloaded, total: this.totalBytes, downloaded: this.downloaded, peers: this.sessions.size })
      }
    } catch (err: any) {
      // A bad chunk is the peer's fault (the caller drops it); anything else is ours (a full
      // disk, an I/O error) and no other peer can fix it: end the fetch with it.
      if (!(err instanceof ChunkHashMismatchError)) {
        this.fail(new LocalStoreError(`cannot store the download: ${err.message}. Fix this (e.g. free disk space), then run the same command again: it resumes`))
      }
      throw err
    } finally {
      this.scheduler.finish(chunk, ok)
      if (this.init.sink.complete) this.settle?.resolve()
    }
  }

  /** @internal a request failed before any bytes could be checked */
  abandon (chunk: number): void {
    this.scheduler.finish(chunk, false)
  }

  get finished (): boolean {
    return this.init.sink.complete || this.controller.signal.aborted
  }

  /**
   * A peer whose session failed is tried again by itself (a closed connection or one stall
   * should not cost a lone seeder half a minute), sooner if it had been delivering; a peer that
   * sent a bad chunk never is.
   */
  private endSession (peer: PeerId, session: PeerSession, err: Error | undefined): void {
    const id = peer.toString()
    this.sessions.delete(id)
    if (err == null || this.finished) return
    const banned = err instanceof ChunkHashMismatchError
    const reason = banned ? `sent a corrupt chunk (${err.message})` : err.message
    const failures = session.delivered > 0 ? 0 : (this.dropped.get(id)?.failures ?? 0) + 1
    const delay = Math.min(this.init.retryAfter, FIRST_RETRY * 2 ** Math.max(0, failures - 1))
    const dropped: Dropped = { reason, banned, failures, retryAt: Date.now() + delay }
    if (!banned) {
      dropped.timer = setTimeout(() => this.addPeer(peer), delay)
      dropped.timer.unref()
    }
    this.dropped.set(id, dropped)
    this.init.onPeerDropped?.({ peerId: id, reason, banned, connected: session.connected })
  }

  private stuckMessage (idle: number): string {
    const missing = this.init.sink.index.total - this.init.sink.have().count
    const reasons = [...this.dropped].map(([peer, d]) => `${peer}: ${d.reason}`)
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

/** One provider: its HAVE set, and `streamsPerPeer` streams pulling chunks. */
class PeerSession {
  /** Whether a stream was ever opened: a stale DHT record never gets this far. */
  connected = false
  /** Chunks this session delivered (verified or not yet checked). */
  delivered = 0
  private have: Bitfield | 'all' = new Bitfield(0)
  private readonly inFlight = new Set<number>()
  private readonly id: string
  private readonly channels: Channel[] = []

  constructor (private readonly fetcher: ChunkFetcher, private readonly peer: PeerId, private readonly init: Required<Omit<FetcherInit, 'onProgress' | 'onPeerDropped' | 'rateLimiter'>> & FetcherInit) {
    this.id = peer.toString()
  }

  async run (parent: AbortSignal): Promise<void> {
    const controller = new AbortController()
    const signal = AbortSignal.any([parent, controller.signal])
    const { sink } = this.init
    try {
      const first = await this.open(signal)
      await this.refreshHave(first, signal)
      const workers = [this.work(first, signal)]
      for (let i = 1; i < this.init.streamsPerPeer; i++) {
        workers.push(this.open(signal).then(async ch => { await this.work(ch, signal) }))
      }
      // The first failure ends the whole session: the peer is dropped as one.
      await Promise.all(workers.map(async w => await w.catch(err => { controller.abort(err); throw err })))
    } catch (err: any) {
      if (!parent.aborted && !sink.complete) throw signal.reason ?? err
    } finally {
      for (const ch of this.channels) ch.close()
    }
  }

  private async open (signal: AbortSignal): Promise<Channel> {
    const stream = await this.init.dial(this.peer, signal)
    this.connected = true
    const channel = new Channel(stream, this.init.stallTimeout)
    this.channels.push(channel)
    return channel
  }

  private async refreshHave (channel: Channel, signal: AbortSignal): Promise<void> {
    const { sink } = this.init
    const have = await channel.getHave(sink.release.cid, sink.index.total, signal)
    this.have = have === 'all' ? 'all' : new Bitfield(sink.index.total, have)
  }

  private async work (channel: Channel, signal: AbortSignal): Promise<void> {
    const view = { has: (c: number) => this.have === 'all' || this.have.has(c), inFlight: this.inFlight }
    while (!this.fetcher.finished && !signal.aborted) {
      const buffer = await this.fetcher.buffers.take(signal)
      let chunk: number | undefined
      try {
        chunk = this.fetcher.nextChunk(view)
        if (chunk !== undefined) await this.fetchOne(channel, chunk, buffer, signal)
      } finally {
        this.fetcher.buffers.give(buffer)
      }
      if (chunk !== undefined) continue
      // Everything is taken: wait, in case a chunk fails elsewhere and comes back to us.
      // A partial peer may get the chunks we need later: look at its HAVE again.
      if (this.have === 'all') {
        await sleep(250, signal)
      } else {
        await sleep(2000, signal)
        await this.refreshHave(channel, signal)
      }
    }
  }

  /** Requests one chunk into `buffer` and hands it to the fetcher. */
  private async fetchOne (channel: Channel, chunk: number, buffer: Buffer, signal: AbortSignal): Promise<void> {
    const { sink } = this.init
    this.inFlight.add(chunk)
    const { fileIndex, chunk: local } = sink.index.locate(chunk)
    const length = sink.index.length(fileIndex, local)
    let data: Uint8Array
    try {
      await this.init.rateLimiter?.take(length, signal)
      data = await channel.getChunk(sink.release.cid, fileIndex, local, length, buffer, signal)
    } catch (err) {
      this.inFlight.delete(chunk)
      this.fetcher.abandon(chunk)
      if (err instanceof RemoteError && err.code === ErrorCode.NotFound && this.have !== 'all') {
        await this.refreshHave(channel, signal)
        return
      }
      throw err
    }
    try {
      this.delivered++
      await this.fetcher.deliver(this.id, chunk, data)
    } finally {
      this.inFlight.delete(chunk)
    }
  }
}
