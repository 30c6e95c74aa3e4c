import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Download } from '../../../src/store/download.js'
import { PiecePicker } from '../../../src/swarm/policy/piece-picker.js'
import { sha256 } from '../helpers.js'
import { CONFIG, FILES, MODEL, chunkOf, exists, listFiles, read, releaseOf, useDownloadFixture } from './download-fixture.js'

const { dirs } = useDownloadFixture()

describe('Download of some files only (--include/--exclude)', () => {
  it('is complete when the wanted files are in place, and creates no other file', async () => {
    const out = await dirs.make()
    const release = await releaseOf()
    const d = await Download.open(out, release, { files: new Set([0]) }) // config.json only
    try {
      expect(d.wanted?.count).toBe(1)
      expect(d.wanted?.has(CONFIG)).toBe(true)
      expect(MODEL.some(g => d.wanted?.has(g))).toBe(false)
      expect(await exists(join(out, 'empty.txt'))).toBe(false) // not wanted: not created either
      expect(d.complete).toBe(false)
      await d.writeChunk(CONFIG, chunkOf(CONFIG))
      expect(d.complete).toBe(true)
      expect(d.verifiedBytes).toBe(FILES[0].bytes.length)
    } finally {
      await d.close()
    }
    expect(await listFiles(out)).toEqual(['config.json'])
    expect(sha256(await read(out, 'config.json'))).toEqual(sha256(FILES[0].bytes))
  })

  it('still verifies every chunk: a wrong chunk of a wanted file is refused', async () => {
    const out = await dirs.make()
    const d = await Download.open(out, await releaseOf(), { files: new Set([2]) })
    try {
      const wrong = chunkOf(MODEL[0]).slice()
      wrong[0] ^= 1
      await expect(d.writeChunk(MODEL[0], wrong)).rejects.toMatchObject({ name: 'ChunkHashMismatchError' })
      expect(d.have().has(MODEL[0])).toBe(false)
    } finally {
      await d.close()
    }
  })

  it('the piece picker never hands out a chunk that is not wanted', async () => {
    const out = await dirs.make()
    const d = await Download.open(out, await releaseOf(), { files: new Set([2]) })
    try {
      const s = new PiecePicker(d.have(), { wanted: d.wanted })
      const peer = { has: () => true, inFlight: new Set<number>() }
      const handed: number[] = []
      for (let i = 0; i < 10; i++) {
        const c = s.next(peer)
        if (c === undefined) break
        handed.push(c)
        peer.inFlight.add(c)
      }
      expect(handed.sort()).toEqual(MODEL)
    } finally {
      await d.close()
    }
  })
})
