import { spawnSync } from 'node:child_process'
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDir } from '../../../src/store/data-dir.js'
import { acquireLock, releaseLock } from '../../../src/store/lock-file.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'p2pw-lock-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

async function errorOf (fn: () => Promise<unknown>): Promise<any> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  throw new Error('expected an error')
}

describe('lock files', () => {
  it('writes the pid, refuses a second take in this process, and frees on release', async () => {
    const path = join(dir, 'lock')
    await acquireLock(path)
    expect(await readFile(path, 'utf8')).toBe(String(process.pid))
    const err = await errorOf(() => acquireLock(path))
    expect(err.name).toBe('LockedError')
    expect(err.pid).toBe(0)
    await releaseLock(path)
    expect(await stat(path).catch(() => undefined)).toBeUndefined()
    await acquireLock(path)
    await releaseLock(path)
  })

  it('refuses a lock of another live process and takes over one of a dead process', async () => {
    const path = join(dir, 'lock')
    await writeFile(path, String(process.ppid))
    const err = await errorOf(() => acquireLock(path))
    expect(err.name).toBe('LockedError')
    expect(err.pid).toBe(process.ppid)
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number
    await writeFile(path, String(dead))
    await acquireLock(path)
    expect(await readFile(path, 'utf8')).toBe(String(process.pid))
    await releaseLock(path)
  })

  it('lets one node use a data dir at a time', async () => {
    const a = new DataDir(join(dir, 'data'))
    await a.init()
    await a.lock()
    const b = new DataDir(join(dir, 'data'))
    expect((await errorOf(() => b.lock())).name).toBe('DataDirInUseError')
    await a.unlock()
    await b.lock()
    await b.unlock()
  })

  it('never reads or writes through a symlink planted as the lock; it is replaced by a real lock file', async () => {
    const outside = join(dir, 'outside')
    // The target holds the pid of a live process (our parent): read through the link, it would
    // make the lock look held forever.
    await writeFile(outside, String(process.ppid))
    const path = join(dir, 'lock')
    await symlink(outside, path)
    await acquireLock(path)
    expect((await lstat(path)).isFile()).toBe(true)
    expect(await readFile(path, 'utf8')).toBe(String(process.pid))
    expect(await readFile(outside, 'utf8')).toBe(String(process.ppid))
    await releaseLock(path)
  })
})
