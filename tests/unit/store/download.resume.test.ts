/**
 * Crash safety of Download. A crash is simulated by copying the output folder while a Download is
 * open and unflushed (what a killed process leaves on disk, page cache included), then opening
 * the copy. The original is closed only at cleanup, after the copy was taken.
 *
 * The copy's lock names this pid but not a folder this process holds, so it opens; a lock naming
 * another live process is a conflict, a dead one is stale.
 */
import { spawnSync } from 'node:child_process'
import { cp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { errorOf } from '../helpers.js'
import type { Download } from '../../../src/store/download.js'
import {
  C, CONFIG, FILES, MODEL, chunkOf, exists, held, listFiles, read, releaseOf, useDownloadFixture
} from './download-fixture.js'

const { dirs, downloads } = useDownloadFixture()

/** What a crash at this moment leaves: a copy of the output folder, the Download left open. */
async function crash (out: string): Promise<string> {
  const copy = join(await dirs.make(), 'out')
  await cp(out, copy, { recursive: true })
  return copy
}

async function writeAll (d: Download, chunks: number[]): Promise<void> {
  for (const g of chunks) expect(await d.writeChunk(g, chunkOf(g))).toBe(true)
}

describe('Download: resume after a crash', () => {
  it('still holds the flushed chunks when the folder is opened again after a crash', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const crashed = await downloads.open(out, release)
    await writeAll(crashed, [MODEL[0], MODEL[2]])
    await crashed.flush()
    const resumed = await downloads.open(await crash(out), release)
    expect(held(resumed)).toEqual([MODEL[0], MODEL[2]])
    expect(Buffer.from(await resumed.readChunk(2, 2))).toEqual(Buffer.from(chunkOf(MODEL[2])))
    expect(await resumed.writeChunk(MODEL[0], chunkOf(MODEL[0]))).toBe(false)
  })

  it('claims flushed chunks, and unflushed ones only after hashing them again on disk', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0], MODEL[1]])
    await d.flush()
    await writeAll(d, [MODEL[2]]) // in the .part, not in the saved bitfield
    const copy = await crash(out)
    const resumed = await downloads.open(copy, release)
    expect(held(resumed)).toEqual([MODEL[0], MODEL[1], MODEL[2]])
    expect(resumed.verifiedBytes).toBe(3 * C)
    // The held chunks read back right, and the rest can be fetched to completion.
    expect(Buffer.from(await resumed.readChunk(2, 2))).toEqual(Buffer.from(chunkOf(MODEL[2])))
    await writeAll(resumed, [MODEL[3], CONFIG])
    expect(resumed.complete).toBe(true)
    await resumed.close()
    expect(await listFiles(copy)).toEqual(['config.json', 'empty.txt', 'weights/model.bin'])
    for (const f of FILES) expect(Buffer.from(await read(copy, f.path))).toEqual(Buffer.from(f.bytes))
  })

  it('does not claim an unflushed chunk whose bytes on disk are damaged, nor a hole', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0]])
    await d.flush()
    await writeAll(d, [MODEL[1], MODEL[3]]) // MODEL[2] stays a hole in the sparse .part
    const copy = await crash(out)
    const part = await open(join(copy, '.p2pweights', '2.part'), 'r+')
    await part.write(Uint8Array.of(chunkOf(MODEL[1])[7] ^ 1), 0, 1, C + 7) // one flipped bit in chunk 1
    await part.close()
    const resumed = await downloads.open(copy, release)
    expect(held(resumed)).toEqual([MODEL[0], MODEL[3]])
    expect(await exists(join(copy, 'weights', 'model.bin'))).toBe(false)
    // Fetching the missing chunks again completes the file with the right bytes.
    await writeAll(resumed, [MODEL[1], MODEL[2]])
    expect(Buffer.from(await read(copy, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
  })

  it('claims a file finished after the last flush, because it is verified on disk', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0]])
    await d.flush()
    await writeAll(d, [CONFIG]) // config.json is complete and renamed, not flushed
    const resumed = await downloads.open(await crash(out), release)
    expect(held(resumed)).toEqual([CONFIG, MODEL[0]])
  })

  it('does not claim flushed chunks whose .part file is gone', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0], MODEL[1]])
    await d.flush()
    const copy = await crash(out)
    await rm(join(copy, '.p2pweights', '2.part'))
    const resumed = await downloads.open(copy, release)
    expect(held(resumed)).toEqual([])
  })

  it('finishes a file whose last chunk was saved but not yet renamed', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0], MODEL[1], MODEL[2]])
    await d.flush()
    const copy = await crash(out)
    // Put the state a crash between the last write and the rename leaves: the .part holds every
    // chunk and the bitfield claims them all (global chunks 1..4: bits 1-4, MSB first).
    const part = await open(join(copy, '.p2pweights', '2.part'), 'r+')
    await part.write(chunkOf(MODEL[3]), 0, chunkOf(MODEL[3]).length, 3 * C)
    await part.close()
    await writeFile(join(copy, '.p2pweights', 'have'), Uint8Array.of(0b0111_1000))
    const resumed = await downloads.open(copy, release)
    expect(held(resumed)).toEqual(MODEL)
    expect(Buffer.from(await read(copy, 'weights/model.bin'))).toEqual(Buffer.from(FILES[2].bytes))
    expect(await exists(join(copy, '.p2pweights', '2.part'))).toBe(false)
  })

  it('ignores a saved bitfield of the wrong length', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0]])
    await d.flush()
    const copy = await crash(out)
    await writeFile(join(copy, '.p2pweights', 'have'), Uint8Array.of(0xff, 0xff))
    // Taken at its word, it would claim every chunk; ignored, only what re-verifies on disk counts.
    expect(held(await downloads.open(copy, release))).toEqual([MODEL[0]])
  })

  it('saves the bitfield only on flush, atomically', async () => {
    const out = await dirs.make()
    const d = await downloads.open(out, await releaseOf())
    await writeAll(d, [MODEL[3]])
    expect(await exists(join(out, '.p2pweights', 'have'))).toBe(false)
    await d.flush()
    expect([...await readFile(join(out, '.p2pweights', 'have'))]).toEqual([0b0000_1000])
    expect((await listFiles(join(out, '.p2pweights'))).filter(f => f.includes('.tmp'))).toEqual([])
  })
})

describe('Download: the lock', () => {
  async function partial (): Promise<{ out: string, release: Awaited<ReturnType<typeof releaseOf>> }> {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await downloads.open(out, release)
    await writeAll(d, [MODEL[0]])
    await d.close()
    return { out, release }
  }

  it('refuses a folder locked by another live process', async () => {
    const { out, release } = await partial()
    await writeFile(join(out, '.p2pweights', 'lock'), String(process.ppid))
    expect((await errorOf(() => downloads.open(out, release))).name).toBe('DownloadConflictError')
    expect(await readFile(join(out, '.p2pweights', 'lock'), 'utf8')).toBe(String(process.ppid))
  })

  it('takes over a lock left by a process that is gone, or an unreadable one', async () => {
    const { out, release } = await partial()
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number
    await writeFile(join(out, '.p2pweights', 'lock'), String(dead))
    const d = await downloads.open(out, release)
    expect(held(d)).toEqual([MODEL[0]])
    expect(await readFile(join(out, '.p2pweights', 'lock'), 'utf8')).toBe(String(process.pid))
    await d.close()
    await writeFile(join(out, '.p2pweights', 'lock'), 'garbage')
    expect(held(await downloads.open(out, release))).toEqual([MODEL[0]])
  })

  it('refuses a second open of a folder this process is already writing', async () => {
    const { out, release } = await partial()
    await downloads.open(out, release)
    expect((await errorOf(() => downloads.open(out, release))).name).toBe('DownloadConflictError')
  })

  it('leaves no lock behind when open fails', async () => {
    const { out } = await partial()
    const other = await releaseOf([{ path: 'other.bin', bytes: new Uint8Array(10) }])
    expect((await errorOf(() => downloads.open(out, other))).name).toBe('DownloadConflictError')
    expect(await exists(join(out, '.p2pweights', 'lock'))).toBe(false)
  })
})
