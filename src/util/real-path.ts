/** Real paths of folders that may not exist yet. */
import { realpath } from 'node:fs/promises'
import { basename, dirname, join, sep } from 'node:path'

/**
 * The real path `path` will have: symlinks resolved in its deepest existing ancestor, the
 * missing rest appended. What checks this against a root cannot be led outside by `..` or by
 * a symlinked parent, before anything is created.
 */
export async function realPathOfMaybeMissing (path: string): Promise<string> {
  let existing = path
  const missing: string[] = []
  while (true) {
    try {
      return join(await realpath(existing), ...[...missing].reverse())
    } catch (err: any) {
      if (err.code !== 'ENOENT' || dirname(existing) === existing) throw err
      missing.push(basename(existing))
      existing = dirname(existing)
    }
  }
}

/** True when the real path `real` is `root` or inside it (both already real). */
export function isInside (real: string, root: string): boolean {
  return real === root || real.startsWith(root + sep)
}
