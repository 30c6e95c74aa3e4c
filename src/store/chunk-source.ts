/**
 * What the swarm's serving side needs of anything that holds a release's chunks: a folder seeded
 * in place, or a download in progress. The store implements it; the swarm only calls it.
 */
import type { Bitfield } from './bitfield.js'
import type { ChunkIndex } from '../manifest/manifest.js'
import type { Release } from '../manifest/signed.js'

export interface ChunkSource {
  readonly release: Release
  readonly index: ChunkIndex
  /** The chunks that can be served now (global numbers). Do not mutate. */
  have: () => Bitfield
  /**
   * Reads one chunk, into `buffer` when given (it must be large enough), and returns a view of
   * the bytes. Throws SourceUnavailableError if the bytes on disk can no longer be trusted.
   */
  readChunk: (fileIndex: number, chunk: number, buffer?: Buffer) => Promise<Uint8Array>
}

