/**
 * The follower's rules over a small FollowHost: fetch each new version once, keep the N newest,
 * note refusals (rollback) without losing what it has, warn about withdrawn versions, and keep
 * its list across restarts. Records are really signed; only the daemon's side is a fake.
 */
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { NameRollbackError } from '../../../src/names/errors.js'
import { Follower, type FollowedVersion, type FollowHost } from '../../../src/names/follower.js'
import { signNameRecord, type NameRecord } from '../../../src/names/record.js'
import type { PrivateKey } from '@libp2p/interface'

const NAME = 'acme/llama-7b'
const dirs: string[] = []
afterEach(async () => { await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true }))) })

async function cidOf (text: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text)))
}

class Host implements FollowHost {
  current: NameRecord | Error | undefined
  readonly fetched: Array<{ cid: string, path: string, trust: string[] }> = []
  readonly dropped: FollowedVersion[] = []
  readonly warnings: string[] = []
  constructor (readonly ref: string) {}
  resolve = async (): Promise<NameRecord> => {
    if (this.current instanceof Error) throw this.current
    if (this.current == null) throw new Error('not found')
    return this.current
  }

  canonical = async (ref: string): Promise<string> => ref
  fetch = async (cid: string, path: string, trust: string[]): Promise<void> => { this.fetched.push({ cid, path, trust }) }
  drop = async (v: FollowedVersion): Promise<void> => { this.dropped.push(v) }
  onWarning = (m: string): void => { this.warnings.push(m) }
}

async function setup (): Promise<{ dir: string, key: PrivateKey, ref: string, host: Host }> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pw-follow-'))
  dirs.push(dir)
  const key = await generateKeyPair('Ed25519')
  const ref = `${peerIdFromPublicKey(key.publicKey).toString()}/${NAME}`
  return { dir, key, ref, host: new Host(ref) }
}

describe('Follower', () => {
  it('fetches each new version once into its own folder and keeps the N newest', async () => {
    const { dir, key, ref, host } = await setup()
    host.current = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('1') })
    const follower = new Follower(dir, host, 60_000)
    await follower.start()
    const entry = await follower.follow(ref, 1)
    expect(host.fetched.map(f => f.cid)).toEqual([(await cidOf('1')).toString()])
    expect(host.fetched[0].path).toBe(join(dir, 'models', '.followed', ...ref.split('/'), 'v1'))
    expect(host.fetched[0].trust).toEqual([ref.split('/')[0]])

    await follower.check(ref) // nothing new: no second fetch
    expect(host.fetched).toHaveLength(1)

    host.current = await signNameRecord(key, { name: NAME, version: 2, cid: await cidOf('2') })
    follower.onRecord(host.current)
    await follower.check(ref)
    expect(host.fetched.map(f => f.cid)).toEqual([(await cidOf('1')).toString(), (await cidOf('2')).toString()])
    expect(host.dropped.map(v => v.version)).toEqual([1])
    expect(entry.versions.map(v => v.version)).toEqual([2])
    await follower.stop()
  })

  it('a refused record (rollback) is noted and changes nothing; the list survives a restart', async () => {
    const { dir, key, ref, host } = await setup()
    host.current = await signNameRecord(key, { name: NAME, version: 3, cid: await cidOf('3') })
    const follower = new Follower(dir, host, 60_000)
    await follower.start()
    await follower.follow(ref, 2)
    host.current = new NameRollbackError('refusing version 1: this node has already seen version 3')
    await follower.check(ref)
    expect(follower.list()[0].error).toMatch(/rollback/)
    expect(follower.list()[0].versions.map(v => v.version)).toEqual([3])
    await follower.stop()

    const again = new Follower(dir, host, 60_000)
    await again.start()
    expect(again.list()).toMatchObject([{ ref, keep: 2, version: 3, versions: [{ version: 3 }] }])
    await again.stop()
  })

  it('warns once about a withdrawn version it holds, and does not fetch a release-less name', async () => {
    const { dir, key, ref, host } = await setup()
    host.current = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('1') })
    const follower = new Follower(dir, host, 60_000)
    await follower.start()
    await follower.follow(ref, 2)
    host.current = await signNameRecord(key, { name: NAME, version: 2, cid: null, withdrawn: [await cidOf('1')] })
    await follower.check(ref)
    await follower.check(ref)
    expect(host.warnings).toHaveLength(1)
    expect(host.warnings[0]).toContain('withdrew version 1')
    expect(host.fetched).toHaveLength(1)
    await follower.stop()
  })

  it('stop() leaves nothing writing under the data dir: a check in flight records nothing after it', async () => {
    const { dir, key, ref, host } = await setup()
    host.current = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('1') })
    const first = new Follower(dir, host, 60_000)
    await first.start()
    await first.follow(ref, 1)
    await first.stop()

    // The restarted follower checks at once; hold its resolve until after stop() and the removal.
    let release = (): void => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    const slow = Object.assign(new Host(ref), { current: host.current })
    slow.resolve = async () => { await gate; return host.current as NameRecord }
    const again = new Follower(dir, slow, 60_000)
    await again.start()
    await again.stop()
    await rm(dir, { recursive: true, force: true })
    release()
    await again.check(ref)
    await expect(access(dir)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
