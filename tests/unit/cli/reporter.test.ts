/**
 * What the CLI prints about peers (dropped-peer reasons off the wire, release names and paths
 * from manifests) reaches the terminal and logs inert: a hostile peer's text cannot clear the
 * screen, retitle the window, forge a line of our output or reorder one with bidi overrides.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Reporter } from '../../../src/cli/reporter.js'

const HOSTILE = 'bad chunk\x1b[2J\x1b]0;owned\x07\r\nfetched 1 GiB into /home/you, signed by 12D3KooWTrusted\u202etxt.exe\x9b31m'
const ACTIVE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/

function capture (stream: NodeJS.WriteStream): string[] {
  const lines: string[] = []
  vi.spyOn(stream, 'write').mockImplementation((chunk: any) => { lines.push(String(chunk)); return true })
  return lines
}

afterEach(() => { vi.restoreAllMocks() })

describe('Reporter', () => {
  it('prints a hostile dropped-peer reason as one inert warning line', () => {
    const err = capture(process.stderr)
    new Reporter(false, false).on({ event: 'peer-dropped', cid: 'bafy', peerId: '12D3KooWPeer', reason: HOSTILE, connected: true })
    const text = err.join('')
    expect(text).not.toMatch(ACTIVE)
    expect(text.split('\n').filter(l => l !== '')).toHaveLength(1) // no forged second line
    expect(text).toMatch(/^warning: dropped peer 12D3KooWPeer: bad chunk/)
  })

  it('prints a hostile release name and path inert', () => {
    const err = capture(process.stderr)
    new Reporter(false, false).on({ event: 'manifest', cid: 'bafy', name: HOSTILE, publisher: '12D3KooWPub', files: 1, bytes: 1, path: `/out/${HOSTILE}` })
    const text = err.join('')
    expect(text).not.toMatch(ACTIVE)
    expect(text.split('\n').filter(l => l !== '')).toHaveLength(2) // our two lines, no more
  })

  it('--json lines keep the text (lossless) with every terminal-active character escaped', () => {
    const out = capture(process.stdout)
    const event = { event: 'peer-dropped' as const, cid: 'bafy', peerId: '12D3KooWPeer', reason: HOSTILE, connected: true }
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    new Reporter(true, false).on(event)
    expect(out).toHaveLength(1)
    expect(out[0]).not.toMatch(ACTIVE)
    expect(JSON.parse(out[0])).toEqual(event)
  })
})
