import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 as mfSha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import {
  ChunkIndex, chunkHash, decodeManifest, encodeManifest, fileCid, totalSize, validateManifest,
  MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, type Manifest
} from '../../../src/manifest/manifest.js'
import { SMALL_CHUNK, bytesOf, errorOf, manifestOf, sha256 } from '../helpers.js'

const C = SMALL_CHUNK

function sample (): Manifest {
  return manifestOf([
    { path: 'config.json', bytes: bytesOf(700, 1) },
    { path: 'weights/model.bin', bytes: bytesOf(2 * C + 5, 2) }
  ])
}

/** Encodes a plain object with dag-cbor, bypassing encodeManifest's validation. */
function rawEncode (value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

describe('encodeManifest / decodeManifest', () => {
  it('round-trips every field', () => {
    const m = sample()
    const back = decodeManifest(encodeManifest(m))
    expect(back.version).toBe(1)
    expect(back.name).toBe('model')
    expect(back.chunkSize).toBe(C)
    expect(back.files.map(f => f.path)).toEqual(['config.json', 'weights/model.bin'])
    expect(back.files[1].size).toBe(2 * C + 5)
    expect(Buffer.from(back.files[1].sha256)).toEqual(Buffer.from(sha256(bytesOf(2 * C + 5, 2))))
    expect(back.files[1].chunks.length).toBe(3 * 32)
  })

  it('is deterministic and ignores extra fields on the input objects', () => {
    const a = sample()
    const b = sample() as any
    b.extra = 'ignored'
    b.files[0].mode = 0o644
    expect(Buffer.from(encodeManifest(b))).toEqual(Buffer.from(encodeManifest(a)))
  })

  it('decoding rejects malformed cbor with InvalidManifestError', async () => {
    for (const bytes of [Uint8Array.of(0xff, 0x00), Uint8Array.of(), Uint8Array.of(0xa1)]) {
      expect((await errorOf(() => decodeManifest(bytes))).name).toBe('InvalidManifestError')
    }
  })

  it('decoding rejects a cbor value that is not a manifest map', async () => {
    for (const value of [null, 42, 'text', [1, 2]]) {
      expect((await errorOf(() => decodeManifest(rawEncode(value)))).name).toBe('InvalidManifestError')
    }
  })
})

describe('validateManifest', () => {
  const invalid = async (mutate: (m: any) => void): Promise<string> => {
    const m: any = sample()
    mutate(m)
    const viaValidate = await errorOf(() => validateManifest(m))
    // The same bytes from a peer must be refused by decodeManifest too.
    const viaDecode = await errorOf(() => decodeManifest(rawEncode(m)))
    expect(viaDecode.name).toBe(viaValidate.name)
    return viaValidate.name
  }

  it('accepts a well-formed manifest', () => {
    expect(() => validateManifest(sample())).not.toThrow()
  })

  it('rejects a bad version', async () => {
    expect(await invalid(m => { m.version = 2 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.version = 0 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.version = '1' })).toBe('InvalidManifestError')
  })

  it('rejects a chunk size out of range or not an integer', async () => {
    expect(await invalid(m => { m.chunkSize = MIN_CHUNK_SIZE - 1 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.chunkSize = MAX_CHUNK_SIZE + 1 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.chunkSize = 0 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.chunkSize = C + 0.5 })).toBe('InvalidManifestError')
  })

  it('rejects a chunk table of the wrong length', async () => {
    expect(await invalid(m => { m.files[1].chunks = m.files[1].chunks.subarray(32) })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.files[1].chunks = new Uint8Array(m.files[1].chunks.length + 32) })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.files[0].chunks = new Uint8Array(0) })).toBe('InvalidManifestError')
  })

  it('rejects a chunk table that does not match a changed size', async () => {
    // 2*C+5 bytes is 3 chunks; 2*C bytes is 2 chunks.
    expect(await invalid(m => { m.files[1].size = 2 * C })).toBe('InvalidManifestError')
  })

  it('rejects bad sizes and bad sha256 fields', async () => {
    expect(await invalid(m => { m.files[0].size = -1 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.files[0].size = 1.5 })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.files[0].sha256 = new Uint8Array(31) })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.files[0].sha256 = 'aa' })).toBe('InvalidManifestError')
  })

  it('rejects bad names', async () => {
    expect(await invalid(m => { m.name = '' })).toBe('InvalidManifestError')
    // org/name is a Hugging Face repo id (repo-id.test.ts); deeper paths are not.
    expect(await invalid(m => { m.name = 'a/b/c' })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.name = 'a--b/c' })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.name = 'a b/c' })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.name = '.hidden/x' })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.name = 'x'.repeat(257) })).toBe('InvalidManifestError')
    expect(await invalid(m => { m.name = '..' })).toBe('UnsafePathError')
  })

  it('accepts an org/model name (a Hugging Face style repo id)', () => {
    const m = manifestOf([{ path: 'a', bytes: new Uint8Array(3) }], SMALL_CHUNK, 'acme/llama-7b')
    expect(decodeManifest(encodeManifest(m)).name).toBe('acme/llama-7b')
  })

  it('rejects duplicate paths', async () => {
    expect(await invalid(m => { m.files[1].path = 'config.json'; m.files[1].size = 700; m.files[1].chunks = m.files[0].chunks }))
      .toBe('UnsafePathError')
  })

  it('rejects a path that is both a file and a folder, in either order', async () => {
    expect(await invalid(m => { m.files[0].path = 'weights' })).toBe('UnsafePathError')
    expect(await invalid(m => { m.files[0].path = 'weights/model.bin/x' })).toBe('UnsafePathError')
  })

  it('rejects a hostile path', async () => {
    expect(await invalid(m => { m.files[0].path = '../x' })).toBe('UnsafePathError')
  })

  it('rejects a files field that is not a list', async () => {
    expect(await invalid(m => { m.files = { 0: m.files[0] } })).toBe('InvalidManifestError')
  })
})

describe('fileCid', () => {
  it('is the CIDv1 raw sha2-256 of the whole file, computed independently', async () => {
    const bytes = bytesOf(3 * C + 17, 9)
    const m = manifestOf([{ path: 'a.bin', bytes }])
    const expected = CID.createV1(0x55, await mfSha256.digest(bytes))
    const cid = fileCid(m.files[0])
    expect(cid.toString()).toBe(expected.toString())
    expect(cid.toString().startsWith('bafkrei')).toBe(true)
    // The digest is the Hugging Face LFS oid: hex sha-256 of the file.
    expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(Buffer.from(sha256(bytes)).toString('hex'))
  })
})

describe('ChunkIndex', () => {
  // sizes: 2.5 chunks, empty, exactly one chunk, empty, empty, one byte
  const sizes = [2 * C + C / 2, 0, C, 0, 0, 1]
  const m = manifestOf(sizes.map((size, i) => ({ path: `f${i}`, bytes: bytesOf(size, i + 1) })))
  const index = new ChunkIndex(m)

  it('counts chunks and first chunk numbers, with empty files in between', () => {
    expect(index.total).toBe(5)
    expect(sizes.map((_, i) => index.count(i))).toEqual([3, 0, 1, 0, 0, 1])
    expect(index.first(0)).toBe(0)
    expect(index.first(2)).toBe(3)
    expect(index.first(5)).toBe(4)
    expect(totalSize(m)).toBe(sizes.reduce((a, b) => a + b, 0))
  })

  it('locates every global chunk to the file that holds it, never an empty file', () => {
    const expected: Array<{ fileIndex: number, chunk: number }> = []
    sizes.forEach((size, fileIndex) => {
      for (let chunk = 0; chunk * C < size; chunk++) expected.push({ fileIndex, chunk })
    })
    expect(expected.length).toBe(index.total)
    for (let g = 0; g < index.total; g++) expect(index.locate(g)).toEqual(expected[g])
  })

  it('gives the byte length of each chunk, the last one short', () => {
    expect(index.length(0, 0)).toBe(C)
    expect(index.length(0, 2)).toBe(C / 2)
    expect(index.length(2, 0)).toBe(C)
    expect(index.length(5, 0)).toBe(1)
  })

  it('handles a manifest that starts and ends with empty files', () => {
    const m2 = manifestOf([{ path: 'a', bytes: new Uint8Array(0) }, { path: 'b', bytes: bytesOf(C + 1) }, { path: 'c', bytes: new Uint8Array(0) }])
    const i2 = new ChunkIndex(m2)
    expect(i2.total).toBe(2)
    expect(i2.locate(0)).toEqual({ fileIndex: 1, chunk: 0 })
    expect(i2.locate(1)).toEqual({ fileIndex: 1, chunk: 1 })
  })

  it('chunkHash returns the hash of that chunk', () => {
    const bytes = bytesOf(2 * C + C / 2, 1)
    expect(Buffer.from(chunkHash(m.files[0], 2))).toEqual(Buffer.from(sha256(bytes.subarray(2 * C))))
  })
})
