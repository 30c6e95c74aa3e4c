/**
 * What the daemon lets its API callers do with folders and publishers, checked on every path:
 *
 * - Folders: a seed folder and a fetch's output folder are checked on their real paths (`..`
 *   and symlinks resolved; for an output folder that does not exist yet, its deepest existing
 *   ancestor's), so a symlink cannot lead outside `--allow-folder`. The daemon uses the real path
 *   it checked, and checks an output folder again right before each fetch writes there. An
 *   output folder never overlaps the data dir (keys, API token, releases) except its downloads
 *   folder `<data-dir>/models`, the default and always allowed: a manifest's paths are relative
 *   to the output folder, so an output folder above the data dir would let a release overwrite
 *   the node's keys.
 * - Publishers: `daemon --trust` ids bind every API fetch; a fetch's own `trust` narrows them.
 */
import { realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { UntrustedPublisherError } from '../manifest/errors.js'
import { isInside, realPathOfMaybeMissing } from '../util/real-path.js'
import { BadRequestError, ForbiddenFolderError } from './service.js'

export class FolderPolicy {
  /** Where fetches without an output folder go. */
  readonly downloads: string

  constructor (private readonly dataDir: string, private readonly allowed: string[]) {
    this.downloads = join(resolve(dataDir), 'models')
  }

  /** The real path of a folder to seed; throws BadRequestError or ForbiddenFolderError. */
  async seedFolder (folder: string): Promise<string> {
    absolute(folder)
    const s = await stat(folder).catch(() => undefined)
    if (s?.isDirectory() !== true) throw new BadRequestError(`${folder} is not a folder`)
    const real = await realpath(folder)
    await this.checkAllowed(folder, real)
    return real
  }

  /** The real path a fetch's output folder has (or will have once created), checked. */
  async outputFolder (folder: string): Promise<string> {
    absolute(folder)
    const s = await stat(folder).catch(() => undefined)
    if (s != null && !s.isDirectory()) throw new BadRequestError(`${folder} exists and is not a folder`)
    const real = await realPathOfMaybeMissing(resolve(folder))
    const dataDir = await realPathOfMaybeMissing(resolve(this.dataDir))
    const downloads = await realPathOfMaybeMissing(this.downloads)
    if (isInside(real, downloads) && real !== downloads) return real
    if (isInside(real, dataDir) || isInside(dataDir, real)) {
      throw new ForbiddenFolderError(`${folder} overlaps the daemon's data dir ${this.dataDir} (keys, API token): fetch into another folder, or leave the output folder out to use ${this.downloads}`)
    }
    await this.checkAllowed(folder, real)
    return real
  }

  private async checkAllowed (folder: string, real: string): Promise<void> {
    if (this.allowed.length === 0) return
    for (const root of this.allowed) {
      const realRoot = await realpath(root).catch(() => resolve(root))
      if (isInside(real, realRoot)) return
    }
    const via = real === resolve(folder) ? '' : ` (its real path is ${real})`
    throw new ForbiddenFolderError(`${folder}${via} is outside the folders this daemon may use (${this.allowed.join(', ')}); see --allow-folder`)
  }
}

function absolute (folder: string): void {
  if (typeof folder !== 'string' || !isAbsolute(folder)) throw new BadRequestError(`folder must be an absolute path, got ${JSON.stringify(folder)}`)
}

export class TrustPolicy {
  /** The daemon's own list (`daemon --trust`); empty = any publisher. */
  readonly ids: string[]

  constructor (ids: string[] = []) {
    this.ids = ids.map(id => publisherId(id, '--trust'))
  }

  /**
   * The publishers a fetch accepts: the request's (checked) narrowed to the daemon's. Throws
   * UntrustedPublisherError when the two lists share nobody.
   */
  forFetch (requested: string[] = []): string[] {
    const asked = requested.map(id => publisherId(id, 'trust'))
    if (this.ids.length === 0) return asked
    if (asked.length === 0) return this.ids
    const both = asked.filter(id => this.ids.includes(id))
    if (both.length === 0) {
      throw new UntrustedPublisherError(`none of the publishers asked for (${asked.join(', ')}) is in this daemon's --trust list (${this.ids.join(', ')})`)
    }
    return both
  }

  /** Throws UntrustedPublisherError unless `publisher` (of a release the daemon holds) is trusted. */
  static check (cid: string, publisher: string, trusted: string[]): void {
    if (trusted.length === 0 || trusted.includes(publisher)) return
    throw new UntrustedPublisherError(`release ${cid}, which this daemon already holds, is signed by ${publisher}, which is not among the trusted publishers (${trusted.join(', ')})`)
  }
}

function publisherId (text: string, what: string): string {
  try {
    return peerIdFromString(text).toString()
  } catch {
    throw new BadRequestError(`${what} ${text} is not a publisher id (it looks like 12D3KooW…, as printed by keygen and seed)`)
  }
}
