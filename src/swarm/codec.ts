/**
 * The chunk exchange protocol, /p2pweights/chunks/1.0.0: the wire format only (no disk, no
 * network policy). Goals: verified transfer of fixed-size chunks at close to raw stream speed,
 * every message bounded. Non-goals: discovery (the DHT does it), trust (the manifest does it).
 *
 * A stream carries requests from the fetcher and one response to each, in order. Every message
 * is a frame: an unsigned-varint length, then that many bytes, the first of which is the type.
 *
 *   GET_RELEASE  0x01  cid                          -> RELEASE 0x11 release-bytes
 *   GET_HAVE     0x02  cid                          -> HAVE    0x12 flags(1: has all) [bitfield]
 *   GET_CHUNK    0x03  u32 file, u32 chunk, cid     -> CHUNK   0x13 chunk-bytes
 *   GET_PEERS    0x04  cid                          -> PEERS   0x14 u8 n, n x (u16 len, multiaddr)
 *   WATCH_HAVE   0x05  cid                          -> HAVE    0x12, then HAVE_UPDATE 0x15 u32
 *                                                      chunk numbers, pushed as chunks verify,
 *                                                      until either side closes the stream
 *   any request                                     -> ERROR   0x1f code, utf-8 reason (<= 200 B)
 *
 * GET_PEERS and WATCH_HAVE came later; a node that predates them aborts the stream on the
 * unknown type, and a fetcher then does without (HAVE polling, no peer exchange).
 *
 * Chunk bytes go out as they were read and come in as the list of network fragments they
 * arrived in (no concatenation): the fetcher hashes and writes the fragments as they are.
 */
import * as varint from 'uint8-varint'
import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import type { ByteStream } from '@libp2p/utils'
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import { ProtocolError, RemoteError } from './errors.js'
import { ErrorCode } from './constants.js'

export const PROTOCOL = '/p2pweights/chunks/1.0.0'
/** A request is a type byte, two u32 and a CID: far below this. */
export const MAX_REQUEST_BYTES = 256
/** PEERS: at most this many addresses, each at most MAX_PEER_ADDR_BYTES. */
export const MAX_PEERS = 32
const MAX_PEER_ADDR_BYTES = 255
export const MAX_PEERS_FRAME = 2 + MAX_PEERS * (2 + MAX_PEER_ADDR_BYTES)
/** HAVE_UPDATE: at most this many chunk numbers per frame. */
export const MAX_HAVE_UPDATE = 1024
export const MAX_HAVE_UPDATE_FRAME = 1 + 4 * MAX_HAVE_UPDATE
const MAX_REASON_BYTES = 200
/** The largest ERROR frame: type, code and reason. */
export const MAX_ERROR_FRAME = 2 + MAX_REASON_BYTES
const MAX_VARINT_BYTES = 5

export enum MessageType {
  GetRelease = 0x01,
  GetHave = 0x02,
  GetChunk = 0x03,
  GetPeers = 0x04,
  WatchHave = 0x05,
  Release = 0x11,
  Have = 0x12,
  Chunk = 0x13,
  Peers = 0x14,
  HaveUpdate = 0x15,
  Error = 0x1f
}

export { ErrorCode }

export type Request =
  | { type: MessageType.GetRelease, cid: CID }
  | { type: MessageType.GetHave, cid: CID }
  | { type: MessageType.GetPeers, cid: CID }
  | { type: MessageType.WatchHave, cid: CID }
  | { type: MessageType.GetChunk, cid: CID, file: number, chunk: number }

function frame (type: MessageType, body: Uint8Array): Uint8Array {
  const length = varint.encodingLength(body.length + 1)
  const out = new Uint8Array(length + 1 + body.length)
  varint.encodeUint8Array(body.length + 1, out, 0)
  out[length] = type
  out.set(body, length + 1)
  return out
}

export function encodeRequest (req: Request): Uint8Array {
  const cid = req.cid.bytes
  if (req.type !== MessageType.GetChunk) return frame(req.type, cid)
  const body = new Uint8Array(8 + cid.length)
  const view = new DataView(body.buffer)
  view.setUint32(0, req.file)
  view.setUint32(4, req.chunk)
  body.set(cid, 8)
  return frame(req.type, body)
}

export function decodeRequest (body: Uint8ArrayList): Request {
  const bytes = body.subarray()
  const type = bytes[0]
  try {
    if (type === MessageType.GetRelease || type === MessageType.GetHave || type === MessageType.GetPeers || type === MessageType.WatchHave) {
      return { type, cid: CID.decode(bytes.subarray(1)) }
    }
    if (type === MessageType.GetChunk && bytes.length > 9) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      return { type, file: view.getUint32(1), chunk: view.getUint32(5), cid: CID.decode(bytes.subarray(9)) }
    }
  } catch (err: any) {
    throw new ProtocolError(`malformed request: ${err.message}`)
  }
  throw new ProtocolError(`unknown request type ${type}`)
}

/** The release frame as a header plus the release bytes themselves (no copy per request). */
export function encodeRelease (release: Uint8Array): Uint8ArrayList {
  return new Uint8ArrayList(header(MessageType.Release, release.length), release)
}

export function encodeHave (bitfield: Uint8Array | 'all'): Uint8Array {
  if (bitfield === 'all') return frame(MessageType.Have, Uint8Array.of(1))
  const body = new Uint8Array(1 + bitfield.length)
  body.set(bitfield, 1)
  return frame(MessageType.Have, body)
}

function header (type: MessageType, bodyLength: number): Uint8Array {
  const out = new Uint8Array(varint.encodingLength(bodyLength + 1) + 1)
  varint.encodeUint8Array(bodyLength + 1, out, 0)
  out[out.length - 1] = type
  return out
}

/** The chunk frame as a header plus the data itself, so the data is not copied. */
export function encodeChunk (data: Uint8Array): Uint8ArrayList {
  return new Uint8ArrayList(encodeChunkHeader(data.length), data)
}

/** The header of a chunk frame of `length` bytes, for a sender that streams the bytes after it. */
export function encodeChunkHeader (length: number): Uint8Array {
  return header(MessageType.Chunk, length)
}

/** PEERS: addresses (binary multiaddrs, each ending in /p2p/<id>); extras beyond the limits are dropped. */
export function encodePeers (addrs: Uint8Array[]): Uint8Array {
  const kept = addrs.filter(a => a.length > 0 && a.length <= MAX_PEER_ADDR_BYTES).slice(0, MAX_PEERS)
  const body = new Uint8Array(1 + kept.reduce((n, a) => n + 2 + a.length, 0))
  body[0] = kept.length
  let at = 1
  for (const a of kept) {
    body[at] = a.length >> 8
    body[at + 1] = a.length & 0xff
    body.set(a, at + 2)
    at += 2 + a.length
  }
  return frame(MessageType.Peers, body)
}

export function decodePeers (body: Uint8ArrayList): Uint8Array[] {
  const bytes = body.subarray()
  if (bytes.length < 1 || bytes[0] > MAX_PEERS) throw new ProtocolError('malformed PEERS')
  const out: Uint8Array[] = []
  let at = 1
  for (let i = 0; i < bytes[0]; i++) {
    if (at + 2 > bytes.length) throw new ProtocolError('truncated PEERS')
    const length = (bytes[at] << 8) | bytes[at + 1]
    if (length === 0 || length > MAX_PEER_ADDR_BYTES || at + 2 + length > bytes.length) throw new ProtocolError('malformed PEERS entry')
    out.push(bytes.slice(at + 2, at + 2 + length))
    at += 2 + length
  }
  if (at !== bytes.length) throw new ProtocolError('trailing bytes in PEERS')
  return out
}

/** HAVE_UPDATE: chunks that became available since the last HAVE or update. */
export function encodeHaveUpdate (chunks: number[]): Uint8Array {
  const body = new Uint8Array(4 * chunks.length)
  const view = new DataView(body.buffer)
  chunks.forEach((c, i) => view.setUint32(4 * i, c))
  return frame(MessageType.HaveUpdate, body)
}

/** The chunk numbers of a HAVE_UPDATE body; every one must be below `total`. */
export function decodeHaveUpdate (body: Uint8ArrayList, total: number): number[] {
  const bytes = body.subarray()
  if (bytes.length === 0 || bytes.length % 4 !== 0 || bytes.length > 4 * MAX_HAVE_UPDATE) throw new ProtocolError('malformed HAVE_UPDATE')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: number[] = []
  for (let at = 0; at < bytes.length; at += 4) {
    const c = view.getUint32(at)
    if (c >= total) throw new ProtocolError(`HAVE_UPDATE names chunk ${c} of ${total}`)
    out.push(c)
  }
  return out
}

export function encodeError (code: ErrorCode, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, MAX_REASON_BYTES)
  const body = new Uint8Array(1 + text.length)
  body[0] = code
  body.set(text, 1)
  return frame(MessageType.Error, body)
}

/**
 * Reads one frame of at most `maxBytes` (type byte included). Returns null on a clean end of
 * stream before the frame starts. A longer frame is a protocol error: the caller aborts.
 */
export async function readFrame (bytes: ByteStream<MessageStream>, maxBytes: number, options?: AbortOptions): Promise<Uint8ArrayList | null> {
  const lengthBytes = new Uint8ArrayList()
  let length = -1
  while (length < 0) {
    let b: Uint8ArrayList
    try {
      b = await bytes.read({ ...options, bytes: 1 })
    } catch (err: any) {
      if (err.name === 'UnexpectedEOFError' && lengthBytes.byteLength === 0) return null
      throw err
    }
    lengthBytes.append(b)
    if ((b.get(0) & 0x80) === 0) length = varint.decode(lengthBytes)
    else if (lengthBytes.byteLength >= MAX_VARINT_BYTES) throw new ProtocolError('frame length varint too long')
  }
  if (length === 0) throw new ProtocolError('empty frame')
  if (length > maxBytes) throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${maxBytes}`)
  return await bytes.read({ ...options, bytes: length })
}

/** Splits a response frame into its type and body (no copy). ERROR frames become RemoteError. */
export function parseResponse (frameBytes: Uint8ArrayList, expected: MessageType): Uint8ArrayList {
  const type = frameBytes.get(0)
  const body = frameBytes.sublist(1)
  if (type === MessageType.Error) {
    const code = body.byteLength > 0 ? body.get(0) : ErrorCode.Unavailable
    throw new RemoteError(code, new TextDecoder().decode(body.subarray(1)))
  }
  if (type !== expected) throw new ProtocolError(`expected message type ${expected}, got ${type}`)
  return body
}

export function decodeHave (body: Uint8ArrayList, chunks: number): Uint8Array | 'all' {
  if (body.byteLength < 1) throw new ProtocolError('empty HAVE')
  if ((body.get(0) & 1) === 1) return 'all'
  if (body.byteLength - 1 !== Math.ceil(chunks / 8)) throw new ProtocolError('HAVE bitfield has the wrong length')
  return body.subarray(1)
}
