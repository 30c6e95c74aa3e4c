import { describe, expect, it } from 'vitest'
import { verifyChunk } from '../../../src/manifest/verify.js'
import { bytesOf, errorOf, sha256 } from '../helpers.js'

const data = bytesOf(1000, 3)
const hash = sha256(data)

describe('verifyChunk', () => {
  it('accepts the right bytes, whole or in fragments of any split', () => {
    expect(() => verifyChunk(hash, 1000, [data])).not.toThrow()
    expect(() => verifyChunk(hash, 1000, [data.subarray(0, 1), data.subarray(1, 999), data.subarray(999)])).not.toThrow()
    expect(() => verifyChunk(hash, 1000, [new Uint8Array(0), data, new Uint8Array(0)])).not.toThrow()
    expect(() => verifyChunk(sha256(new Uint8Array(0)), 0, [])).not.toThrow()
  })

  it('rejects one changed byte', async () => {
    const wrong = new Uint8Array(data)
    wrong[500] ^= 1
    expect((await errorOf(() => verifyChunk(hash, 1000, [wrong]))).name).toBe('ChunkHashMismatchError')
  })

  it('rejects fragments in the wrong order', async () => {
    const err = await errorOf(() => verifyChunk(hash, 1000, [data.subarray(500), data.subarray(0, 500)]))
    expect(err.name).toBe('ChunkHashMismatchError')
  })

  it('rejects the wrong length, even when the hash would match', async () => {
    expect((await errorOf(() => verifyChunk(hash, 999, [data]))).name).toBe('ChunkHashMismatchError')
    expect((await errorOf(() => verifyChunk(hash, 1000, [data.subarray(0, 999)]))).name).toBe('ChunkHashMismatchError')
  })
})
