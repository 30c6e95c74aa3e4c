import { describe, expect, it } from 'vitest'
import { parseRange } from '../../../src/daemon/http/hf/files.js'
import { pickRelease, treeEntries, pathsInfo } from '../../../src/daemon/http/hf/repos.js'
import { signRelease } from '../../../src/manifest/signed.js'
import { planTarget } from '../../../src/engine/fetch-target.js'
import { bytesOf, errorOf, keys, manifestOf } from '../helpers.js'
import type { ServedRelease } from '../../../src/daemon/service.js'

async function served (name: string, addedAt: string, seed: number): Promise<ServedRelease> {
  const [key] = await keys()
  const release = await signRelease(manifestOf([
    { path: 'config.json', bytes: bytesOf(10, seed) },
    { path: 'a/b/c.bin', bytes: bytesOf(20, seed + 1) },
    { path: 'a/d.bin', bytes: bytesOf(30, seed + 2) }
  ], undefined, name), key)
  const files = release.manifest.files.map(f => ({ path: `/x/${f.path}`, relative: f.path, size: f.size, mtimeMs: 1, ctimeMs: 1, ino: 1, dev: 1, seenAt: 0, chunkSize: release.manifest.chunkSize }))
  return { cid: release.cid.toString(), name, addedAt, release, files }
}

describe('HF revisions', () => {
  it('main and HEAD are the newest release of the name; a commit or the CID selects one exactly', async () => {
    const old = await served('acme/x', '2026-01-01T00:00:00.000Z', 1)
    const newer = await served('acme/x', '2026-02-01T00:00:00.000Z', 2)
    const other = await served('acme/y', '2026-03-01T00:00:00.000Z', 3)
    const all = [old, other, newer]
    expect(pickRelease(all, 'acme/x', 'main').cid).toBe(newer.cid)
    expect(pickRelease(all, 'acme/x', 'HEAD').cid).toBe(newer.cid)
    const oldCommit = pickRelease(all, 'acme/x', old.cid).commit
    expect(oldCommit).toMatch(/^[0-9a-f]{40}$/)
    expect(pickRelease(all, 'acme/x', oldCommit).cid).toBe(old.cid)
    // A commit or CID of another repo is not a revision of this one.
    expect((await errorOf(() => pickRelease(all, 'acme/x', other.cid))).message).toMatch(/Invalid rev id/)
    expect((await errorOf(() => pickRelease(all, 'acme/x', pickRelease(all, 'acme/y', 'main').commit)))).toMatchObject({ code: 'RevisionNotFound', status: 404 })
    expect(await errorOf(() => pickRelease(all, 'acme/z', 'main'))).toMatchObject({ code: 'RepoNotFound', status: 404 })
  })

  it('lists a folder, recursively or not, and only the files held', async () => {
    const r = await served('acme/x', '2026-01-01T00:00:00.000Z', 1)
    const partial = { ...r, files: [r.files[0], undefined, r.files[2]] }
    const full = pickRelease([r], 'acme/x', 'main')
    expect(treeEntries(full, '', false, false).map(e => `${e.type}:${e.path}`)).toEqual(['directory:a', 'file:config.json'])
    expect(treeEntries(full, 'a', true, false).map(e => e.path)).toEqual(['a/b', 'a/b/c.bin', 'a/d.bin'])
    const held = pickRelease([partial], 'acme/x', 'main')
    expect(treeEntries(held, '', true, false).map(e => e.path)).toEqual(['a', 'a/d.bin', 'config.json'])
    expect(pathsInfo(held, ['a/b/c.bin', 'a/d.bin', 'nope'], true).map(e => e.path)).toEqual(['a/d.bin'])
    expect(await errorOf(() => treeEntries(held, 'a/b', false, false))).toMatchObject({ code: 'EntryNotFound' })
  })
})

describe('parseRange', () => {
  it.each([
    [undefined, 100, 'whole'],
    ['bytes=0-0', 100, { start: 0, end: 0 }],
    ['bytes=10-', 100, { start: 10, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=90-1000', 100, { start: 90, end: 99 }],
    ['bytes=0-1,5-6', 100, 'whole'],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=5-4', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=-', 100, 'unsatisfiable'],
    ['bytes=a-b', 100, 'unsatisfiable'],
    ['lines=0-1', 100, 'unsatisfiable'],
    ['bytes=0-0', 0, 'unsatisfiable'],
    ['bytes=12345678901234567-', 100, 'unsatisfiable']
  ])('%s of %d bytes -> %j', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected)
  })
})

describe('fetch target', () => {
  it('fetches org/name into the single folder org--name under the base folder', async () => {
    const r = await served('acme/x', '2026-01-01T00:00:00.000Z', 1)
    expect(planTarget(r.release, { baseDir: '/srv/models' }).outDir).toBe('/srv/models/acme--x')
    expect(planTarget(r.release, { outDir: '/o' }).outDir).toBe('/o')
    const cache = planTarget(r.release, { hfCache: '/c', include: ['*.json'] })
    expect(cache.outDir).toMatch(/^\/c\/models--acme--x\/\.p2pweights-staging\/[0-9a-f]{40}$/)
    expect([...cache.files ?? []]).toEqual([0])
  })
})
