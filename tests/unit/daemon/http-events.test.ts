/**
 * GET /api/v1/events: the snapshot first, then the service's events as they happen, keepalive
 * comments, and no leaks: a client that goes or stops reading is unsubscribed, and close()
 * does not wait for open streams.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { AUTH, closeAll, errorOf, start, waitFor } from './api-fixture.js'
import { CID, model } from './fake-service.js'

afterEach(closeAll)

/** Reads SSE blocks (the text between blank lines) from a fetch() response. */
class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  private readonly decoder = new TextDecoder()
  private buffer = ''

  constructor (res: Response) {
    if (res.body == null) throw new Error('no body')
    this.reader = res.body.getReader()
  }

  async next (ms = 3000): Promise<string> {
    const deadline = Date.now() + ms
    for (;;) {
      const end = this.buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + 2)
        return block
      }
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('no SSE message in time')), Math.max(0, deadline - Date.now())) })
      const { value, done } = await Promise.race([this.reader.read(), timeout]).finally(() => clearTimeout(timer))
      if (done) throw new Error('stream ended')
      this.buffer += this.decoder.decode(value, { stream: true })
    }
  }

  /** The next message with data, as {type, data}; comments and retry lines are skipped. */
  async message (ms = 3000): Promise<{ type: string, data: any }> {
    for (;;) {
      const block = await this.next(ms)
      const lines = block.split('\n')
      const data = lines.filter(l => l.startsWith('data: ')).map(l => l.slice(6))
      if (data.length === 0) continue
      const type = lines.find(l => l.startsWith('event: '))?.slice(7) ?? 'message'
      return { type, data: JSON.parse(data.join('\n')) }
    }
  }
}

async function open (url: string, signal: AbortSignal): Promise<Response> {
  const res = await fetch(`${url}/api/v1/events`, { headers: AUTH, signal })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  return res
}

describe('GET /api/v1/events', () => {
  it('opens with a snapshot, then carries each event the service emits', async () => {
    const { url, service } = await start()
    const ctrl = new AbortController()
    const sse = new SseReader(await open(url, ctrl.signal))
    const first = await sse.message()
    expect(first.type).toBe('snapshot')
    expect(first.data.status.peerId).toBe('12D3KooWTestNode')
    expect(first.data.models).toEqual([model()])
    expect(service.listeners.size).toBe(1)

    const updated = model({ state: 'fetching', verifiedBytes: 500 })
    service.emit({ type: 'model', model: updated })
    service.emit({ type: 'warning', message: 'line one\nline two' })
    service.emit({ type: 'removed', cid: CID })
    expect(await sse.message()).toEqual({ type: 'model', data: { type: 'model', model: updated } })
    expect(await sse.message()).toEqual({ type: 'warning', data: { type: 'warning', message: 'line one\nline two' } })
    expect(await sse.message()).toEqual({ type: 'removed', data: { type: 'removed', cid: CID } })
    ctrl.abort()
  })

  it('frames each event as "event: <type>" and one "data:" line', async () => {
    const { url, service } = await start()
    const ctrl = new AbortController()
    const sse = new SseReader(await open(url, ctrl.signal))
    await sse.message()
    service.emit({ type: 'hashing', folder: '/srv/a', bytes: 1, total: 2 })
    const block = await sse.next()
    expect(block).toBe('event: hashing\ndata: {"type":"hashing","folder":"/srv/a","bytes":1,"total":2}')
    ctrl.abort()
  })

  it('sends a keepalive comment when there is nothing else to say', async () => {
    const { url } = await start({ events: { keepalive: 50 } })
    const ctrl = new AbortController()
    const sse = new SseReader(await open(url, ctrl.signal))
    await sse.message()
    expect(await sse.next(2000)).toBe(': keepalive')
    ctrl.abort()
  })

  it('unsubscribes when the client goes away', async () => {
    const { url, service } = await start()
    const ctrl = new AbortController()
    const sse = new SseReader(await open(url, ctrl.signal))
    await sse.message()
    expect(service.listeners.size).toBe(1)
    ctrl.abort()
    await waitFor(() => service.listeners.size === 0, 3000, 'unsubscribe')
    service.emit({ type: 'warning', message: 'nobody listens' }) // must not throw
  })

  it('drops a client that stops reading instead of buffering for it', async () => {
    const { url, service } = await start({ events: { maxBuffered: 64 * 1024 } })
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${url}/api/v1/events`, { headers: AUTH }, resolve).on('error', reject).end()
    })
    res.on('error', () => {})
    res.pause() // reads nothing more: the kernel buffers fill, then the server's
    await waitFor(() => service.listeners.size === 1, 3000, 'subscribe')
    const big = 'x'.repeat(64 * 1024)
    let sent = 0
    // Bounded: 64 MiB at most, far beyond loopback socket buffers plus the 64 KiB allowance.
    while (service.listeners.size > 0 && sent < 1024) {
      service.emit({ type: 'warning', message: big })
      sent++
      await new Promise(resolve => setImmediate(resolve))
    }
    expect(service.listeners.size).toBe(0)
    expect(sent).toBeLessThan(1024)
    res.destroy()
  })

  it('refuses one stream more than maxStreams with a 429, and opens again once one closes', async () => {
    const { url, service } = await start({ events: { maxStreams: 3 } })
    const ctrls = [new AbortController(), new AbortController(), new AbortController()]
    const readers: SseReader[] = []
    for (const ctrl of ctrls) {
      const sse = new SseReader(await open(url, ctrl.signal))
      await sse.message()
      readers.push(sse)
    }
    expect(service.listeners.size).toBe(3)
    // A hostile local client opening stream after stream: bounded, answered at once, no subscription.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${url}/api/v1/events`, { headers: AUTH, signal: AbortSignal.timeout(3000) })
      expect(res.status).toBe(429)
      expect(await errorOf(res)).toMatch(/too many event streams/)
    }
    expect(service.listeners.size).toBe(3)
    ctrls[0].abort()
    await waitFor(() => service.listeners.size === 2, 3000, 'unsubscribe')
    const again = new AbortController()
    const sse = new SseReader(await open(url, again.signal))
    expect((await sse.message()).type).toBe('snapshot')
    for (const ctrl of [...ctrls, again]) ctrl.abort()
  })

  it('close() ends open streams instead of waiting for them', async () => {
    const { url, service, server } = await start()
    const sse = new SseReader(await open(url, new AbortController().signal))
    await sse.message()
    const t0 = Date.now()
    await server.close()
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(service.listeners.size).toBe(0)
    await expect(sse.next(2000)).rejects.toThrow()
  })

  it('a service that fails before the stream starts gives an ordinary JSON 500', async () => {
    const { url, service } = await start()
    service.failures.set('list', new Error('model list unavailable'))
    const res = await fetch(`${url}/api/v1/events`, { headers: AUTH, signal: AbortSignal.timeout(3000) })
    expect(res.status).toBe(500)
    expect(await errorOf(res)).toContain('model list unavailable')
    expect(service.listeners.size).toBe(0)
  })
})
