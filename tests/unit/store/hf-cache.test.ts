import { createHash } from 'node:crypto'
import { lstat, mkdir, readFile, readlink, realpath, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HfCacheEntry, defaultHfCacheDir, repoFolderName, resolveSnapshot } from '../../../src/store/hf-cache.js'
import { TempDirs, bytesOf, errorOf } from '../helpers.js'

const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

const COMMIT = 'a'.repeat(40)
const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const FILES = [
  { path: 'config.json', bytes: bytesOf(50, 1) },
  { path: 'sub/dir/model.safetensors', bytes: bytesOf(300, 2) }
]
const CACHED = FILES.map(f => ({ path: f.path, size: f.bytes.length, sha256: hex(f.bytes) }))

async function stage (entry: HfCacheEntry, only = FILES): Promise<void> {
  for (const f of only) {
    const p = join(entry.stagingDir(COMMIT), ...f.path.split('/'))
    await mkdir(join(p, '..'), { recursive: true })
    await writeFile(p, f.bytes)
  }
}

describe('HF cache location and names', () => {
  it('follows HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub', () => {
    expect(defaultHfCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' })).toBe('/x/hub')
    expect(defaultHfCacheDir({ HF_HOME: '/y' })).toBe('/y/hub')
    expect(defaultHfCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/c' })).toBe('/c/huggingface/hub')
  })

  it('names the entry models--org--name and refuses what is not a repo id', async () => {
    expect(repoFolderName('acme/x')).toBe('models--acme--x')
    expect(repoFolderName('gpt2')).toBe('models--gpt2')
    expect((await errorOf(() => repoFolderName('../../etc'))).name).toBe('HfCacheError')
  })
})

describe('HfCacheEntry.place', () => {
  it('moves staged files into blobs/<sha256>, links them relatively from the snapshot and writes refs/main', async () => {
    const cache = await dirs.make()
    const entry = new HfCacheEntry(cache, 'acme/x')
    await stage(entry)
    const snapshot = await entry.place(COMMIT, CACHED)
    expect(snapshot).toBe(join(cache, 'models--acme--x', 'snapshots', COMMIT))
    expect(await readFile(join(entry.root, 'refs', 'main'), 'utf8')).toBe(COMMIT)
    for (const f of FILES) {
      const linkPath = join(snapshot, ...f.path.split('/'))
      expect((await lstat(linkPath)).isSymbolicLink()).toBe(true)
      const target = await readlink(linkPath)
      expect(target.startsWith('/')).toBe(false) // relative, as huggingface_hub writes them
      expect(await realpath(linkPath)).toBe(join(await realpath(entry.blobsDir), hex(f.bytes)))
      expect(hex(await readFile(linkPath))).toBe(hex(f.bytes))
    }
    expect(await stat(join(entry.root, '.p2pweights-staging')).catch(() => undefined)).toBeUndefined()
    expect(await resolveSnapshot(cache, 'acme/x')).toMatchObject({ folder: snapshot, commit: COMMIT })
  })

  it('after a crash halfway through placing, prefill + place finish without losing a file', async () => {
    const cache = await dirs.make()
    const entry = new HfCacheEntry(cache, 'acme/x')
    await stage(entry)
    // The crash: the first file already moved into blobs/, the second still staged.
    await mkdir(entry.blobsDir, { recursive: true })
    const { rename } = await import('node:fs/promises')
    await rename(join(entry.stagingDir(COMMIT), 'config.json'), entry.blobPath(CACHED[0].sha256))
    await entry.prefillStaging(COMMIT, CACHED, new Uint8Array([1, 2, 3]))
    expect([...await readFile(join(entry.stagingDir(COMMIT), '.p2pweights', 'release'))]).toEqual([1, 2, 3])
    // The blob is back at its staged name (same inode), where a download verifies it by hashing.
    const staged = await stat(join(entry.stagingDir(COMMIT), 'config.json'))
    expect(staged.ino).toBe((await stat(entry.blobPath(CACHED[0].sha256))).ino)
    const snapshot = await entry.place(COMMIT, CACHED)
    for (const f of FILES) expect(hex(await readFile(join(snapshot, ...f.path.split('/'))))).toBe(hex(f.bytes))
  })

  it('replaces a corrupt blob with the verified staged bytes', async () => {
    const cache = await dirs.make()
    const entry = new HfCacheEntry(cache, 'acme/x')
    await mkdir(entry.blobsDir, { recursive: true })
    await writeFile(entry.blobPath(CACHED[0].sha256), Buffer.alloc(FILES[0].bytes.length)) // right size, wrong bytes
    await stage(entry)
    const snapshot = await entry.place(COMMIT, CACHED)
    expect(hex(await readFile(join(snapshot, 'config.json')))).toBe(hex(FILES[0].bytes))
  })

  it('refuses a commit that is not 40 hex (no path games through the commit)', async () => {
    const entry = new HfCacheEntry(await dirs.make(), 'acme/x')
    expect((await errorOf(() => entry.snapshotDir('../../x'))).name).toBe('HfCacheError')
  })
})
