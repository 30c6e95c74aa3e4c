/**
 * The serving side of the chunk protocol. Answers GET_RELEASE, GET_HAVE and GET_CHUNK from any
 * registered ChunkSource. Everything a peer can make us do is bounded: request size, streams per
 * connection, uploads in flight across all peers (and so memory), idle time between requests,
 * and time to drain a response to a peer that stopped reading.
 */
import { byteStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  PROTOCOL, MAX_REQUEST_BYTES, MessageType, ErrorCode, ProtocolError,
  decodeRequest, encodeChunk, encodeError, encodeHave, encodeRelease, readFrame, type Request
} from './codec.js'
import { Semaphore } from './semaphore.js'
import type { RateLimiter } from './rate-limiter.js'
import type { ChunkSource } from '../store/chunk-source.js'
import { withDefaults } from '../util/defaults.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

const RATE_LIMIT_SLICE = 64 * 1024

export interface ChunkServerInit {
  /** Streams of this protocol a single connection may hold open. */
  maxInboundStreams?: number
  /** Chunk reads and sends in flight across all peers; bounds upload memory to this × chunk size. */
  maxUploads?: number
  /** Close a stream after this long without a request. */
  idleTimeout?: number
  /** Abort a stream whose peer does not take a response within this long. */
  sendTimeout?: number
  /** Shared upload limit; none when absent. */
  rateLimiter?: RateLimiter
  onUpload?: (event: { peer: string, cid: string, bytes: number }) => void
}

export interface SourceLookup {
  get: (cid: string) => ChunkSource | undefined
}

export class ChunkServer {
  private readonly uploads: Semaphore
  private readonly init: Required<Omit<ChunkServerInit, 'onUpload' | 'rateLimiter'>> & ChunkServerInit
  private started = false
  private readonly scratchBuffers: Buffer[] = []
  private scratchCreated = 0

  constructor (private readonly node: Pick<Libp2p, 'handle' | 'unhandle'>, private readonly sources: SourceLookup, init: ChunkServerInit = {}) {
    this.init = withDefaults({ maxInboundStreams: 32, maxUploads: 32, idleTimeout: 60_000, sendTimeout: 60_000 }, init)
    this.uploads = new Semaphore(this.init.maxUploads)
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
    const bytes = byteStream(stream, { maxBufferSize: 64 * 1024 })
    // A buffer reused for every chunk of this stream: the fetcher sends its next request only
    // after it has received the whole previous response, so by then these bytes have left it.
    // At most maxUploads such buffers exist across all streams (idle streams must not pin
    // memory); a stream that finds none reads into a fresh buffer per request.
    const scratch = { buffer: undefined as Buffer | undefined }
    try {
      while (true) {
        const frame = await readFrame(bytes, MAX_REQUEST_BYTES, { signal: AbortSignal.timeout(this.init.idleTimeout) })
        if (frame == null) break
        const request = decodeRequest(frame)
        const release = await this.uploads.acquire(AbortSignal.timeout(this.init.sendTimeout))
        try {
          await this.send(stream, await this.respond(request, peer, scratch))
        } finally {
          release()
        }
      }
      await stream.close()
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new ProtocolError(String(err)))
    } finally {
      if (scratch.buffer != null) this.scratchBuffers.push(scratch.buffer)
    }
  }

  /** This stream's reusable buffer if it has or can get one of the bounded set, else undefined. */
  private scratchFor (scratch: { buffer?: Buffer }, size: number): Buffer | undefined {
    if (scratch.buffer != null && scratch.buffer.length >= size) return scratch.buffer
    if (scratch.buffer != null) this.scratchBuffers.push(scratch.buffer) // too small for this release
    scratch.buffer = this.scratchBuffers.pop()
    if (scratch.buffer == null && this.scratchCreated < this.init.maxUploads) {
      this.scratchCreated++
      scratch.buffer = Buffer.allocUnsafeSlow(size)
    }
    if (scratch.buffer != null && scratch.buffer.length < size) scratch.buffer = Buffer.allocUnsafeSlow(size)
    return scratch.buffer
  }

  /**
   * Sends one response. Under an upload limit it goes in slices, each when the limiter allows,
   * so bytes keep flowing and a slow limit never looks like a stall to the fetcher.
   */
  private async send (stream: Stream, response: Uint8Array | Uint8ArrayList): Promise<void> {
    const limiter = this.init.rateLimiter
    const drain = async (): Promise<void> => { await stream.onDrain({ signal: AbortSignal.timeout(this.init.sendTimeout) }) }
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

  private async respond (request: Request, peer: string, scratch: { buffer?: Buffer }): Promise<Uint8Array | Uint8ArrayList> {
    const cid = request.cid.toString()
    const source = this.sources.get(cid)
    if (source == null) return encodeError(ErrorCode.NotFound, `not serving ${cid}`)
    switch (request.type) {
      case MessageType.GetRelease:
        return encodeRelease(source.release.bytes)
      case MessageType.GetHave: {
        const have = source.have()
        return encodeHave(have.complete ? 'all' : have.bytes)
      }
      case MessageType.GetChunk: {
        const { index } = source
        if (request.file >= index.manifest.files.length || request.chunk >= index.count(request.file)) {
          return encodeError(ErrorCode.BadRequest, 'no such chunk')
        }
        if (!source.have().has(index.first(request.file) + request.chunk)) return encodeError(ErrorCode.NotFound, 'chunk not held')
        let data: Uint8Array
        try {
          data = await source.readChunk(request.file, request.chunk, this.scratchFor(scratch, index.chunkSize))
        } catch (err: any) {
          return encodeError(ErrorCode.Unavailable, String(err.message))
        }
        this.init.onUpload?.({ peer, cid, bytes: data.byteLength })
        return encodeChunk(data)
      }
    }
  }
}
