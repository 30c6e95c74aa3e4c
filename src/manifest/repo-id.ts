/**
 * Release names that are Hugging Face repo ids (`org/name`), and the Git-style commit id a
 * release gets in the Hugging Face world. A name is either one folder name (the manifest's
 * path rules) or `org/name` validated as the Hub validates repo ids, so a release name can be
 * used as the repo id of the daemon's HF-compatible endpoint and of an HF cache entry.
 */
import { InvalidManifestError } from './errors.js'
import type { CID } from 'multiformats/cid'

/** Per segment, as the Hub: letters, digits, `.`, `_`, `-`; at most 96 characters. */
const SEGMENT = /^[A-Za-z0-9._-]{1,96}$/

/** Why `segment` is not a valid repo id segment, or undefined when it is. */
function segmentProblem (segment: string): string | undefined {
  if (!SEGMENT.test(segment)) return 'each part must be 1 to 96 of A-Z a-z 0-9 . _ -'
  if (/^[-.]|[-.]$/.test(segment)) return 'a part may not start or end with "-" or "."'
  if (segment.includes('--') || segment.includes('..')) return 'a part may not contain "--" or ".."'
  return undefined
}

/** True for `name` or `org/name` as the Hub accepts them. */
export function isHfRepoId (id: string): boolean {
  return repoIdProblem(id) === undefined
}

/** True for `org/name` (two parts): the shape a signed name (src/names/) publishes under. */
export function isRepoId (name: string): boolean {
  return typeof name === 'string' && name.split('/').length === 2 && repoIdProblem(name) === undefined
}

/** Why `id` is not a Hub repo id (`name` or `org/name`), or undefined when it is. */
export function repoIdProblem (id: string): string | undefined {
  if (typeof id !== 'string') return 'not a string'
  const parts = id.split('/')
  if (parts.length > 2) return 'at most one "/" (org/name)'
  for (const part of parts) {
    const problem = segmentProblem(part)
    if (problem != null) return problem
  }
  if (id.endsWith('.git')) return 'may not end in ".git"'
  return undefined
}

/** Throws InvalidManifestError unless a release name with a `/` is a valid `org/name`. */
export function assertReleaseNameShape (name: string): void {
  if (!name.includes('/')) return
  const problem = repoIdProblem(name)
  if (problem != null) throw new InvalidManifestError(`invalid manifest: release name ${JSON.stringify(name.slice(0, 200))} is not a Hugging Face repo id (org/name): ${problem}`)
}

/**
 * The single folder a release is fetched into by default: its name, with `org/name` written as
 * `org--name` (as the HF cache does), so two organisations' `name` never share a folder.
 */
export function defaultFolderName (name: string): string {
  return name.split('/').join('--')
}

/**
 * The 40-hex "commit" of a release for Hugging Face clients: the first 20 bytes of the release
 * CID's sha2-256 digest (the digest of the signed release bytes), in lowercase hex. It changes
 * with every release and is stable for a given CID.
 */
export function hfCommit (cid: CID): string {
  return Buffer.from(cid.multihash.digest.subarray(0, 20)).toString('hex')
}

export const COMMIT_PATTERN = /^[0-9a-f]{40}$/
