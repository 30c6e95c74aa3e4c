import { mkdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ReadPolicy } from '../../../src/manifest/read-policy.js'
import { TempDirs, errorOf } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

describe('ReadPolicy', () => {
  it('returns the real path of a file inside the folder, through links that stay inside', async () => {
    const folder = await dirs.make()
    await mkdir(join(folder, 'store'))
    await writeFile(join(folder, 'store', 'w.bin'), 'x')
    await symlink('store/w.bin', join(folder, 'w.bin'))
    const policy = await ReadPolicy.create(folder)
    const real = await policy.checkFile(join(folder, 'w.bin'), 'w.bin', await stat(join(folder, 'w.bin')))
    expect(real).toBe(join(policy.root, 'store', 'w.bin'))
  })

  it('refuses a file whose real path is not the file that was stat\'ed (a link re-pointed in between)', async () => {
    const folder = await dirs.make()
    await writeFile(join(folder, 'a.bin'), 'a')
    await writeFile(join(folder, 'b.bin'), 'b')
    await symlink('a.bin', join(folder, 'link.bin'))
    const policy = await ReadPolicy.create(folder)
    const statedEarlier = await stat(join(folder, 'b.bin'))
    expect((await errorOf(() => policy.checkFile(join(folder, 'link.bin'), 'link.bin', statedEarlier))).name).toBe('SymlinkEscapeError')
  })

  it('refuses an --allow-symlinks-into root that is missing or overlaps the data dir', async () => {
    const base = await dirs.make()
    const folder = join(base, 'model')
    const data = join(base, 'data')
    await mkdir(folder)
    await mkdir(join(data, 'releases'), { recursive: true })
    expect((await errorOf(() => ReadPolicy.create(folder, { allowSymlinksInto: [join(base, 'nope')] }))).name).toBe('InvalidManifestError')
    expect((await errorOf(() => ReadPolicy.create(folder, { allowSymlinksInto: [join(data, 'releases')], forbidden: [data] }))).name).toBe('ForbiddenFolderError')
    expect((await errorOf(() => ReadPolicy.create(folder, { allowSymlinksInto: [base], forbidden: [data] }))).name).toBe('ForbiddenFolderError')
  })
})
