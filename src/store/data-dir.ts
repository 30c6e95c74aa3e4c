/**
 * The node's data folder: its libp2p identity, the default publisher key, the releases it knows
 * (signed manifests, by CID) and the hash cache. Layout:
 *
 *   <data-dir>/peer.key          libp2p identity (protobuf private key, mode 0600)
 *   <data-dir>/publisher.key     default publisher key for `seed` without --key (mode 0600)
 *   <data-dir>/releases/<cid>    encoded signed releases, verified before they were stored
 *   <data-dir>/hash-cache/<id>   per-file hashes keyed on path, size, mtime, ctime, device, inode
 *   <data-dir>/state.key         secret that authenticates downloads' `have` files (mode 0600)
 *   <data-dir>/node.lock         pid of the node using this data dir
 *   <data-dir>/models/           the daemon's default fetch folder: the only part ever seeded
 */
import { constants } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic.js'
import { DataDirInUseError, KeyFileError, LockedError } from './errors.js'
import { acquireLock, releaseLock } from './lock-file.js'
import type { CID } from 'multiformats/cid'
// Re-exported for the engine, which imports it from here.
export { DataDirInUseError } from './errors.js'

export function defaultDataDir (env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME != null && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(base, 'p2pweights')
}

export class DataDir {
  constructor (readonly root: string) {}

  get peerKeyPath (): string { return join(this.root, 'peer.key') }
  private get lockPath (): string { return join(this.root, 'node.lock') }
  get publisherKeyPath (): string { return join(this.root, 'publisher.key') }
  get hashCacheDir (): string { return join(this.root, 'hash-cache') }
  get stateKeyPath (): string { return join(this.root, 'state.key') }
  /** Where the daemon fetches models to by default: content, the one part of the data dir that may be seeded. */
  get modelsDir (): string { return join(this.root, 'models') }
  private get releasesDir (): string { return join(this.root, 'releases') }

  async init (): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    await mkdir(this.releasesDir, { recursive: true })
    await mkdir(this.hashCacheDir, { recursive: true })
  }

  /**
   * Claims the data dir for one running node: two nodes with one identity (peer.key) would
   * confuse their peers, and share a datastore and hash cache unsafely.
   */
  async lock (): Promise<void> {
    try {
      await acquireLock(this.lockPath)
    } catch (err) {
      if (!(err instanceof LockedError)) throw err
      throw new DataDirInUseError(`another p2pweights node${err.pid > 0 ? ` (pid ${err.pid})` : ''} uses the data dir ${this.root}; ` +
        'stop it, or use another --data-dir')
    }
  }

  async unlock (): Promise<void> {
    await releaseLock(this.lockPath)
  }

  /**
   * The secret that authenticates downloads' `have` files, created (32 random bytes, 0600) on
   * first use. Refused, like a private key, when group or others may read it.
   */
  async stateKey (): Promise<Uint8Array> {
    const path = this.stateKeyPath
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        const key = randomBytes(32)
        try {
          await handle.writeFile(key)
          await handle.sync()
        } finally {
          await handle.close()
        }
        return key
      } catch (err: any) {
        if (err.code !== 'EEXIST') throw err
      }
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
      try {
        const s = await handle.stat()
        if (process.platform !== 'win32' && (s.mode & 0o077) !== 0) {
          throw new KeyFileError(`${path} is readable by other users (mode ${(s.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``)
        }
        const key = s.isFile() && s.size === 32 ? await handle.readFile() : undefined
        if (key?.length === 32) return key
      } finally {
        await handle.close()
      }
      // Damaged (a crash while it was first written): make a new one; unproven `have` bits are re-hashed.
      await writeFileAtomic(path, randomBytes(32), 0o600)
    }
    throw new KeyFileError(`cannot create ${path}`)
  }

  /** Stores release bytes. Callers pass only bytes that openRelease() has verified. */
  async saveRelease (cid: CID, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.releasesDir, cid.toString()), bytes)
  }

  /** Unverified bytes, or undefined: the caller checks them with openRelease() like any peer's. */
  async loadRelease (cid: CID): Promise<Uint8Array | undefined> {
    return await readFile(join(this.releasesDir, cid.toString())).catch(() => undefined)
  }
}
