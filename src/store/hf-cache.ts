/**
 * A Hugging Face hub cache entry on disk, the layout huggingface_hub and @huggingface/hub read:
 *
 *   <cache>/models--org--name/blobs/<sha256 hex>             the file's bytes (its LFS oid)
 *   <cache>/models--org--name/snapshots/<commit>/<path>      relative symlink to ../../blobs/<hex>
 *   <cache>/models--org--name/refs/main                      the commit `main` points to
 *
 * A fetch with --hf-cache downloads into a staging folder of the entry
 * (`.p2pweights-staging/<commit>/`, an ordinary resumable download), then moves each verified
 * file into blobs/, links it from the snapshot and writes refs/main. Every step is a rename or
 * a replace of a symlink, so a crash leaves each file either staged or in blobs/; a rerun links
 * the blobs that exist back into the staging folder (hard links), where the download verifies
 * them by hashing, and only what is missing is fetched.
 */
import { homedir } from 'node:os'
import { link, lstat, mkdir, readFile, readlink, rename, rm, rmdir, stat, symlink } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fsyncDir, writeFileAtomic } from './atomic.js'
import { STATE_DIR_NAME } from '../manifest/paths.js'
import { COMMIT_PATTERN, repoIdProblem } from '../manifest/repo-id.js'
import { HfCacheError } from './errors.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:store:hf-cache')

/** $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (as huggingface_hub). */
export function defaultHfCacheDir (env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE != null && env.HF_HUB_CACHE !== '') return resolve(env.HF_HUB_CACHE)
  if (env.HF_HOME != null && env.HF_HOME !== '') return resolve(env.HF_HOME, 'hub')
  const xdg = env.XDG_CACHE_HOME != null && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache')
  return resolve(xdg, 'huggingface', 'hub')
}

/** `org/name` -> `models--org--name`. */
export function repoFolderName (repoId: string): string {
  const problem = repoIdProblem(repoId)
  if (problem != null) throw new HfCacheError(`"${repoId}" is not a Hugging Face repo id (org/name): ${problem}`)
  return ['models', ...repoId.split('/')].join('--')
}

export interface CachedFile {
  /** Relative POSIX path in the snapshot. */
  path: string
  /** sha-256 of the file, hex: the blob's name. */
  sha256: string
  size: number
}

export const STAGING_DIR_NAME = '.p2pweights-staging'

export class HfCacheEntry {
  readonly root: string
  readonly blobsDir: string

  constructor (readonly cacheDir: string, readonly repoId: string) {
    this.root = join(resolve(cacheDir), repoFolderName(repoId))
    this.blobsDir = join(this.root, 'blobs')
  }

  snapshotDir (commit: string): string {
    return join(this.root, 'snapshots', checkCommit(commit))
  }

  stagingDir (commit: string): string {
    return join(this.root, STAGING_DIR_NAME, checkCommit(commit))
  }

  blobPath (sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new HfCacheError(`bad blob name ${sha256}`)
    return join(this.blobsDir, sha256)
  }

  /** The commit a ref (e.g. main) points to, or undefined when the ref is absent. */
  async readRef (ref = 'main'): Promise<string | undefined> {
    const text = await readFile(join(this.root, 'refs', ...ref.split('/')), 'utf8').catch(() => undefined)
    if (text == null) return undefined
    const commit = text.trim()
    if (!COMMIT_PATTERN.test(commit)) throw new HfCacheError(`${join(this.root, 'refs', ref)} does not hold a 40-hex commit`)
    return commit
  }

  /**
   * Links the blobs the cache already holds into the staging folder (hard links, same file
   * system), so the download finds them at their final names and verifies them by hashing
   * instead of fetching them again. The staging folder is first marked as a download of
   * `release` (its state folder's `release` file), so it reads as a resume of that release.
   */
  async prefillStaging (commit: string, files: readonly CachedFile[], release: Uint8Array): Promise<void> {
    const staging = this.stagingDir(commit)
    const marker = join(staging, STATE_DIR_NAME, 'release')
    if (!await lstat(marker).then(() => true, () => false)) {
      await mkdir(dirname(marker), { recursive: true })
      await writeFileAtomic(marker, release)
    }
    for (const file of files) {
      const blob = await stat(this.blobPath(file.sha256)).catch(() => undefined)
      if (blob?.isFile() !== true || blob.size !== file.size) continue
      const target = join(staging, ...file.path.split('/'))
      if (await lstat(target).then(() => true, () => false)) continue
      await mkdir(dirname(target), { recursive: true })
      await link(this.blobPath(file.sha256), target).catch((err: Error) => {
        log('cannot hard-link blob %s into %s (%s); it is fetched again', file.sha256, target, err.message) // another file system
      })
    }
  }

  /**
   * Moves the verified files of a completed staging folder into blobs/, links them from
   * snapshots/<commit>/ and points refs/main at the commit. Returns the snapshot folder.
   */
  async place (commit: string, files: readonly CachedFile[]): Promise<string> {
    const staging = this.stagingDir(commit)
    const snapshot = this.snapshotDir(commit)
    await mkdir(this.blobsDir, { recursive: true })
    for (const file of files) {
      const staged = join(staging, ...file.path.split('/'))
      const blob = this.blobPath(file.sha256)
      const [s, b] = await Promise.all([lstat(staged).catch(() => undefined), stat(blob).catch(() => undefined)])
      if (s != null) {
        // The same inode (linked in by prefillStaging): just drop the staging name. Otherwise
        // the staged bytes are verified and replace whatever sits under the blob's name.
        if (b != null && b.ino === s.ino && b.dev === s.dev) await rm(staged)
        else await rename(staged, blob)
      } else if (b == null || b.size !== file.size) {
        throw new HfCacheError(`${file.path} is neither staged nor in ${this.blobsDir}; run the fetch again`)
      }
      await replaceSymlink(join(snapshot, ...file.path.split('/')), blob)
    }
    await fsyncDir(this.blobsDir)
    await mkdir(join(this.root, 'refs'), { recursive: true })
    await writeFileAtomic(join(this.root, 'refs', 'main'), commit)
    await rm(staging, { recursive: true, force: true })
    // Fails while another staging folder is left, which is fine.
    await rmdir(dirname(staging)).catch((err: Error) => { log('staging folder kept: %s', err.message) })
    return snapshot
  }
}

/** Points `path` at `target` with a relative link, replacing any old entry atomically. */
async function replaceSymlink (path: string, target: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const rel = relative(dirname(path), target)
  if (await readlink(path).catch(() => undefined) === rel) return
  const tmp = `${path}.tmp-${process.pid}`
  await rm(tmp, { force: true })
  await symlink(rel, tmp)
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

function checkCommit (commit: string): string {
  if (!COMMIT_PATTERN.test(commit)) throw new HfCacheError(`"${commit}" is not a 40-hex commit`)
  return commit
}

/** The snapshot folder `refs/<ref>` of a cache entry points to, for seeding it. */
export async function resolveSnapshot (cacheDir: string, repoId: string, ref = 'main'): Promise<{ folder: string, blobsDir: string, commit: string }> {
  const entry = new HfCacheEntry(cacheDir, repoId)
  const commit = COMMIT_PATTERN.test(ref) ? ref : await entry.readRef(ref)
  if (commit == null) throw new HfCacheError(`no ${repoId} in the Hugging Face cache ${entry.cacheDir} (no ${join(entry.root, 'refs', ref)}); pass the cache folder with --hf-cache DIR, or download it first`)
  const folder = entry.snapshotDir(commit)
  if ((await stat(folder).catch(() => undefined))?.isDirectory() !== true) throw new HfCacheError(`${folder} is missing: the cache entry of ${repoId} is incomplete`)
  return { folder, blobsDir: entry.blobsDir, commit }
}
