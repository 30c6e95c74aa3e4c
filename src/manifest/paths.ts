/**
 * Path safety for manifest entries and release names. A manifest comes from an untrusted peer
 * until its signature is checked, and even a signed manifest may be hostile, so every path is
 * checked both as text (here) and against the real file system when a file is written (store/).
 *
 * The text rules are those of the strictest file system a fetcher may write to: a path that
 * Windows, macOS or a NAS share would read differently from Linux (a device name, a trailing
 * dot, two names that differ only by case or Unicode normalisation) is refused everywhere, so
 * a release means the same files on every machine.
 */
import { UnsafePathError } from './errors.js'

/** The folder inside a download's output directory that holds partial state. */
export const STATE_DIR_NAME = '.p2pweights'

const MAX_PATH_LENGTH = 4096
const MAX_SEGMENT_LENGTH = 255

/** Folder names no segment may take, compared case-insensitively: our state, git's metadata. */
const RESERVED_FOLDERS = new Set([STATE_DIR_NAME, '.git'])

// C0, DEL and C1 controls; Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
// Bidi marks, embeddings, overrides and isolates: they make a name print as another name.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// Characters Windows refuses in names (`:` would also open an NTFS alternate data stream).
const WINDOWS_FORBIDDEN = /[<>:"|?*]/
// Windows device names, with or without an extension (`CON`, `nul.txt`, `COM1.tar.gz`);
// Windows also counts the superscript digits ¹²³ as COM/LPT numbers.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\.|$)/i

/**
 * Throws UnsafePathError unless `path` is a relative, normalised POSIX path that cannot leave
 * the folder it is resolved against and that names the same file on every major OS: no `..`
 * or `.` segments, no empty segments, no absolute or drive paths, no backslashes, no control
 * or bidi characters, no Windows device names or forbidden characters, no segment ending in a
 * dot or a space, and no `.git` or `.p2pweights` segment (in any letter case).
 */
export function assertSafeRelativePath (path: string): void {
  const fail = (why: string): never => {
    throw new UnsafePathError(`unsafe path in manifest ${JSON.stringify(String(path).slice(0, 200))}: ${why}`)
  }
  if (typeof path !== 'string') fail('not a string')
  if (path.length === 0) fail('empty')
  if (path.length > MAX_PATH_LENGTH) fail('too long')
  if (CONTROL.test(path)) fail('control character')
  if (BIDI.test(path)) fail('bidirectional text control character')
  if (path.includes('\\')) fail('backslash')
  if (path.startsWith('/')) fail('absolute path')
  if (/^[a-zA-Z]:/.test(path)) fail('drive path')
  if (LONE_SURROGATE.test(path)) fail('lone surrogate (not valid Unicode)')
  for (const segment of path.split('/')) {
    if (segment === '') fail('empty segment')
    if (segment === '.' || segment === '..') fail(`"${segment}" segment`)
    if (segment.length > MAX_SEGMENT_LENGTH) fail('segment too long')
    if (RESERVED_FOLDERS.has(segment.toLowerCase())) fail(`reserved folder name ${segment}`)
    if (WINDOWS_FORBIDDEN.test(segment)) fail('character that Windows forbids in names (< > : " | ? *)')
    if (WINDOWS_DEVICE.test(segment)) fail(`${segment} is a device name on Windows`)
    if (/[. ]$/.test(segment)) fail('segment ends in a dot or a space (Windows drops them)')
  }
}

/**
 * The form under which a file system that ignores letter case or Unicode normalisation (macOS,
 * Windows, many NAS shares) stores a name: NFC, then case-folded.
 */
export function foldPath (path: string): string {
  return path.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC')
}

/**
 * Throws if one entry is a parent folder of another (`a` and `a/b`) or if two entries collide,
 * either of which would make the folder impossible to write as described. Names are compared
 * folded (foldPath), so `A.bin` and `a.bin`, or an NFC and an NFD spelling, collide: on a file
 * system that ignores case or normalisation one would overwrite the other.
 */
export function assertNoPathConflicts (paths: readonly string[]): void {
  const files = new Map<string, string>()
  const dirs = new Map<string, string>()
  for (const path of paths) {
    const key = foldPath(path)
    const file = files.get(key)
    if (file != null) {
      throw new UnsafePathError(file === path
        ? `duplicate path in manifest: ${path}`
        : `paths differ only by letter case or Unicode normalisation: ${JSON.stringify(file)} and ${JSON.stringify(path)}`)
    }
    if (dirs.has(key)) throw new UnsafePathError(`path is both a file and a folder: ${dirs.get(key) ?? path} and ${path}`)
    files.set(key, path)
    const segments = path.split('/')
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/')
      const dirKey = foldPath(dir)
      if (files.has(dirKey)) throw new UnsafePathError(`path is both a file and a folder: ${files.get(dirKey) ?? dir} and ${dir}`)
      if (!dirs.has(dirKey)) dirs.set(dirKey, dir)
    }
  }
}
