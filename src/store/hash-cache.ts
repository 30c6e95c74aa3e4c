/**
 * Remembers the hashes of files seeded in place, keyed on absolute path, size, mtime, inode and
 * chunk size, so an unchanged folder is not read again on the next start. A changed file misses
 * the cache and is hashed again. Entries are small dag-cbor files written atomically.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { writeFileAtomic } from './atomic.js'
import type { FileIdentity, HashCacheLike } from '../manifest/build.js'
import type { FileHashes } from '../manifest/hash-pool.js'

interface Entry extends FileIdentity, FileHashes {}

export class HashCache implements HashCacheLike {
  constructor (private readonly dir: string) {}

  private entryPath (path: string): string {
    return join(this.dir, createHash('sha256').update(path).digest('hex').slice(0, 32))
  }

  async get (file: FileIdentity): Promise<FileHashes | undefined> {
    try {
      const entry = dagCbor.decode<Entry>(await readFile(this.entryPath(file.path)))
      const same = entry.path === file.path && entry.size === file.size && entry.mtimeMs === file.mtimeMs &&
        entry.ino === file.ino && entry.chunkSize === file.chunkSize &&
        entry.sha256 instanceof Uint8Array && entry.chunks instanceof Uint8Array
      return same ? { sha256: entry.sha256, chunks: entry.chunks } : undefined
    } catch {
      return undefined // missing or damaged: hash again
    }
  }

  async set (file: FileIdentity, hashes: FileHashes): Promise<void> {
    const entry: Entry = {
      path: file.path, size: file.size, mtimeMs: file.mtimeMs, ino: file.ino, chunkSize: file.chunkSize,
      sha256: hashes.sha256, chunks: hashes.chunks
    }
    await writeFileAtomic(this.entryPath(file.path), dagCbor.encode(entry))
  }
}
