import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bytesOf, errorOf, keys, sha256 } from '../helpers.js'
import { signRelease } from '../../../src/manifest/signed.js'
import {
  C, CONFIG, FILES, MODEL, chunkOf, exists, held, listFiles, read, releaseOf, useDownloadFixture
} from './download-fixture.js'

const { dirs, downloads } = useDownloadFixture()

describe('Download: writing chunks', () => {
  it('moves a file to its final path only when all its chunks are written, with the right bytes', async () => {
    const out = await dirs.make()
    const completed: string[] = []
    const d = await downloads.open(out, await releaseOf(), { onFileComplete: (f: { path: string }) => completed.push(f.path) })
    // The empty file needs no chunk: it is in place at once.
    expect(await exists(join(out, 'empty.txt'))).toBe(true)
    for (const g of MODEL.slice(0, 3)) {
      expect(await d.writeChunk(g, chunkOf(g))).toBe(true)
      expect(await exists(join(out, 'weights', 'model.bin'))).toBe(false)
    }
    expect(await d.writeChunk(MODEL[3], chunkOf(MODEL[3]))).toBe(true)
    expect(Buffer.from(await read(out, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
    expect(await exists(join(out, 'config.json'))).toBe(false)
    expect(d.complete).toBe(false)
    expect(await d.writeChunk(CONFIG, chunkOf(CONFIG))).toBe(true)
    expect(Buffer.from(await read(out, 'config.json'))).toEqual(Buffer.from(FILES[0].bytes))
    expect(d.complete).toBe(true)
    expect(d.have().complete).toBe(true)
    expect(completed).toEqual(['empty.txt', 'weights/model.bin', 'config.json'])
  })

  it('removes the state folder on close once complete, leaving exactly the release', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    for (const g of [CONFIG, ...MODEL]) await d.writeChunk(g, chunkOf(g))
    await d.close()
    expect(await exists(join(out, '.p2pweights'))).toBe(false)
    expect(await listFiles(out)).toEqual(['config.json', 'empty.txt', 'weights/model.bin'])
    for (const f of FILES) expect(sha256(await read(out, f.path))).toEqual(sha256(f.bytes))
  })

  it('keeps the state folder but drops the lock on close when incomplete', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    await d.writeChunk(MODEL[0], chunkOf(MODEL[0]))
    await d.close()
    expect(await exists(join(out, '.p2pweights', 'release'))).toBe(true)
    expect(await exists(join(out, '.p2pweights', 'have'))).toBe(true)
    expect(await exists(join(out, '.p2pweights', 'lock'))).toBe(false)
  })

  it('refuses a wrong chunk, writes nothing for it and does not count it', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    const wrong = new Uint8Array(chunkOf(CONFIG))
    wrong[50] ^= 0xff
    expect((await errorOf(() => d.writeChunk(CONFIG, wrong))).name).toBe('ChunkHashMismatchError')
    // A chunk of another file, or of the wrong length, is wrong too.
    expect((await errorOf(() => d.writeChunk(CONFIG, chunkOf(MODEL[3])))).name).toBe('ChunkHashMismatchError')
    expect((await errorOf(() => d.writeChunk(MODEL[3], new Uint8Array(C)))).name).toBe('ChunkHashMismatchError')
    expect(held(d)).toEqual([])
    expect(await exists(join(out, 'config.json'))).toBe(false)
    expect(await listFiles(join(out, '.p2pweights'))).toEqual(['lock', 'release'])
    // The right bytes are still accepted afterwards.
    expect(await d.writeChunk(CONFIG, chunkOf(CONFIG))).toBe(true)
    expect(Buffer.from(await read(out, 'config.json'))).toEqual(Buffer.from(FILES[0].bytes))
  })

  it('returns false for a chunk it already holds, also when two copies race', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    expect(await d.writeChunk(MODEL[1], chunkOf(MODEL[1]))).toBe(true)
    expect(await d.writeChunk(MODEL[1], chunkOf(MODEL[1]))).toBe(false)
    const results = await Promise.all([d.writeChunk(MODEL[2], chunkOf(MODEL[2])), d.writeChunk(MODEL[2], chunkOf(MODEL[2]))])
    expect(results.sort()).toEqual([false, true])
    expect(d.verifiedBytes).toBe(2 * C)
  })

  it('finalizes a file once when all its chunks arrive at the same time', async () => {
    const out = await dirs.make()
    let events = 0
    const d = await downloads.open(out, await releaseOf(), { onFileComplete: () => { events++ } })
    expect(events).toBe(1) // the empty file
    await Promise.all([...MODEL].reverse().map(async g => await d.writeChunk(g, chunkOf(g))))
    expect(events).toBe(2)
    expect(Buffer.from(await read(out, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
  })

  it('serves held chunks back, from the .part and from the final file', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    await d.writeChunk(MODEL[1], chunkOf(MODEL[1]))
    expect(Buffer.from(await d.readChunk(2, 1))).toEqual(Buffer.from(chunkOf(MODEL[1])))
    expect((await errorOf(() => d.readChunk(2, 0))).name).toBe('ChunkNotHeldError')
    for (const g of [MODEL[0], MODEL[2], MODEL[3]]) await d.writeChunk(g, chunkOf(g))
    const into = Buffer.alloc(C)
    expect(Buffer.from(await d.readChunk(2, 3, into))).toEqual(Buffer.from(chunkOf(MODEL[3])))
  })
})

describe('Download: existing files and conflicts', () => {
  it('counts a correct file already at its final path as fetched', async () => {
    const out = await dirs.make()
    await mkdir(join(out, 'weights'))
    await writeFile(join(out, 'weights', 'model.bin'), FILES[2].bytes)
    const d = await downloads.open(out, await releaseOf())
    expect(held(d)).toEqual(MODEL)
    expect(Buffer.from(await d.readChunk(2, 2))).toEqual(Buffer.from(chunkOf(MODEL[2])))
    await d.writeChunk(CONFIG, chunkOf(CONFIG))
    expect(d.complete).toBe(true)
  })

  it('with intoExisting, does not count a wrong file of the right size, and replaces it with the right bytes', async () => {
    const out = await dirs.make()
    await mkdir(join(out, 'weights'))
    const wrong = new Uint8Array(FILES[2].bytes)
    wrong[wrong.length - 1] ^= 1 // only the last chunk differs
    await writeFile(join(out, 'weights', 'model.bin'), wrong)
    await writeFile(join(out, 'config.json'), bytesOf(99, 1)) // one byte short
    const d = await downloads.open(out, await releaseOf(), { intoExisting: true })
    expect(held(d)).toEqual([])
    for (const g of [CONFIG, ...MODEL]) await d.writeChunk(g, chunkOf(g))
    expect(Buffer.from(await read(out, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
    expect(Buffer.from(await read(out, 'config.json'))).toEqual(Buffer.from(FILES[0].bytes))
  })

  it('refuses to open a folder that holds a partial download of another release', async () => {
    const out = await dirs.make()
    const first = await downloads.open(out, await releaseOf())
    await first.writeChunk(MODEL[0], chunkOf(MODEL[0]))
    await first.flush()
    const other = await releaseOf([{ path: 'other.bin', bytes: bytesOf(10, 9) }])
    expect((await errorOf(() => downloads.open(out, other))).name).toBe('DownloadConflictError')
    await first.close()
    // Still refused with nobody else writing: the folder belongs to the first release.
    expect((await errorOf(() => downloads.open(out, other))).name).toBe('DownloadConflictError')
    // The same release by another key is another release, too.
    const [, otherKey] = await keys()
    const resigned = await signRelease((await releaseOf()).manifest, otherKey)
    expect((await errorOf(() => downloads.open(out, resigned))).name).toBe('DownloadConflictError')
  })

  it('refuses a release larger than the free disk space', async () => {
    const out = await dirs.make()
    const size = 2 ** 40 // 1 TiB in 16 MiB chunks
    const chunkSize = 16 * 1024 * 1024
    const [key] = await keys()
    const release = await signRelease({
      version: 1,
      name: 'huge',
      chunkSize,
      files: [{ path: 'huge.bin', size, sha256: new Uint8Array(32), chunks: new Uint8Array((size / chunkSize) * 32) }]
    }, key)
    expect((await errorOf(() => downloads.open(out, release))).name).toBe('DiskSpaceError')
    expect(await exists(join(out, 'huge.bin'))).toBe(false)
    expect(await exists(join(out, '.p2pweights', '0.part'))).toBe(false)
  })
})

describe('Download: paths that leave the output folder', () => {
  async function outWithEscape (): Promise<{ out: string, outside: string }> {
    const base = await dirs.make()
    const out = join(base, 'out')
    const outside = join(base, 'outside')
    await mkdir(out)
    await mkdir(outside)
    await symlink(outside, join(out, 'sub'))
    return { out, outside }
  }

  it('refuses to write a file through a symlinked parent folder', async () => {
    const { out, outside } = await outWithEscape()
    const bytes = bytesOf(100, 5)
    const d = await downloads.open(out, await releaseOf([{ path: 'sub/x.bin', bytes }]), { intoExisting: true })
    expect((await errorOf(() => d.writeChunk(0, bytes))).name).toBe('UnsafePathError')
    expect(await listFiles(outside)).toEqual([])
  })

  it('refuses an empty file through a symlinked parent folder when it opens', async () => {
    const { out, outside } = await outWithEscape()
    const release = await releaseOf([{ path: 'sub/empty', bytes: new Uint8Array(0) }])
    expect((await errorOf(() => downloads.open(out, release, { intoExisting: true }))).name).toBe('UnsafePathError')
    expect(await listFiles(outside)).toEqual([])
    // Without intoExisting the folder is refused before anything is written: it holds a link.
    expect((await errorOf(() => downloads.open(out, release))).name).toBe('DownloadConflictError')
  })

  it('creates nothing outside the output folder for a deeper path through the symlink', async () => {
    const { out, outside } = await outWithEscape()
    const bytes = bytesOf(100, 5)
    const d = await downloads.open(out, await releaseOf([{ path: 'sub/deeper/x.bin', bytes }]), { intoExisting: true })
    expect((await errorOf(() => d.writeChunk(0, bytes))).name).toBe('UnsafePathError')
    expect(await exists(join(outside, 'deeper'))).toBe(false)
  })
})
