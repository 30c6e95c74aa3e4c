/**
 * The manifest: what one release of a model is. It lists every file with its size, the sha-256
 * of the whole file (which is also the Hugging Face LFS oid, and the file's raw CID), and the
 * sha-256 of every fixed-size chunk, so a fetcher can verify each chunk as it arrives.
 *
 * Encoded as dag-cbor, which is deterministic (sorted map keys, minimal integers), so the same
 * folder always gives the same bytes. Decoding validates every field: a manifest is untrusted
 * input until its CID and signature check out, and its sizes drive allocations.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { InvalidManifestError } from './errors.js'
import { assertNoPathConflicts, assertSafeRelativePath } from './paths.js'
import { assertReleaseNameShape } from './repo-id.js'

import {
  DEFAULT_CHUNK_SIZE, HASH_LENGTH, MANIFEST_VERSION, MAX_CHUNK_SIZE, MAX_FILES, MAX_NAME_LENGTH, MAX_TOTAL_CHUNKS, MIN_CHUNK_SIZE
} from './constants.js'

// Re-exported: importers reach the format's limits through the manifest module.
export { DEFAULT_CHUNK_SIZE, HASH_LENGTH, MANIFEST_VERSION, MAX_CHUNK_SIZE, MAX_FILES, MAX_NAME_LENGTH, MAX_TOTAL_CHUNKS, MIN_CHUNK_SIZE }

export interface ManifestFile {
  /** Relative POSIX path inside the model folder. */
  path: string
  size: number
  /** sha-256 of the whole file. */
  sha256: Uint8Array
  /** The sha-256 of every chunk, concatenated: HASH_LENGTH bytes per chunk. */
  chunks: Uint8Array
}

export interface Manifest {
  version: number
  name: string
  chunkSize: number
  files: ManifestFile[]
}

export function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

export function encodeManifest (manifest: Manifest): Uint8Array {
  validateManifest(manifest)
  return dagCbor.encode({
    version: manifest.version,
    name: manifest.name,
    chunkSize: manifest.chunkSize,
    files: manifest.files.map(f => ({ path: f.path, size: f.size, sha256: f.sha256, chunks: f.chunks }))
  })
}

export function decodeManifest (bytes: Uint8Array): Manifest {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err: any) {
    throw new InvalidManifestError(`manifest is not valid dag-cbor: ${err.message}`)
  }
  const manifest = value as Manifest
  validateManifest(manifest)
  return manifest
}

/** Throws InvalidManifestError (or UnsafePathError) unless every field is well formed. */
export function validateManifest (m: Manifest): void {
  const fail = (why: string): never => { throw new InvalidManifestError(`invalid manifest: ${why}`) }
  if (m == null || typeof m !== 'object') fail('not a map')
  if (m.version !== MANIFEST_VERSION) fail(`unsupported version ${String(m.version)}`)
  if (typeof m.name !== 'string' || m.name.length === 0 || m.name.length > MAX_NAME_LENGTH) fail('bad name')
  assertSafeRelativePath(m.name)
  // One folder name, or a Hugging Face repo id `org/name` (see repo-id.ts).
  assertReleaseNameShape(m.name)
  if (!Number.isSafeInteger(m.chunkSize) || m.chunkSize < MIN_CHUNK_SIZE || m.chunkSize > MAX_CHUNK_SIZE) {
    fail(`chunk size ${String(m.chunkSize)} out of range`)
  }
  if (!Array.isArray(m.files) || m.files.length > MAX_FILES) fail('bad file list')
  let totalChunks = 0
  for (const f of m.files) {
    if (f == null || typeof f !== 'object') fail('bad file entry')
    assertSafeRelativePath(f.path)
    if (!Number.isSafeInteger(f.size) || f.size < 0) fail(`bad size for ${f.path}`)
    if (!(f.sha256 instanceof Uint8Array) || f.sha256.length !== HASH_LENGTH) fail(`bad sha256 for ${f.path}`)
    const n = chunkCount(f.size, m.chunkSize)
    if (!(f.chunks instanceof Uint8Array) || f.chunks.length !== n * HASH_LENGTH) fail(`bad chunk table for ${f.path}`)
    totalChunks += n
    if (totalChunks > MAX_TOTAL_CHUNKS) fail('too many chunks')
  }
  assertNoPathConflicts(m.files.map(f => f.path))
}

export function totalSize (m: Manifest): number {
  return m.files.reduce((sum, f) => sum + f.size, 0)
}

/** The CID of a whole file: CIDv1, raw codec, sha2-256 — the same digest as its Hugging Face LFS oid. */
export function fileCid (file: Pick<ManifestFile, 'sha256'>): CID {
  return CID.createV1(raw.code, createDigest(sha256.code, file.sha256))
}

export function chunkHash (file: ManifestFile, index: number): Uint8Array {
  return file.chunks.subarray(index * HASH_LENGTH, (index + 1) * HASH_LENGTH)
}

/**
 * Maps (file, chunk) pairs to one global chunk number across the manifest, in file order.
 * The swarm's bitfields and the download state use global numbers.
 */
export class ChunkIndex {
  readonly total: number
  readonly chunkSize: number
  private readonly firstChunk: number[] = []

  constructor (readonly manifest: Manifest) {
    this.chunkSize = manifest.chunkSize
    let next = 0
    for (const f of manifest.files) {
      this.firstChunk.push(next)
      next += chunkCount(f.size, manifest.chunkSize)
    }
    this.total = next
  }

  first (fileIndex: number): number {
    return this.firstChunk[fileIndex]
  }

  count (fileIndex: number): number {
    return chunkCount(this.manifest.files[fileIndex].size, this.chunkSize)
  }

  /** The file and the chunk within it of a global chunk number (binary search). */
  locate (global: number): { fileIndex: number, chunk: number } {
    let lo = 0
    let hi = this.firstChunk.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.firstChunk[mid] <= global) lo = mid
      else hi = mid - 1
    }
    // Empty files share a start with the next file; step to the one that holds the chunk.
    while (this.count(lo) === 0 || global - this.firstChunk[lo] >= this.count(lo)) lo++
    return { fileIndex: lo, chunk: global - this.firstChunk[lo] }
  }

  /** Byte length of one chunk (the last chunk of a file may be short). */
  length (fileIndex: number, chunk: number): number {
    const size = this.manifest.files[fileIndex].size
    return Math.min(this.chunkSize, size - chunk * this.chunkSize)
  }
}
