/**
 * `npm run sim` as a user runs it: a long run cut short with Ctrl-C still reports its figures
 * so far (and says it was interrupted), instead of losing minutes of work.
 */
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'

const CLI = path.resolve('dist/sim/cli.js')

describe('sim CLI', () => {
  it('reports the run so far on Ctrl-C, at the next simulated minute, and exits 130', { timeout: 90_000 }, async () => {
    // A slow origin: this run would last many simulated minutes.
    const child = spawn(process.execPath, [CLI, '--peers', '300', '--gib', '2', '--origin-mbit', '20', '--json', '--svg', path.join('tmp', 'out', 'sim-cli-test.svg')], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    let signalled = false
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString()
      if (!signalled && /simulated s: \d+\/\d+ done/.test(stderr)) {
        signalled = true
        child.kill('SIGINT')
      }
    })
    const killer = setTimeout(() => child.kill('SIGKILL'), 80_000)
    const code = await new Promise<number | null>(resolve => child.on('exit', c => resolve(c)))
    clearTimeout(killer)
    expect(signalled, stderr).toBe(true)
    expect(code, stderr).toBe(130)
    expect(stderr).toContain('interrupted')
    const last = JSON.parse(stdout.trim().split('\n').at(-1) as string)
    expect(last).toMatchObject({ peers: 300, gib: 2 })
    expect(stdout).toMatch(/completed \d+\/300/)
    // It stopped early: the last progress line is within a minute or two of the first.
    const minutes = [...stderr.matchAll(/(\d+) simulated s:/g)].map(m => Number(m[1]))
    expect(Math.max(...minutes)).toBeLessThanOrEqual(180)
  })
})
