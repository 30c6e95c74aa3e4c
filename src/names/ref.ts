/**
 * Name references as users type them: `<publisher-id>/<org>/<model>` or `<alias>/<org>/<model>`
 * where the alias comes from the trust store. A CID never contains `/`, so `fetch` tells the two
 * apart by that alone.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidNameRefError } from './errors.js'
import { parsePublisher, type TrustEntry } from './store.js'
import { isRepoId } from '../manifest/repo-id.js'

export interface NameRef {
  /** Root publisher id (12D3KooW…). */
  publisher: string
  /** Its raw Ed25519 key: the DHT key is derived from it. */
  root: Uint8Array
  /** `org/model` */
  name: string
}

export function isNameRef (text: string): boolean {
  return text.includes('/')
}

export function parseNameRef (text: string, trusted: readonly TrustEntry[] = []): NameRef {
  const parts = text.trim().split('/')
  const name = parts.slice(1).join('/')
  if (parts.length !== 3 || !isRepoId(name)) {
    throw new InvalidNameRefError(`"${text}" is not a name: use <publisher-id>/<org>/<model> or <alias>/<org>/<model> (see \`p2pweights trust add\`)`)
  }
  const head = parts[0]
  const alias = trusted.find(e => e.alias === head)
  let publisher: string
  if (alias != null) {
    publisher = alias.publisher
  } else if (head.startsWith('12D3Koo')) {
    publisher = parsePublisher(head)
  } else {
    throw new InvalidNameRefError(`"${head}" is neither a publisher id nor a trusted alias; add it with \`p2pweights trust add <publisher-id> --as ${head}\``)
  }
  const key = peerIdFromString(publisher).publicKey
  if (key == null) throw new InvalidNameRefError(`${publisher} does not embed its public key`)
  return { publisher, root: key.raw, name }
}

export function formatRef (ref: Pick<NameRef, 'publisher' | 'name'>): string {
  return `${ref.publisher}/${ref.name}`
}
