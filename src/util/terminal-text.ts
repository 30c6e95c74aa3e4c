/**
 * Text from peers (error reasons off the wire, release names, file paths from a manifest) is
 * made inert before it reaches a terminal or a log: a peer must not move the cursor, clear the
 * screen, set the window title, write the clipboard (OSC 52), hide text behind a link (OSC 8),
 * reorder what a line appears to say (Unicode bidi overrides, "Trojan Source"), or forge lines
 * of our own output (newlines, carriage returns).
 */

// ESC or C1 CSI: parameters, intermediates, final byte.
const CSI = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?/g
// OSC, DCS, SOS, PM, APC strings: up to BEL or ST (ESC \ or C1 ST), or to the end.
const STRING = /(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?/g
// Any other escape: ESC and the byte after it.
const ESC = /\x1b[\s\S]?/g
// C0 and C1 controls, DEL; bidi embeddings, overrides, isolates and marks; line/paragraph separators.
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g
const NEWLINE = /\r\n|\n/g

export const REPLACEMENT = '\uFFFD'

/**
 * `text` with escape sequences removed and every other control or bidi character replaced by
 * U+FFFD. With `keepNewlines`, `\n` stays (for our own multi-line messages); otherwise the
 * result is one line.
 */
export function sanitizeText (text: string, options: { keepNewlines?: boolean } = {}): string {
  const stripped = String(text).replace(STRING, '').replace(CSI, '').replace(ESC, '')
  if (options.keepNewlines !== true) return stripped.replace(NEWLINE, ' ').replace(UNSAFE, REPLACEMENT)
  return stripped.split(NEWLINE).map(line => line.replace(UNSAFE, REPLACEMENT)).join('\n')
}

/** JSON.stringify, with the characters it leaves raw that a terminal acts on written as \u escapes. */
export function safeJson (value: unknown): string {
  return JSON.stringify(value).replace(/[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
