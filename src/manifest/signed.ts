/**
 * A signed release: the manifest's exact bytes, the publisher's Ed25519 public key, and the
 * publisher's signature over a domain-separated message. The release's CID (CIDv1, dag-cbor,
 * sha2-256) is what users fetch: it pins the manifest AND the publisher, so a peer cannot
 * strip the signature and substitute its own. Ed25519 signatures are deterministic, so the
 * same folder signed by the same key always gives the same CID.
 *
 * openRelease() is the only way in for bytes from a peer: it checks the CID, the encoding,
 * the signature and the manifest, in that order, before anything else reads a field.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { privateKeyFromProtobuf, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { BadSignatureError, CidMismatchError, InvalidManifestError, UntrustedPublisherError } from './errors.js'
import { decodeManifest, encodeManifest, type Manifest } from './manifest.js'
import { MAX_RELEASE_BYTES } from './constants.js'
import type { PrivateKey } from '@libp2p/interface'

/** Prefixed to the manifest bytes before signing, so the signature cannot be replayed elsewhere. */
export const SIGNATURE_DOMAIN = new TextEncoder().encode('p2pweights-manifest-v1\n')
// Re-exported: importers reach the bound through the release module.
export { MAX_RELEASE_BYTES }

export interface Release {
  cid: CID
  manifest: Manifest
  /** The publisher's id: the libp2p peer id form of its Ed25519 public key (12D3Koo…). */
  publisher: string
  /** The encoded release, exactly the bytes the CID hashes. */
  bytes: Uint8Array
}

interface ReleaseEnvelope {
  manifest: Uint8Array
  publicKey: Uint8Array
  signature: Uint8Array
}

function signedMessage (manifestBytes: Uint8Array): Uint8Array {
  const message = new Uint8Array(SIGNATURE_DOMAIN.length + manifestBytes.length)
  message.set(SIGNATURE_DOMAIN, 0)
  message.set(manifestBytes, SIGNATURE_DOMAIN.length)
  return message
}

async function cidOf (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(dagCbor.code, await sha256.digest(bytes))
}

export async function signRelease (manifest: Manifest, key: PrivateKey): Promise<Release> {
  if (key.type !== 'Ed25519') throw new BadSignatureError('publisher keys must be Ed25519')
  const manifestBytes = encodeManifest(manifest)
  const signature = await key.sign(signedMessage(manifestBytes))
  const envelope: ReleaseEnvelope = { manifest: manifestBytes, publicKey: key.publicKey.raw, signature }
  const bytes = dagCbor.encode(envelope)
  return { cid: await cidOf(bytes), manifest, publisher: publisherId(key.publicKey.raw), bytes }
}

export function publisherId (rawPublicKey: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(rawPublicKey)).toString()
}

/**
 * Verifies untrusted bytes against the CID the user asked for, then the signature, then the
 * manifest. With `trusted`, the publisher must be one of those ids.
 */
export async function openRelease (cid: CID, bytes: Uint8Array, trusted: readonly string[] = []): Promise<Release> {
  if (bytes.length > MAX_RELEASE_BYTES) throw new InvalidManifestError('release is larger than the limit')
  if (cid.code !== dagCbor.code || cid.multihash.code !== sha256.code) {
    throw new CidMismatchError(`${cid.toString()} is not a p2pweights release CID (expected dag-cbor, sha2-256)`)
  }
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) {
    throw new CidMismatchError(`release bytes do not hash to ${cid.toString()}`)
  }
  let envelope: ReleaseEnvelope
  try {
    envelope = dagCbor.decode(bytes)
  } catch (err: any) {
    throw new InvalidManifestError(`release is not valid dag-cbor: ${err.message}`)
  }
  if (envelope == null || !(envelope.manifest instanceof Uint8Array) ||
      !(envelope.publicKey instanceof Uint8Array) || envelope.publicKey.length !== 32 ||
      !(envelope.signature instanceof Uint8Array) || envelope.signature.length !== 64) {
    throw new InvalidManifestError('release envelope is malformed')
  }
  const publicKey = publicKeyFromRaw(envelope.publicKey)
  const valid = await publicKey.verify(signedMessage(envelope.manifest), envelope.signature)
  if (!valid) throw new BadSignatureError('the manifest signature does not verify: the release was forged or damaged')
  const publisher = publisherId(envelope.publicKey)
  if (trusted.length > 0 && !trusted.includes(publisher)) {
    throw new UntrustedPublisherError(`the release is signed by ${publisher}, which is not among the trusted publishers (${trusted.join(', ')})`)
  }
  return { cid, manifest: decodeManifest(envelope.manifest), publisher, bytes }
}

export function decodePrivateKey (bytes: Uint8Array): PrivateKey {
  const key = privateKeyFromProtobuf(bytes)
  if (key.type !== 'Ed25519') throw new BadSignatureError('publisher keys must be Ed25519')
  return key
}
