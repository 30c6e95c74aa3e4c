import { link, mkdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { buildManifest, scanFolder, type BuildProgress, type FileIdentity } from '../../../src/manifest/build.js'
import { encodeManifest } from '../../../src/manifest/manifest.js'
import type { FileHashes } from '../../../src/manifest/hash-pool.js'
import { SMALL_CHUNK, TempDirs, bytesOf, chunkTable, errorOf, manifestOf, sha256, writeTree, type TestFile } from '../helpers.js'

const C = SMALL_CHUNK
const dirs = new TempDirs()
afterEach(async () => { await dirs.cleanup() })

/** Sizes that exercise the chunk edges: empty, < 1 chunk, exactly 1, not a multiple, exact multiple. */
const FILES: TestFile[] = [
  { path: 'weights/model-2.bin', bytes: bytesOf(2 * C + 7, 1) },
  { path: 'config.json', bytes: bytesOf(100, 2) },
  { path: 'empty.txt', bytes: new Uint8Array(0) },
  { path: 'weights/model-1.bin', bytes: bytesOf(3 * C, 3) },
  { path: 'one-chunk.bin', bytes: bytesOf(C, 4) },
  { path: 'Zeta/upper.bin', bytes: bytesOf(10, 5) }
]

function sortedByPath (files: TestFile[]): TestFile[] {
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

async function modelFolder (files = FILES): Promise<string> {
  const root = join(await dirs.make(), 'my-model')
  await mkdir(root)
  await writeTree(root, files)
  return root
}

describe('buildManifest', () => {
  it('hashes every file and chunk exactly as node:crypto does, in sorted path order', async () => {
    const root = await modelFolder()
    const { manifest, files } = await buildManifest(root, { chunkSize: C })
    const expected = manifestOf(sortedByPath(FILES), C, 'my-model')
    expect(manifest.files.map(f => f.path)).toEqual(['Zeta/upper.bin', 'config.json', 'empty.txt', 'one-chunk.bin', 'weights/model-1.bin', 'weights/model-2.bin'])
    expect(files.map(f => f.relative)).toEqual(manifest.files.map(f => f.path))
    for (const [i, f] of manifest.files.entries()) {
      const want = expected.files[i]
      expect(f.size).toBe(want.size)
      expect(Buffer.from(f.sha256).toString('hex')).toBe(Buffer.from(want.sha256).toString('hex'))
      expect(Buffer.from(f.chunks).toString('hex')).toBe(Buffer.from(want.chunks).toString('hex'))
    }
    // Edge sizes, spelled out: the empty file has no chunks, the 1-chunk file exactly one.
    expect(manifest.files[2].chunks.length).toBe(0)
    expect(Buffer.from(manifest.files[2].sha256).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(manifest.files[3].chunks.length).toBe(32)
    expect(manifest.files[5].chunks.length).toBe(3 * 32)
    expect(Buffer.from(encodeManifest(manifest))).toEqual(Buffer.from(encodeManifest(expected)))
  })

  it('gives identical bytes for the same folder built twice, whatever the mtimes', async () => {
    const root = await modelFolder()
    const first = encodeManifest((await buildManifest(root, { chunkSize: C })).manifest)
    await utimes(join(root, 'config.json'), new Date(2001, 1, 1), new Date(2001, 1, 1))
    const second = encodeManifest((await buildManifest(root, { chunkSize: C })).manifest)
    expect(Buffer.from(second)).toEqual(Buffer.from(first))
  })

  it('uses the name option and the chunk size it is given', async () => {
    const root = await modelFolder([{ path: 'a.bin', bytes: bytesOf(3 * C, 1) }])
    const { manifest } = await buildManifest(root, { chunkSize: 2 * C, name: 'renamed' })
    expect(manifest.name).toBe('renamed')
    expect(manifest.chunkSize).toBe(2 * C)
    expect(Buffer.from(manifest.files[0].chunks)).toEqual(Buffer.from(chunkTable(bytesOf(3 * C, 1), 2 * C)))
  })

  it('skips .git/ and .p2pweights/ at any depth, but not files named like them', async () => {
    const root = await modelFolder([
      { path: 'a.bin', bytes: bytesOf(5) },
      { path: '.git/HEAD', bytes: bytesOf(5) },
      { path: '.git/objects/ab/cd', bytes: bytesOf(5) },
      { path: '.p2pweights/have', bytes: bytesOf(5) },
      { path: 'sub/.git/config', bytes: bytesOf(5) },
      { path: '.GIT/config', bytes: bytesOf(5) },
      { path: 'worktree/.git', bytes: bytesOf(5) }, // a worktree's or submodule's .git file
      { path: 'sub/.P2PWeights/have', bytes: bytesOf(5) },
      { path: '.gitattributes', bytes: bytesOf(5) }
    ])
    const { manifest } = await buildManifest(root, { chunkSize: C })
    expect(manifest.files.map(f => f.path)).toEqual(['.gitattributes', 'a.bin'])
  })

  it('follows a symlink to a file inside the folder, not a symlink to a folder, and skips a dangling one', async () => {
    const base = await dirs.make()
    const root = join(base, 'model')
    await writeTree(root, [{ path: 'plain.bin', bytes: bytesOf(4, 9) }, { path: 'store/real.bin', bytes: bytesOf(C + 3, 7) }])
    await symlink(join(root, 'store', 'real.bin'), join(root, 'linked.bin'))
    await symlink('store/real.bin', join(root, 'relative-link.bin'))
    await symlink(join(root, 'store'), join(root, 'linked-dir'))
    await symlink(root, join(root, 'loop')) // would never end if folders were followed
    await symlink(join(base, 'nowhere'), join(root, 'dangling.bin'))
    const { manifest } = await buildManifest(root, { chunkSize: C })
    expect(manifest.files.map(f => f.path)).toEqual(['linked.bin', 'plain.bin', 'relative-link.bin', 'store/real.bin'])
    expect(manifest.files[0].size).toBe(C + 3)
    expect(Buffer.from(manifest.files[0].sha256)).toEqual(Buffer.from(sha256(bytesOf(C + 3, 7))))
  })

  it('refuses a symlink whose real path leaves the folder, naming the link and its target', async () => {
    const base = await dirs.make()
    const outside = join(base, 'outside')
    await writeTree(outside, [{ path: 'id_ed25519', bytes: bytesOf(40, 7) }])
    const root = join(base, 'model')
    await writeTree(root, [{ path: 'plain.bin', bytes: bytesOf(4, 9) }])
    await symlink(join(outside, 'id_ed25519'), join(root, 'tokenizer.model'))
    const err = await errorOf(() => buildManifest(root, { chunkSize: C }))
    expect(err.name).toBe('SymlinkEscapeError')
    expect(err.message).toContain('tokenizer.model')
    expect(err.message).toContain(join(outside, 'id_ed25519'))
    expect(err.message).toContain('--allow-symlinks-into')
    // A relative link with .. and a link to a link that leaves are refused the same way.
    await rm(join(root, 'tokenizer.model'))
    await symlink('../outside/id_ed25519', join(root, 'inner-hop'))
    await symlink(join(root, 'inner-hop'), join(root, 'two-hops.bin'))
    expect((await errorOf(() => buildManifest(root, { chunkSize: C }))).name).toBe('SymlinkEscapeError')
    expect((await errorOf(() => scanFolder(root, C))).name).toBe('SymlinkEscapeError')
  })

  it('follows links into a folder named by allowSymlinksInto (a Hugging Face cache snapshot)', async () => {
    const cache = join(await dirs.make(), 'models--org--name')
    await writeTree(cache, [{ path: 'blobs/0123abcd', bytes: bytesOf(C + 1, 3) }, { path: 'blobs/4567ef', bytes: bytesOf(50, 4) }])
    const snapshot = join(cache, 'snapshots', 'c0ffee')
    await mkdir(join(snapshot, 'sub'), { recursive: true })
    await symlink('../../blobs/0123abcd', join(snapshot, 'model.safetensors'))
    await symlink('../../../blobs/4567ef', join(snapshot, 'sub', 'config.json'))
    expect((await errorOf(() => buildManifest(snapshot, { chunkSize: C }))).name).toBe('SymlinkEscapeError')
    const { manifest } = await buildManifest(snapshot, { chunkSize: C, allowSymlinksInto: [join(cache, 'blobs')] })
    expect(manifest.files.map(f => f.path)).toEqual(['model.safetensors', 'sub/config.json'])
    expect(Buffer.from(manifest.files[0].sha256)).toEqual(Buffer.from(sha256(bytesOf(C + 1, 3))))
    expect((await errorOf(() => buildManifest(snapshot, { chunkSize: C, allowSymlinksInto: [join(cache, 'missing')] }))).name).toBe('InvalidManifestError')
  })

  it('never reads the data dir: a link to its key, a hard link to it, the data dir itself, a folder holding it', async () => {
    const base = await dirs.make()
    const dataDir = join(base, 'data')
    await writeTree(dataDir, [{ path: 'publisher.key', bytes: bytesOf(68, 1) }, { path: 'releases/x', bytes: bytesOf(9, 2) }])
    const root = join(base, 'model')
    await writeTree(root, [{ path: 'plain.bin', bytes: bytesOf(4, 9) }])
    const options = { chunkSize: C, forbidden: [dataDir] }
    await symlink(join(dataDir, 'publisher.key'), join(root, 'tokenizer.model'))
    let err = await errorOf(() => buildManifest(root, options))
    expect(err.name).toBe('ForbiddenFolderError')
    expect(err.message).toContain('tokenizer.model')
    expect(err.message).toContain(join(dataDir, 'publisher.key'))
    // Allowing the data dir as a symlink root does not make it seedable.
    expect((await errorOf(() => buildManifest(root, { ...options, allowSymlinksInto: [dataDir] }))).name).toBe('ForbiddenFolderError')
    await rm(join(root, 'tokenizer.model'))
    await link(join(dataDir, 'publisher.key'), join(root, 'weights.bin'))
    err = await errorOf(() => buildManifest(root, options))
    expect(err.name).toBe('ForbiddenFolderError')
    expect(err.message).toContain('hard link')
    await rm(join(root, 'weights.bin'))
    expect((await buildManifest(root, options)).manifest.files.map(f => f.path)).toEqual(['plain.bin'])
    expect((await errorOf(() => buildManifest(dataDir, options))).name).toBe('ForbiddenFolderError')
    expect((await errorOf(() => buildManifest(join(dataDir, 'releases'), options))).name).toBe('ForbiddenFolderError')
    expect((await errorOf(() => buildManifest(base, options))).name).toBe('ForbiddenFolderError')
  })

  it('seeds the data dir\'s models/ folder (where the daemon fetches to), but no link from it to a key', async () => {
    const dataDir = join(await dirs.make(), 'data')
    await writeTree(dataDir, [{ path: 'publisher.key', bytes: bytesOf(68, 1) }, { path: 'models/m/w.bin', bytes: bytesOf(30, 2) }])
    const options = { chunkSize: C, forbidden: [dataDir], forbiddenExcept: [join(dataDir, 'models')] }
    expect((await buildManifest(join(dataDir, 'models', 'm'), options)).manifest.files.map(f => f.path)).toEqual(['w.bin'])
    await symlink(join(dataDir, 'publisher.key'), join(dataDir, 'models', 'm', 'tokenizer.model'))
    expect((await errorOf(() => buildManifest(join(dataDir, 'models', 'm'), options))).name).toBe('ForbiddenFolderError')
    expect((await errorOf(() => buildManifest(dataDir, options))).name).toBe('ForbiddenFolderError')
  })

  it('builds an empty folder into a manifest with no files', async () => {
    const root = await modelFolder([])
    const { manifest } = await buildManifest(root, { chunkSize: C })
    expect(manifest.files).toEqual([])
  })

  it('refuses a path that is not a folder', async () => {
    const base = await dirs.make()
    await writeFile(join(base, 'file'), 'x')
    expect((await errorOf(() => buildManifest(join(base, 'file')))).name).toBe('InvalidManifestError')
    expect((await errorOf(() => buildManifest(join(base, 'missing')))).name).toBe('InvalidManifestError')
  })

  it('reports progress up to the total', async () => {
    const root = await modelFolder()
    const events: BuildProgress[] = []
    await buildManifest(root, { chunkSize: C, onProgress: p => events.push({ ...p }) })
    const total = FILES.reduce((n, f) => n + f.bytes.length, 0)
    expect(events.length).toBeGreaterThan(0)
    expect(events.every(e => e.total === total)).toBe(true)
    expect(events.at(-1)?.bytes).toBe(total)
  })

  it('takes hashes from the cache when it has them and stores the ones it computed', async () => {
    const root = await modelFolder([{ path: 'a.bin', bytes: bytesOf(C + 1, 1) }, { path: 'b.bin', bytes: bytesOf(20, 2) }])
    const fake: FileHashes = { sha256: new Uint8Array(32).fill(7), chunks: new Uint8Array(64).fill(7) }
    const stored: FileIdentity[] = []
    const cache = {
      get: async (f: FileIdentity) => (f.path.endsWith('a.bin') ? fake : undefined),
      set: async (f: FileIdentity) => { stored.push(f) }
    }
    const { manifest } = await buildManifest(root, { chunkSize: C, cache })
    expect(manifest.files[0].sha256).toBe(fake.sha256) // the cached value was used as is
    expect(Buffer.from(manifest.files[1].sha256)).toEqual(Buffer.from(sha256(bytesOf(20, 2))))
    expect(stored.map(f => f.path)).toEqual([join(root, 'b.bin')])
    expect(stored[0]).toMatchObject({ size: 20, chunkSize: C })
  })
})

describe('scanFolder', () => {
  it('records identity (size, inode, device, ctime, time seen, chunk size) of each file', async () => {
    const root = await modelFolder([{ path: 'x/y.bin', bytes: bytesOf(33) }])
    const before = Date.now()
    const [f] = await scanFolder(root, C)
    const s = await stat(join(root, 'x', 'y.bin'))
    expect(f).toMatchObject({ relative: 'x/y.bin', path: join(root, 'x', 'y.bin'), size: 33, chunkSize: C, dev: s.dev, ino: s.ino, ctimeMs: s.ctimeMs })
    expect(f.seenAt).toBeGreaterThanOrEqual(before)
    expect(f.seenAt).toBeLessThanOrEqual(Date.now())
    expect(f.ino).toBeGreaterThan(0)
    expect(f.mtimeMs).toBeGreaterThan(0)
  })
})
