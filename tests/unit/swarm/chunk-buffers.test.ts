import { describe, expect, it } from 'vitest'
import { ChunkBuffers } from '../../../src/swarm/chunk-buffers.js'

describe('ChunkBuffers', () => {
  it('hands out at most `count` buffers, then makes takers wait for a give', async () => {
    const buffers = new ChunkBuffers(2, 1024)
    const signal = new AbortController().signal
    const a = await buffers.take(signal)
    const b = await buffers.take(signal)
    expect(a.length).toBe(1024)
    expect(a).not.toBe(b)
    let third: Buffer | undefined
    const waiting = buffers.take(signal).then(x => { third = x })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(third).toBeUndefined()
    buffers.give(a)
    await waiting
    expect(third).toBe(a) // reused, not a new allocation
  })

  it('a waiting taker gives up when its signal aborts, and is not served later', async () => {
    const buffers = new ChunkBuffers(1, 16)
    const held = await buffers.take(new AbortController().signal)
    const controller = new AbortController()
    const waiting = buffers.take(controller.signal)
    controller.abort(new Error('gone'))
    await expect(waiting).rejects.toThrow('gone')
    buffers.give(held)
    expect(await buffers.take(new AbortController().signal)).toBe(held)
  })
})

describe('ChunkBuffers: a freed buffer goes to the fastest waiting peer', () => {
  it('serves the highest priority first, in arrival order among equals, reading priorities at give time', async () => {
    const buffers = new ChunkBuffers(1, 16)
    const signal = new AbortController().signal
    const held = await buffers.take(signal)
    const order: string[] = []
    let fastRate = 1
    const wait = (name: string, priority: () => number): Promise<void> => buffers.take(signal, priority).then(b => { order.push(name); buffers.give(b) })
    const all = [wait('slow', () => 2), wait('fast', () => fastRate), wait('slow2', () => 2), wait('new', () => 0)]
    expect(buffers.waiting).toBe(4)
    fastRate = 10 // the peer book learned it is fast while it waited
    buffers.give(held)
    await Promise.all(all)
    expect(order).toEqual(['fast', 'slow', 'slow2', 'new'])
  })
})
