import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { writeFileAtomic } from '../../../src/store/atomic.js'
import { TempDirs } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

describe('writeFileAtomic', () => {
  it('writes the content with the mode asked for and leaves no temporary file', async () => {
    const dir = await dirs.make()
    await writeFileAtomic(join(dir, 'f'), 'hello', 0o600)
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('hello')
    expect((await lstat(join(dir, 'f'))).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('never writes through a symlink planted under the temporary name a pid would give', async () => {
    const base = await dirs.make()
    const dir = join(base, 'state')
    const outside = join(base, 'outside.txt')
    await writeFile(outside, 'precious')
    await mkdir(dir)
    const target = join(dir, 'have')
    // The name the temporary file used to get, and a few guesses around it.
    await symlink(outside, `${target}.tmp-${process.pid}`)
    await symlink(outside, `${target}.tmp`)
    await writeFileAtomic(target, 'new')
    expect(await readFile(outside, 'utf8')).toBe('precious')
    expect((await lstat(target)).isFile()).toBe(true)
    expect(await readFile(target, 'utf8')).toBe('new')
  })

  it('replaces a symlink at the target itself instead of writing to what it points at', async () => {
    const base = await dirs.make()
    const outside = join(base, 'outside.txt')
    await writeFile(outside, 'precious')
    const target = join(base, 'release')
    await symlink(outside, target)
    await writeFileAtomic(target, 'new')
    expect(await readFile(outside, 'utf8')).toBe('precious')
    expect((await lstat(target)).isSymbolicLink()).toBe(false)
    expect(await readFile(target, 'utf8')).toBe('new')
  })

  it('gives concurrent writers of one target distinct temporary files', async () => {
    const dir = await dirs.make()
    const target = join(dir, 'f')
    await Promise.all(Array.from({ length: 8 }, async (_, i) => await writeFileAtomic(target, `v${i}`)))
    expect(await readFile(target, 'utf8')).toMatch(/^v[0-7]$/)
    expect(await readdir(dir)).toEqual(['f'])
  })
})
