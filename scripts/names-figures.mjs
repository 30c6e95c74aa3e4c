// Figures for signed name records: encoded sizes (typical and with every list full) and the
// cost of signing and of opening (verifying) one record. Run after `npm run build`:
//   node scripts/names-figures.mjs
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { MAX_RECORD_BYTES, MAX_ROTATIONS, MAX_WITHDRAWN, openNameRecord, signNameRecord, signRotation } from '../dist/names/record.js'

const cid = async (s) => CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(s)))
const root = await generateKeyPair('Ed25519')
const name = 'some-organisation/a-fairly-long-model-name-v2.5-instruct'

const typical = await signNameRecord(root, { name, version: 12, cid: await cid('x') })

// Every list at its bound: 8 rotations, 32 withdrawn releases.
let signer = root
const rotations = []
for (let i = 0; i < MAX_ROTATIONS; i++) {
  const next = await generateKeyPair('Ed25519')
  rotations.push(await signRotation(signer, root.publicKey.raw, i, next.publicKey.raw))
  signer = next
}
const withdrawn = await Promise.all(Array.from({ length: MAX_WITHDRAWN }, (_, i) => cid(`w${i}`)))
const full = await signNameRecord(signer, { name, version: 1e9, cid: await cid('y'), withdrawn, rotations, publisher: root.publicKey.raw })

const N = 500
let t = performance.now()
for (let i = 0; i < N; i++) await signNameRecord(root, { name, version: i + 1, cid: await cid('x') })
const signMs = (performance.now() - t) / N
t = performance.now()
for (let i = 0; i < N; i++) await openNameRecord(typical.bytes)
const openMs = (performance.now() - t) / N
t = performance.now()
for (let i = 0; i < N / 10; i++) await openNameRecord(full.bytes)
const openFullMs = (performance.now() - t) / (N / 10)

console.log(`record bytes: typical ${typical.bytes.length}, every list full ${full.bytes.length} (bound ${MAX_RECORD_BYTES})`)
console.log(`sign (incl. self-check) ${signMs.toFixed(3)} ms, open typical ${openMs.toFixed(3)} ms, open full (9 signatures) ${openFullMs.toFixed(3)} ms`)
