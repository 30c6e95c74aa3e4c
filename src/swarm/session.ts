/**
 * One peer of a fetch: its HAVE set and a few streams, each asking for one chunk at a time. A
 * session talks to the fetch only through `SessionHost` (pick a chunk, hand one back, deliver,
 * report an offence), so the policy behind it (peer book, piece picker) can be tested and
 * simulated without streams. It holds at most `slots()` requests, and so buffers, at once.
 */
import { Channel } from './channel.js'
import { ErrorCode } from './codec.js'
import { watchHave } from './have-watch.js'
import { requestDeadline } from './policy/backoff.js'
import { CHOKE_BACKOFF } from './constants.js'
import { Bitfield } from '../store/bitfield.js'
import { sleep } from '../util/sleep.js'
import type { Offence } from './policy/peer-book.js'
import type { PeerView } from './policy/piece-picker.js'
import type { RateLimiter } from './rate-limiter.js'
import type { ChunkIndex } from '../manifest/manifest.js'
import type { PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { DeadlineError, PeerBannedError, RemoteError, StalledError } from './errors.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:swarm:session')

export interface SessionHost {
  readonly finished: boolean
  /** Requests this peer may have in flight now. */
  slots: (peer: string) => number
  /** A chunk buffer for a request to `peer`; the fastest waiting peer gets a freed one first. */
  takeBuffer: (signal: AbortSignal, peer: string) => Promise<Buffer>
  giveBuffer: (buffer: Buffer) => void
  /** The next chunk for this peer (marked in flight), and a signal that cancels it. */
  pick: (view: PeerView) => { chunk: number, cancel: AbortSignal } | undefined
  /** A request to `peer` ended without a chunk to deliver (`cancel` aborted: another peer sent it first). */
  abandon: (chunk: number, cancel: AbortSignal, peer: string) => void
  /** Verifies and stores a chunk; throws ChunkHashMismatchError if it is wrong. */
  deliver: (peer: string, chunk: number, data: Uint8Array, ms: number, cancel: AbortSignal) => Promise<void>
  /** Records an offence; returns true when the peer is now banned. */
  offence: (peer: string, offence: Offence, reason: string) => boolean
  /** A partial peer's HAVE changed (for rarest-first counts). */
  haveChanged: (before: Bitfield | 'all' | undefined, after: Bitfield | 'all') => void
  /** A partial peer got these chunks (a HAVE update): one more holder each. */
  chunksAdded: (chunks: number[]) => void
  /** Other peers of this release the peer told us about (binary multiaddrs). */
  morePeers: (addrs: Uint8Array[]) => void
}

export interface SessionInit {
  dial: (peer: PeerId, signal: AbortSignal) => Promise<Stream>
  cid: CID
  index: ChunkIndex
  streams: number
  stallTimeout: number
  /** Slowest accepted rate for a whole chunk response (bytes/s). */
  minRate: number
  rateLimiter?: RateLimiter
}

/** Even with HAVE updates pushed, ask a partial peer's HAVE this often (an update may be lost). */
const HAVE_REFRESH_WHILE_WATCHING = 10_000

export class PeerSession {
  /** Whether a stream was ever opened: a stale DHT record never gets this far. */
  connected = false
  /** Chunks this session delivered (verified or not yet checked). */
  delivered = 0
  have: Bitfield | 'all' | undefined
  private readonly inFlight = new Set<number>()
  readonly id: string
  private readonly channels = new Set<Channel>()
  private active = 0
  private chokedUntil = 0
  private chokes = 0
  private readonly waiters = new Set<() => void>()
  /** Whether the peer pushes HAVE updates (WATCH_HAVE); if not, its HAVE is polled. */
  private watching = false
  private haveAsked = 0

  constructor (private readonly host: SessionHost, readonly peerId: PeerId, private readonly init: SessionInit) {
    this.id = peerId.toString()
  }

  async run (parent: AbortSignal): Promise<void> {
    const controller = new AbortController()
    const signal = AbortSignal.any([parent, controller.signal])
    try {
      const first = await this.open(signal)
      await this.refreshHave(first, signal)
      if (this.have !== 'all') void this.watch(signal)
      // Peer exchange, once per session, while the other streams start; a peer that predates
      // it resets the stream, which the worker then reopens.
      const exchange = async (): Promise<void> => {
        await first.getPeers(this.init.cid, signal).then(addrs => this.host.morePeers(addrs), (err: Error) => {
          log('peer exchange with %p failed (%s); going on with the peers we have', this.peerId, err.message)
        })
        await this.work(first, signal)
      }
      const workers = [exchange()]
      for (let i = 1; i < this.init.streams; i++) {
        workers.push(this.open(signal).then(async ch => { await this.work(ch, signal) }))
      }
      // The first failure ends the whole session: the peer is dropped as one.
      await Promise.all(workers.map(async w => await w.catch(err => { controller.abort(err); throw err })))
    } catch (err: any) {
      if (!parent.aborted && !this.host.finished) throw signal.reason ?? err
    } finally {
      for (const ch of this.channels) ch.close()
      if (this.have != null) this.host.haveChanged(this.have, new Bitfield(this.init.index.total))
    }
  }

  /**
   * Peer exchange again, on a short stream of its own beside the workers (theirs carry chunk
   * requests back to back). Throws what the peer or the stream did; the caller only logs it.
   */
  async exchange (signal: AbortSignal): Promise<void> {
    const channel = await this.open(signal)
    try {
      this.host.morePeers(await channel.getPeers(this.init.cid, signal))
    } finally {
      this.channels.delete(channel)
      channel.close()
    }
  }

  private async open (signal: AbortSignal): Promise<Channel> {
    // A frozen peer never answers the protocol negotiation: that is a stall too.
    const timeout = AbortSignal.timeout(this.init.stallTimeout)
    const stream = await this.init.dial(this.peerId, AbortSignal.any([signal, timeout])).catch(err => {
      if (timeout.aborted && !signal.aborted) throw new StalledError(`no data for ${Math.round(this.init.stallTimeout / 1000)} s (opening a stream)`)
      throw err
    })
    this.connected = true
    const channel = new Channel(stream, this.init.stallTimeout)
    this.channels.add(channel)
    return channel
  }

  private async refreshHave (channel: Channel, signal: AbortSignal): Promise<void> {
    const { index, cid } = this.init
    this.haveAsked = Date.now()
    const have = await channel.getHave(cid, index.total, signal)
    const next = have === 'all' ? 'all' : new Bitfield(index.total, have)
    this.host.haveChanged(this.have, next)
    this.have = next
  }

  private async work (first: Channel, signal: AbortSignal): Promise<void> {
    let channel = first
    const view: PeerView = { has: (c: number) => this.have === 'all' || this.have?.has(c) === true, inFlight: this.inFlight }
    while (!this.host.finished && !signal.aborted) {
      if (channel.closed) {
        this.channels.delete(channel)
        channel = await this.open(signal)
      }
      const wait = this.chokedUntil - Date.now()
      if (wait > 0) await sleep(wait, signal)
      // Only `slots` requests (and buffers) at once for this peer.
      while (this.active >= this.host.slots(this.id)) await this.changed(signal)
      this.active++
      let picked: { chunk: number, cancel: AbortSignal } | undefined
      const buffer = await this.host.takeBuffer(signal, this.id).catch(err => { this.active--; throw err })
      try {
        picked = this.host.pick(view)
        if (picked !== undefined) await this.fetchOne(channel, picked.chunk, picked.cancel, buffer, signal)
      } finally {
        this.host.giveBuffer(buffer)
        this.active--
        // Only a request that ran frees anything: waking the others for nothing would spin.
        if (picked !== undefined) for (const w of [...this.waiters]) w()
      }
      if (picked !== undefined) continue
      // Everything is taken: wait, in case a chunk fails elsewhere and comes back to us.
      // A partial peer may get the chunks we need later: it tells us (HAVE updates), or we
      // look at its HAVE again.
      if (this.have === 'all') {
        await sleep(250, signal)
      } else if (this.watching && Date.now() - this.haveAsked < HAVE_REFRESH_WHILE_WATCHING) {
        await this.changed(signal) // a HAVE update, a request ending, or 500 ms
      } else {
        await sleep(2000, signal)
        await this.refreshHave(channel, signal)
      }
    }
  }

  /** Follows the peer's HAVE updates on a stream of their own, for as long as the session runs. */
  private async watch (signal: AbortSignal): Promise<void> {
    const { index, cid } = this.init
    try {
      const stream = await this.init.dial(this.peerId, AbortSignal.any([signal, AbortSignal.timeout(this.init.stallTimeout)]))
      this.watching = true
      await watchHave(stream, cid, index.total, {
        have: bits => {
          const next = bits === 'all' ? 'all' : new Bitfield(index.total, bits)
          this.host.haveChanged(this.have, next)
          this.have = next
        },
        chunks: chunks => {
          const have = this.have
          if (have == null || have === 'all') return
          const fresh = chunks.filter(c => !have.has(c))
          for (const c of fresh) have.set(c)
          this.host.chunksAdded(fresh)
          for (const w of [...this.waiters]) w()
        }
      }, signal)
    } catch (err: any) {
      // unsupported or ended: poll instead
      log('HAVE watch on %p ended (%s); polling its HAVE instead', this.peerId, err?.message)
    } finally {
      this.watching = false
    }
  }

  /** Resolves when one of this session's requests ends, or after 500 ms (slots may change). */
  private async changed (signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); this.waiters.delete(done); signal.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => { clearTimeout(timer); this.waiters.delete(done); reject(signal.reason) }
      const timer = setTimeout(done, 500)
      this.waiters.add(done)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Requests one chunk into `buffer` and hands it to the fetch. */
  private async fetchOne (channel: Channel, chunk: number, cancel: AbortSignal, buffer: Buffer, signal: AbortSignal): Promise<void> {
    const { index, cid } = this.init
    this.inFlight.add(chunk)
    const { fileIndex, chunk: local } = index.locate(chunk)
    const length = index.length(fileIndex, local)
    const started = Date.now()
    let data: Uint8Array
    try {
      const request = AbortSignal.any([signal, cancel])
      await this.init.rateLimiter?.take(length, request)
      data = await channel.getChunk(cid, fileIndex, local, length, buffer, request, requestDeadline(length, this.init))
    } catch (err: any) {
      this.inFlight.delete(chunk)
      this.host.abandon(chunk, cancel, this.id)
      await this.failed(err, channel, cancel, signal)
      return
    }
    try {
      this.delivered++
      this.chokes = 0
      await this.host.deliver(this.id, chunk, data, Date.now() - started, cancel)
    } finally {
      this.inFlight.delete(chunk)
    }
  }

  /** Decides what a failed request means for the peer: nothing, a strike, or the end. */
  private async failed (err: any, channel: Channel, cancel: AbortSignal, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason ?? err
    if (cancel.aborted) return // the chunk came from elsewhere; the channel reopens
    if (err instanceof RemoteError && err.code === ErrorCode.Busy) {
      // Choked (its upload slots go to others): ask again later, no fault.
      this.chokes++
      this.chokedUntil = Date.now() + Math.min(CHOKE_BACKOFF.max, CHOKE_BACKOFF.first * 2 ** (this.chokes - 1))
      return
    }
    if (err instanceof RemoteError && err.code === ErrorCode.NotFound) {
      // A peer that said it held everything and has not got a chunk lied (or its files
      // changed); a partial one may just have moved on. Either way, ask again what it has.
      if (this.have === 'all' && this.strike('protocol', 'claimed every chunk but had not got one')) throw new PeerBannedError(err.message)
      await this.refreshHave(channel, signal)
      return
    }
    if (err instanceof DeadlineError) {
      if (this.strike('timeout', err.message)) throw new PeerBannedError(`too slow: ${err.message}`)
      return // the channel was aborted; the loop opens another
    }
    if (err instanceof StalledError) this.strike('stall', err.message)
    throw err
  }

  private strike (offence: Offence, reason: string): boolean {
    return this.host.offence(this.id, offence, reason)
  }
}
