/**
 * Pid lock files: one process at a time may own a folder (a download's state, a node's data
 * dir). A lock whose process is gone is taken over; one held by this process is refused too,
 * since a pid check alone cannot tell two owners in one process apart.
 */
import { open, readFile, rm } from 'node:fs/promises'
import { isProcessAlive } from '../util/process.js'

const held = new Set<string>()

export class LockedError extends Error {
  static override name = 'LockedError'
  override name = 'LockedError'
  constructor (message: string, readonly pid: number) {
    super(message)
  }
}

/** Takes the lock at `path`, or throws LockedError naming the live owner (pid 0: this process). */
export async function acquireLock (path: string): Promise<void> {
  if (held.has(path)) throw new LockedError(`${path} is held by this process`, 0)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx')
      await handle.writeFile(String(process.pid))
      await handle.close()
      held.add(path)
      return
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err
      const pid = Number(await readFile(path, 'utf8').catch(() => ''))
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
        throw new LockedError(`${path} is held by process ${pid}`, pid)
      }
      await rm(path, { force: true }) // left by a crashed process
    }
  }
  throw new LockedError(`cannot take the lock ${path}`, 0)
}

export async function releaseLock (path: string): Promise<void> {
  held.delete(path)
  await rm(path, { force: true })
}

/** Forgets a lock whose file went away with its folder. */
export function forgetLock (path: string): void {
  held.delete(path)
}
