import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../src/store/bitfield.js'
import { errorOf } from '../helpers.js'

describe('Bitfield', () => {
  it('sets bits most significant first, as BitTorrent does', () => {
    const f = new Bitfield(10)
    f.set(0)
    f.set(3)
    f.set(9)
    expect([...f.bytes]).toEqual([0b1001_0000, 0b0100_0000])
    expect(f.has(0) && f.has(3) && f.has(9)).toBe(true)
    expect(f.has(1) || f.has(8)).toBe(false)
    expect(f.count).toBe(3)
    expect(f.complete).toBe(false)
  })

  it('counts each bit once, and clear undoes set', () => {
    const f = new Bitfield(20)
    f.set(5)
    f.set(5)
    expect(f.count).toBe(1)
    f.clear(5)
    f.clear(5)
    f.clear(6)
    expect(f.count).toBe(0)
    expect(f.has(5)).toBe(false)
    expect([...f.bytes]).toEqual([0, 0, 0])
  })

  it('is complete when every bit is set, and full() builds one', () => {
    const f = new Bitfield(10)
    for (let i = 0; i < 10; i++) f.set(i)
    expect(f.complete).toBe(true)
    const full = Bitfield.full(10)
    expect(full.count).toBe(10)
    expect(full.complete).toBe(true)
    expect([...full.bytes]).toEqual([0xff, 0b1100_0000])
    full.clear(4)
    expect(full.complete).toBe(false)
  })

  it('answers out-of-range has() with false and refuses out-of-range set()', async () => {
    const f = Bitfield.full(10)
    expect(f.has(-1)).toBe(false)
    expect(f.has(10)).toBe(false)
    expect((await errorOf(() => f.set(10))).name).toBe('RangeError')
    expect((await errorOf(() => f.set(-1))).name).toBe('RangeError')
    f.clear(10) // no-op
    expect(f.count).toBe(10)
  })

  it('hasRange checks [from, to)', () => {
    const f = new Bitfield(16)
    for (const i of [2, 3, 4, 5]) f.set(i)
    expect(f.hasRange(2, 6)).toBe(true)
    expect(f.hasRange(1, 6)).toBe(false)
    expect(f.hasRange(2, 7)).toBe(false)
    expect(f.hasRange(3, 3)).toBe(true)
    expect(f.hasRange(15, 17)).toBe(false)
  })

  it('clears bits past the end when loaded from bytes', () => {
    const f = new Bitfield(10, Uint8Array.of(0xff, 0xff))
    expect(f.count).toBe(10)
    expect(f.complete).toBe(true)
    expect([...f.bytes]).toEqual([0xff, 0b1100_0000])
    const g = new Bitfield(3, Uint8Array.of(0b0101_1111))
    expect(g.count).toBe(1)
    expect([0, 1, 2].map(i => g.has(i))).toEqual([false, true, false])
  })

  it('loads a whole number of bytes as they are, and copies its input', () => {
    const input = Uint8Array.of(0b1000_0001, 0xff)
    const f = new Bitfield(16, input)
    expect(f.count).toBe(10)
    input[0] = 0
    expect(f.has(0)).toBe(true)
    expect(f.has(7)).toBe(true)
  })

  it('rejects bytes of the wrong length', async () => {
    expect((await errorOf(() => new Bitfield(10, new Uint8Array(1)))).name).toBe('RangeError')
    expect((await errorOf(() => new Bitfield(10, new Uint8Array(3)))).name).toBe('RangeError')
    expect((await errorOf(() => new Bitfield(0, new Uint8Array(1)))).name).toBe('RangeError')
  })

  it('handles zero length', () => {
    const f = new Bitfield(0, new Uint8Array(0))
    expect(f.count).toBe(0)
    expect(f.bytes.length).toBe(0)
    expect(f.complete).toBe(true)
  })
})
