import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import {
  compareRecords, MAX_RECORD_BYTES, nameKey, openNameRecord, selectNameRecord, signNameRecord, signRotation, validateNameRecord
} from '../../../src/names/record.js'
import { errorOf } from '../helpers.js'
import type { PrivateKey } from '@libp2p/interface'

/** The domain prefix, spelled out here rather than imported, so a change to it is noticed. */
const DOMAIN = new TextEncoder().encode('p2pweights-name-v1\n')
const NAME = 'acme/llama-7b'

async function cidOf (text: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text)))
}

async function keyPair (): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

/** Re-signs an edited record map with `key`, the way a forger with that key would. */
async function resign (map: Record<string, unknown>, key: PrivateKey): Promise<Uint8Array> {
  const { sig: _, ...fields } = map
  const body = dagCbor.encode(fields)
  const msg = new Uint8Array(DOMAIN.length + body.length)
  msg.set(DOMAIN)
  msg.set(body, DOMAIN.length)
  return dagCbor.encode({ ...fields, sig: await key.sign(msg) })
}

describe('name record codec', () => {
  it('round-trips and reports publisher, name, version, cid and expiry', async () => {
    const key = await keyPair()
    const cid = await cidOf('v1')
    const record = await signNameRecord(key, { name: NAME, version: 3, cid, issued: 1_000, validity: 5_000 })
    const opened = await openNameRecord(record.bytes, { key: await nameKey(key.publicKey.raw, NAME), now: 2_000 })
    expect(opened.publisher).toBe(peerIdFromPublicKey(key.publicKey).toString())
    expect(opened.name).toBe(NAME)
    expect(opened.version).toBe(3)
    expect(opened.cid?.equals(cid)).toBe(true)
    expect(opened.expires).toBe(6_000)
    expect(opened.bytes.length).toBeLessThan(MAX_RECORD_BYTES)
  })

  it('the signature is over the domain prefix: a record signed without it is forged', async () => {
    const key = await keyPair()
    const record = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('a') })
    const map = dagCbor.decode(record.bytes) as Record<string, unknown>
    const { sig: _, ...fields } = map
    const bare = dagCbor.encode({ ...fields, sig: await key.sign(dagCbor.encode(fields)) })
    expect((await errorOf(() => openNameRecord(bare))).name).toBe('ForgedNameRecordError')
    // and the same fields signed with the prefix open fine, so the test above can fail
    await expect(openNameRecord(await resign(map, key))).resolves.toBeTruthy()
  })

  it('refuses a record signed by another key than its publisher', async () => {
    const owner = await keyPair()
    const forger = await keyPair()
    const record = await signNameRecord(owner, { name: NAME, version: 1, cid: await cidOf('a') })
    const map = dagCbor.decode(record.bytes) as Record<string, unknown>
    const forged = await resign({ ...map, version: 99 }, forger)
    expect((await errorOf(() => openNameRecord(forged))).name).toBe('ForgedNameRecordError')
    // an edited field without a new signature is forged too
    const edited = dagCbor.encode({ ...map, version: 2 })
    expect((await errorOf(() => openNameRecord(edited))).name).toBe('ForgedNameRecordError')
  })

  it('refuses an expired record unless told to allow it', async () => {
    const key = await keyPair()
    const record = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('a'), issued: Date.now() - 10_000, validity: 5_000 })
    expect((await errorOf(() => openNameRecord(record.bytes))).name).toBe('ExpiredNameRecordError')
    await expect(openNameRecord(record.bytes, { allowExpired: true })).resolves.toMatchObject({ version: 1 })
  })

  it('refuses malformed input: garbage, oversize, extra fields, bad names, long validity, wrong DHT key', async () => {
    const key = await keyPair()
    const record = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('a') })
    const map = dagCbor.decode(record.bytes) as Record<string, unknown>
    const cases: Uint8Array[] = [
      new Uint8Array([0xff, 0x00, 0x13]),
      new Uint8Array(MAX_RECORD_BYTES + 1),
      dagCbor.encode([1, 2, 3]),
      await resign({ ...map, extra: 'x' }, key),
      await resign({ ...map, name: '../etc' }, key),
      await resign({ ...map, name: 'single' }, key),
      await resign({ ...map, version: 0 }, key),
      await resign({ ...map, version: 1.5 }, key),
      await resign({ ...map, expires: (map.issued as number) + 31 * 24 * 3600 * 1000 }, key),
      await resign({ ...map, withdrawn: new Array(33).fill(map.cid) }, key),
      await resign({ ...map, publisher: new Uint8Array(31) }, key)
    ]
    for (const bytes of cases) expect((await errorOf(() => openNameRecord(bytes))).name).toBe('MalformedNameRecordError')
    const otherKey = await nameKey(key.publicKey.raw, 'acme/other')
    expect((await errorOf(() => openNameRecord(record.bytes, { key: otherKey }))).name).toBe('MalformedNameRecordError')
    await expect(signNameRecord(key, { name: 'no-org', version: 1, cid: null })).rejects.toThrow('org/model')
  })
})

describe('key rotation', () => {
  it('a record signed by a new key verifies through the old key\'s rotation, under the old publisher id', async () => {
    const root = await keyPair()
    const next = await keyPair()
    const rotation = await signRotation(root, root.publicKey.raw, 0, next.publicKey.raw)
    const record = await signNameRecord(next, { name: NAME, version: 2, cid: await cidOf('b'), publisher: root.publicKey.raw, rotations: [rotation] })
    const opened = await openNameRecord(record.bytes, { key: await nameKey(root.publicKey.raw, NAME) })
    expect(opened.publisher).toBe(peerIdFromPublicKey(root.publicKey).toString())
    expect(opened.rotations).toBe(1)
    expect(opened.keys).toEqual([peerIdFromPublicKey(root.publicKey).toString(), peerIdFromPublicKey(next.publicKey).toString()])
  })

  it('a rotation not signed by the previous key is forged', async () => {
    const root = await keyPair()
    const thief = await keyPair()
    const rotation = await signRotation(thief, root.publicKey.raw, 0, thief.publicKey.raw)
    const record = await signNameRecord(thief, { name: NAME, version: 2, cid: await cidOf('b'), publisher: root.publicKey.raw, rotations: [rotation] })
      .catch(err => err)
    expect(record.name).toBe('ForgedNameRecordError')
  })
})

describe('DHT validator and selector', () => {
  it('the validator accepts a good record and rejects forged, expired and misplaced ones', async () => {
    const key = await keyPair()
    const dhtKey = await nameKey(key.publicKey.raw, NAME)
    const good = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('a') })
    await expect(validateNameRecord(dhtKey, good.bytes)).resolves.toBeUndefined()
    const expired = await signNameRecord(key, { name: NAME, version: 2, cid: await cidOf('a'), issued: 1, validity: 10 })
    expect((await errorOf(() => validateNameRecord(dhtKey, expired.bytes))).name).toBe('ExpiredNameRecordError')
    const other = await signNameRecord(await keyPair(), { name: NAME, version: 5, cid: await cidOf('a') })
    expect((await errorOf(() => validateNameRecord(dhtKey, other.bytes))).name).toBe('MalformedNameRecordError')
  })

  it('the selector picks the highest version, then the latest expiry, and never an invalid one', async () => {
    const key = await keyPair()
    const dhtKey = await nameKey(key.publicKey.raw, NAME)
    const v1 = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('a') })
    const v2 = await signNameRecord(key, { name: NAME, version: 2, cid: await cidOf('b') })
    const v2later = await signNameRecord(key, { name: NAME, version: 2, cid: await cidOf('b'), issued: Date.now() + 1000 })
    const forged = await resign({ ...(dagCbor.decode(v1.bytes) as Record<string, unknown>), version: 50 }, await keyPair())
    expect(await selectNameRecord(dhtKey, [v1.bytes, v2.bytes])).toBe(1)
    expect(await selectNameRecord(dhtKey, [v2.bytes, v1.bytes])).toBe(0)
    expect(await selectNameRecord(dhtKey, [v1.bytes, forged, v2.bytes, v2later.bytes])).toBe(3)
    expect(compareRecords(v2later, v2)).toBeLessThan(0)
  })
})
