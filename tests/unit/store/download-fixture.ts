/** A small release and helpers shared by the Download tests. */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { signRelease, type Release } from '../../../src/manifest/signed.js'
import { Download } from '../../../src/store/download.js'
import { afterEach } from 'vitest'
import { SMALL_CHUNK, TempDirs, bytesOf, keys, manifestOf, type TestFile } from '../helpers.js'

export const C = SMALL_CHUNK

/**
 * Global chunk numbers: config.json is chunk 0; empty.txt has none; weights/model.bin is 1..4
 * (three full chunks and a 5-byte tail).
 */
export const FILES: TestFile[] = [
  { path: 'config.json', bytes: bytesOf(100, 1) },
  { path: 'empty.txt', bytes: new Uint8Array(0) },
  { path: 'weights/model.bin', bytes: bytesOf(3 * C + 5, 2) }
]
export const CONFIG = 0
export const MODEL = [1, 2, 3, 4]

/** The bytes of global chunk `g` of FILES, cut independently of the code under test. */
export function chunkOf (g: number): Uint8Array {
  if (g === CONFIG) return FILES[0].bytes
  const c = g - 1
  return FILES[2].bytes.subarray(c * C, (c + 1) * C)
}

export async function releaseOf (files: TestFile[] = FILES, chunkSize = C): Promise<Release> {
  const [key] = await keys()
  return await signRelease(manifestOf(files, chunkSize), key)
}

/** Opens downloads and closes every one of them at cleanup, so no handle or thread leaks. */
export class Downloads {
  private readonly opened: Download[] = []

  async open (out: string, release: Release, events = {}): Promise<Download> {
    const d = await Download.open(out, release, events)
    this.opened.push(d)
    return d
  }

  async closeAll (): Promise<void> {
    for (const d of this.opened.splice(0)) await d.close().catch(() => {})
  }
}

/** Temp folders and downloads for one test file, all cleaned up after each test. */
export function useDownloadFixture (): { dirs: TempDirs, downloads: Downloads } {
  const dirs = new TempDirs()
  const downloads = new Downloads()
  afterEach(async () => {
    await downloads.closeAll()
    await dirs.cleanup()
  })
  return { dirs, downloads }
}

export async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

export async function read (out: string, path: string): Promise<Buffer> {
  return await readFile(join(out, ...path.split('/')))
}

/** Every file under `dir`, relative, sorted (folders themselves are not listed). */
export async function listFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => !e.isDirectory())
    .map(e => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

/** The set global chunk numbers of a bitfield. */
export function held (d: Download): number[] {
  const out: number[] = []
  for (let i = 0; i < d.have().length; i++) if (d.have().has(i)) out.push(i)
  return out
}
