import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagCbor from '@ipld/dag-cbor'
import { createHash } from 'node:crypto'
import { defaultFolderName, hfCommit, isHfRepoId } from '../../../src/manifest/repo-id.js'
import { decodeManifest, encodeManifest } from '../../../src/manifest/manifest.js'
import { errorOf, manifestOf } from '../helpers.js'

describe('Hugging Face repo ids as release names', () => {
  it.each([
    'acme/esrgan-thick-x4', 'gpt2', 'meta-llama/Llama-3.1-8B', 'a/b', 'org_1/x.y_z', `${'a'.repeat(96)}/${'b'.repeat(96)}`
  ])('accepts %s', id => {
    expect(isHfRepoId(id)).toBe(true)
    expect(decodeManifest(encodeManifest(manifestOf([], undefined, id))).name).toBe(id)
  })

  it.each([
    'a/b/c', '/x', 'x/', 'a//b', '-a/b', 'a/b-', '.a/b', 'a/b.', 'a--b/c', 'a/b..c', 'a/b c', 'a/b\u0000', 'a/é',
    `${'a'.repeat(97)}/b`, 'a/x.git', '../x', 'a/..'
  ])('refuses %s with InvalidManifestError or UnsafePathError', async id => {
    expect(isHfRepoId(id)).toBe(false)
    const err = await errorOf(() => encodeManifest(manifestOf([], undefined, id)))
    expect(['InvalidManifestError', 'UnsafePathError']).toContain(err.name)
  })

  it('fetches org/name into the single folder org--name', () => {
    expect(defaultFolderName('acme/x')).toBe('acme--x')
    expect(defaultFolderName('x')).toBe('x')
  })
})

describe('hfCommit', () => {
  it('is the first 20 bytes of the release CID digest, in hex', async () => {
    const bytes = dagCbor.encode({ any: 'release' })
    const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    const expected = createHash('sha256').update(bytes).digest('hex').slice(0, 40)
    expect(hfCommit(cid)).toBe(expected)
    expect(hfCommit(cid)).toMatch(/^[0-9a-f]{40}$/)
  })
})
