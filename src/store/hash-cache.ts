/**
 * Remembers the hashes of files seeded in place, so an unchanged folder is not read again on
 * the next start. A changed file misses the cache and is hashed again. Entries are small
 * dag-cbor files written atomically.
 *
 * An entry matches only when path, size, mtime, ctime, device, inode and chunk size are all
 * unchanged: a rewrite in place changes ctime even when a tool restores the mtime, and a file
 * swapped for another changes the inode. Timestamps alone cannot tell two writes apart that
 * fall in one tick of a coarse clock (SMB, NFS, exFAT: 1-2 s), so an entry is trusted only
 * when the file's mtime and ctime were already RACY_MS older than the moment reading it for
 * hashing began (git's "racy" rule): any write after that moment then shows as a new time.
 * When both times are whole seconds (a coarse file system, whose server clock may also run
 * ahead of ours) the margin is COARSE_RACY_MS. A racy entry is stored but not used: the file is
 * hashed once more on the next check, which stores an entry that is no longer racy.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { writeFileAtomic } from './atomic.js'
import { COARSE_RACY_MS, RACY_MS } from './constants.js'
import type { FileIdentity, HashCacheLike } from '../manifest/build.js'
import type { FileHashes } from '../manifest/hash-pool.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:store:hash-cache')

export { COARSE_RACY_MS, RACY_MS }

interface Entry extends FileIdentity, FileHashes {}

/** True when the timestamps of `file` cannot prove that a later write would change them. */
export function isRacy (file: Pick<FileIdentity, 'mtimeMs' | 'ctimeMs' | 'seenAt'>): boolean {
  const coarse = file.mtimeMs % 1000 === 0 && file.ctimeMs % 1000 === 0
  const margin = coarse ? COARSE_RACY_MS : RACY_MS
  return Math.max(file.mtimeMs, file.ctimeMs) > file.seenAt - margin
}

const KEYS = ['path', 'size', 'mtimeMs', 'ctimeMs', 'dev', 'ino', 'chunkSize'] as const

export class HashCache implements HashCacheLike {
  constructor (private readonly dir: string) {}

  private entryPath (path: string): string {
    return join(this.dir, createHash('sha256').update(path).digest('hex').slice(0, 32))
  }

  async get (file: FileIdentity): Promise<FileHashes | undefined> {
    try {
      const entry = dagCbor.decode<Entry>(await readFile(this.entryPath(file.path)))
      const same = KEYS.every(k => entry[k] === file[k]) && typeof entry.seenAt === 'number' &&
        entry.sha256 instanceof Uint8Array && entry.chunks instanceof Uint8Array
      return same && !isRacy(entry) ? { sha256: entry.sha256, chunks: entry.chunks } : undefined
    } catch (err: any) {
      if (err?.code !== 'ENOENT') log('hash cache entry of %s unusable (%s); hashing again', file.path, err?.message)
      return undefined // missing or damaged: hash again
    }
  }

  /** Stores the hashes of `file` as it was when `file` was stat'ed (file.seenAt). */
  async set (file: FileIdentity, hashes: FileHashes): Promise<void> {
    const entry: Entry = {
      path: file.path, size: file.size, mtimeMs: file.mtimeMs, ctimeMs: file.ctimeMs, dev: file.dev, ino: file.ino,
      chunkSize: file.chunkSize, seenAt: file.seenAt, sha256: hashes.sha256, chunks: hashes.chunks
    }
    await writeFileAtomic(this.entryPath(file.path), dagCbor.encode(entry))
  }
}
