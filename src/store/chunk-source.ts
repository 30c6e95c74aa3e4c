/**
 * What the swarm's serving side needs of anything that holds a release's chunks: a folder seeded
 * in place, or a download in progress. The store implements it; the swarm only calls it.
 */
import type { Bitfield } from './bitfield.js'
import { NoSuchChunkError } from './errors.js'
import type { ChunkIndex } from '../manifest/manifest.js'
import type { Release } from '../manifest/signed.js'

export interface ChunkSource {
  readonly release: Release
  readonly index: ChunkIndex
  /** The chunks that can be served now (global numbers). Do not mutate. */
  have: () => Bitfield
  /**
   * Reads one chunk, into `buffer` when given (it must be large enough), and returns a view of
   * the bytes. Throws NoSuchChunkError for a chunk that is not in the release, ChunkNotHeldError
   * for one not in have(), and SourceUnavailableError (ChunkNotHeldError is one) if the bytes on
   * disk can no longer be trusted. Never returns bytes other than the manifest's.
   * tests/unit/store/chunk-source.compliance.test.ts holds every implementation to this.
   */
  readChunk: (fileIndex: number, chunk: number, buffer?: Buffer) => Promise<Uint8Array>
  /**
   * Reads part of one chunk: its bytes from `offset` on, as many as `buffer` holds or the chunk
   * has left, into `buffer`; returns a view of them. The server streams a chunk in such slices,
   * so its memory per upload is one slice, not one chunk. Throws as readChunk does, and
   * RangeError for an offset outside the chunk.
   */
  readSlice: (fileIndex: number, chunk: number, offset: number, buffer: Buffer) => Promise<Uint8Array>
}

/** The bytes of `chunk` that a read from `offset` into `capacity` bytes covers; RangeError outside the chunk. */
export function sliceLength (index: ChunkIndex, fileIndex: number, chunk: number, offset: number, capacity: number): number {
  const length = index.length(fileIndex, chunk)
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= Math.max(length, 1)) throw new RangeError(`offset ${offset} is outside chunk ${chunk} (${length} bytes)`)
  return Math.min(capacity, length - offset)
}

/** Throws NoSuchChunkError unless (fileIndex, chunk) is a chunk of the release; returns its global number. */
export function checkChunk (index: ChunkIndex, fileIndex: number, chunk: number): number {
  if (!Number.isSafeInteger(fileIndex) || fileIndex < 0 || fileIndex >= index.manifest.files.length ||
    !Number.isSafeInteger(chunk) || chunk < 0 || chunk >= index.count(fileIndex)) {
    throw new NoSuchChunkError(`no chunk ${chunk} of file ${fileIndex} in release "${index.manifest.name}"`)
  }
  return index.first(fileIndex) + chunk
}

