import { appendFile, mkdir, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { signRelease } from '../../../src/manifest/signed.js'
import { SeededFolder } from '../../../src/store/seeded-folder.js'
import { identityFrom, scanFolder, type ScannedFile } from '../../../src/manifest/build.js'
import { ReadPolicy } from '../../../src/manifest/read-policy.js'
import { SMALL_CHUNK, TempDirs, bytesOf, errorOf, keys, manifestOf, writeTree, type TestFile } from '../helpers.js'

const C = SMALL_CHUNK
const dirs = new TempDirs()
let seeded: SeededFolder | undefined
afterEach(async () => {
  await seeded?.close()
  seeded = undefined
  await dirs.cleanup()
})

const FILES: TestFile[] = [
  { path: 'a.bin', bytes: bytesOf(2 * C + 100, 1) },
  { path: 'sub/b.bin', bytes: bytesOf(C, 2) }
]

async function seed (): Promise<{ folder: string, seeded: SeededFolder }> {
  const folder = await dirs.make()
  await writeTree(folder, FILES)
  const scanned: ScannedFile[] = []
  for (const f of FILES) {
    const path = join(folder, ...f.path.split('/'))
    const s = await stat(path)
    scanned.push({ ...identityFrom(path, s, C, Date.now()), relative: f.path })
  }
  const [key] = await keys()
  const release = await signRelease(manifestOf(FILES, C), key)
  seeded = new SeededFolder(release, scanned, folder)
  return { folder, seeded }
}

describe('SeededFolder', () => {
  it('has every chunk', async () => {
    const { seeded } = await seed()
    expect(seeded.have().length).toBe(4)
    expect(seeded.have().complete).toBe(true)
  })

  it('reads every chunk with the right bytes, the last one short', async () => {
    const { seeded } = await seed()
    const a = FILES[0].bytes
    expect(Buffer.from(await seeded.readChunk(0, 0))).toEqual(Buffer.from(a.subarray(0, C)))
    expect(Buffer.from(await seeded.readChunk(0, 1))).toEqual(Buffer.from(a.subarray(C, 2 * C)))
    const last = await seeded.readChunk(0, 2)
    expect(last.length).toBe(100)
    expect(Buffer.from(last)).toEqual(Buffer.from(a.subarray(2 * C)))
    expect(Buffer.from(await seeded.readChunk(1, 0))).toEqual(Buffer.from(FILES[1].bytes))
  })

  it('reads into a caller\'s buffer and returns a view of it', async () => {
    const { seeded } = await seed()
    const buffer = Buffer.alloc(C)
    const out = await seeded.readChunk(0, 2, buffer)
    expect(out.buffer).toBe(buffer.buffer)
    expect(Buffer.from(out)).toEqual(Buffer.from(FILES[0].bytes.subarray(2 * C)))
  })

  it('stops serving a file whose size changed', async () => {
    const { folder, seeded } = await seed()
    await seeded.readChunk(0, 0) // the handle is open already
    await appendFile(join(folder, 'a.bin'), 'x')
    expect((await errorOf(() => seeded.readChunk(0, 0))).name).toBe('SourceUnavailableError')
    // The other file is still served.
    expect(Buffer.from(await seeded.readChunk(1, 0))).toEqual(Buffer.from(FILES[1].bytes))
  })

  it('stops serving a file whose mtime changed, even with the same size', async () => {
    const { folder, seeded } = await seed()
    await utimes(join(folder, 'sub', 'b.bin'), new Date(2000, 0, 1), new Date(2000, 0, 1))
    expect((await errorOf(() => seeded.readChunk(1, 0))).name).toBe('SourceUnavailableError')
  })

  it('reports a file that is gone as unavailable', async () => {
    const { folder, seeded } = await seed()
    await rm(join(folder, 'a.bin'))
    expect((await errorOf(() => seeded.readChunk(0, 1))).name).toBe('SourceUnavailableError')
  })

  it('never serves what a symlink swapped after seeding points at (a key outside the folder)', async () => {
    const base = await dirs.make()
    const folder = join(base, 'model')
    const secrets = join(base, 'data-dir')
    await mkdir(secrets)
    const secret = bytesOf(C, 99)
    await writeFile(join(secrets, 'publisher.key'), secret)
    // Seeded while the link pointed at an honest file inside the folder.
    await writeTree(folder, [{ path: '.store/a.bin', bytes: FILES[0].bytes }, { path: 'sub/b.bin', bytes: FILES[1].bytes }])
    await symlink(join(folder, '.store', 'a.bin'), join(folder, 'a.bin'))
    const files = await scanFolder(folder, C, await ReadPolicy.create(folder, { forbidden: [secrets] }))
    const byPath = new Map(files.map(f => [f.relative, f]))
    const scanned = ['a.bin', 'sub/b.bin'].map(p => byPath.get(p) as ScannedFile)
    const [key] = await keys()
    seeded = new SeededFolder(await signRelease(manifestOf(FILES, C), key), scanned, folder, await ReadPolicy.create(folder, { forbidden: [secrets] }))
    // Swapped before the first read: to the key in the data dir, then to a file outside.
    await rm(join(folder, 'a.bin'))
    await symlink(join(secrets, 'publisher.key'), join(folder, 'a.bin'))
    const err = await errorOf(() => seeded!.readChunk(0, 0))
    expect(err.name).toBe('SourceUnavailableError')
    expect(err.message).toContain('data dir')
    await writeFile(join(base, 'outside.bin'), secret)
    await rm(join(folder, 'a.bin'))
    await symlink(join(base, 'outside.bin'), join(folder, 'a.bin'))
    expect((await errorOf(() => seeded!.readChunk(0, 0))).message).toContain('outside the folder')
    // Re-pointed inside the folder at a different file of the same size and mtime: still refused.
    const old = await stat(join(folder, '.store', 'a.bin'))
    await writeFile(join(folder, '.store', 'other.bin'), bytesOf(FILES[0].bytes.length, 5))
    await utimes(join(folder, '.store', 'other.bin'), old.atime, old.mtime)
    await rm(join(folder, 'a.bin'))
    await symlink(join(folder, '.store', 'other.bin'), join(folder, 'a.bin'))
    expect((await errorOf(() => seeded!.readChunk(0, 0))).message).toContain('no longer the file that was hashed')
    // Pointed back at the file that was hashed: served again.
    await rm(join(folder, 'a.bin'))
    await symlink(join(folder, '.store', 'a.bin'), join(folder, 'a.bin'))
    expect(Buffer.from(await seeded.readChunk(0, 0))).toEqual(Buffer.from(FILES[0].bytes.subarray(0, C)))
  })

  it('stops serving a file replaced by another with the same size and mtime (another inode)', async () => {
    const { folder, seeded } = await seed()
    const path = join(folder, 'sub', 'b.bin')
    const old = await stat(path)
    await writeFile(join(folder, 'sub', 'new.bin'), bytesOf(C, 42))
    await utimes(join(folder, 'sub', 'new.bin'), old.atime, old.mtime)
    await rename(join(folder, 'sub', 'new.bin'), path)
    expect((await errorOf(() => seeded.readChunk(1, 0))).name).toBe('SourceUnavailableError')
    expect(await seeded.changedFiles()).toEqual([path])
  })
})
