/**
 * Pid lock files: one process at a time may own a folder (a download's state, a node's data
 * dir). A lock whose process is gone is taken over; one held by this process is refused too,
 * since a pid check alone cannot tell two owners in one process apart.
 */
import { constants } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { isProcessAlive } from '../util/process.js'
import { LockedError } from './errors.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:store:lock-file')

const held = new Set<string>()

/** Takes the lock at `path`, or throws LockedError naming the live owner (pid 0: this process). */
export async function acquireLock (path: string): Promise<void> {
  if (held.has(path)) throw new LockedError(`${path} is held by this process`, 0)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // O_EXCL: never opens a file (or a planted symlink) that is already there.
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
      await handle.writeFile(String(process.pid))
      await handle.close()
      held.add(path)
      return
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err
      const pid = await readPid(path)
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
        throw new LockedError(`${path} is held by process ${pid}`, pid)
      }
      await rm(path, { force: true }) // left by a crashed process
    }
  }
  throw new LockedError(`cannot take the lock ${path}`, 0)
}

/**
 * The pid in a lock file, or 0. A symlink, FIFO or other non-file planted there is never
 * followed or read: it counts as a stale lock and is removed.
 */
async function readPid (path: string): Promise<number> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    try {
      if (!(await handle.stat()).isFile()) return 0
      const buffer = Buffer.alloc(32)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
      const pid = Number(buffer.subarray(0, bytesRead).toString('utf8'))
      return Number.isInteger(pid) ? pid : 0
    } finally {
      await handle.close()
    }
  } catch (err: any) {
    log('cannot read the owner of lock %s (%s); reporting no owner', path, err?.code ?? err?.message)
    return 0
  }
}

export async function releaseLock (path: string): Promise<void> {
  held.delete(path)
  await rm(path, { force: true })
}

/** Forgets a lock whose file went away with its folder. */
export function forgetLock (path: string): void {
  held.delete(path)
}
