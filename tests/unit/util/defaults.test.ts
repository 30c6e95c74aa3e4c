import { describe, expect, it } from 'vitest'
import { withDefaults } from '../../../src/util/defaults.js'

describe('withDefaults', () => {
  it('keeps a default when the key is present but undefined', () => {
    const out = withDefaults({ a: 1, b: 'x' }, { a: undefined, b: undefined })
    expect(out).toEqual({ a: 1, b: 'x' })
  })

  it('lets defined values override, falsy ones included', () => {
    expect(withDefaults({ a: 1, b: true, c: 'x', d: 5 }, { a: 0, b: false, c: '', d: null }))
      .toEqual({ a: 0, b: false, c: '', d: null })
  })

  it('adds keys the defaults do not have and leaves the inputs alone', () => {
    const defaults = { a: 1 }
    const init = { b: 2, c: undefined }
    const out = withDefaults(defaults, init)
    expect(out).toEqual({ a: 1, b: 2 })
    expect('c' in out).toBe(false)
    expect(defaults).toEqual({ a: 1 })
    expect(out).not.toBe(defaults)
  })
})
