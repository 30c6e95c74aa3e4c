import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { signNameRecord, signRotation } from '../../../src/names/record.js'
import { parseNameRef } from '../../../src/names/ref.js'
import { NameStore } from '../../../src/names/store.js'
import { errorOf } from '../helpers.js'

const NAME = 'acme/llama-7b'
const dirs: string[] = []
afterEach(async () => { await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true }))) })

async function store (): Promise<{ store: NameStore, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pw-names-'))
  dirs.push(dir)
  return { store: new NameStore(dir), dir }
}

async function cidOf (text: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text)))
}

describe('NameStore: the highest version seen', () => {
  it('keeps the newest record, refuses an older version naming both, and survives a new instance', async () => {
    const { store: s, dir } = await store()
    const key = await generateKeyPair('Ed25519')
    const v1 = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('1') })
    const v2 = await signNameRecord(key, { name: NAME, version: 2, cid: await cidOf('2') })
    expect(await s.accept(v1)).toBe(true)
    expect(await s.accept(v2)).toBe(true)
    expect(await s.accept(v2)).toBe(false) // same record: nothing new
    const again = new NameStore(dir)
    const err = await errorOf(async () => await again.accept(v1))
    expect(err.name).toBe('NameRollbackError')
    expect(err.message).toContain('version 1')
    expect(err.message).toContain('version 2')
    expect((await again.seen(key.publicKey.raw, NAME))?.version).toBe(2)
  })

  it('a republished record (same version, later expiry) replaces the stored one', async () => {
    const { store: s } = await store()
    const key = await generateKeyPair('Ed25519')
    const first = await signNameRecord(key, { name: NAME, version: 4, cid: await cidOf('x'), issued: Date.now() - 1000 })
    const later = await signNameRecord(key, { name: NAME, version: 4, cid: await cidOf('x') })
    await s.accept(first)
    expect(await s.accept(later)).toBe(true)
    expect(await s.accept(first)).toBe(false)
    expect((await s.seen(key.publicKey.raw, NAME))?.expires).toBe(later.expires)
  })

  it('after a rotation, records signed by the retired key are refused even at a higher version', async () => {
    const { store: s } = await store()
    const root = await generateKeyPair('Ed25519')
    const next = await generateKeyPair('Ed25519')
    const rotation = await signRotation(root, root.publicKey.raw, 0, next.publicKey.raw)
    const rotated = await signNameRecord(next, { name: NAME, version: 2, cid: await cidOf('2'), publisher: root.publicKey.raw, rotations: [rotation] })
    const byOldKey = await signNameRecord(root, { name: NAME, version: 3, cid: await cidOf('3') })
    await s.accept(rotated)
    expect((await errorOf(async () => await s.accept(byOldKey))).name).toBe('RetiredKeyError')
  })

  it('a damaged seen file is ignored, not trusted', async () => {
    const { store: s, dir } = await store()
    const key = await generateKeyPair('Ed25519')
    await s.accept(await signNameRecord(key, { name: NAME, version: 7, cid: await cidOf('7') }))
    const [file] = await readdir(join(dir, 'names', 'seen'))
    await writeFile(join(dir, 'names', 'seen', file), 'garbage')
    expect(await s.seen(key.publicKey.raw, NAME)).toBeUndefined()
  })
})

describe('NameStore: trust and aliases', () => {
  it('adds, lists, resolves an alias in a name ref, and removes', async () => {
    const { store: s } = await store()
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPublicKey(key.publicKey).toString()
    await s.trust(id, 'acme')
    expect((await s.trusted()).map(e => [e.publisher, e.alias])).toEqual([[id, 'acme']])
    const ref = parseNameRef('acme/acme/llama-7b', await s.trusted())
    expect(ref.publisher).toBe(id)
    expect(ref.name).toBe('acme/llama-7b')
    expect(await s.untrust('acme')).toBe(true)
    expect(await s.trusted()).toEqual([])
    expect((await errorOf(() => parseNameRef('acme/acme/llama-7b', []))).name).toBe('InvalidNameRefError')
  })

  it('refuses bad publisher ids, bad aliases and an alias taken by another publisher', async () => {
    const { store: s } = await store()
    const a = peerIdFromPublicKey((await generateKeyPair('Ed25519')).publicKey).toString()
    const b = peerIdFromPublicKey((await generateKeyPair('Ed25519')).publicKey).toString()
    expect((await errorOf(async () => await s.trust('not-an-id'))).name).toBe('InvalidNameRefError')
    expect((await errorOf(async () => await s.trust(a, 'Bad Alias'))).name).toBe('InvalidNameRefError')
    await s.trust(a, 'acme')
    expect((await errorOf(async () => await s.trust(b, 'acme'))).name).toBe('InvalidNameRefError')
    expect((await errorOf(() => parseNameRef(`${a}/../etc`))).name).toBe('InvalidNameRefError')
    expect((await errorOf(() => parseNameRef(`${a}/only-one`))).name).toBe('InvalidNameRefError')
  })
})
