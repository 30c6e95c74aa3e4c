/**
 * NameService between two real libp2p nodes on 127.0.0.1 (closed DHT): resolving over the name
 * protocol, withdrawal, pushes of new versions, and hostile name-protocol peers (oversized and
 * garbage frames, a peer that never answers) with bounded outcomes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { Announcer } from '../../../src/discovery/announcer.js'
import { getNameFromPeer, NAME_PROTOCOL, pushNameToPeer } from '../../../src/names/protocol.js'
import { nameDigest, type NameRecord } from '../../../src/names/record.js'
import { parseNameRef } from '../../../src/names/ref.js'
import { NameService } from '../../../src/names/service.js'
import { createNode, type P2PNode } from '../../../src/net/node.js'
import { errorOf } from '../helpers.js'

const NAME = 'acme/llama-7b'
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}) })

async function cidOf (text: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text)))
}

interface Peer { node: P2PNode, names: NameService, updates: NameRecord[] }

async function peer (validity?: number): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pw-names-svc-'))
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dhtProtocol: '/p2pweights-unit/kad/1.0.0', mdns: false })
  const updates: NameRecord[] = []
  const announcer = new Announcer(node.services.dht, { timeout: 2000 })
  const names = new NameService({ node, announcer, dataDir: dir, onUpdate: r => updates.push(r) }, validity)
  await names.start()
  await node.start()
  cleanups.push(async () => { announcer.stop(); await names.stop(); await node.stop(); await rm(dir, { recursive: true, force: true }) })
  return { node, names, updates }
}

async function connect (a: Peer, b: Peer): Promise<void> {
  await a.node.dial(b.node.getMultiaddrs()[0])
}

describe('NameService over the name protocol', () => {
  it('resolves a published name from a connected peer, then refuses a withdrawn release', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const key = await generateKeyPair('Ed25519')
    const publisher = peerIdFromPublicKey(key.publicKey).toString()
    const v1 = await cidOf('v1')
    const published = await a.names.publish(key, NAME, v1)
    expect(published.version).toBe(1)
    // The same release again is a republish: same version, not a new one.
    expect((await a.names.publish(key, NAME, v1)).version).toBe(1)

    const ref = parseNameRef(`${publisher}/${NAME}`)
    const resolved = await b.names.resolve(ref, { timeout: 5000 })
    expect(resolved.version).toBe(1)
    expect(resolved.cid?.equals(v1)).toBe(true)

    const withdrawal = await a.names.withdraw(key, NAME, v1, null)
    expect(withdrawal.version).toBe(2)
    const err = await errorOf(async () => await b.names.resolve(ref, { timeout: 5000 }))
    expect(err.name).toBe('WithdrawnReleaseError')
    expect(err.message).toContain(v1.toString())
  })

  it('a new version pushed by the publisher reaches a peer that holds the name, without asking', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const key = await generateKeyPair('Ed25519')
    const ref = parseNameRef(`${peerIdFromPublicKey(key.publicKey).toString()}/${NAME}`)
    await a.names.publish(key, NAME, await cidOf('v1'))
    await b.names.resolve(ref, { timeout: 5000 })
    b.updates.length = 0
    await a.names.publish(key, NAME, await cidOf('v2'))
    for (let i = 0; i < 100 && b.updates.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
    expect(b.updates.map(r => r.version)).toEqual([2])
    expect((await b.names.store.seen(ref.root, NAME))?.version).toBe(2)
  })

  it('a peer that pushes a record for a name we do not hold, or garbage, changes nothing', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const key = await generateKeyPair('Ed25519')
    await a.names.publish(key, NAME, await cidOf('v1'))
    await pushNameToPeer(a.node, b.node.peerId, new Uint8Array([0xa1, 0x61, 0x76, 0x01]))
    await pushNameToPeer(a.node, b.node.peerId, new Uint8Array(4096).fill(0xff))
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(b.updates).toEqual([])
    expect(await b.names.store.all()).toEqual([])
  })

  it('hostile frames: an oversized request aborts the stream; an unknown digest gets an empty answer', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const stream = await b.node.dialProtocol(a.node.peerId, NAME_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 1 << 20 })
    await lp.write(new Uint8Array(64 * 1024).fill(1))
    // reset by the server, not left to run into our own 10 s timeout
    const err = await errorOf(async () => await lp.read({ signal: AbortSignal.timeout(10_000) }))
    expect(err.name).toBe('StreamResetError')

    const key = await generateKeyPair('Ed25519')
    const missing = await getNameFromPeer(b.node, a.node.peerId, await nameDigest(key.publicKey.raw, NAME))
    expect(missing).toBeUndefined()
  })

  it('a peer that never answers costs a bounded wait, and the answer is "not found"', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await a.names.stop() // replace the honest handler with one that reads and stalls
    await a.node.handle(NAME_PROTOCOL, () => {}, { maxInboundStreams: 8 })
    await connect(b, a)
    const key = await generateKeyPair('Ed25519')
    const ref = parseNameRef(`${peerIdFromPublicKey(key.publicKey).toString()}/${NAME}`)
    const started = Date.now()
    const err = await errorOf(async () => await b.names.resolve(ref, { timeout: 3000 }))
    expect(err.name).toBe('NameNotFoundError')
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('after a key rotation the new key publishes under the old publisher id, and the retired key is refused', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const root = await generateKeyPair('Ed25519')
    const next = await generateKeyPair('Ed25519')
    const publisher = peerIdFromPublicKey(root.publicKey).toString()
    const ref = parseNameRef(`${publisher}/${NAME}`)
    await a.names.publish(root, NAME, await cidOf('v1'))
    await a.names.store.rotate(root, next.publicKey.raw)
    const v2 = await a.names.publish(next, NAME, await cidOf('v2'))
    expect(v2).toMatchObject({ publisher, version: 2, rotations: 1 })
    expect(v2.keys).toEqual([publisher, peerIdFromPublicKey(next.publicKey).toString()])
    const resolved = await b.names.resolve(ref, { timeout: 5000 })
    expect(resolved).toMatchObject({ version: 2, rotations: 1 })

    // The retired key (stolen, say) signs a higher version: a peer that saw the rotation refuses it.
    const { signNameRecord } = await import('../../../src/names/record.js')
    const byOld = await signNameRecord(root, { name: NAME, version: 3, cid: await cidOf('evil') })
    expect((await errorOf(async () => await b.names.store.accept(byOld))).name).toBe('RetiredKeyError')
  })

  it('after a restart, a name is republished only while its release is still the newest version', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const key = await generateKeyPair('Ed25519')
    const v1 = await cidOf('v1')
    const v2 = await cidOf('v2')
    expect((await a.names.publish(key, NAME, v1)).version).toBe(1)
    // another machine with the same key (b) publishes v2, finding v1 through a
    expect((await b.names.publish(key, NAME, v2)).version).toBe(2)
    for (let i = 0; i < 100 && (await a.names.store.seen(key.publicKey.raw, NAME))?.version !== 2; i++) await new Promise(resolve => setTimeout(resolve, 50))
    expect(await a.names.resume(key, NAME, v1)).toBeUndefined()
    expect((await a.names.store.seen(key.publicKey.raw, NAME))?.version).toBe(2)
    expect(await b.names.resume(key, NAME, v2)).toMatchObject({ version: 2 })
  })

  it('while published, a record is re-signed with a fresh expiry and the same version', { timeout: 60_000 }, async () => {
    const a = await peer(4000) // republished every second
    const key = await generateKeyPair('Ed25519')
    const first = await a.names.publish(key, NAME, await cidOf('v1'))
    let latest = first
    for (let i = 0; i < 100 && latest.expires === first.expires; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      latest = (await a.names.store.seen(key.publicKey.raw, NAME)) ?? latest
    }
    expect(latest.expires).toBeGreaterThan(first.expires)
    expect(latest.version).toBe(1)
    expect(latest.cid?.toString()).toBe(first.cid?.toString())
  })

  it('a DHT node stores a valid record a peer puts, and refuses a forged or an expired one', { timeout: 60_000 }, async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(b, a)
    const { nameKey, signNameRecord } = await import('../../../src/names/record.js')
    const dagCbor = await import('@ipld/dag-cbor')
    const key = await generateKeyPair('Ed25519')
    const dhtKey = await nameKey(key.publicKey.raw, NAME)
    const put = async (bytes: Uint8Array): Promise<number> => {
      let stored = 0
      for await (const event of b.node.services.dht.put(dhtKey, bytes, { signal: AbortSignal.timeout(10_000) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++
      }
      return stored
    }
    const valid = await signNameRecord(key, { name: NAME, version: 1, cid: await cidOf('v1') })
    let stored = 0
    for (let i = 0; i < 20 && stored === 0; i++) { // until b's routing table holds a
      stored = await put(valid.bytes)
      if (stored === 0) await new Promise(resolve => setTimeout(resolve, 250))
    }
    expect(stored).toBe(1)
    const forged = dagCbor.encode({ ...(dagCbor.decode(valid.bytes) as Record<string, unknown>), version: 7 })
    const expired = await signNameRecord(key, { name: NAME, version: 8, cid: await cidOf('v8'), issued: Date.now() - 7200_000, validity: 3600_000 })
    expect(await put(forged)).toBe(0)
    expect(await put(expired.bytes)).toBe(0)
    // what a holds is still the valid record
    const values: Uint8Array[] = []
    for await (const event of a.node.services.dht.get(dhtKey, { signal: AbortSignal.timeout(10_000) })) {
      if (event.name === 'VALUE') values.push(event.value)
    }
    expect(values.length).toBeGreaterThan(0)
    expect(values.every(v => Buffer.from(v).equals(Buffer.from(valid.bytes)))).toBe(true)
  })
})
