/**
 * What this node serves, by release CID: the one registry the chunk server reads from. It owns
 * the life of each source (register / withdraw close it) and of its DHT announcements, and tells
 * which folders served in place changed on disk. Nobody outside the engine sees the sources.
 */
import { logger } from '@libp2p/logger'
import { fileCid } from '../manifest/manifest.js'
import { SeededFolder } from '../store/seeded-folder.js'
import type { ScannedFile } from '../manifest/build.js'
import type { Release } from '../manifest/signed.js'
import type { ChunkSource } from '../store/chunk-source.js'
import type { CID } from 'multiformats/cid'

const log = logger('p2pweights:engine:served')

export type ServedSource = ChunkSource & { close?: () => Promise<void> }

export interface ServedReleasesComponents {
  announcer: { add: (cid: CID) => void, withdraw: (cid: CID) => void }
  /** The chunk server forgets its per-release state (watchers, super-seeding). */
  released: (cid: string) => void
  /** The name records this node published for a release stop being republished. */
  unpublish: (cid: CID) => void
}

/** A release served from a folder checked against its manifest (a seed, or a completed fetch). */
export interface ServedFolder {
  cid: string
  release: Release
  /** `files[i]`: file i on disk as verified; undefined if the folder does not hold it. */
  files: ReadonlyArray<ScannedFile | undefined>
  folder: string
}

export class ServedReleases {
  private readonly sources = new Map<string, ServedSource>()

  constructor (private readonly components: ServedReleasesComponents) {}

  get (cid: string): ServedSource | undefined {
    return this.sources.get(cid)
  }

  has (cid: string): boolean {
    return this.sources.has(cid)
  }

  cids (): string[] {
    return [...this.sources.keys()]
  }

  /** Serves `source` for `cid` (not announced yet); a source it replaces is closed. */
  async register (cid: string, source: ServedSource): Promise<void> {
    const old = this.sources.get(cid)
    this.sources.set(cid, source)
    if (old != null && old !== source) await close(old)
  }

  /** Stops serving `source` without withdrawing announcements (a fetch that ends); false if another source took its place. */
  unregister (cid: string, source: ServedSource): boolean {
    if (this.sources.get(cid) !== source) return false
    this.sources.delete(cid)
    return true
  }

  /** Announces the release and each non-empty file `held` says the node holds (all when absent). */
  announce (release: Release, held?: (index: number) => boolean): void {
    this.components.announcer.add(release.cid)
    release.manifest.files.forEach((file, i) => {
      if (file.size > 0 && (held?.(i) ?? true)) this.components.announcer.add(fileCid(file))
    })
  }

  /** Stops serving and announcing a release; never touches its files. False if it was not served. */
  async withdraw (cid: string): Promise<boolean> {
    const source = this.sources.get(cid)
    if (source == null) return false
    this.sources.delete(cid)
    this.components.unpublish(source.release.cid)
    this.components.released(cid)
    this.components.announcer.withdraw(source.release.cid)
    for (const file of source.release.manifest.files) this.components.announcer.withdraw(fileCid(file))
    await close(source)
    return true
  }

  /** Folders served in place, complete and verified: never a fetch in progress. */
  folders (): ServedFolder[] {
    const out: ServedFolder[] = []
    for (const [cid, source] of this.sources) {
      if (source instanceof SeededFolder) out.push({ cid, release: source.release, files: source.files, folder: source.folder })
    }
    return out
  }

  /** The folders served in place whose files changed on disk since they were checked, with those files. */
  async changed (): Promise<Array<{ cid: string, files: string[] }>> {
    const out: Array<{ cid: string, files: string[] }> = []
    for (const [cid, source] of [...this.sources]) {
      if (!(source instanceof SeededFolder)) continue
      const files = await source.changedFiles()
      if (files.length > 0) out.push({ cid, files })
    }
    return out
  }

  async closeAll (): Promise<void> {
    const all = [...this.sources.values()]
    this.sources.clear()
    await Promise.all(all.map(close))
  }
}

async function close (source: ServedSource): Promise<void> {
  try {
    await source.close?.()
  } catch (err) {
    log.error('closing the source of %s failed: %e', source.release.cid, err)
  }
}
