/**
 * Serving a release from a folder in place, and checking that a folder still holds a release.
 * Used by seed (right after hashing), by a restarted daemon (for what it seeded or fetched
 * before), and after a fetch completes.
 */
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { equals } from 'uint8arrays/equals'
import { HashPool } from '../manifest/hash-pool.js'
import { fileCid, type ManifestFile } from '../manifest/manifest.js'
import { selectFiles, type FileSelection } from '../manifest/select.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { HashCache } from '../store/hash-cache.js'
import { SeededFolder } from '../store/seeded-folder.js'
import { ReleaseNotFoundError } from './errors.js'
import type { Engine } from './engine.js'
import type { ScannedFile } from '../manifest/build.js'
import type { CID } from 'multiformats/cid'

export class FolderChangedError extends Error {
  static override name = 'FolderChangedError'
  override name = 'FolderChangedError'
}

/**
 * Registers `folder` as the source of `release` and announces the release and its files.
 * `files[i]` undefined: the folder does not hold file i (a partial fetch), which is not announced.
 */
export async function serveFolder (engine: Engine, release: Release, folder: string, files: ReadonlyArray<ScannedFile | undefined>): Promise<void> {
  const cid = release.cid.toString()
  await engine.sources.get(cid)?.close?.()
  engine.sources.set(cid, new SeededFolder(release, files, folder))
  engine.announcer.add(release.cid)
  release.manifest.files.forEach((file, i) => {
    if (file.size > 0 && files[i] != null) engine.announcer.add(fileCid(file))
  })
}

/**
 * Serves a release the data dir already knows from `folder`, after checking every file against
 * the manifest: from the hash cache when size, mtime and inode are unchanged, else by hashing.
 * Throws FolderChangedError if any file is missing or differs.
 */
export async function serveRelease (engine: Engine, cid: CID, folder: string, selection: FileSelection = {}): Promise<Release> {
  const bytes = await engine.dataDir.loadRelease(cid)
  if (bytes == null) throw new ReleaseNotFoundError(`release ${cid.toString()} is not in the data dir`)
  const release = await openRelease(cid, bytes)
  // A partial fetch (--include/--exclude) holds, and serves, only the files it selected.
  const files = await checkFolder(engine, release, folder, selectFiles(release.manifest, selection))
  await serveFolder(engine, release, folder, files)
  return release
}

/** Records the hashes of a folder that holds `release` verified (a completed fetch). */
export async function rememberHashes (engine: Engine, release: Release, folder: string, only?: ReadonlySet<number>): Promise<void> {
  const cache = new HashCache(engine.dataDir.hashCacheDir)
  for (const [i, file] of release.manifest.files.entries()) {
    if (only != null && !only.has(i)) continue
    const identity = await identityOf(folder, file, release.manifest.chunkSize)
    await cache.set(identity, { sha256: file.sha256, chunks: file.chunks })
  }
}

/** `only`: the files a partial fetch holds; the others are left undefined. */
async function checkFolder (engine: Engine, release: Release, folder: string, only?: ReadonlySet<number>): Promise<Array<ScannedFile | undefined>> {
  const cache = new HashCache(engine.dataDir.hashCacheDir)
  const files: Array<ScannedFile | undefined> = []
  let pool: HashPool | undefined
  try {
    for (const [i, file] of release.manifest.files.entries()) {
      if (only != null && !only.has(i)) {
        files.push(undefined)
        continue
      }
      const identity = await identityOf(folder, file, release.manifest.chunkSize)
      let hashes = await cache.get(identity)
      if (hashes == null) {
        pool ??= new HashPool()
        hashes = await pool.hashFile(identity.path, identity.size, identity.chunkSize)
        await cache.set(identity, hashes)
      }
      if (!equals(hashes.sha256, file.sha256) || !equals(hashes.chunks, file.chunks)) {
        throw new FolderChangedError(`${identity.path} no longer matches release ${release.cid.toString()}`)
      }
      files.push(identity)
    }
  } finally {
    await pool?.close()
  }
  return files
}

async function identityOf (folder: string, file: ManifestFile, chunkSize: number): Promise<ScannedFile> {
  const path = join(resolve(folder), ...file.path.split('/'))
  const s = await stat(path).catch(() => undefined)
  if (s?.isFile() !== true) throw new FolderChangedError(`${path} is missing`)
  if (s.size !== file.size) throw new FolderChangedError(`${path} has ${s.size} bytes, the release says ${file.size}`)
  return { path, relative: file.path, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, chunkSize }
}
