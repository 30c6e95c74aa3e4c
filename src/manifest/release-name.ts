/**
 * Release names. A manifest's name is a single folder name (the default: the seeded folder's
 * name) or a Hugging Face style repo id `org/model`, which is also what a signed name record
 * (src/names/) publishes under. This is the one place that says what `org/model` may look like.
 */

/** One segment of a repo id: what Hugging Face allows (letters, digits, `.`, `_`, `-`), ≤ 96 chars. */
const REPO_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,95}$/

/** True for `org/model`: exactly two segments, neither `.`/`..`-like nor empty. */
export function isRepoId (name: string): boolean {
  if (typeof name !== 'string') return false
  const parts = name.split('/')
  return parts.length === 2 && parts.every(p => REPO_SEGMENT.test(p) && !p.includes('..'))
}
