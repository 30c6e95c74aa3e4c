import { describe, expect, it } from 'vitest'
import { UploadSlots } from '../../../src/swarm/upload-slots.js'

const never = new AbortController().signal

describe('UploadSlots', () => {
  it('caps uploads per peer and in total, and hands a freed slot to the peer with fewest in flight', async () => {
    const slots = new UploadSlots(4, 3)
    const hog1 = await slots.acquire('hog', never)
    await slots.acquire('hog', never)
    await slots.acquire('hog', never)
    let hogThird = false
    void slots.acquire('hog', never).then(() => { hogThird = true })
    const honest = await slots.acquire('honest', never) // the per-peer cap left one for it
    expect(slots.of('hog')).toBe(3)
    let second = false
    void slots.acquire('honest', never).then(() => { second = true })
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(hogThird).toBe(false)
    expect(second).toBe(false)
    hog1() // frees a slot: hog (2 left in flight) and honest (1) wait; honest holds fewer
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(second).toBe(true)
    expect(hogThird).toBe(false)
    honest()
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(hogThird).toBe(true)
  })

  it('a waiter that gives up leaves no trace', async () => {
    const slots = new UploadSlots(1, 1)
    const release = await slots.acquire('a', never)
    const controller = new AbortController()
    const waiting = slots.acquire('b', controller.signal)
    controller.abort(new Error('gone'))
    await expect(waiting).rejects.toThrow('gone')
    release()
    expect(slots.of('b')).toBe(0)
    const again = await slots.acquire('c', never)
    again()
    again() // twice is harmless
    expect(slots.of('c')).toBe(0)
  })
})
