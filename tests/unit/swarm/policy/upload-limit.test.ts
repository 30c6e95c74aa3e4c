import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'
import { DEFAULT_PER_UPLOAD, UploadLimit } from '../../../../src/swarm/policy/upload-limit.js'

const MiB = 2 ** 20
const CHUNK = 4 * MiB

/** `n` uploads of a chunk started together, each at `rate` bytes/s; more were wanted when `saturated`. */
function interval (limit: UploadLimit, clock: ManualClock, n: number, rate: number, saturated = true): void {
  if (saturated) limit.full()
  const ms = CHUNK / rate * 1000
  clock.advance(Math.max(ms, 10_000))
  for (let i = 0; i < n; i++) limit.finished(CHUNK, ms)
}

describe('UploadLimit', () => {
  it('with a known uplink: as many uploads as it carries at 128 KiB/s each, within min and max', () => {
    expect(new UploadLimit({ max: 32, capacity: 256 * 1024 }).value).toBe(2)
    expect(new UploadLimit({ max: 32, capacity: 1.25e6 }).value).toBe(9) // 10 Mbit/s
    expect(new UploadLimit({ max: 32, capacity: 125e6 }).value).toBe(32)
    expect(new UploadLimit({ max: 32, capacity: 10_000 }).value).toBe(2)
    // Known, it does not move whatever the uploads show.
    const clock = new ManualClock(0)
    const fixed = new UploadLimit({ max: 32, capacity: 1.25e6, clock })
    interval(fixed, clock, 9, 1000)
    expect(fixed.value).toBe(9)
  })

  it('learns a slow uplink: 32 uploads sharing 10 Mbit/s shrink to what it carries, and grow back when it is fast', () => {
    const clock = new ManualClock(0)
    const limit = new UploadLimit({ max: 32, clock })
    expect(limit.value).toBe(32)
    const uplink = 1.25e6
    for (let i = 0; i < 6; i++) interval(limit, clock, limit.value, uplink / limit.value)
    expect(limit.value).toBeGreaterThanOrEqual(Math.floor(uplink / DEFAULT_PER_UPLOAD) - 1)
    expect(limit.value).toBeLessThanOrEqual(Math.floor(uplink / DEFAULT_PER_UPLOAD))
    // The same node on a 1 Gbit/s link: each upload far above 2 x 128 KiB/s; back to 32.
    for (let i = 0; i < 20 && limit.value < 32; i++) interval(limit, clock, limit.value, 125e6 / limit.value)
    expect(limit.value).toBe(32)
  })

  it('never below min however slow, and changes nothing while demand stays under the limit', () => {
    const clock = new ManualClock(0)
    const limit = new UploadLimit({ max: 32, clock })
    interval(limit, clock, 4, 10_000, false) // slow, but only 4 of 32 were wanted: no information
    expect(limit.value).toBe(32)
    for (let i = 0; i < 5; i++) interval(limit, clock, limit.value, 5_000)
    expect(limit.value).toBe(2)
  })

  it('ignores small responses, and changes at most once per interval', () => {
    const clock = new ManualClock(0)
    const limit = new UploadLimit({ max: 32, clock })
    limit.full()
    clock.advance(100_000)
    for (let i = 0; i < 50; i++) limit.finished(1000, 10_000) // 100 B/s, but tiny
    expect(limit.value).toBe(32)
    limit.finished(CHUNK, 100_000) // 42 KB/s: shrinks once
    const after = limit.value
    expect(after).toBeLessThan(32)
    limit.full()
    clock.advance(1000)
    limit.finished(CHUNK, 1000) // 4 MiB/s, but in the same interval: no second change
    expect(limit.value).toBe(after)
  })
})
