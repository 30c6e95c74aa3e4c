import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HashCache } from '../../../src/store/hash-cache.js'
import type { FileIdentity } from '../../../src/manifest/build.js'
import { TempDirs, random } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

const identity: FileIdentity = { path: '/models/m/model.bin', size: 123_456, mtimeMs: 1_700_000_000_123.456, ino: 987_654, chunkSize: 4 << 20 }
const hashes = { sha256: random(32), chunks: random(64) }
const hex = (b: Uint8Array | undefined): string | undefined => (b == null ? undefined : Buffer.from(b).toString('hex'))

async function filledCache (): Promise<{ cache: HashCache, dir: string }> {
  const dir = await dirs.make()
  const cache = new HashCache(dir)
  await cache.set(identity, hashes)
  return { cache, dir }
}

describe('HashCache', () => {
  it('hits on an identical identity, also from a new instance', async () => {
    const { cache, dir } = await filledCache()
    const hit = await cache.get({ ...identity })
    expect(hex(hit?.sha256)).toBe(hex(hashes.sha256))
    expect(hex(hit?.chunks)).toBe(hex(hashes.chunks))
    expect(hex((await new HashCache(dir).get(identity))?.sha256)).toBe(hex(hashes.sha256))
  })

  it.each([
    ['size', { size: identity.size + 1 }],
    ['mtime', { mtimeMs: identity.mtimeMs + 0.001 }],
    ['inode', { ino: identity.ino + 1 }],
    ['chunk size', { chunkSize: identity.chunkSize * 2 }],
    ['path', { path: '/models/m/other.bin' }]
  ])('misses when the %s differs', async (_what, change) => {
    const { cache } = await filledCache()
    expect(await cache.get({ ...identity, ...change })).toBeUndefined()
  })

  it('misses on an empty folder', async () => {
    expect(await new HashCache(await dirs.make()).get(identity)).toBeUndefined()
  })

  it('misses when the entry is damaged', async () => {
    const { cache, dir } = await filledCache()
    const [entry] = await readdir(dir)
    await writeFile(join(dir, entry), Uint8Array.of(0xa5, 0x01, 0x02))
    expect(await cache.get(identity)).toBeUndefined()
    await writeFile(join(dir, entry), new Uint8Array(0))
    expect(await cache.get(identity)).toBeUndefined()
  })

  it('overwrites an entry for the same path', async () => {
    const { cache } = await filledCache()
    const changed = { ...identity, size: 1 }
    const other = { sha256: random(32), chunks: random(32) }
    await cache.set(changed, other)
    expect(await cache.get(identity)).toBeUndefined()
    expect(hex((await cache.get(changed))?.sha256)).toBe(hex(other.sha256))
  })
})
