/**
 * Crash-safe file writes: write a temporary file, fsync it, rename it over the target, fsync
 * the folder. After a crash the target holds either the old content or the new, never a mix.
 */
import { open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function writeFileAtomic (path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const handle = await open(tmp, 'w', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(tmp, { force: true })
    throw err
  }
  await handle.close()
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}
