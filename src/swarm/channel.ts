/**
 * The fetching side of one chunk-protocol stream: send a request, read its one response. A
 * response must keep arriving: if no byte comes for `stallTimeout`, the request fails with
 * StalledError and the stream is aborted, whatever the size of the chunk.
 */
import { byteStream, type ByteStream } from '@libp2p/utils'
import {
  MAX_REQUEST_BYTES, MessageType, ProtocolError, decodeHave, encodeRequest, parseResponse, readFrame, type Request
} from './codec.js'
import { MAX_RELEASE_BYTES } from '../manifest/signed.js'
import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Uint8ArrayList } from 'uint8arraylist'

export class StalledError extends Error {
  static override name = 'StalledError'
  override name = 'StalledError'
}

export class Channel {
  private readonly bytes: ByteStream<Stream>
  private lastActivity = Date.now()
  private readonly onMessage = (): void => { this.lastActivity = Date.now() }

  /** `maxResponse` bounds any response frame; a chunk response is further bounded by its length. */
  constructor (readonly stream: Stream, private readonly stallTimeout: number, maxResponse: number) {
    // One request in flight per stream, so at most one response is ever buffered.
    this.bytes = byteStream(stream, { maxBufferSize: maxResponse + MAX_REQUEST_BYTES })
    stream.addEventListener('message', this.onMessage)
  }

  async getRelease (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    const body = await this.request({ type: MessageType.GetRelease, cid }, MessageType.Release, MAX_RELEASE_BYTES + 1, signal)
    return body.subarray()
  }

  async getHave (cid: CID, chunks: number, signal?: AbortSignal): Promise<Uint8Array | 'all'> {
    const body = await this.request({ type: MessageType.GetHave, cid }, MessageType.Have, Math.ceil(chunks / 8) + 2, signal)
    return decodeHave(body, chunks)
  }

  /** The chunk as the fragments it arrived in. */
  async getChunk (cid: CID, file: number, chunk: number, length: number, signal?: AbortSignal): Promise<Uint8Array[]> {
    const body = await this.request({ type: MessageType.GetChunk, cid, file, chunk }, MessageType.Chunk, length + 1, signal)
    if (body.byteLength !== length) throw new ProtocolError(`chunk of ${body.byteLength} bytes, expected ${length}`)
    return [...body]
  }

  close (): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.close().catch(() => {})
  }

  abort (err: Error): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.abort(err)
  }

  private async request (req: Request, expected: MessageType, maxBytes: number, signal?: AbortSignal): Promise<Uint8ArrayList> {
    const stalled = new AbortController()
    this.lastActivity = Date.now()
    let timer: NodeJS.Timeout | undefined
    const watch = (): void => {
      const idle = Date.now() - this.lastActivity
      if (idle >= this.stallTimeout) stalled.abort(new StalledError(`no data for ${Math.round(idle / 1000)} s`))
      else timer = setTimeout(watch, this.stallTimeout - idle)
    }
    timer = setTimeout(watch, this.stallTimeout)
    const combined = signal == null ? stalled.signal : AbortSignal.any([signal, stalled.signal])
    try {
      if (!this.stream.send(encodeRequest(req))) await this.stream.onDrain({ signal: combined })
      const frame = await readFrame(this.bytes, maxBytes, { signal: combined })
      if (frame == null) throw new ProtocolError('stream closed before the response')
      return parseResponse(frame, expected)
    } catch (err) {
      throw stalled.signal.aborted ? stalled.signal.reason : err
    } finally {
      clearTimeout(timer)
    }
  }
}
