import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 as mfSha256, sha512 as mfSha512 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { encodeManifest } from '../../../src/manifest/manifest.js'
import { MAX_RELEASE_BYTES, decodePrivateKey, openRelease, signRelease } from '../../../src/manifest/signed.js'
import { SMALL_CHUNK, bytesOf, errorOf, keys, manifestOf } from '../helpers.js'
import type { PrivateKey } from '@libp2p/interface'

const DAG_CBOR = 0x71
const RAW = 0x55
/** The domain prefix, spelled out here rather than imported, so a change to it is noticed. */
const DOMAIN = new TextEncoder().encode('p2pweights-manifest-v1\n')

const manifest = manifestOf([
  { path: 'config.json', bytes: bytesOf(300, 1) },
  { path: 'model.safetensors', bytes: bytesOf(2 * SMALL_CHUNK + 1, 2) }
])

async function cidOf (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(DAG_CBOR, await mfSha256.digest(bytes))
}

interface Envelope { manifest: Uint8Array, publicKey: Uint8Array, signature: Uint8Array }

/** An envelope built and signed by hand, bypassing encodeManifest's validation. */
async function handSigned (manifestValue: unknown, key: PrivateKey, domain = DOMAIN): Promise<{ cid: CID, bytes: Uint8Array }> {
  const manifestBytes = dagCbor.encode(manifestValue)
  const signature = await key.sign(new Uint8Array([...domain, ...manifestBytes]))
  const bytes = dagCbor.encode({ manifest: manifestBytes, publicKey: key.publicKey.raw, signature })
  return { cid: await cidOf(bytes), bytes }
}

async function reencode (envelope: Envelope): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagCbor.encode(envelope)
  return { cid: await cidOf(bytes), bytes }
}

describe('signRelease / openRelease', () => {
  it('round-trips: the CID is the dag-cbor sha2-256 CID of the bytes, the publisher the key\'s peer id', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    expect(release.cid.toString()).toBe((await cidOf(release.bytes)).toString())
    expect(release.publisher).toBe(peerIdFromPublicKey(key.publicKey).toString())
    const opened = await openRelease(release.cid, release.bytes)
    expect(opened.publisher).toBe(release.publisher)
    expect(Buffer.from(encodeManifest(opened.manifest))).toEqual(Buffer.from(encodeManifest(manifest)))
    // The envelope signs the domain-prefixed manifest bytes with the publisher's key.
    const envelope = dagCbor.decode<Envelope>(release.bytes)
    expect(Buffer.from(envelope.publicKey)).toEqual(Buffer.from(key.publicKey.raw))
    expect(await key.publicKey.verify(new Uint8Array([...DOMAIN, ...envelope.manifest]), envelope.signature)).toBe(true)
  })

  it('gives the same CID for the same manifest and key, another for another key', async () => {
    const [a, b] = await keys()
    const one = await signRelease(manifest, a)
    const two = await signRelease(manifestOf([
      { path: 'config.json', bytes: bytesOf(300, 1) },
      { path: 'model.safetensors', bytes: bytesOf(2 * SMALL_CHUNK + 1, 2) }
    ]), a)
    expect(two.cid.toString()).toBe(one.cid.toString())
    expect(Buffer.from(two.bytes)).toEqual(Buffer.from(one.bytes))
    expect((await signRelease(manifest, b)).cid.toString()).not.toBe(one.cid.toString())
  })

  it('accepts a trusted publisher', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const opened = await openRelease(release.cid, release.bytes, ['12D3KooWSomeoneElse', release.publisher])
    expect(opened.publisher).toBe(release.publisher)
  })

  it('rejects bytes that do not hash to the CID', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const other = await signRelease(manifestOf([{ path: 'x', bytes: bytesOf(5) }]), key)
    expect((await errorOf(() => openRelease(release.cid, other.bytes))).name).toBe('CidMismatchError')
    const extended = new Uint8Array([...release.bytes, 0])
    expect((await errorOf(() => openRelease(release.cid, extended))).name).toBe('CidMismatchError')
  })

  it('rejects a CID with the wrong codec or hash function, even over the right bytes', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const rawCid = CID.createV1(RAW, await mfSha256.digest(release.bytes))
    expect((await errorOf(() => openRelease(rawCid, release.bytes))).name).toBe('CidMismatchError')
    const sha512Cid = CID.createV1(DAG_CBOR, await mfSha512.digest(release.bytes))
    expect((await errorOf(() => openRelease(sha512Cid, release.bytes))).name).toBe('CidMismatchError')
  })

  it('rejects a flipped bit in the signature', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const envelope = dagCbor.decode<Envelope>(release.bytes)
    for (const bit of [0, 7, 300, 511]) {
      const signature = new Uint8Array(envelope.signature)
      signature[bit >> 3] ^= 1 << (bit & 7)
      const forged = await reencode({ ...envelope, signature })
      expect((await errorOf(() => openRelease(forged.cid, forged.bytes))).name).toBe('BadSignatureError')
    }
  })

  it('rejects tampered manifest bytes even when the attacker computes the new CID', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const envelope = dagCbor.decode<Envelope>(release.bytes)
    const m = dagCbor.decode<any>(envelope.manifest)
    m.files[1].chunks[0] ^= 0xff
    const forged = await reencode({ ...envelope, manifest: dagCbor.encode(m) })
    expect(forged.cid.toString()).not.toBe(release.cid.toString())
    expect((await errorOf(() => openRelease(forged.cid, forged.bytes))).name).toBe('BadSignatureError')
  })

  it('rejects a signature made by another key than the one in the envelope', async () => {
    const [a, b] = await keys()
    const release = await signRelease(manifest, a)
    const envelope = dagCbor.decode<Envelope>(release.bytes)
    const forged = await reencode({ ...envelope, publicKey: b.publicKey.raw })
    expect((await errorOf(() => openRelease(forged.cid, forged.bytes))).name).toBe('BadSignatureError')
  })

  it('rejects a signature without the domain prefix', async () => {
    const [key] = await keys()
    const forged = await handSigned(dagCbor.decode(encodeManifest(manifest)), key, new Uint8Array(0))
    expect((await errorOf(() => openRelease(forged.cid, forged.bytes))).name).toBe('BadSignatureError')
  })

  it('refuses a manifest re-signed by another key when the original publisher is trusted', async () => {
    const [original, thief] = await keys()
    const release = await signRelease(manifest, original)
    const stolen = await signRelease(manifest, thief)
    const err = await errorOf(() => openRelease(stolen.cid, stolen.bytes, [release.publisher]))
    expect(err.name).toBe('UntrustedPublisherError')
    // Without a trust list the re-signed release opens, under the thief's name.
    expect((await openRelease(stolen.cid, stolen.bytes)).publisher).toBe(peerIdFromPublicKey(thief.publicKey).toString())
  })

  it('refuses a validly signed manifest that holds a hostile path', async () => {
    const [key] = await keys()
    const hostile = {
      version: 1,
      name: 'model',
      chunkSize: SMALL_CHUNK,
      files: [{ path: '../x', size: manifest.files[0].size, sha256: manifest.files[0].sha256, chunks: manifest.files[0].chunks }]
    }
    const signed = await handSigned(hostile, key)
    expect((await errorOf(() => openRelease(signed.cid, signed.bytes))).name).toBe('UnsafePathError')
    // The same envelope with a benign path opens: it is the path that was refused.
    const benign = await handSigned({ ...hostile, files: [{ ...hostile.files[0], path: 'x' }] }, key)
    expect((await openRelease(benign.cid, benign.bytes)).manifest.files[0].path).toBe('x')
  })

  it.each([
    ['case-fold collision', 'model', ['Model.bin', 'model.bin']],
    ['NFC/NFD collision', 'model', ['\u00e9.bin', 'e\u0301.bin']],
    ['upper-case state folder', 'model', ['.P2PWEIGHTS/have']],
    ['.git folder', 'model', ['sub/.git/hooks/post-checkout']],
    ['Windows device name', 'model', ['aux.json']],
    ['bidi override', 'model', ['x\u202e.bin']],
    ['device name as release name', 'CON', ['x.bin']],
    ['release name with a trailing dot', 'model.', ['x.bin']],
    ['release name .git', '.git', ['x.bin']],
    ['release name with a bidi override', 'ledom\u202e', ['x.bin']]
  ])('refuses a validly signed release with a %s', async (_what, name, paths) => {
    const [key] = await keys()
    const f = manifest.files[0]
    const hostile = { version: 1, name, chunkSize: SMALL_CHUNK, files: paths.map(path => ({ path, size: f.size, sha256: f.sha256, chunks: f.chunks })) }
    const signed = await handSigned(hostile, key)
    expect((await errorOf(() => openRelease(signed.cid, signed.bytes))).name).toBe('UnsafePathError')
  })

  it('refuses a validly signed manifest with a bad field', async () => {
    const [key] = await keys()
    const m: any = dagCbor.decode(encodeManifest(manifest))
    m.version = 99
    const signed = await handSigned(m, key)
    expect((await errorOf(() => openRelease(signed.cid, signed.bytes))).name).toBe('InvalidManifestError')
  })

  it('rejects malformed envelopes that hash to their CID', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const envelope = dagCbor.decode<Envelope>(release.bytes)
    const cases: Uint8Array[] = [
      Uint8Array.of(0xff, 0xfe),
      dagCbor.encode(null),
      dagCbor.encode({ manifest: envelope.manifest, publicKey: envelope.publicKey.subarray(1), signature: envelope.signature }),
      dagCbor.encode({ manifest: envelope.manifest, publicKey: envelope.publicKey, signature: envelope.signature.subarray(1) }),
      dagCbor.encode({ manifest: 'text', publicKey: envelope.publicKey, signature: envelope.signature })
    ]
    for (const bytes of cases) {
      expect((await errorOf(async () => await openRelease(await cidOf(bytes), bytes))).name).toBe('InvalidManifestError')
    }
  })

  it('rejects a release larger than the limit before hashing it', async () => {
    const [key] = await keys()
    const release = await signRelease(manifest, key)
    const huge = new Uint8Array(MAX_RELEASE_BYTES + 1)
    expect((await errorOf(() => openRelease(release.cid, huge))).name).toBe('InvalidManifestError')
  })

  it('refuses keys that are not Ed25519', async () => {
    const secp = await generateKeyPair('secp256k1')
    expect((await errorOf(() => signRelease(manifest, secp))).name).toBe('BadSignatureError')
    expect((await errorOf(() => decodePrivateKey(privateKeyToProtobuf(secp)))).name).toBe('BadSignatureError')
    const [ed] = await keys()
    expect(decodePrivateKey(privateKeyToProtobuf(ed)).publicKey.equals(ed.publicKey)).toBe(true)
  })
})
