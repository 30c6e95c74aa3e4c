import { describe, expect, it } from 'vitest'
import { carriesChunks, MIN_RELAYED_BYTES } from '../../../src/net/limited.js'

describe('carriesChunks', () => {
  it('direct connections and generous relays carry chunks; public relay defaults do not', () => {
    expect(carriesChunks({ limits: undefined })).toBe(true)
    // what a p2pweights relay grants by default: 4 GiB, an hour
    expect(carriesChunks({ limits: { bytes: 4n * 1024n ** 3n, seconds: 3600 } })).toBe(true)
    expect(carriesChunks({ limits: { bytes: MIN_RELAYED_BYTES } })).toBe(true)
    // go-libp2p's (and js-libp2p's) relay defaults: 128 KiB, 2 minutes
    expect(carriesChunks({ limits: { bytes: 131072n, seconds: 120 } })).toBe(false)
    expect(carriesChunks({ limits: { bytes: MIN_RELAYED_BYTES - 1n } })).toBe(false)
    expect(carriesChunks({ limits: { seconds: 10 } })).toBe(false)
  })
})
