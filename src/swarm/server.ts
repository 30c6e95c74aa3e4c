/**
 * The serving side of the chunk protocol. Answers GET_RELEASE, GET_HAVE and GET_CHUNK from any
 * registered ChunkSource. Everything a peer can make us do is bounded: request size, streams per
 * connection, uploads in flight across all peers and per peer, memory (`chunkBuffers` uploads read
 * a whole chunk into a reused buffer, the others stream it in UPLOAD_SLICE pieces), idle time between
 * requests, and progress while a response drains: a peer that stops reading (withholds yamux
 * window updates) loses the stream and its upload slot within `readTimeout`. Upload slots are
 * shared fairly (UploadSlots) and go only to unchoked peers (policy/choker.ts): others get
 * "busy" at once.
 */
import { byteStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  PROTOCOL, MAX_REQUEST_BYTES, MessageType, ErrorCode,
  MAX_PEERS, decodeRequest, encodeChunkHeader, encodeError, encodeHave, encodePeers, encodeRelease, readFrame, type Request
} from './codec.js'
import { ProtocolError } from './errors.js'
import { SERVER_DEFAULTS, UPLOAD_SLICE } from './constants.js'
import { HaveWatchers } from './have-watchers.js'
import { Choker, type ChokerInit } from './policy/choker.js'
import { UploadLimit } from './policy/upload-limit.js'
import { SuperSeeder } from './policy/super-seeder.js'
import { UploadSlots } from './upload-slots.js'
import type { RateLimiter } from './rate-limiter.js'
import type { ChunkSource } from '../store/chunk-source.js'
import { withDefaults } from '../util/defaults.js'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

const RATE_LIMIT_SLICE = 64 * 1024

export interface ChunkServerInit {
  /**
   * Whole-chunk buffers kept for reuse: that many uploads read a chunk in one go; the others
   * stream it from disk in UPLOAD_SLICE pieces.
   */
  chunkBuffers?: number
  /** Streams of this protocol a single connection may hold open. */
  maxInboundStreams?: number
  /** Chunk uploads in flight across all peers (memory: `chunkBuffers` chunks, then UPLOAD_SLICE each). */
  maxUploads?: number
  /** Uploads in flight for any one peer (its streams beyond this wait). */
  maxUploadsPerPeer?: number
  /** Abort a stream whose peer takes no bytes of a response for this long (ms). */
  readTimeout?: number
  /** Unchoke slots (reciprocity); absent: BitTorrent's 4 + 1 optimistic. */
  choker?: ChokerInit
  /** Close a stream after this long without a request. */
  idleTimeout?: number
  /** Abort a stream whose peer does not take a response within this long. */
  sendTimeout?: number
  /** A request waits this long at most for an upload slot, then hears BUSY (ms). */
  queueTimeout?: number
  /** Shared upload limit; none when absent. */
  rateLimiter?: RateLimiter
  onUpload?: (event: { peer: string, cid: string, bytes: number }) => void
  /** A peer asked about a release we serve (a fetcher of it may fetch from that peer too). */
  onInterest?: (cid: string, peer: PeerId) => void
}

export interface SourceLookup {
  get: (cid: string) => ChunkSource | undefined
}

/** A chunk response: its header goes first, then its bytes, read from the source a slice at a time. */
interface ChunkBody {
  source: ChunkSource
  file: number
  chunk: number
  length: number
  /** The frame's header, sent before the bytes. */
  header: Uint8Array
  /** Header and bytes, as counted against the uplink. */
  byteLength: number
}

type Response = Uint8Array | Uint8ArrayList | ChunkBody

interface Scratch { buffer?: Buffer }

export class ChunkServer {
  private readonly uploads: UploadSlots
  /** How many uploads at once: what the uplink carries at a rate each fetcher's deadline allows. */
  readonly uploadLimit: UploadLimit
  readonly choker: Choker
  private readonly init: Required<Omit<ChunkServerInit, 'onUpload' | 'onInterest' | 'rateLimiter' | 'choker'>> & ChunkServerInit
  private readonly watchers = new HaveWatchers()
  /** Releases this node is the origin of, in initial seeding (policy/super-seeder.ts). */
  private readonly superSeeders = new Map<string, SuperSeeder>()
  /** Peers that recently asked about each release (for GET_PEERS), oldest first, bounded. */
  private readonly recent = new Map<string, Map<string, PeerId>>()
  private started = false
  /** Open connections per peer that asked for chunks (initial seeding forgets a peer's copies when it has none). */
  private readonly connections = new Map<string, Set<Connection>>()
  /** Whole-chunk buffers, reused across streams: at most `chunkBuffers` are ever made. */
  private readonly scratchBuffers: Buffer[] = []
  private scratchCreated = 0

  constructor (private readonly node: Pick<Libp2p, 'handle' | 'unhandle'> & Partial<Pick<Libp2p, 'peerStore'>>, private readonly sources: SourceLookup, init: ChunkServerInit = {}) {
    this.init = withDefaults(SERVER_DEFAULTS, init)
    this.uploadLimit = new UploadLimit({ max: this.init.maxUploads, capacity: init.rateLimiter?.bytesPerSecond })
    this.uploads = new UploadSlots(() => this.uploadLimit.value, this.init.maxUploadsPerPeer)
    this.choker = new Choker(init.choker)
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.node.handle(PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: this.init.maxInboundStreams,
      // Relayed connections carry chunks too where the relay allows it (p2pweights relays do,
      // within their data limits); public relays with tiny caps end such a connection early.
      runOnLimitedConnection: true
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.node.unhandle(PROTOCOL)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    this.track(peer, connection)
    const bytes = byteStream(stream, { maxBufferSize: 64 * 1024 })
    // A chunk buffer this stream reuses for every chunk: the fetcher sends its next request only
    // after it has received the whole previous response, so by then these bytes have left us.
    const scratch: Scratch = {}
    try {
      while (true) {
        const frame = await readFrame(bytes, MAX_REQUEST_BYTES, { signal: AbortSignal.timeout(this.init.idleTimeout) })
        if (frame == null) break
        const request = decodeRequest(frame)
        const cid = request.cid.toString()
        if (this.sources.get(cid) != null) this.interest(cid, connection.remotePeer)
        if (request.type === MessageType.WatchHave) {
          await this.send(stream, await this.respond(request, peer), scratch)
          if (this.sources.get(cid) == null) continue
          this.watchers.add(cid, peer, stream)
          return // the stream now belongs to the watcher
        }
        // The origin in initial seeding serves whoever asks: it has nothing to reciprocate, and
        // its SuperSeeder spreads the first copies.
        if (request.type === MessageType.GetChunk && this.sources.get(cid) != null && !this.superSeeders.has(cid) && !this.choker.request(peer)) {
          await this.write(stream, encodeError(ErrorCode.Busy, 'choked: upload slots are taken, ask again later'))
          continue
        }
        // Every slot taken: wait briefly, in line with at most as many others as run, else BUSY.
        // A longer wait would eat the fetcher's stall timer and deadline (a strike against an
        // honest peer); BUSY costs it nothing: it asks again shortly, or asks a peer with room.
        const full = this.uploads.full
        if (full) this.uploadLimit.full()
        const release = full && this.uploads.waiting >= this.uploadLimit.value
          ? undefined
          : await this.uploads.acquire(peer, AbortSignal.timeout(this.init.queueTimeout)).catch(() => undefined)
        if (release == null) {
          await this.write(stream, encodeError(ErrorCode.Busy, 'every upload slot is taken, ask again later'))
          continue
        }
        const started = Date.now()
        let sent = 0
        try {
          const response = await this.respond(request, peer)
          await this.send(stream, response, scratch)
          sent = response.byteLength
        } finally {
          release()
          if (request.type === MessageType.GetChunk) this.uploadLimit.finished(sent, Date.now() - started)
        }
      }
      await stream.close()
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new ProtocolError(String(err)))
    } finally {
      if (scratch.buffer != null) this.scratchBuffers.push(scratch.buffer)
    }
  }

  /** This stream's chunk buffer if it has or can get one of the bounded set, else undefined. */
  private scratchFor (scratch: Scratch, size: number): Buffer | undefined {
    if (scratch.buffer == null) {
      scratch.buffer = this.scratchBuffers.pop()
      if (scratch.buffer == null && this.scratchCreated < this.init.chunkBuffers) {
        this.scratchCreated++
        scratch.buffer = Buffer.allocUnsafeSlow(size)
      }
    }
    // Too small for this release's chunks: replaced, not added to, so the count stays bounded.
    if (scratch.buffer != null && scratch.buffer.length < size) scratch.buffer = Buffer.allocUnsafeSlow(size)
    return scratch.buffer
  }

  /** Follows the peer's connections: when its last one closes, its copies are gone. */
  private track (peer: string, connection: Connection): void {
    if (this.superSeeders.size === 0) return
    let set = this.connections.get(peer)
    if (set == null) this.connections.set(peer, set = new Set())
    if (set.has(connection)) return
    set.add(connection)
    connection.addEventListener('close', () => {
      set.delete(connection)
      if (set.size > 0 || this.connections.get(peer) !== set) return
      this.connections.delete(peer)
      for (const [cid, seeder] of this.superSeeders) {
        // Chunks only that peer got from us are on offer again: tell the watchers.
        for (const c of seeder.peerGone(peer)) this.watchers.chunk(cid, c)
      }
    }, { once: true })
  }

  /**
   * Sends one response. A chunk is read whole into the stream's reused buffer when it has one
   * (one read, no allocation: what a lone fetcher gets); otherwise it goes as its header, then
   * its bytes a slice at a time, each read when the stream has taken the last (fresh buffers:
   * the muxer holds on to what it was given until it is encrypted), so a crowd of uploads costs
   * a slice each. A read that fails before the first byte is an error response; one that fails
   * later can only end the stream.
   */
  private async send (stream: Stream, response: Response, scratch: Scratch): Promise<void> {
    if (!('source' in response)) {
      await this.write(stream, response)
      return
    }
    const { source, file, chunk, length } = response
    const whole = this.scratchFor(scratch, source.index.chunkSize)
    let first: Uint8Array
    try {
      first = whole != null
        ? await source.readChunk(file, chunk, whole)
        : await source.readSlice(file, chunk, 0, Buffer.allocUnsafeSlow(Math.min(UPLOAD_SLICE, length)))
    } catch (err: any) {
      await this.write(stream, encodeError(ErrorCode.Unavailable, String(err.message)))
      return
    }
    await this.write(stream, new Uint8ArrayList(response.header, first))
    for (let offset = first.byteLength; offset < length; offset += UPLOAD_SLICE) {
      await this.write(stream, await source.readSlice(file, chunk, offset, Buffer.allocUnsafeSlow(Math.min(UPLOAD_SLICE, length - offset))))
    }
  }

  /**
   * Writes bytes, waiting while the stream is full. Under an upload limit they go in slices,
   * each when the limiter allows, so bytes keep flowing and a slow limit never looks like a
   * stall to the fetcher.
   */
  private async write (stream: Stream, response: Uint8Array | Uint8ArrayList): Promise<void> {
    const limiter = this.init.rateLimiter
    const drain = async (): Promise<void> => { await this.drain(stream) }
    if (limiter == null) {
      if (!stream.send(response)) await drain()
      return
    }
    const list = response instanceof Uint8ArrayList ? response : new Uint8ArrayList(response)
    for (let offset = 0; offset < list.byteLength; offset += RATE_LIMIT_SLICE) {
      const slice = list.sublist(offset, Math.min(offset + RATE_LIMIT_SLICE, list.byteLength))
      await limiter.take(slice.byteLength, AbortSignal.timeout(this.init.sendTimeout))
      if (!stream.send(slice)) await drain()
    }
  }

  /**
   * Waits for the stream to take what we queued. The peer must keep reading: if the queue does
   * not shrink for `readTimeout`, the stream is aborted and its upload slot freed.
   */
  private async drain (stream: Stream): Promise<void> {
    const controller = new AbortController()
    let last = stream.writeBufferLength
    let lastProgress = Date.now()
    const watch = setInterval(() => {
      const now = stream.writeBufferLength
      if (now < last) lastProgress = Date.now()
      last = now
      if (Date.now() - lastProgress >= this.init.readTimeout) controller.abort(new ProtocolError(`the peer took no data for ${Math.round(this.init.readTimeout / 1000)} s`))
    }, Math.min(1000, this.init.readTimeout / 2))
    try {
      await stream.onDrain({ signal: AbortSignal.any([controller.signal, AbortSignal.timeout(this.init.sendTimeout)]) })
    } finally {
      clearInterval(watch)
    }
  }

  /** This node is the origin of `cid`: serve it in initial seeding mode (policy/super-seeder.ts). */
  superSeed (cid: string): void {
    const source = this.sources.get(cid)
    if (source != null && source.index.total > 0) this.superSeeders.set(cid, new SuperSeeder(source.index.total))
  }

  /** A chunk of `cid` became available here: pushed to the peers that watch it. */
  chunkAdded (cid: string, chunk: number): void {
    this.watchers.chunk(cid, chunk)
  }

  /** The release is no longer served: its watchers are let go. */
  released (cid: string): void {
    this.watchers.drop(cid)
    this.recent.delete(cid)
    this.superSeeders.delete(cid)
  }

  private interest (cid: string, peer: PeerId): void {
    let peers = this.recent.get(cid)
    if (peers == null) this.recent.set(cid, peers = new Map())
    const id = peer.toString()
    const known = peers.delete(id)
    peers.set(id, peer)
    if (peers.size > 2 * MAX_PEERS) peers.delete(peers.keys().next().value as string)
    if (!known) this.init.onInterest?.(cid, peer)
  }

  /** Up to MAX_PEERS recent askers of `cid` other than `asker`, with their known addresses. */
  private async peersOf (cid: string, asker: string): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for (const [id, peer] of [...(this.recent.get(cid) ?? [])].reverse()) {
      if (id === asker || out.length >= MAX_PEERS) continue
      const known = await this.node.peerStore?.get(peer).catch(() => undefined)
      const addr = known?.addresses.find(a => !a.multiaddr.toString().includes('/p2p-circuit'))?.multiaddr
      if (addr != null) out.push(addr.encapsulate(`/p2p/${id}`).bytes)
    }
    return out
  }

  /** Bytes this node received from a peer (verified chunks): reciprocity for the choker. */
  received (peer: string, bytes: number): void {
    this.choker.received(peer, bytes)
  }

  private async respond (request: Request, peer: string): Promise<Response> {
    const cid = request.cid.toString()
    const source = this.sources.get(cid)
    if (source == null) return encodeError(ErrorCode.NotFound, `not serving ${cid}`)
    switch (request.type) {
      case MessageType.GetRelease:
        return encodeRelease(source.release.bytes)
      case MessageType.GetPeers:
        return encodePeers(await this.peersOf(cid, peer))
      case MessageType.WatchHave:
      case MessageType.GetHave: {
        const seeder = this.superSeeders.get(cid)
        if (seeder != null) {
          seeder.haveAsked(peer)
          return encodeHave(seeder.bitfield(peer))
        }
        const have = source.have()
        return encodeHave(have.complete ? 'all' : have.bytes)
      }
      case MessageType.GetChunk: {
        const { index } = source
        if (request.file >= index.manifest.files.length || request.chunk >= index.count(request.file)) {
          return encodeError(ErrorCode.BadRequest, 'no such chunk')
        }
        const global = index.first(request.file) + request.chunk
        if (!source.have().has(global)) return encodeError(ErrorCode.NotFound, 'chunk not held')
        const seeder = this.superSeeders.get(cid)
        // A first copy counts only for a peer that asked for our HAVE (policy/super-seeder.ts):
        // a hog asking for four chunks held them from an honest 64 MiB fetch for 37 s.
        const counts = seeder?.spreads(peer) === true
        if (seeder != null && !seeder.offers(global, counts ? peer : undefined)) return encodeError(ErrorCode.NotFound, 'initial seeding: ask a peer that has it')
        // Counted before the read, so a concurrent request for it sees it taken.
        if (counts) seeder?.uploaded(global, peer)
        const length = index.length(request.file, request.chunk)
        this.choker.sent(peer, length)
        this.init.onUpload?.({ peer, cid, bytes: length })
        const header = encodeChunkHeader(length)
        return { source, file: request.file, chunk: request.chunk, length, header, byteLength: header.byteLength + length }
      }
    }
  }
}
