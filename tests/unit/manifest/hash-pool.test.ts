import { rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HashPool } from '../../../src/manifest/hash-pool.js'
import { SMALL_CHUNK, TempDirs, bytesOf, chunkTable, errorOf, sha256 } from '../helpers.js'

const dirs = new TempDirs()
let pool: HashPool | undefined
afterEach(async () => {
  await pool?.close()
  pool = undefined
  await dirs.cleanup()
})

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('HashPool', () => {
  it('hashes a multi-chunk file whole and per chunk', async () => {
    pool = new HashPool(2)
    const dir = await dirs.make()
    const bytes = bytesOf(5 * SMALL_CHUNK + 1234, 3)
    const path = join(dir, 'f.bin')
    await writeFile(path, bytes)
    let progress = 0
    const result = await pool.hashFile(path, bytes.length, SMALL_CHUNK, n => { progress += n })
    expect(hex(result.sha256)).toBe(hex(sha256(bytes)))
    expect(result.chunks.length).toBe(6 * 32)
    expect(hex(result.chunks)).toBe(hex(chunkTable(bytes, SMALL_CHUNK)))
    expect(progress).toBe(bytes.length)
  })

  it('hashes an empty file', async () => {
    pool = new HashPool(2)
    const path = join(await dirs.make(), 'empty')
    await writeFile(path, new Uint8Array(0))
    const result = await pool.hashFile(path, 0, SMALL_CHUNK)
    expect(hex(result.sha256)).toBe(hex(sha256(new Uint8Array(0))))
    expect(result.chunks.length).toBe(0)
  })

  it('fails when the file is not the size it was said to be, or is missing', async () => {
    pool = new HashPool(2)
    const dir = await dirs.make()
    const path = join(dir, 'f.bin')
    await writeFile(path, bytesOf(100))
    await expect(pool.hashFile(path, 101, SMALL_CHUNK)).rejects.toThrow()
    await expect(pool.hashFile(join(dir, 'missing'), 1, SMALL_CHUNK)).rejects.toThrow()
    // The pool still works after a failed job.
    expect(hex((await pool.hashFile(path, 100, SMALL_CHUNK)).sha256)).toBe(hex(sha256(bytesOf(100))))
  })

  it('refuses to hash a path that now leads to another file than the one checked (device, inode)', async () => {
    pool = new HashPool(2)
    const dir = await dirs.make()
    const checked = join(dir, 'checked.bin')
    const swapped = join(dir, 'key')
    await writeFile(checked, bytesOf(100, 1))
    await writeFile(swapped, bytesOf(100, 2))
    const identity = await stat(checked)
    // The link was re-pointed at another file of the same size after it was checked.
    const link = join(dir, 'link.bin')
    await symlink(swapped, link)
    const err = await errorOf(() => pool!.hashFile(link, 100, SMALL_CHUNK, undefined, identity))
    expect(err.message).toContain('replaced')
    await rm(link)
    await symlink(checked, link)
    expect(hex((await pool.hashFile(link, 100, SMALL_CHUNK, undefined, identity)).sha256)).toBe(hex(sha256(bytesOf(100, 1))))
  })

  it('rejects jobs after close instead of hanging', async () => {
    const closed = new HashPool(1)
    await closed.close()
    const err = await Promise.race([
      errorOf(() => closed.hashFile('/nonexistent', 8, SMALL_CHUNK)),
      new Promise<Error>(resolve => setTimeout(() => resolve(new Error('hung')), 300))
    ])
    expect(err.message).not.toBe('hung')
  })
})
