import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeyFile, loadOrCreateKeyFile, readKeyFile } from '../../../src/store/keys.js'
import { TempDirs, errorOf } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

describe('key files', () => {
  it('reads back a key it created with mode 0600', async () => {
    const path = join(await dirs.make(), 'publisher.key')
    const key = await createKeyFile(path)
    expect((await readKeyFile(path)).publicKey.equals(key.publicKey)).toBe(true)
    expect((await loadOrCreateKeyFile(path)).publicKey.equals(key.publicKey)).toBe(true)
  })

  it.each(['644', '640', '604', '660', '666'])('refuses a key file with mode %s and says chmod 600 <path>', async (octal) => {
    const mode = parseInt(octal, 8)
    const path = join(await dirs.make(), 'publisher.key')
    await createKeyFile(path)
    await chmod(path, mode)
    const err = await errorOf(() => readKeyFile(path))
    expect(err.name).toBe('KeyFileError')
    expect(err.message).toContain(`chmod 600 ${path}`)
    // loadOrCreate neither uses nor replaces it
    expect((await errorOf(() => loadOrCreateKeyFile(path))).name).toBe('KeyFileError')
    expect((await readFile(path)).length).toBeGreaterThan(0)
    await chmod(path, 0o600)
    await expect(readKeyFile(path)).resolves.toBeDefined()
  })

  it('accepts 0400 (owner read-only)', async () => {
    const path = join(await dirs.make(), 'publisher.key')
    await createKeyFile(path)
    await chmod(path, 0o400)
    await expect(readKeyFile(path)).resolves.toBeDefined()
  })

  it('refuses a folder or a non-key file with KeyFileError', async () => {
    const dir = await dirs.make()
    expect((await errorOf(() => readKeyFile(dir))).name).toBe('KeyFileError')
    await writeFile(join(dir, 'junk'), 'not a key', { mode: 0o600 })
    expect((await errorOf(() => readKeyFile(join(dir, 'junk')))).name).toBe('KeyFileError')
  })
})
