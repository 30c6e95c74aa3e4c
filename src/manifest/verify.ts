/** Chunk verification: the one check every byte from a peer passes before it is written. */
import { createHash } from 'node:crypto'
import { equals } from 'uint8arrays/equals'
import { ChunkHashMismatchError } from './errors.js'

/**
 * Hashes the chunk's fragments as they are (no concatenation) and throws unless the total length
 * and the sha-256 match what the manifest says.
 */
export function verifyChunk (expectedHash: Uint8Array, expectedLength: number, fragments: readonly Uint8Array[], what = 'chunk'): void {
  let length = 0
  const hash = createHash('sha256')
  for (const f of fragments) {
    length += f.byteLength
    hash.update(f)
  }
  if (length !== expectedLength) throw new ChunkHashMismatchError(`${what} has ${length} bytes, the manifest says ${expectedLength}`)
  if (!equals(hash.digest(), expectedHash)) throw new ChunkHashMismatchError(`${what} does not match its hash in the manifest`)
}
