import * as dagCbor from '@ipld/dag-cbor'
import { readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { COARSE_RACY_MS, HashCache, RACY_MS, isRacy } from '../../../src/store/hash-cache.js'
import type { FileIdentity } from '../../../src/manifest/build.js'
import { buildManifest } from '../../../src/manifest/build.js'
import { SMALL_CHUNK, TempDirs, bytesOf, random, sha256 } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

// Stat'ed (and hashed) an hour after its last change: not racy.
const identity: FileIdentity = {
  path: '/models/m/model.bin', size: 123_456, mtimeMs: 1_700_000_000_123.456, ctimeMs: 1_700_000_000_523.25, dev: 2049,
  ino: 987_654, chunkSize: 4 << 20, seenAt: 1_700_003_600_000
}
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
    ['ctime (rewritten in place, mtime put back)', { ctimeMs: identity.ctimeMs + 0.001 }],
    ['device (same inode number on another file system)', { dev: identity.dev + 1 }],
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

  it('does not use an entry whose timestamps were within RACY_MS of when it was taken (racy rule)', async () => {
    const cache = new HashCache(await dirs.make())
    // Hashed one second after it was written: a rewrite in the same clock tick could keep both times.
    const racy = { ...identity, seenAt: identity.ctimeMs + 1000 }
    await cache.set(racy, hashes)
    expect(await cache.get(racy)).toBeUndefined()
    // Hashed again later, the new entry is used.
    const later = { ...identity, seenAt: identity.ctimeMs + RACY_MS + 1 }
    await cache.set(later, hashes)
    expect(hex((await cache.get(later))?.sha256)).toBe(hex(hashes.sha256))
  })

  it('widens the racy margin to COARSE_RACY_MS when mtime and ctime are whole seconds (SMB, NFS, exFAT)', async () => {
    const cache = new HashCache(await dirs.make())
    const coarse = { ...identity, mtimeMs: 1_700_000_000_000, ctimeMs: 1_700_000_002_000 }
    const tenSecondsLater = { ...coarse, seenAt: coarse.ctimeMs + 10_000 }
    expect(isRacy(tenSecondsLater)).toBe(true)
    await cache.set(tenSecondsLater, hashes)
    expect(await cache.get(tenSecondsLater)).toBeUndefined()
    const muchLater = { ...coarse, seenAt: coarse.ctimeMs + COARSE_RACY_MS + 1 }
    await cache.set(muchLater, hashes)
    expect(hex((await cache.get(muchLater))?.sha256)).toBe(hex(hashes.sha256))
    // Fine timestamps ten seconds old are not racy.
    expect(isRacy({ ...identity, seenAt: identity.ctimeMs + 10_000 })).toBe(false)
  })

  it('misses an entry written by an older version without ctime, device or time of hashing', async () => {
    const { cache, dir } = await filledCache()
    const [entry] = await readdir(dir)
    const { ctimeMs: _c, dev: _d, seenAt: _s, ...old } = identity
    await writeFile(join(dir, entry), dagCbor.encode({ ...old, ...hashes }))
    expect(await cache.get(identity)).toBeUndefined()
  })

  it('with buildManifest: a just-written file is hashed again until its times are RACY_MS old; an in-place rewrite with the mtime put back misses', async () => {
    const root = await dirs.make()
    const path = join(root, 'w.bin')
    await writeFile(path, bytesOf(5000, 1))
    const cache = new HashCache(await dirs.make())
    const build = async (): Promise<number> => (await buildManifest(root, { chunkSize: SMALL_CHUNK, cache })).cached
    expect(await build()).toBe(0)
    expect(await build()).toBe(0) // racy: written moments ago
    await new Promise(resolve => setTimeout(resolve, RACY_MS + 200))
    expect(await build()).toBe(0) // the entries so far were racy; this one is not
    expect(await build()).toBe(1)
    // Same size, mtime put back: only ctime tells. The new bytes must be hashed, not the old signed.
    const before = await stat(path)
    await writeFile(path, bytesOf(5000, 2))
    await utimes(path, before.atime, before.mtime)
    const { manifest, cached } = await buildManifest(root, { chunkSize: SMALL_CHUNK, cache })
    expect(cached).toBe(0)
    expect(hex(manifest.files[0].sha256)).toBe(hex(sha256(bytesOf(5000, 2))))
  }, 15_000)
})
