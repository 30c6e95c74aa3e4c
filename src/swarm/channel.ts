/**
 * The fetching side of one chunk-protocol stream: send a request, parse its one response.
 *
 * Parsing is a small state machine on the stream's 'message' events rather than awaited reads:
 * chunk bytes are copied once, as they arrive, into the buffer the caller passes (reused from a
 * pool), so network fragments die young and the fetcher's memory stays flat (holding fragments
 * until a 4 MiB chunk was complete cost more in garbage collection than the copy). Once a
 * request has settled, the channel never writes to its buffer again.
 *
 * A response must keep arriving: if no byte comes for `stallTimeout`, the request fails with
 * StalledError and the stream is aborted, whatever the size of the chunk. A chunk request also
 * has a deadline for the whole response (the caller derives it from the slowest rate it
 * accepts): a peer that trickles bytes just fast enough to dodge the stall timer fails with
 * DeadlineError when it runs out.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import {
  MAX_ERROR_FRAME, MAX_PEERS_FRAME, MessageType, decodeHave, decodePeers, encodeRequest, parseResponse, type Request
} from './codec.js'
import { MAX_RELEASE_BYTES } from '../manifest/signed.js'
import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { DeadlineError, ProtocolError, StalledError } from './errors.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:swarm:channel')

const MAX_VARINT_BYTES = 5

interface Pending {
  maxBytes: number
  /** For chunk responses: where the body goes, and its exact length. */
  target?: Buffer
  resolve: (frame: Uint8ArrayList | Buffer) => void
  reject: (err: Error) => void
}

export class Channel {
  private pending?: Pending
  private lastActivity = Date.now()
  // Parser state for the frame being received.
  private lengthBytes: number[] = []
  private frameLength = -1
  private type = -1
  private received = 0
  private small = new Uint8ArrayList()

  constructor (readonly stream: Stream, private readonly stallTimeout: number) {
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onClose)
  }

  async getRelease (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    const frame = await this.request({ type: MessageType.GetRelease, cid }, MAX_RELEASE_BYTES + 1, undefined, signal)
    return parseResponse(frame as Uint8ArrayList, MessageType.Release).subarray()
  }

  async getHave (cid: CID, chunks: number, signal?: AbortSignal): Promise<Uint8Array | 'all'> {
    const frame = await this.request({ type: MessageType.GetHave, cid }, Math.ceil(chunks / 8) + 2, undefined, signal)
    return decodeHave(parseResponse(frame as Uint8ArrayList, MessageType.Have), chunks)
  }

  /** Peers the remote saw asking about this release (binary multiaddrs with /p2p/). */
  async getPeers (cid: CID, signal?: AbortSignal): Promise<Uint8Array[]> {
    const frame = await this.request({ type: MessageType.GetPeers, cid }, MAX_PEERS_FRAME, undefined, signal)
    return decodePeers(parseResponse(frame as Uint8ArrayList, MessageType.Peers))
  }

  /** The chunk, received into `target` (at least `length` bytes); returns the filled view. */
  async getChunk (cid: CID, file: number, chunk: number, length: number, target: Buffer, signal?: AbortSignal, deadline?: number): Promise<Buffer> {
    const result = await this.request({ type: MessageType.GetChunk, cid, file, chunk }, length + 1, target.subarray(0, length), signal, deadline)
    if (result instanceof Uint8ArrayList) throw parseError(result) // an ERROR frame instead of data
    return result
  }

  /** The stream can carry no more requests (aborted after a failure, or closed). */
  get closed (): boolean {
    return this.stream.status !== 'open'
  }

  close (): void {
    this.detach()
    this.stream.close().catch((err: Error) => { log('closing a chunk stream failed (%s); it is dropped anyway', err.message) })
  }

  abort (err: Error): void {
    this.detach()
    this.stream.abort(err)
  }

  private detach (): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onClose)
    this.fail(new ProtocolError('channel closed'))
  }

  private async request (req: Request, maxBytes: number, target: Buffer | undefined, signal?: AbortSignal, deadline?: number): Promise<Uint8ArrayList | Buffer> {
    if (this.pending != null) throw new ProtocolError('a request is already in flight on this channel')
    signal?.throwIfAborted()
    const response = new Promise<Uint8ArrayList | Buffer>((resolve, reject) => {
      this.pending = { maxBytes, target, resolve, reject }
    })
    // It may be rejected (stall, close) while we still wait to send; it is awaited below.
    response.catch(() => {})
    this.resetParser()
    this.lastActivity = Date.now()
    let timer: NodeJS.Timeout | undefined
    const watch = (): void => {
      const idle = Date.now() - this.lastActivity
      if (idle >= this.stallTimeout) this.fail(new StalledError(`no data for ${Math.round(idle / 1000)} s`), true)
      else timer = setTimeout(watch, this.stallTimeout - idle)
    }
    timer = setTimeout(watch, this.stallTimeout)
    const started = Date.now()
    const deadlineTimer = deadline == null
      ? undefined
      : setTimeout(() => this.fail(new DeadlineError(`response incomplete after ${Math.round((Date.now() - started) / 1000)} s (${this.received} bytes received)`), true), deadline)
    const onAbort = (): void => this.fail(signal?.reason ?? new Error('aborted'), true)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      if (!this.stream.send(encodeRequest(req))) await this.stream.onDrain({ signal })
      return await response
    } catch (err: any) {
      // Whatever failed, this request is over: nothing may be written to its buffer any more.
      this.fail(err, this.pending != null)
      throw err
    } finally {
      clearTimeout(timer)
      clearTimeout(deadlineTimer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    this.lastActivity = Date.now()
    try {
      const data = evt.data
      if (data instanceof Uint8Array) this.consume(data)
      else for (const buf of data) this.consume(buf)
    } catch (err: any) {
      this.fail(err, true)
    }
  }

  private readonly onClose = (): void => {
    this.fail(new ProtocolError('the peer closed the stream before answering'))
  }

  private consume (buf: Uint8Array): void {
    const pending = this.pending
    if (pending == null) throw new ProtocolError('unsolicited data')
    let offset = 0
    while (offset < buf.length) {
      if (this.type < 0) {
        const byte = buf[offset++]
        if (this.frameLength < 0) {
          this.lengthBytes.push(byte)
          if ((byte & 0x80) === 0) this.frameLength = decodeVarint(this.lengthBytes)
          else if (this.lengthBytes.length >= MAX_VARINT_BYTES) throw new ProtocolError('frame length varint too long')
          if (this.frameLength === 0) throw new ProtocolError('empty frame')
          if (this.frameLength > Math.max(pending.maxBytes, MAX_ERROR_FRAME)) throw new ProtocolError(`frame of ${this.frameLength} bytes exceeds the limit of ${pending.maxBytes}`)
          continue
        }
        this.type = byte
        // An ERROR frame may be longer than a tiny expected answer; anything else may not.
        const limit = byte === MessageType.Error ? MAX_ERROR_FRAME : pending.maxBytes
        if (this.frameLength > limit) throw new ProtocolError(`frame of ${this.frameLength} bytes exceeds the limit of ${limit}`)
        if (pending.target != null && byte === MessageType.Chunk && this.frameLength - 1 !== pending.target.length) {
          throw new ProtocolError(`chunk of ${this.frameLength - 1} bytes, expected ${pending.target.length}`)
        }
        if (pending.target == null || byte !== MessageType.Chunk) this.small.append(Uint8Array.of(byte))
      } else {
        const want = this.frameLength - 1 - this.received
        const n = Math.min(want, buf.length - offset)
        if (pending.target != null && this.type === MessageType.Chunk) pending.target.set(buf.subarray(offset, offset + n), this.received)
        else this.small.append(buf.subarray(offset, offset + n))
        this.received += n
        offset += n
      }
      if (this.type >= 0 && this.received === this.frameLength - 1) {
        if (offset < buf.length) throw new ProtocolError('unsolicited data after the response')
        this.pending = undefined
        pending.resolve(pending.target != null && this.type === MessageType.Chunk ? pending.target : this.small)
        return
      }
    }
  }

  private resetParser (): void {
    this.lengthBytes = []
    this.frameLength = -1
    this.type = -1
    this.received = 0
    this.small = new Uint8ArrayList()
  }

  /** Rejects the request in flight; with `abortStream`, the stream is unusable and is aborted. */
  private fail (err: Error, abortStream = false): void {
    const pending = this.pending
    this.pending = undefined
    pending?.reject(err)
    if (abortStream) {
      this.stream.removeEventListener('message', this.onMessage)
      this.stream.abort(err)
    }
  }
}

function decodeVarint (bytes: number[]): number {
  let value = 0
  for (let i = bytes.length - 1; i >= 0; i--) value = value * 128 + (bytes[i] & 0x7f)
  return value
}

/** An ERROR (or unexpected) frame received where chunk data was expected. */
function parseError (frame: Uint8ArrayList): Error {
  try {
    parseResponse(frame, MessageType.Chunk)
    return new ProtocolError('unexpected frame')
  } catch (err: any) {
    return err
  }
}
