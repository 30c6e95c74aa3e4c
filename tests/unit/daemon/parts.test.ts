/**
 * The daemon's parts on their own, with small fakes where a part takes a narrow component:
 * the seed queue (one at a time, each cancellable), the progress emitter (throttle, rates),
 * the fetch supervisor (retries with backoff, progress into the model, abort on removal).
 */
import { describe, expect, it, vi } from 'vitest'
import { FetchSupervisor } from '../../../src/daemon/fetch-supervisor.js'
import { ProgressEmitter } from '../../../src/daemon/progress-emitter.js'
import { ModelRegistry } from '../../../src/daemon/registry.js'
import { SeedQueue } from '../../../src/daemon/seed-queue.js'
import { CancelledError } from '../../../src/engine/errors.js'
import type { DaemonEvent } from '../../../src/daemon/service.js'
import type { FetchRecord, ModelRecord } from '../../../src/daemon/model-store.js'
import type { FetchOptions, FetchSummary } from '../../../src/engine/engine.js'
import type { TransferStats } from '../../../src/engine/events.js'

const CID = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function memoryStore (): { load: () => Promise<ModelRecord[]>, save: (r: ModelRecord[]) => Promise<void>, saved: ModelRecord[][] } {
  const saved: ModelRecord[][] = []
  return { saved, load: async () => [], save: async r => { saved.push(structuredClone(r)) } }
}

function fetchRecord (): FetchRecord {
  return { kind: 'fetch', cid: CID, baseDir: '/srv/models', trust: [], peers: [], complete: false, addedAt: new Date(0).toISOString() }
}

const zero = (): TransferStats => ({ uploaded: 0, downloaded: 0, chunksVerified: 0, chunksFailed: 0 })

describe('SeedQueue', () => {
  it('runs one seed at a time, in order', async () => {
    const queue = new SeedQueue()
    const order: string[] = []
    let release!: () => void
    const first = queue.run('/a', undefined, async () => { order.push('a start'); await new Promise<void>(resolve => { release = resolve }); order.push('a end'); return 'a' })
    const second = queue.run('/b', undefined, async () => { order.push('b'); return 'b' })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(order).toEqual(['a start'])
    release()
    expect(await Promise.all([first, second])).toEqual(['a', 'b'])
    expect(order).toEqual(['a start', 'a end', 'b'])
  })

  it('cancel() aborts the running seed and a waiting one never starts', async () => {
    const queue = new SeedQueue()
    const started: string[] = []
    const running = queue.run('/a', undefined, async signal => {
      started.push('a')
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    })
    const waiting = queue.run('/b', undefined, async () => { started.push('b') })
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(queue.has('/b')).toBe(true)
    expect(queue.cancel('/b')).toBe(true)
    expect(queue.cancel('/a')).toBe(true)
    await expect(running).rejects.toHaveProperty('name', CancelledError.name)
    await expect(waiting).rejects.toHaveProperty('name', CancelledError.name)
    expect(started).toEqual(['a'])
    expect(queue.has('/a')).toBe(false)
    expect(queue.cancel('/a')).toBe(false)
  })

  it("the caller's signal (an HTTP client gone) cancels its seed", async () => {
    const queue = new SeedQueue()
    const caller = new AbortController()
    const seeding = queue.run('/a', caller.signal, async signal => {
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    })
    caller.abort(new CancelledError('client gone'))
    await expect(seeding).rejects.toThrow('client gone')
  })
})

describe('ProgressEmitter', () => {
  it('sends state changes at once and throttles the rest to one per interval', async () => {
    vi.useFakeTimers()
    try {
      const registry = new ModelRegistry(memoryStore(), zero)
      const emitter = new ProgressEmitter(registry, zero, { emitInterval: 250 })
      const events: DaemonEvent[] = []
      emitter.subscribe(e => events.push(e))
      const entry = registry.add(fetchRecord(), 'fetching')
      emitter.model(entry, true)
      for (let i = 0; i < 10; i++) emitter.model(entry)
      expect(events).toHaveLength(1)
      await vi.advanceTimersByTimeAsync(250)
      expect(events).toHaveLength(2) // the ten collapsed into one
      // An update pending when the emitter stops is dropped, not sent after stop().
      emitter.model(entry)
      emitter.stop()
      await vi.advanceTimersByTimeAsync(1000)
      expect(events).toHaveLength(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('samples upload and download rates per model', async () => {
    vi.useFakeTimers()
    try {
      const stats = zero()
      const registry = new ModelRegistry(memoryStore(), () => stats)
      const emitter = new ProgressEmitter(registry, () => stats, { rateInterval: 2000 })
      const entry = registry.add(fetchRecord(), 'fetching')
      emitter.start()
      stats.downloaded = 4000
      stats.uploaded = 1000
      await vi.advanceTimersByTimeAsync(2000)
      expect(registry.info(entry).rate).toEqual({ up: 500, down: 2000 })
      await vi.advanceTimersByTimeAsync(2000)
      expect(registry.info(entry).rate).toEqual({ up: 0, down: 0 })
      emitter.stop()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('FetchSupervisor', () => {
  function setup (fetch: (cid: string, options: FetchOptions) => Promise<FetchSummary>) {
    const store = memoryStore()
    const registry = new ModelRegistry(store, zero)
    const emitter = new ProgressEmitter(registry, zero, { emitInterval: 0 })
    const events: DaemonEvent[] = []
    emitter.subscribe(e => events.push(e))
    const supervisor = new FetchSupervisor({
      engine: { fetch: async (cid, options) => await fetch(String(cid), options ?? {}) },
      registry,
      emitter,
      folders: { outputFolder: async (f: string) => f },
      trust: { forFetch: (t: string[]) => t }
    }, { retryFirst: 10, retryMax: 40, stallTimeout: 1234 })
    return { registry, supervisor, events, store }
  }

  it('retries a failing fetch with backoff until it completes, then it is seeding', async () => {
    let calls = 0
    const seen: FetchOptions[] = []
    const { registry, supervisor, events, store } = setup(async (cid, options) => {
      seen.push(options)
      calls++
      options.onProgress?.({ type: 'fetch:manifest', detail: { cid, name: 'org/model', publisher: '12D3KooWPub', files: 2, bytes: 100, path: '/srv/models/org--model' } })
      if (calls < 3) throw new Error(`attempt ${calls} found nothing`)
      options.onProgress?.({ type: 'fetch:chunk:verified', detail: { cid, bytes: 100, total: 100, downloaded: 100, peers: 2 } })
      return { cid, path: '/srv/models/org--model', bytes: 100, downloaded: 100, fromPeers: {}, publisher: '12D3KooWPub' }
    })
    const entry = registry.add(fetchRecord(), 'queued')
    supervisor.start(entry)
    await vi.waitFor(() => { expect(entry.state).toBe('seeding') }, { timeout: 5000 })
    expect(calls).toBe(3)
    expect(seen.every(o => o.keepSeeding === true && o.stallTimeout === 1234)).toBe(true)
    const failed = events.filter(e => e.type === 'model' && e.model.state === 'failed').map(e => e.type === 'model' ? e.model.error : '')
    expect(failed).toEqual([expect.stringMatching(/attempt 1 found nothing \(retrying in/), expect.stringMatching(/attempt 2/)])
    expect(registry.info(entry)).toMatchObject({ name: 'org/model', publisher: '12D3KooWPub', bytes: 100, verifiedBytes: 100, path: '/srv/models/org--model' })
    expect((store.saved.at(-1)?.[0] as FetchRecord).complete).toBe(true)
  })

  it('a removed fetch is aborted and never retried', async () => {
    let calls = 0
    const { registry, supervisor } = setup(async (_cid, options) => {
      calls++
      await new Promise((_resolve, reject) => options.signal?.addEventListener('abort', () => reject(options.signal?.reason)))
      throw new Error('unreachable')
    })
    const entry = registry.add(fetchRecord(), 'queued')
    supervisor.start(entry)
    await vi.waitFor(() => { expect(calls).toBe(1) })
    registry.delete(CID)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(calls).toBe(1)
    expect(entry.controller?.signal.aborted).toBe(true)
    await supervisor.stop()
  })

  it('stop() aborts the fetches and resolves only once their loops have ended', async () => {
    let finishedWriting = false
    const { registry, supervisor } = setup(async (_cid, options) => {
      await new Promise(resolve => options.signal?.addEventListener('abort', resolve))
      await new Promise(resolve => setTimeout(resolve, 200)) // the fetch's last writes after the abort
      finishedWriting = true
      throw options.signal?.reason
    })
    const entry = registry.add(fetchRecord(), 'queued')
    supervisor.start(entry)
    await vi.waitFor(() => { expect(entry.controller).toBeDefined() })
    await supervisor.stop()
    expect(finishedWriting).toBe(true)
    supervisor.start(entry) // stopped: nothing starts
    expect(entry.controller?.signal.aborted).toBe(true)
  })
})
