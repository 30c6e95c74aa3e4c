/**
 * A hostile local process that can write into a download's output folder plants files in its
 * `.p2pweights/` state folder: symlinked or hard-linked .part files, a forged `have`, symlinks
 * as `release`, `have` or the state folder itself. None of it may make us write outside the
 * output folder or count an unverified byte as fetched. Also: an existing folder of another
 * release is not written into.
 */
import { chmod, cp, link, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bytesOf, errorOf, random } from '../helpers.js'
import { DataDir } from '../../../src/store/data-dir.js'
import {
  C, CONFIG, FILES, MODEL, chunkOf, exists, held, listFiles, read, releaseOf, useDownloadFixture
} from './download-fixture.js'

const { dirs, downloads } = useDownloadFixture()
const KEY = random(32)

/** An incomplete download of the fixture release in `<base>/out` holding `chunks`, closed. */
async function partial (chunks: number[], stateKey?: Uint8Array): Promise<{ base: string, out: string }> {
  const base = await dirs.make()
  const out = join(base, 'out')
  const d = await downloads.open(out, await releaseOf(), { stateKey })
  for (const g of chunks) await d.writeChunk(g, chunkOf(g))
  await d.flush()
  await d.close()
  return { base, out }
}

async function fetchAll (out: string, stateKey?: Uint8Array): Promise<void> {
  const d = await downloads.open(out, await releaseOf(), { stateKey })
  for (const g of [CONFIG, ...MODEL]) await d.writeChunk(g, chunkOf(g))
  expect(d.complete).toBe(true)
  await d.close()
}

describe('Download: a planted .part is never written through', () => {
  it.each(['symlink', 'hard link'])('replaces a %s planted as the .part of an unfinished file', async (kind) => {
    const { base, out } = await partial([CONFIG])
    const outside = join(base, 'outside.txt')
    const precious = bytesOf(3 * C + 5, 77) // same size as the file, so a truncate would not show
    await writeFile(outside, precious)
    const part = join(out, '.p2pweights', '2.part')
    await rm(part, { force: true })
    if (kind === 'symlink') await symlink(outside, part)
    else await link(outside, part)
    await fetchAll(out, KEY)
    expect(Buffer.from(await readFile(outside))).toEqual(Buffer.from(precious))
    expect((await lstat(join(out, 'weights', 'model.bin'))).isFile()).toBe(true)
    expect(Buffer.from(await read(out, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
    expect((await stat(outside)).nlink).toBe(1)
  })

  it('does not claim chunks through a symlinked .part that points at a file holding the right bytes', async () => {
    const { base, out } = await partial([CONFIG, MODEL[0]], KEY)
    const elsewhere = join(base, 'elsewhere.bin')
    await writeFile(elsewhere, FILES[2].bytes) // every chunk would verify if it were read
    await rm(join(out, '.p2pweights', '2.part'))
    await symlink(elsewhere, join(out, '.p2pweights', '2.part'))
    const d = await downloads.open(out, await releaseOf(), { stateKey: KEY })
    expect(held(d)).toEqual([CONFIG])
    expect(await exists(join(out, '.p2pweights', '2.part'))).toBe(false)
  })

  it('refuses a state folder that is a symlink, writing nothing where it points', async () => {
    const base = await dirs.make()
    const out = join(base, 'out')
    const elsewhere = join(base, 'elsewhere')
    await mkdir(out)
    await mkdir(elsewhere)
    await symlink(elsewhere, join(out, '.p2pweights'))
    expect((await errorOf(async () => await downloads.open(out, await releaseOf(), { intoExisting: true }))).name).toBe('UnsafePathError')
    expect(await listFiles(elsewhere)).toEqual([])
  })

  it('refuses a symlink planted as the saved release, and replaces one planted as have', async () => {
    const { base, out } = await partial([CONFIG], KEY)
    const outside = join(base, 'outside')
    await writeFile(outside, 'precious')
    await rm(join(out, '.p2pweights', 'have'))
    await symlink(outside, join(out, '.p2pweights', 'have'))
    const d = await downloads.open(out, await releaseOf(), { stateKey: KEY })
    expect(held(d)).toEqual([CONFIG]) // re-verified by hashing, not read through the link
    await d.writeChunk(MODEL[0], chunkOf(MODEL[0]))
    await d.flush()
    await d.close()
    expect(await readFile(outside, 'utf8')).toBe('precious')
    expect((await lstat(join(out, '.p2pweights', 'have'))).isFile()).toBe(true)

    const release = join(out, '.p2pweights', 'release')
    await cp(release, join(base, 'release-copy'))
    await rm(release)
    await symlink(join(base, 'release-copy'), release)
    expect((await errorOf(async () => await downloads.open(out, await releaseOf(), { stateKey: KEY }))).name).toBe('UnsafePathError')
  })
})

describe('Download: have is authenticated', () => {
  it('trusts a have it sealed itself (no re-hash): a chunk damaged after the flush still counts', async () => {
    const { out } = await partial([MODEL[0], MODEL[1]], KEY)
    // Proof that the bits were taken without hashing: damage a flushed chunk on disk.
    const part = join(out, '.p2pweights', '2.part')
    const bytes = await readFile(part)
    bytes[0] ^= 1
    await writeFile(part, bytes)
    expect(held(await downloads.open(out, await releaseOf(), { stateKey: KEY }))).toEqual([MODEL[0], MODEL[1]])
  })

  it.each([
    ['no key at all', undefined],
    ['another key', random(32)]
  ])('re-hashes every chunk when the have cannot be proven (%s)', async (_what, openKey) => {
    const { out } = await partial([MODEL[0], MODEL[1]], KEY)
    const part = join(out, '.p2pweights', '2.part')
    const bytes = await readFile(part)
    bytes[0] ^= 1 // MODEL[0] is now damaged on disk
    await writeFile(part, bytes)
    expect(held(await downloads.open(out, await releaseOf(), { stateKey: openKey }))).toEqual([MODEL[1]])
  })

  it('does not believe a valid have copied into another folder (the MAC covers the folder)', async () => {
    const { base, out } = await partial([MODEL[0], MODEL[1]], KEY)
    const copy = join(base, 'copy')
    await cp(out, copy, { recursive: true })
    const part = join(copy, '.p2pweights', '2.part')
    const bytes = await readFile(part)
    bytes[0] ^= 1
    await writeFile(part, bytes)
    expect(held(await downloads.open(copy, await releaseOf(), { stateKey: KEY }))).toEqual([MODEL[1]])
  })

  it.each([
    ['a bare bitfield', Uint8Array.of(0xff)],
    ['a bitfield with a made-up MAC', Buffer.concat([Uint8Array.of(0xff), random(32)])]
  ])('a forged have (%s) claiming every chunk over garbage .part files makes nothing count or complete', async (_what, forged) => {
    const { out } = await partial([], KEY)
    const state = join(out, '.p2pweights')
    await writeFile(join(state, 'have'), forged) // 5 chunks: one byte, every bit set
    await writeFile(join(state, '0.part'), bytesOf(100, 9))
    await writeFile(join(state, '2.part'), bytesOf(3 * C + 5, 9))
    const d = await downloads.open(out, await releaseOf(), { stateKey: KEY })
    expect(held(d)).toEqual([])
    expect(d.complete).toBe(false)
    await expect(d.readChunk(2, 0)).rejects.toThrow()
    await d.close()
    expect(await exists(join(out, 'weights', 'model.bin'))).toBe(false)
    expect(await exists(join(out, 'config.json'))).toBe(false)
  })
})

describe('Download: an existing folder of something else', () => {
  it('refuses a non-empty folder of another release, leaving it exactly as it was', async () => {
    const out = await dirs.make()
    await writeFile(join(out, 'README.md'), 'another model')
    await mkdir(join(out, 'weights'))
    await writeFile(join(out, 'weights', 'model.bin'), 'v1 weights')
    const err = await errorOf(async () => await downloads.open(out, await releaseOf()))
    expect(err.name).toBe('DownloadConflictError')
    expect(err.message).toContain('--into-existing')
    expect(await listFiles(out)).toEqual(['README.md', 'weights/model.bin'])
    expect(await readFile(join(out, 'weights', 'model.bin'), 'utf8')).toBe('v1 weights')
  })

  it('refuses a folder holding this release\'s names with other content, unless intoExisting', async () => {
    const out = await dirs.make()
    await writeFile(join(out, 'config.json'), bytesOf(100, 5)) // right name and size, wrong bytes
    expect((await errorOf(async () => await downloads.open(out, await releaseOf()))).name).toBe('DownloadConflictError')
    expect(Buffer.from(await readFile(join(out, 'config.json')))).toEqual(Buffer.from(bytesOf(100, 5)))
    expect(await exists(join(out, '.p2pweights'))).toBe(false)
    const d = await downloads.open(out, await releaseOf(), { intoExisting: true })
    expect(held(d)).toEqual([])
  })

  it('adopts a folder that holds only this release\'s files, verified (a finished earlier fetch)', async () => {
    const out = await dirs.make()
    await fetchAll(out, KEY)
    const d = await downloads.open(out, await releaseOf(), { stateKey: KEY })
    expect(d.complete).toBe(true)
    expect(held(d)).toEqual([CONFIG, ...MODEL])
  })

  it('writes into an existing empty folder', async () => {
    const out = await dirs.make()
    await fetchAll(out)
    expect(await listFiles(out)).toEqual(['config.json', 'empty.txt', 'weights/model.bin'])
  })
})

describe('DataDir.stateKey', () => {
  it('is 32 bytes, made once with mode 0600, the same on every call; refused when others may read it', async () => {
    const data = new DataDir(await dirs.make())
    await data.init()
    const first = await data.stateKey()
    expect(first.length).toBe(32)
    expect((await stat(data.stateKeyPath)).mode & 0o777).toBe(0o600)
    expect(Buffer.from(await data.stateKey())).toEqual(Buffer.from(first))
    await chmod(data.stateKeyPath, 0o644)
    const err = await errorOf(() => data.stateKey())
    expect(err.name).toBe('KeyFileError')
    expect(err.message).toContain(`chmod 600 ${data.stateKeyPath}`)
  })
})
