import { streamPair } from '@libp2p/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageType } from '../../../src/swarm/codec.js'
import { HaveWatchers } from '../../../src/swarm/have-watchers.js'
import { waitFor } from '../helpers.js'
import type { Stream } from '@libp2p/interface'

const streams: Stream[] = []
afterEach(() => { for (const s of streams.splice(0)) if (s.status === 'open') s.abort(new Error('test over')) })

/** Collects the chunk numbers of HAVE_UPDATE frames arriving on `remote` (parsed by hand). */
function collect (remote: Stream): number[] {
  const got: number[] = []
  let buf: number[] = []
  remote.addEventListener('message', evt => {
    buf.push(...(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()))
    while (buf.length > 0) {
      let length = 0; let shift = 0; let i = 0
      for (; i < buf.length; i++) { length += (buf[i] & 0x7f) * 2 ** shift; shift += 7; if ((buf[i] & 0x80) === 0) break }
      if (i >= buf.length || buf.length < i + 1 + length) return
      const body = buf.slice(i + 1, i + 1 + length)
      buf = buf.slice(i + 1 + length)
      expect(body[0]).toBe(MessageType.HaveUpdate)
      for (let at = 1; at < body.length; at += 4) got.push(((body[at] << 24) | (body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]) >>> 0)
    }
  })
  return got
}

describe('HaveWatchers', () => {
  it('pushes each chunk to every watcher of the release, batched, and only of that release', async () => {
    const w = new HaveWatchers(10, 5)
    const [a, ra] = await streamPair(); const [b, rb] = await streamPair()
    streams.push(a, ra, b, rb)
    const gotA = collect(ra); const gotB = collect(rb)
    w.add('cid1', 'peerA', a)
    w.add('cid2', 'peerB', b)
    for (const c of [3, 1, 70_000]) w.chunk('cid1', c)
    w.chunk('cid2', 9)
    await waitFor(() => gotA.length === 3 && gotB.length === 1, 2000, 'updates')
    expect(gotA).toEqual([3, 1, 70_000])
    expect(gotB).toEqual([9])
  })

  it('replaces a peer\'s earlier watch, refuses beyond the limit, and forgets closed streams', async () => {
    const w = new HaveWatchers(1, 5)
    const [a, ra] = await streamPair(); const [b, rb] = await streamPair(); const [c, rc] = await streamPair()
    streams.push(a, ra, b, rb, c, rc)
    w.add('cid', 'p', a)
    w.add('cid', 'p', b) // same peer: the old watch ends
    expect(a.status).toBe('aborted')
    w.add('cid', 'q', c) // over the limit of 1
    expect(c.status).toBe('aborted')
    const got = collect(rb)
    w.chunk('cid', 4)
    await waitFor(() => got.length === 1, 2000, 'the update')
    rb.abort(new Error('the fetcher went away'))
    await waitFor(() => b.status !== 'open', 2000, 'the watch stream to end')
    const [d, rd] = await streamPair()
    streams.push(d, rd)
    w.add('cid', 'q', d) // the closed one freed its place
    expect(d.status).toBe('open')
  })
})
