/**
 * The daemon's folder and publisher rules on their own: real paths (symlinks, `..`, folders
 * that do not exist yet) against --allow-folder and the data dir, and how a fetch's trust list
 * meets the daemon's.
 */
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FolderPolicy, TrustPolicy } from '../../../src/daemon/policy.js'

let root: string
let dataDir: string
let allowed: string
let outside: string

beforeAll(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'p2pw-policy-'))) // real: answers are real paths
  dataDir = join(root, 'home', 'data')
  allowed = join(root, 'allowed')
  outside = join(root, 'outside')
  for (const dir of [dataDir, join(allowed, 'model'), outside]) await mkdir(dir, { recursive: true })
  await symlink(outside, join(allowed, 'out-link'))
  await symlink(dataDir, join(allowed, 'data-link'))
})

afterAll(async () => { await rm(root, { recursive: true, force: true }) })

async function nameOf (promise: Promise<unknown>): Promise<string> {
  return await promise.then(() => 'ok', (err: Error) => err.name)
}

describe('FolderPolicy', () => {
  it('seeds only real folders inside --allow-folder, and answers their real path', async () => {
    const policy = new FolderPolicy(dataDir, [allowed])
    expect(await policy.seedFolder(join(allowed, 'model'))).toBe(join(allowed, 'model'))
    expect(await nameOf(policy.seedFolder(join(allowed, 'out-link')))).toBe('ForbiddenFolderError')
    expect(await nameOf(policy.seedFolder(`${allowed}/../outside`))).toBe('ForbiddenFolderError')
    expect(await nameOf(policy.seedFolder('relative/model'))).toBe('BadRequestError')
    expect(await nameOf(policy.seedFolder(join(allowed, 'missing')))).toBe('BadRequestError')
  })

  it('never lets a fetch write into, or above, the data dir; its downloads folder is fine', async () => {
    for (const policy of [new FolderPolicy(dataDir, []), new FolderPolicy(dataDir, [allowed])]) {
      for (const out of [dataDir, join(dataDir, 'releases'), join(dataDir, 'models'), join(root, 'home'), root, join(allowed, 'data-link', 'x')]) {
        expect(await nameOf(policy.outputFolder(out)), out).toBe('ForbiddenFolderError')
      }
      expect(await policy.outputFolder(join(dataDir, 'models', 'llama'))).toBe(join(dataDir, 'models', 'llama'))
      expect(policy.downloads).toBe(join(dataDir, 'models'))
    }
  })

  it('checks a fetch output that does not exist yet on the real path it will have', async () => {
    const open = new FolderPolicy(dataDir, [])
    expect(await open.outputFolder(join(outside, 'new', 'model'))).toBe(join(outside, 'new', 'model'))
    const policy = new FolderPolicy(dataDir, [allowed])
    expect(await policy.outputFolder(join(allowed, 'new', 'model'))).toBe(join(allowed, 'new', 'model'))
    for (const out of [join(allowed, 'out-link', 'new'), `${allowed}/new/../../outside/x`, join(outside, 'x')]) {
      expect(await nameOf(policy.outputFolder(out)), out).toBe('ForbiddenFolderError')
    }
  })
})

describe('TrustPolicy', () => {
  const ids = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

  it('without a daemon list, a fetch gets its own; with one, the two lists narrow each other', async () => {
    const [a, b, c] = [await ids(), await ids(), await ids()]
    expect(new TrustPolicy().forFetch([a])).toEqual([a])
    expect(new TrustPolicy().forFetch()).toEqual([])
    const daemon = new TrustPolicy([a, b])
    expect(daemon.forFetch()).toEqual([a, b])
    expect(daemon.forFetch([b, c])).toEqual([b])
    expect(() => daemon.forFetch([c])).toThrow(expect.objectContaining({ name: 'UntrustedPublisherError' }))
    expect(() => daemon.forFetch(['not-an-id'])).toThrow(expect.objectContaining({ name: 'BadRequestError' }))
    expect(() => new TrustPolicy(['nope'])).toThrow(/publisher id/)
  })

  it('a held release is checked against the list like any other', async () => {
    const [a, b] = [await ids(), await ids()]
    expect(() => { TrustPolicy.check('bafy', a, []) }).not.toThrow()
    expect(() => { TrustPolicy.check('bafy', a, [a]) }).not.toThrow()
    expect(() => { TrustPolicy.check('bafy', a, [b]) }).toThrow(expect.objectContaining({ name: 'UntrustedPublisherError' }))
  })
})
