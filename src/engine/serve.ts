/**
 * Serving a release from a folder in place, and checking that a folder still holds a release.
 * Used by seed (right after hashing), by a restarted daemon (for what it seeded or fetched
 * before), and after a fetch completes.
 */
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { equals } from 'uint8arrays/equals'
import { identityFrom, type ScannedFile } from '../manifest/build.js'
import { HashPool } from '../manifest/hash-pool.js'
import { type ManifestFile } from '../manifest/manifest.js'
import { selectFiles, type FileSelection } from '../manifest/select.js'
import { ReadPolicy } from '../manifest/read-policy.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { HashCache } from '../store/hash-cache.js'
import { SeededFolder } from '../store/seeded-folder.js'
import { FolderChangedError, ReleaseNotFoundError } from './errors.js'
import type { ServedReleases } from './served-releases.js'
import type { DataDir } from '../store/data-dir.js'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export { FolderChangedError }

/** What serving needs of the engine: where the data dir is, and the registry of what is served. */
export interface ServeComponents {
  dataDir: Pick<DataDir, 'root' | 'modelsDir' | 'hashCacheDir' | 'loadRelease'>
  served: Pick<ServedReleases, 'register' | 'announce'>
}

export interface ServeOptions extends FileSelection, AbortOptions {
  /** Folders outside `folder` that its symlinks may point into (seed --allow-symlinks-into). */
  allowSymlinksInto?: string[]
}

/** What may be read when serving `folder`: never the data dir, links only into allowed roots. */
export async function readPolicyFor (components: Pick<ServeComponents, 'dataDir'>, folder: string, options: ServeOptions = {}): Promise<ReadPolicy> {
  return await ReadPolicy.create(folder, { allowSymlinksInto: options.allowSymlinksInto, ...dataDirRule(components.dataDir) })
}

/** The data dir is never read, but for `models/`, where the daemon fetches models to. */
export function dataDirRule (dataDir: Pick<DataDir, 'root' | 'modelsDir'>): { forbidden: string[], forbiddenExcept: string[] } {
  return { forbidden: [dataDir.root], forbiddenExcept: [dataDir.modelsDir] }
}

/**
 * Registers `folder` as the source of `release` and announces the release and its files. Every
 * file opened for serving is checked against `policy` again. `files[i]` undefined: the folder
 * does not hold file i (a partial fetch), which is not announced.
 */
export async function serveFolder (components: ServeComponents, release: Release, folder: string, files: ReadonlyArray<ScannedFile | undefined>, policy: ReadPolicy): Promise<void> {
  await components.served.register(release.cid.toString(), new SeededFolder(release, files, folder, policy))
  components.served.announce(release, i => files[i] != null)
}

/**
 * Serves a release the data dir already knows from `folder`, after checking every file against
 * the manifest: from the hash cache when size, mtime and inode are unchanged, else by hashing.
 * Throws FolderChangedError if any file is missing or differs.
 */
export async function serveRelease (components: ServeComponents, cid: CID, folder: string, options: ServeOptions = {}): Promise<Release> {
  const bytes = await components.dataDir.loadRelease(cid)
  if (bytes == null) throw new ReleaseNotFoundError(`release ${cid.toString()} is not in the data dir`)
  const release = await openRelease(cid, bytes)
  const policy = await readPolicyFor(components, folder, options)
  // A partial fetch (--include/--exclude) holds, and serves, only the files it selected.
  const files = await checkFolder(components, release, folder, policy, selectFiles(release.manifest, options), options.signal)
  options.signal?.throwIfAborted()
  await serveFolder(components, release, folder, files, policy)
  return release
}

/** Records the hashes of a folder that holds `release` verified (a completed fetch). */
export async function rememberHashes (components: Pick<ServeComponents, 'dataDir'>, release: Release, folder: string, only?: ReadonlySet<number>): Promise<void> {
  const cache = new HashCache(components.dataDir.hashCacheDir)
  for (const [i, file] of release.manifest.files.entries()) {
    if (only != null && !only.has(i)) continue
    const identity = await identityOf(folder, file, release.manifest.chunkSize)
    await cache.set(identity, { sha256: file.sha256, chunks: file.chunks })
  }
}

/** `only`: the files a partial fetch holds; the others are left undefined. */
async function checkFolder (components: Pick<ServeComponents, 'dataDir'>, release: Release, folder: string, policy: ReadPolicy, only?: ReadonlySet<number>, signal?: AbortSignal): Promise<Array<ScannedFile | undefined>> {
  const cache = new HashCache(components.dataDir.hashCacheDir)
  const files: Array<ScannedFile | undefined> = []
  let pool: HashPool | undefined
  try {
    for (const [i, file] of release.manifest.files.entries()) {
      signal?.throwIfAborted()
      if (only != null && !only.has(i)) {
        files.push(undefined)
        continue
      }
      const identity = await identityOf(folder, file, release.manifest.chunkSize)
      await policy.checkFile(identity.path, identity.relative, identity)
      let hashes = await cache.get(identity)
      if (hashes == null) {
        pool ??= new HashPool(undefined, signal)
        const readFrom = Date.now() // the racy rule counts from when reading starts
        hashes = await pool.hashFile(identity.path, identity.size, identity.chunkSize, undefined, identity)
        await cache.set({ ...identity, seenAt: readFrom }, hashes)
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
  const seenAt = Date.now()
  const s = await stat(path).catch(() => undefined)
  if (s?.isFile() !== true) throw new FolderChangedError(`${path} is missing`)
  if (s.size !== file.size) throw new FolderChangedError(`${path} has ${s.size} bytes, the release says ${file.size}`)
  return { ...identityFrom(path, s, chunkSize, seenAt), relative: file.path }
}
