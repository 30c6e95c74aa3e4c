/**
 * Which files a seeded folder may serve. A symlink is followed only when its real path stays
 * inside the seeded folder, or inside a root the user named (`seed --allow-symlinks-into DIR`,
 * e.g. a Hugging Face cache's `blobs/` for a `snapshots/<rev>/` folder of links). Nothing whose
 * real path is inside a forbidden folder (the node's data dir: its private keys) is ever read,
 * nor a hard link to a file at the top of one. The check runs when the folder is scanned and
 * again whenever a file is opened for serving, so a link swapped after seeding cannot leak.
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { ForbiddenFolderError, InvalidManifestError, SymlinkEscapeError } from './errors.js'

export interface ReadPolicyOptions {
  /** Further folders a symlink in the seeded folder may point into. */
  allowSymlinksInto?: readonly string[]
  /** Folders nothing may be read from, whatever link leads there (the data dir). */
  forbidden?: readonly string[]
  /** Folders inside a forbidden one that hold content and may be seeded (the daemon's `<data-dir>/models/`). */
  forbiddenExcept?: readonly string[]
}

function isInside (real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)
}

async function realOrResolved (path: string): Promise<string> {
  return await realpath(path).catch(() => resolve(path))
}

export class ReadPolicy {
  private constructor (
    readonly folder: string,
    /** The seeded folder's real path. */
    readonly root: string,
    private readonly allowed: readonly string[],
    private readonly forbidden: ReadonlyArray<{ shown: string, real: string }>,
    private readonly exempt: readonly string[],
    /** dev:ino of the files at the top of each forbidden folder (keys), for hard links. */
    private readonly forbiddenFiles: ReadonlyMap<string, string>
  ) {}

  static async create (folder: string, options: ReadPolicyOptions = {}): Promise<ReadPolicy> {
    const root = await realpath(folder).catch(() => { throw new InvalidManifestError(`${folder} is not a folder`) })
    const forbidden = await Promise.all((options.forbidden ?? []).map(async f => ({ shown: f, real: await realOrResolved(f) })))
    const exempt = await Promise.all((options.forbiddenExcept ?? []).map(realOrResolved))
    const isExempt = (real: string): boolean => exempt.some(e => isInside(real, e))
    for (const f of forbidden) {
      if ((isInside(root, f.real) && !isExempt(root)) || isInside(f.real, root)) {
        throw new ForbiddenFolderError(`${folder} ${isInside(root, f.real) ? 'is inside' : 'contains'} the node's data dir ${f.shown}, which holds its private keys and is never seeded; seed another folder`)
      }
    }
    const allowed = [root]
    for (const dir of options.allowSymlinksInto ?? []) {
      const real = await realpath(dir).catch(() => undefined)
      if (real == null || !(await stat(real)).isDirectory()) throw new InvalidManifestError(`--allow-symlinks-into ${dir} is not a folder`)
      const clash = forbidden.find(f => (isInside(real, f.real) && !isExempt(real)) || isInside(f.real, real))
      if (clash != null) throw new ForbiddenFolderError(`--allow-symlinks-into ${dir} overlaps the node's data dir ${clash.shown}, which is never seeded`)
      allowed.push(real)
    }
    const forbiddenFiles = new Map<string, string>()
    for (const f of forbidden) {
      const entries = await readdir(f.real, { withFileTypes: true }).catch(() => [])
      for (const e of entries) {
        if (!e.isFile()) continue
        const s = await stat(join(f.real, e.name)).catch(() => undefined)
        if (s != null) forbiddenFiles.set(`${s.dev}:${s.ino}`, join(f.shown, e.name))
      }
    }
    return new ReadPolicy(folder, root, allowed, forbidden, exempt, forbiddenFiles)
  }

  /**
   * Checks the file at `path` (shown to the user as `relative`), resolving every symlink, and
   * returns its real path. `identity` (from a stat of the file) catches hard links to keys.
   * Throws SymlinkEscapeError or ForbiddenFolderError, naming the link and its target.
   */
  async check (path: string, relative: string, identity?: { dev: number, ino: number }, knownReal?: string): Promise<string> {
    const real = knownReal ?? await realpath(path)
    for (const f of this.forbidden) {
      if (isInside(real, f.real) && !this.exempt.some(e => isInside(real, e))) {
        throw new ForbiddenFolderError(`${relative} in ${this.folder} leads to ${real}, inside the node's data dir ${f.shown} (private keys); refusing to seed it`)
      }
    }
    const key = identity != null ? this.forbiddenFiles.get(`${identity.dev}:${identity.ino}`) : undefined
    if (key != null) throw new ForbiddenFolderError(`${relative} in ${this.folder} is a hard link to ${key} (the node's data dir); refusing to seed it`)
    if (!this.allowed.some(root => isInside(real, root))) {
      throw new SymlinkEscapeError(`${relative} in ${this.folder} is a symlink to ${real}, outside the folder; refusing to seed it. ` +
        'Remove the link, copy the file in, or name the folder it points into with --allow-symlinks-into <dir>')
    }
    return real
  }

  /**
   * check(), then makes sure the real path is the file `identity` was stat'ed from: a link
   * re-pointed between the stat and the check is caught here, and the hashing worker (which
   * expects that device and inode) catches one re-pointed later. `inWalk`: the caller found
   * `relative` as a plain file by walking real folders down from the root, so its real path is
   * known without a realpath() (a folder swapped for a link since fails the identity check).
   */
  async checkFile (path: string, relative: string, identity: { dev: number, ino: number }, inWalk = false): Promise<string> {
    const real = await this.check(path, relative, identity, inWalk ? join(this.root, ...relative.split('/')) : undefined)
    const s = await stat(real)
    if (s.dev !== identity.dev || s.ino !== identity.ino) {
      throw new SymlinkEscapeError(`${relative} in ${this.folder} changed while it was checked (a symlink re-pointed?); refusing to seed it`)
    }
    return real
  }
}
