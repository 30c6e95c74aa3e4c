/**
 * Choosing files of a release by glob, with the semantics of `hf download --include/--exclude`
 * (huggingface_hub's `filter_repo_objects`): patterns are fnmatch-style and matched against
 * the whole relative path (`*` also crosses `/`), a pattern ending in `/` means everything under
 * that folder, a file is kept if it matches some include pattern (or none is given) and then
 * dropped if it matches some exclude pattern. Matching is case-sensitive, as fnmatch on POSIX.
 */
import { InvalidManifestError, NoFilesSelectedError } from './errors.js'
import type { Manifest } from './manifest.js'

export interface FileSelection {
  include?: readonly string[]
  exclude?: readonly string[]
}

const MAX_PATTERNS = 64
const MAX_PATTERN_LENGTH = 1024

type Token =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'char', ch: string }
  | { kind: 'set', negate: boolean, chars: string, ranges: Array<[string, string]> }

/** Splits an fnmatch pattern into tokens (as Python's fnmatch.translate reads it). */
function tokenize (pattern: string): Token[] {
  const tokens: Token[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' })
    } else if (c === '?') {
      tokens.push({ kind: 'any' })
    } else if (c === '[') {
      // A set runs to the next `]`; a `]` right after `[` or `[!` belongs to it.
      let j = i + 1
      if (pattern[j] === '!') j++
      if (pattern[j] === ']') j++
      while (j < pattern.length && pattern[j] !== ']') j++
      if (j >= pattern.length) {
        tokens.push({ kind: 'char', ch: '[' }) // unclosed: a literal [
        continue
      }
      let body = pattern.slice(i + 1, j)
      const negate = body.startsWith('!')
      if (negate) body = body.slice(1)
      const set: Token = { kind: 'set', negate, chars: '', ranges: [] }
      for (let k = 0; k < body.length; k++) {
        if (k + 2 < body.length && body[k + 1] === '-') {
          set.ranges.push([body[k], body[k + 2]])
          k += 2
        } else {
          set.chars += body[k]
        }
      }
      tokens.push(set)
      i = j
    } else {
      tokens.push({ kind: 'char', ch: c })
    }
  }
  return tokens
}

function matchesOne (t: Token, c: string): boolean {
  switch (t.kind) {
    case 'any': return true
    case 'char': return t.ch === c
    case 'set': return (t.chars.includes(c) || t.ranges.some(([a, b]) => a <= c && c <= b)) !== t.negate
    default: return false
  }
}

/**
 * Python's fnmatch.fnmatchcase(path, pattern), without regular expressions: a two-pointer match
 * that returns to the last `*` on a mismatch, so time is at most path length x pattern length
 * whatever the pattern (a regex of many `*` backtracks exponentially on a hostile path).
 */
export function fnmatch (pattern: string, path: string): boolean {
  return matchTokens(tokenize(pattern), path)
}

function matchTokens (tokens: Token[], path: string): boolean {
  let t = 0
  let s = 0
  let starT = -1
  let starS = 0
  while (s < path.length) {
    const token = tokens[t]
    if (token != null && token.kind !== 'star' && matchesOne(token, path[s])) {
      t++
      s++
    } else if (token?.kind === 'star') {
      starT = t++
      starS = s
    } else if (starT >= 0) {
      t = starT + 1
      s = ++starS
    } else {
      return false
    }
  }
  while (tokens[t]?.kind === 'star') t++
  return t === tokens.length
}

function compile (patterns: readonly string[] | undefined, flag: string): Token[][] | undefined {
  if (patterns == null || patterns.length === 0) return undefined
  if (patterns.length > MAX_PATTERNS) throw new InvalidManifestError(`at most ${MAX_PATTERNS} ${flag} patterns`)
  return patterns.map(p => {
    if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATTERN_LENGTH) throw new InvalidManifestError(`${flag} patterns must be 1 to ${MAX_PATTERN_LENGTH} characters`)
    return tokenize(p.endsWith('/') ? `${p}*` : p)
  })
}

/** A predicate on relative paths; everything passes when neither list is given. */
export function pathFilter (selection: FileSelection): (path: string) => boolean {
  const include = compile(selection.include, '--include')
  const exclude = compile(selection.exclude, '--exclude')
  return path => (include == null || include.some(t => matchTokens(t, path))) && !(exclude?.some(t => matchTokens(t, path)) ?? false)
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
