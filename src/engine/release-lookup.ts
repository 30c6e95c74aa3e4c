/**
 * Getting a release's bytes from the swarm. A release may be up to 80 MiB and anyone can claim
 * to have it, so candidates are asked a few at a time (`concurrency`, which bounds memory to
 * concurrency × 80 MiB however many providers the DHT returns). A candidate that fails (no
 * answer within --stall-timeout, a reset connection, bytes that do not hash to the CID) is asked
 * again with backoff (1 s doubling to 15 s) until --find-timeout: in a flash crowd the first
 * answer is often a reset from a seeder still busy accepting connections. A release that hashes
 * to the CID but is badly signed or untrusted is final: every honest peer would send the same.
 */
import { RELEASE_LOOKUP_CONCURRENCY, RELEASE_RETRY_FIRST, RELEASE_RETRY_MAX } from './constants.js'
import { ReleaseNotFoundError } from './errors.js'
import { BadSignatureError, CidMismatchError, InvalidManifestError, UntrustedPublisherError } from '../manifest/errors.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { Channel } from '../swarm/channel.js'
import { backoffDelay } from '../swarm/policy/backoff.js'
import type { PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface ReleaseLookupInit {
  cid: CID
  trust: string[]
  findTimeout: number
  stallTimeout: number
  concurrency?: number
  /** Ends the lookup with the signal's reason. */
  signal?: AbortSignal
  /** Told about each candidate that failed (the provider search backs it off). */
  onFailed?: (peer: PeerId) => void
}

interface Candidate { peer: PeerId, failures: number, retryAt: number, lastError?: string }

export class ReleaseLookup {
  private readonly candidates = new Map<string, Candidate>()
  private active = 0
  private timer?: NodeJS.Timeout
  private settled = false
  private resolve!: (release: Release) => void
  private reject!: (err: Error) => void
  private readonly controller = new AbortController()

  /** `dial` opens a chunk-protocol stream to a peer (the engine's, which respects relay limits). */
  constructor (private readonly node: { dial: (peer: PeerId, signal: AbortSignal) => Promise<Stream> }, private readonly init: ReleaseLookupInit) {}

  /** Resolves with the first verified release; rejects after `findTimeout` or on a final error. */
  async run (): Promise<Release> {
    const { signal } = this.init
    signal?.throwIfAborted()
    const deadline = setTimeout(() => this.giveUp(), this.init.findTimeout)
    const onAbort = (): void => {
      if (this.settled) return
      this.settled = true
      this.reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await new Promise<Release>((resolve, reject) => {
        this.resolve = resolve
        this.reject = reject
        this.pump()
      })
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.settled = true
      clearTimeout(deadline)
      clearTimeout(this.timer)
      this.controller.abort(new Error('release lookup over'))
    }
  }

  /** A peer that may have the release (from --peer, the DHT, mDNS, or a connected peer). */
  add (peer: PeerId): void {
    const id = peer.toString()
    if (this.candidates.has(id) || this.settled) return
    this.candidates.set(id, { peer, failures: 0, retryAt: 0 })
    this.pump()
  }

  /** Starts asks while fewer than `concurrency` run; waits for the next retry otherwise. */
  private pump (): void {
    if (this.settled) return
    clearTimeout(this.timer)
    const now = Date.now()
    const concurrency = this.init.concurrency ?? RELEASE_LOOKUP_CONCURRENCY
    const waiting = [...this.candidates.values()].filter(c => c.retryAt >= 0 && Number.isFinite(c.retryAt)).sort((a, b) => a.retryAt - b.retryAt)
    for (const c of waiting) {
      if (this.active >= concurrency) return
      if (c.retryAt > now) {
        this.timer = setTimeout(() => this.pump(), c.retryAt - now)
        return
      }
      c.retryAt = -1 // being asked
      this.active++
      void this.ask(c).finally(() => { this.active--; this.pump() })
    }
  }

  private async ask (c: Candidate): Promise<void> {
    try {
      const bytes = await this.fetchBytes(c.peer)
      const release = await openRelease(this.init.cid, bytes, this.init.trust)
      if (!this.settled) { this.settled = true; this.resolve(release) }
    } catch (err: any) {
      if (this.settled) return
      if (err instanceof UntrustedPublisherError || err instanceof BadSignatureError || err instanceof InvalidManifestError) {
        this.settled = true
        this.reject(err)
        return
      }
      c.failures++
      c.lastError = err.message
      // Bytes that do not hash to the CID are that peer's lie: never ask it again.
      c.retryAt = err instanceof CidMismatchError ? Infinity : Date.now() + backoffDelay(c.failures, { first: RELEASE_RETRY_FIRST, max: RELEASE_RETRY_MAX })
      this.init.onFailed?.(c.peer)
    }
  }

  private async fetchBytes (peer: PeerId): Promise<Uint8Array> {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.findTimeout)])
    const stream = await this.node.dial(peer, AbortSignal.any([signal, AbortSignal.timeout(this.init.stallTimeout)]))
    const channel = new Channel(stream, this.init.stallTimeout)
    try {
      return await channel.getRelease(this.init.cid, signal)
    } finally {
      channel.close()
    }
  }

  private giveUp (): void {
    if (this.settled) return
    this.settled = true
    const { cid, findTimeout } = this.init
    const failures = [...this.candidates].filter(([, c]) => c.lastError != null).slice(0, 8).map(([id, c]) => `${id}: ${c.lastError} (${c.failures}x)`)
    this.reject(new ReleaseNotFoundError(
      `could not get release ${cid.toString()} from any peer within ${Math.round(findTimeout / 1000)} s` +
      (failures.length > 0 ? ` (tried: ${failures.join('; ')})` : ' (no provider found)') +
      '. Check the CID, that a seeder is online, or pass --peer <address the seeder printed>.'
    ))
  }
}
