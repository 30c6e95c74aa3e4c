import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { isProcessAlive } from '../../../src/util/process.js'
import { sleep } from '../../../src/util/sleep.js'

describe('sleep', () => {
  it('waits about as long as asked', async () => {
    const started = performance.now()
    await sleep(50, new AbortController().signal)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
  })

  it('rejects with the abort reason at once', async () => {
    const controller = new AbortController()
    const started = performance.now()
    setTimeout(() => controller.abort(new Error('stop')), 10)
    await expect(sleep(10_000, controller.signal)).rejects.toThrow('stop')
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('rejects when the signal was aborted before', async () => {
    await expect(sleep(10, AbortSignal.abort(new Error('already')))).rejects.toThrow('already')
  })
})

describe('isProcessAlive', () => {
  it('knows this process and not one that exited', () => {
    expect(isProcessAlive(process.pid)).toBe(true)
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number
    expect(isProcessAlive(gone)).toBe(false)
  })
})
