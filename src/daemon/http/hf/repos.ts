/**
 * The Hugging Face view of the releases a daemon serves: a release name is a repo id, `main`
 * (and `HEAD`) is the newest release of that name, and a 40-hex commit (hfCommit of the CID) or
 * the CID itself selects one release exactly. Builds the JSON the Hub's model-info, tree and
 * paths-info routes answer. Pure: no I/O, so the routes stay thin and this is easy to test.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { COMMIT_PATTERN, hfCommit } from '../../../manifest/repo-id.js'
import type { ManifestFile } from '../../../manifest/manifest.js'
import type { ServedRelease } from '../../service.js'

/** An error the HF routes answer with its status and the Hub's `X-Error-Code`. */
export class HfError extends Error {
  static override name = 'HfError'
  override name = 'HfError'
  constructor (readonly status: number, readonly code: string | undefined, message: string) {
    super(message)
  }
}

interface View {
  commit: string
  /** Manifest file index by path, for the files this daemon holds. */
  byPath: Map<string, number>
  /** Every folder that holds a held file ('' is the root). */
  dirs: Set<string>
  /** LFS pointer facts by file index, computed when first asked. */
  pointers: Map<number, LfsPointer>
}

export type HfRelease = ServedRelease & View

/**
 * Keyed on the served file list, which is one array per served folder for as long as it is
 * served, so a view is computed once, not per request.
 */
const views = new WeakMap<object, View>()

/** The HF view of a served release. */
export function hfView (served: ServedRelease): HfRelease {
  let view = views.get(served.files)
  if (view == null) {
    const byPath = new Map<string, number>()
    const dirs = new Set([''])
    served.release.manifest.files.forEach((f, i) => {
      if (served.files[i] == null) return
      byPath.set(f.path, i)
      const parts = f.path.split('/')
      for (let n = 1; n < parts.length; n++) dirs.add(parts.slice(0, n).join('/'))
    })
    view = { commit: hfCommit(CID.parse(served.cid)), byPath, dirs, pointers: new Map() }
    views.set(served.files, view)
  }
  return { ...served, ...view }
}

/** Releases named `repo`, newest first (by when the daemon got them, then by CID). */
function releasesNamed (all: readonly ServedRelease[], repo: string): ServedRelease[] {
  return all.filter(r => r.name === repo).sort((a, b) => (a.addedAt === b.addedAt ? (a.cid < b.cid ? 1 : -1) : a.addedAt < b.addedAt ? 1 : -1))
}

export function hasRepo (all: readonly ServedRelease[], repo: string): boolean {
  return all.some(r => r.name === repo)
}

/** The release `rev` names in `repo`; throws HfError RepoNotFound / RevisionNotFound. */
export function pickRelease (all: readonly ServedRelease[], repo: string, rev: string): HfRelease {
  const named = releasesNamed(all, repo)
  if (named.length === 0) throw new HfError(404, 'RepoNotFound', `Repository Not Found for url: no complete release named ${JSON.stringify(repo.slice(0, 200))} on this daemon`)
  if (rev === 'main' || rev === 'HEAD') return hfView(named[0])
  if (COMMIT_PATTERN.test(rev)) {
    const found = named.map(hfView).find(r => r.commit === rev)
    if (found != null) return found
  } else {
    let cid: string | undefined
    try {
      cid = CID.parse(rev).toString()
    } catch {
      // neither a commit nor a CID: a branch name, matched by no release
    }
    const found = named.find(r => r.cid === cid)
    if (found != null) return hfView(found)
  }
  throw new HfError(404, 'RevisionNotFound', `Invalid rev id: ${rev.slice(0, 200)} (use main, a 40-hex commit or the release CID of ${repo})`)
}

interface LfsPointer { oid: string, sha256: string, pointerSize: number }

/** The LFS pointer Git would store for file `index`, and that pointer's Git blob id. */
function pointerOf (r: HfRelease, index: number): LfsPointer {
  let p = r.pointers.get(index)
  if (p == null) {
    p = lfsPointer(r.release.manifest.files[index])
    r.pointers.set(index, p)
  }
  return p
}

function lfsPointer (file: ManifestFile): LfsPointer {
  const sha256 = Buffer.from(file.sha256).toString('hex')
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${file.size}\n`
  const oid = createHash('sha1').update(`blob ${Buffer.byteLength(pointer)}\0${pointer}`).digest('hex')
  return { oid, sha256, pointerSize: Buffer.byteLength(pointer) }
}

/** GET /api/models/{repo}[/revision/{rev}] */
export function modelInfo (r: HfRelease): Record<string, unknown> {
  const { manifest } = r.release
  const siblings = [...r.byPath.values()].map(i => {
    const f = manifest.files[i]
    const p = pointerOf(r, i)
    return { rfilename: f.path, size: f.size, blobId: p.oid, lfs: { sha256: p.sha256, oid: p.sha256, size: f.size, pointerSize: p.pointerSize } }
  })
  const slash = r.name.indexOf('/')
  return {
    _id: r.cid,
    id: r.name,
    modelId: r.name,
    ...(slash > 0 ? { author: r.name.slice(0, slash) } : {}),
    sha: r.commit,
    lastModified: r.addedAt,
    createdAt: r.addedAt,
    private: false,
    gated: false,
    disabled: false,
    downloads: 0,
    likes: 0,
    tags: ['p2pweights'],
    siblings,
    usedStorage: siblings.reduce((n, s) => n + s.size, 0),
    p2pweights: { cid: r.cid, publisher: r.release.publisher }
  }
}

/** GET /api/models?author=&search=: the newest release of each name, sorted by name, no file list. */
export function listModels (all: readonly ServedRelease[], filter: { author?: string, search?: string }): Array<Record<string, unknown>> {
  const names = [...new Set(all.map(r => r.name))].sort()
  const search = filter.search?.toLowerCase()
  return names
    .filter(n => filter.author == null || n.startsWith(`${filter.author}/`))
    .filter(n => search == null || n.toLowerCase().includes(search))
    .map(n => {
      const { siblings: _, usedStorage: __, ...summary } = modelInfo(pickRelease(all, n, 'main'))
      return summary
    })
}

export interface TreeEntry {
  type: 'file' | 'directory'
  oid: string
  size: number
  path: string
  lfs?: { oid: string, size: number, pointerSize: number }
  lastCommit?: { id: string, title: string, date: string }
}

function fileEntry (r: HfRelease, index: number, expand: boolean): TreeEntry {
  const f = r.release.manifest.files[index]
  const p = pointerOf(r, index)
  return { type: 'file', oid: p.oid, size: f.size, path: f.path, lfs: { oid: p.sha256, size: f.size, pointerSize: p.pointerSize }, ...commitOf(r, expand) }
}

function dirEntry (r: HfRelease, path: string, expand: boolean): TreeEntry {
  // Git's tree id is not known here; an id that is stable for the folder of this release.
  const oid = createHash('sha1').update(`tree ${r.commit} ${path}`).digest('hex')
  return { type: 'directory', oid, size: 0, path, ...commitOf(r, expand) }
}

function commitOf (r: HfRelease, expand: boolean): Pick<TreeEntry, 'lastCommit'> {
  return expand ? { lastCommit: { id: r.commit, title: `p2pweights release ${r.cid}`, date: r.addedAt } } : {}
}

/** GET /api/models/{repo}/tree/{rev}[/{path}]: entries under `path`, sorted by path. */
export function treeEntries (r: HfRelease, path: string, recursive: boolean, expand: boolean): TreeEntry[] {
  if (!r.dirs.has(path)) {
    throw new HfError(404, 'EntryNotFound', `${path.slice(0, 200)} is not a folder of ${r.name}@${r.commit}`)
  }
  const prefix = path === '' ? '' : `${path}/`
  const under = (p: string): boolean => p.startsWith(prefix) && (recursive || !p.slice(prefix.length).includes('/'))
  const entries: TreeEntry[] = []
  for (const dir of r.dirs) if (dir !== '' && dir !== path && under(dir)) entries.push(dirEntry(r, dir, expand))
  for (const [p, i] of r.byPath) if (under(p)) entries.push(fileEntry(r, i, expand))
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** POST /api/models/{repo}/paths-info/{rev}: the entries that exist among `paths`. */
export function pathsInfo (r: HfRelease, paths: readonly string[], expand: boolean): TreeEntry[] {
  const out: TreeEntry[] = []
  for (const p of new Set(paths)) {
    const index = r.byPath.get(p)
    if (index != null) out.push(fileEntry(r, index, expand))
    else if (p !== '' && r.dirs.has(p)) out.push(dirEntry(r, p, expand))
  }
  return out
}
