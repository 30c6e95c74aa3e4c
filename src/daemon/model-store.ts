/**
 * What the daemon seeds and fetches, kept in <data-dir>/daemon/models.json (written atomically)
 * so a restart serves everything again and resumes unfinished fetches.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../store/atomic.js'

export interface SeedRecord {
  kind: 'seed'
  cid: string
  folder: string
  name: string
  /** Folders the seed's symlinks may point into (seed --hf-cache: the entry's blobs/). */
  symlinkRoots?: string[]
  addedAt: string
}

export interface FetchRecord {
  kind: 'fetch'
  cid: string
  /** Known once the release is; until then the fetch goes to <baseDir>/<release name>. */
  outDir?: string
  baseDir: string
  trust: string[]
  peers: string[]
  /** A partial fetch: only these globs' files (--include/--exclude). */
  include?: string[]
  exclude?: string[]
  /** Fetched into this Hugging Face hub cache; outDir is then the snapshot folder. */
  hfCache?: string
  /** The fetch's own limits (ms), when it was added with them. */
  findTimeout?: number
  stallTimeout?: number
  /** Every file verified and in place: served from outDir on restart, not fetched again. */
  complete: boolean
  addedAt: string
}

export type ModelRecord = SeedRecord | FetchRecord

interface FileFormat {
  version: 1
  models: ModelRecord[]
}

export class ModelStore {
  private readonly path: string
  private writing: Promise<void> = Promise.resolve()

  constructor (private readonly dir: string) {
    this.path = join(dir, 'models.json')
  }

  async load (): Promise<ModelRecord[]> {
    await mkdir(this.dir, { recursive: true })
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err: any) {
      if (err.code === 'ENOENT') return []
      throw err
    }
    const parsed = JSON.parse(text) as FileFormat
    if (parsed.version !== 1 || !Array.isArray(parsed.models)) throw new Error(`${this.path} is not a p2pweights model list`)
    return parsed.models
  }

  /** Saves the list; saves are serialised so the file always holds the latest complete list. */
  async save (models: ModelRecord[]): Promise<void> {
    const body = JSON.stringify({ version: 1, models } satisfies FileFormat, null, 2) + '\n'
    // A failed earlier write was its caller's error; this write goes ahead.
    this.writing = this.writing.catch(() => {}).then(async () => { await writeFileAtomic(this.path, body) })
    await this.writing
  }
}
