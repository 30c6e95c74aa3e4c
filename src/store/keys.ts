/** Ed25519 key files: libp2p's protobuf private-key encoding, written with mode 0600. */
import { readFile, stat } from 'node:fs/promises'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { writeFileAtomic } from './atomic.js'
import { decodePrivateKey } from '../manifest/signed.js'
import type { PrivateKey } from '@libp2p/interface'

export class KeyFileError extends Error {
  static override name = 'KeyFileError'
  override name = 'KeyFileError'
}

export async function readKeyFile (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    throw new KeyFileError(`cannot read key file ${path}: ${err.code ?? err.message}`)
  }
  try {
    return decodePrivateKey(bytes)
  } catch (err: any) {
    throw new KeyFileError(`${path} is not a p2pweights key file: ${err.message}`)
  }
}

/** Writes a new Ed25519 key; refuses to overwrite an existing file. */
export async function createKeyFile (path: string): Promise<PrivateKey> {
  if (await stat(path).then(() => true, () => false)) {
    throw new KeyFileError(`${path} already exists; refusing to overwrite a key (move it away or pick another --out)`)
  }
  const key = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  return key
}

export async function loadOrCreateKeyFile (path: string): Promise<PrivateKey> {
  const exists = await stat(path).then(() => true, () => false)
  return exists ? await readKeyFile(path) : await createKeyFile(path)
}
