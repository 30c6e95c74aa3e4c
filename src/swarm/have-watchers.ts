/**
 * The serving side of WATCH_HAVE: streams on which peers asked to be told of each chunk we
 * verify, so fetchers learn at once what they can get from each other (BitTorrent's HAVE
 * messages) instead of asking every few seconds. Updates are batched for `flushDelay` ms. A
 * watcher that does not take its updates is not waited for: they collect (at most 4 bytes per
 * chunk of the release) and go out when its stream drains. Bounded: one watcher per peer and
 * release (a new one replaces the old), `maxWatchers` in all.
 */
import { encodeHaveUpdate, MAX_HAVE_UPDATE } from './codec.js'
import type { Stream } from '@libp2p/interface'

interface Watcher { peer: string, stream: Stream, pending: number[] }

export class HaveWatchers {
  private readonly byCid = new Map<string, Map<string, Watcher>>()
  private count = 0
  private timer?: NodeJS.Timeout

  constructor (private readonly maxWatchers = 256, private readonly flushDelay = 50) {}

  /** Takes over a stream after its WATCH_HAVE was answered with the current HAVE. */
  add (cid: string, peer: string, stream: Stream): void {
    const old = this.byCid.get(cid)?.get(peer)
    if (old != null) this.remove(cid, old, true)
    let watchers = this.byCid.get(cid)
    if (watchers == null) this.byCid.set(cid, watchers = new Map())
    if (this.count >= this.maxWatchers) {
      stream.abort(new Error('too many HAVE watchers'))
      return
    }
    const watcher: Watcher = { peer, stream, pending: [] }
    watchers.set(peer, watcher)
    this.count++
    const onClose = (): void => { this.remove(cid, watcher, false) }
    stream.addEventListener('close', onClose, { once: true })
    stream.addEventListener('remoteCloseWrite', onClose, { once: true })
    // The peer sends nothing more on this stream.
    stream.addEventListener('message', () => { this.remove(cid, watcher, true) }, { once: true })
  }

  /** A chunk of `cid` became available here. */
  chunk (cid: string, chunk: number): void {
    const watchers = this.byCid.get(cid)
    if (watchers == null) return
    for (const w of watchers.values()) w.pending.push(chunk)
    this.timer ??= setTimeout(() => { this.timer = undefined; this.flush() }, this.flushDelay)
  }

  /** Stops every watch of a release (it is no longer served). */
  drop (cid: string): void {
    for (const w of this.byCid.get(cid)?.values() ?? []) this.remove(cid, w, true)
  }

  private flush (): void {
    for (const watchers of this.byCid.values()) {
      for (const w of watchers.values()) {
        // A peer that is not reading gets its updates when it drains; nothing is queued twice.
        while (w.pending.length > 0 && w.stream.writeBufferLength === 0) {
          const batch = w.pending.splice(0, MAX_HAVE_UPDATE)
          if (!w.stream.send(encodeHaveUpdate(batch))) {
            w.stream.addEventListener('drain', () => this.flush(), { once: true })
            break
          }
        }
      }
    }
  }

  private remove (cid: string, watcher: Watcher, abort: boolean): void {
    const watchers = this.byCid.get(cid)
    if (watchers?.get(watcher.peer) !== watcher) return
    watchers.delete(watcher.peer)
    this.count--
    if (watchers.size === 0) this.byCid.delete(cid)
    if (abort && watcher.stream.status === 'open') watcher.stream.abort(new Error('HAVE watch ended'))
  }
}
