/**
 * Path safety for manifest entries. A manifest comes from an untrusted peer until its signature
 * is checked, and even a signed manifest may be hostile, so every path is checked both as text
 * (here) and against the real file system when a file is written (store/).
 */
import { UnsafePathError } from './errors.js'

/** The folder inside a download's output directory that holds partial state. */
export const STATE_DIR_NAME = '.p2pweights'

const MAX_PATH_LENGTH = 4096
const MAX_SEGMENT_LENGTH = 255

/**
 * Throws UnsafePathError unless `path` is a relative, normalised POSIX path that cannot leave
 * the folder it is resolved against: no `..` or `.` segments, no empty segments, no absolute
 * or drive paths, no backslashes, no NUL or other control characters.
 */
export function assertSafeRelativePath (path: string): void {
  const fail = (why: string): never => {
    throw new UnsafePathError(`unsafe path in manifest ${JSON.stringify(String(path).slice(0, 200))}: ${why}`)
  }
  if (typeof path !== 'string') fail('not a string')
  if (path.length === 0) fail('empty')
  if (path.length > MAX_PATH_LENGTH) fail('too long')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) fail('control character')
  if (path.includes('\\')) fail('backslash')
  if (path.startsWith('/')) fail('absolute path')
  if (/^[a-zA-Z]:/.test(path)) fail('drive path')
  for (const segment of path.split('/')) {
    if (segment === '') fail('empty segment')
    if (segment === '.' || segment === '..') fail(`"${segment}" segment`)
    if (segment.length > MAX_SEGMENT_LENGTH) fail('segment too long')
  }
  if (path.split('/')[0] === STATE_DIR_NAME) fail(`reserved folder ${STATE_DIR_NAME}`)
}

/**
 * Throws if one entry is a parent folder of another (`a` and `a/b`) or if two entries collide,
 * either of which would make the folder impossible to write as described.
 */
export function assertNoPathConflicts (paths: readonly string[]): void {
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const path of paths) {
    if (files.has(path)) throw new UnsafePathError(`duplicate path in manifest: ${path}`)
    if (dirs.has(path)) throw new UnsafePathError(`path is both a file and a folder: ${path}`)
    files.add(path)
    const segments = path.split('/')
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/')
      if (files.has(dir)) throw new UnsafePathError(`path is both a file and a folder: ${dir}`)
      dirs.add(dir)
    }
  }
}
