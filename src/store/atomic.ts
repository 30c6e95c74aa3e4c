/**
 * Crash-safe file writes: write a temporary file, fsync it, rename it over the target, fsync
 * the folder. After a crash the target holds either the old content or the new, never a mix.
 *
 * The temporary file gets an unpredictable name in the target's folder and is created with
 * O_EXCL | O_NOFOLLOW, so a symlink (or any file) planted under that name is never opened or
 * written through; rename() then replaces the target entry itself, a symlink there included,
 * never the file it points to.
 */
import { constants } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Creates a new file next to `path` that no other process named; returns it and its path. */
async function createTemp (path: string, mode: number): Promise<{ tmp: string, handle: FileHandle }> {
  for (let attempt = 0; ; attempt++) {
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
    try {
      return { tmp, handle: await open(tmp, CREATE_EXCLUSIVE, mode) }
    } catch (err: any) {
      if (err.code !== 'EEXIST' || attempt >= 4) throw err
    }
  }
}

export async function writeFileAtomic (path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const { tmp, handle } = await createTemp(path, mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(tmp, { force: true })
    throw err
  }
  await handle.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await fsyncDir(dirname(path))
}
