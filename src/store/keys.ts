/**
 * Ed25519 key files: libp2p's protobuf private-key encoding, written with mode 0600. A key file
 * that group or others may read is refused, as ssh refuses such a key: the key may already
 * have leaked, and going on would hide that. The message says how to fix it.
 */
import { constants } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { writeFileAtomic } from './atomic.js'
import { decodePrivateKey } from '../manifest/signed.js'
import { MAX_KEY_FILE_BYTES } from './constants.js'
import type { PrivateKey } from '@libp2p/interface'
import { KeyFileError } from './errors.js'

export async function readKeyFile (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    // O_NONBLOCK: a FIFO planted as a key file must not hang us before fstat says what it is.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const s = await handle.stat()
      if (!s.isFile()) throw new KeyFileError(`${path} is not a regular file`)
      if (process.platform !== 'win32' && (s.mode & 0o077) !== 0) {
        throw new KeyFileError(`${path} is readable by other users (mode ${(s.mode & 0o777).toString(8)}); ` +
          `a private key must be readable by its owner only: run \`chmod 600 ${path}\` (and consider the key leaked if others could read it)`)
      }
      if (s.size > MAX_KEY_FILE_BYTES) throw new KeyFileError(`${path} is too large to be a key file`)
      bytes = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err: any) {
    if (err instanceof KeyFileError) throw err
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
