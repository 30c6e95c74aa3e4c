/**
 * Choosing files of a release by glob, with the semantics of `hf download --include/--exclude`
 * (huggingface_hub's `filter_repo_objects`): patterns are fnmatch-style and matched against
 * the whole relative path (`*` also crosses `/`), a pattern ending in `/` means everything under
 * that folder, a file is kept if it matches some include pattern (or none is given) and then
 * dropped if it matches some exclude pattern. Matching is case-sensitive, as fnmatch on POSIX.
 */
import { InvalidManifestError } from './errors.js'
import type { Manifest } from './manifest.js'

export interface FileSelection {
  include?: readonly string[]
  exclude?: readonly string[]
}

export class NoFilesSelectedError extends InvalidManifestError {
  static override name = 'NoFilesSelectedError'
  override name = 'NoFilesSelectedError'
}

const MAX_PATTERNS = 64
const MAX_PATTERN_LENGTH = 1024

/** A RegExp that matches what Python's fnmatch.fnmatchcase matches. */
export function fnmatchRegExp (pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      out += '.*'
    } else if (c === '?') {
      out += '.'
    } else if (c === '[') {
      // A set runs to the next `]` (a `]` right after `[` or `[!` belongs to the set).
      let j = i + 1
      if (pattern[j] === '!') j++
      if (pattern[j] === ']') j++
      while (j < pattern.length && pattern[j] !== ']') j++
      if (j >= pattern.length) {
        out += '\\['
        continue
      }
      let body = pattern.slice(i + 1, j)
      const negate = body.startsWith('!')
      if (negate) body = body.slice(1)
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, m => (m === ']' ? '\\]' : `\\${m}`))}]`
      i = j
    } else {
      out += c.replace(/[.+^${}()|\\/]/g, '\\$&')
    }
  }
  return new RegExp(`^${out}$`, 's')
}

function compile (patterns: readonly string[] | undefined, flag: string): RegExp[] | undefined {
  if (patterns == null || patterns.length === 0) return undefined
  if (patterns.length > MAX_PATTERNS) throw new InvalidManifestError(`at most ${MAX_PATTERNS} ${flag} patterns`)
  return patterns.map(p => {
    if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATTERN_LENGTH) throw new InvalidManifestError(`${flag} patterns must be 1 to ${MAX_PATTERN_LENGTH} characters`)
    return fnmatchRegExp(p.endsWith('/') ? `${p}*` : p)
  })
}

/** A predicate on relative paths; everything passes when neither list is given. */
export function pathFilter (selection: FileSelection): (path: string) => boolean {
  const include = compile(selection.include, '--include')
  const exclude = compile(selection.exclude, '--exclude')
  return path => (include == null || include.some(r => r.test(path))) && !(exclude?.some(r => r.test(path)) ?? false)
}

/** True when the selection names any pattern (a partial fetch). */
export function isPartial (selection: FileSelection): boolean {
  return (selection.include?.length ?? 0) > 0 || (selection.exclude?.length ?? 0) > 0
}

/**
 * The indexes of the manifest's files the selection keeps, or undefined for "all of them".
 * Throws NoFilesSelectedError when patterns are given and keep nothing.
 */
export function selectFiles (manifest: Manifest, selection: FileSelection): Set<number> | undefined {
  if (!isPartial(selection)) return undefined
  const keep = pathFilter(selection)
  const files = new Set<number>()
  manifest.files.forEach((f, i) => { if (keep(f.path)) files.add(i) })
  if (files.size === 0) {
    const shown = manifest.files.slice(0, 5).map(f => f.path).join(', ')
    throw new NoFilesSelectedError(`no file of release "${manifest.name}" matches --include ${JSON.stringify(selection.include ?? [])} --exclude ${JSON.stringify(selection.exclude ?? [])} (it holds ${manifest.files.length} file(s): ${shown}${manifest.files.length > 5 ? ', …' : ''})`)
  }
  return files.size === manifest.files.length ? undefined : files
}
