import { describe, expect, it } from 'vitest'
import { verifyChunk, verifyChunkAsync } from '../../../src/manifest/verify.js'
import { bytesOf, errorOf, sha256 } from '../helpers.js'

const data = bytesOf(1000, 3)
const hash = sha256(data)
const digest = async (d: Uint8Array): Promise<Uint8Array> => sha256(d)

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

describe('verifyChunkAsync', () => {
  it('accepts the right bytes', async () => {
    await expect(verifyChunkAsync(digest, hash, 1000, data)).resolves.toBeUndefined()
  })

  it('rejects wrong bytes', async () => {
    const wrong = new Uint8Array(data)
    wrong[0] ^= 0x80
    expect((await errorOf(() => verifyChunkAsync(digest, hash, 1000, wrong))).name).toBe('ChunkHashMismatchError')
  })

  it('rejects the wrong length without hashing', async () => {
    let called = 0
    const counting = async (d: Uint8Array): Promise<Uint8Array> => { called++; return sha256(d) }
    expect((await errorOf(() => verifyChunkAsync(counting, hash, 1001, data))).name).toBe('ChunkHashMismatchError')
    expect((await errorOf(() => verifyChunkAsync(counting, sha256(data.subarray(0, 10)), 10, data))).name).toBe('ChunkHashMismatchError')
    expect(called).toBe(0)
  })
})
