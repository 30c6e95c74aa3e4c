/**
 * The download's state folder (`<out>/.p2pweights/`) is not trusted: another local user or a
 * process that can write to the output folder may have planted files there. So:
 *
 * - the folder itself must be a real folder, not a symlink (refused otherwise);
 * - state files are opened with O_NOFOLLOW and checked with fstat: a symlink, FIFO, device or
 *   hard-linked file is never read or written through (a `.part` is replaced by a new file,
 *   a `release` refused, a `have` ignored, the `lock` taken over);
 * - `have` carries an HMAC-SHA256 keyed by a secret in the data dir (`state.key`, 0600), over
 *   the release CID, the output folder's real path and the bitfield. A bitfield whose MAC does
 *   not verify (forged, copied from another folder, or written without a key) proves nothing:
 *   every chunk it claims is hashed again before it counts.
 */
import { constants, type Stats } from 'node:fs'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { lstat, mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { DownloadConflictError } from './errors.js'
import { UnsafePathError } from '../manifest/errors.js'
import { foldPath, STATE_DIR_NAME } from '../manifest/paths.js'
import type { Manifest } from '../manifest/manifest.js'
import type { CID } from 'multiformats/cid'

const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
const HAVE_DOMAIN = 'p2pweights-have-v1\n'
const MAC_LENGTH = 32

/**
 * Makes sure `<out>/.p2pweights` is a real folder (creating it), never a symlink to elsewhere.
 * Returns whether it existed before.
 */
export async function prepareStateDir (stateDir: string): Promise<boolean> {
  const s = await lstat(stateDir).catch(() => undefined)
  if (s == null) {
    await mkdir(stateDir, { mode: 0o700 })
    return false
  }
  if (!s.isDirectory()) {
    throw new UnsafePathError(`${stateDir} is ${s.isSymbolicLink() ? 'a symlink' : 'not a folder'}, not a state folder p2pweights made; refusing to write through it (remove it and fetch again)`)
  }
  return true
}

/**
 * Reads a state file that must be a plain file no larger than `max` bytes. A symlink or other
 * non-file is never followed: 'planted' is returned for it; a missing file gives undefined.
 */
export async function readStateFile (path: string, max: number): Promise<Uint8Array | undefined | 'planted'> {
  let handle: FileHandle
  try {
    handle = await open(path, READ_NOFOLLOW)
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    if (err.code === 'ELOOP' || err.code === 'EMLINK') return 'planted'
    throw err
  }
  try {
    const s = await handle.stat()
    if (!s.isFile() || s.nlink > 1 || s.size > max) return 'planted'
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

/** True when `s` (an lstat) is a plain file that only the state folder names. */
export function isPlainFile (s: Stats | undefined): boolean {
  return s != null && s.isFile() && s.nlink === 1
}

/**
 * Opens (or creates) a .part file for writing without ever writing through something planted
 * under its name: a symlink or a hard-linked file is unlinked and replaced by a new empty file;
 * a folder or other non-file is refused. Returns the handle and whether it was created new.
 */
export async function openPartFile (path: string): Promise<{ handle: FileHandle, fresh: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const s = await lstat(path).catch(() => undefined)
    if (s != null && !s.isFile() && !s.isSymbolicLink()) throw new UnsafePathError(`${path} is not a file; remove it and fetch again`)
    if (s != null && !isPlainFile(s)) await rm(path, { force: true }) // planted: never written through
    try {
      if (s != null && isPlainFile(s)) {
        const handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW)
        const again = await handle.stat()
        if (again.ino === s.ino && again.dev === s.dev && again.nlink === 1) return { handle, fresh: false }
        await handle.close() // swapped between lstat and open: look again
        continue
      }
      const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
      return { handle, fresh: true }
    } catch (err: any) {
      if (err.code !== 'EEXIST' && err.code !== 'ELOOP' && err.code !== 'ENOENT') throw err
    }
  }
  throw new UnsafePathError(`${path} keeps changing under us; is another process writing to this folder?`)
}

/** Opens a file we wrote (a .part or a final file) for reading, never through a symlink. */
export async function openForRead (path: string): Promise<FileHandle> {
  return await open(path, READ_NOFOLLOW)
}

function mac (key: Uint8Array, cid: CID, realOutDir: string, bits: Uint8Array): Buffer {
  return createHmac('sha256', key).update(HAVE_DOMAIN).update(cid.bytes).update('\0').update(realOutDir).update('\0').update(bits).digest()
}

/** The `have` file's bytes: the bitfield, then its MAC when there is a key. */
export function sealHave (bits: Uint8Array, key: Uint8Array | undefined, cid: CID, realOutDir: string): Uint8Array {
  if (key == null) return bits
  return Buffer.concat([bits, mac(key, cid, realOutDir, bits)])
}

/** The bitfield of a `have` file if its MAC verifies, else undefined (nothing it says is proven). */
export function openHave (bytes: Uint8Array | undefined, bitfieldLength: number, key: Uint8Array | undefined, cid: CID, realOutDir: string): Uint8Array | undefined {
  if (key == null || bytes == null || bytes.length !== bitfieldLength + MAC_LENGTH) return undefined
  const bits = bytes.subarray(0, bitfieldLength)
  const expected = mac(key, cid, realOutDir, bits)
  return timingSafeEqual(expected, bytes.subarray(bitfieldLength)) ? bits : undefined
}

/**
 * Refuses to start a download in a folder that holds anything but this release. Files at the
 * release's own paths (an earlier fetch of it, finished or copied in) are allowed, since they
 * are verified by hashing before they count; anything else means the folder belongs to
 * something else and a fetch would mix the two. `intoExisting` skips the check.
 */
export async function assertFolderIsFor (outDir: string, manifest: Manifest): Promise<void> {
  const expected = new Map(manifest.files.map(f => [foldPath(f.path), f]))
  const folders = new Set<string>()
  for (const f of manifest.files) {
    const segments = f.path.split('/')
    for (let i = 1; i < segments.length; i++) folders.add(foldPath(segments.slice(0, i).join('/')))
  }
  const refuse = (what: string): never => {
    throw new DownloadConflictError(`${outDir} already holds ${what}, which is not part of release "${manifest.name}"; ` +
      'choose another output folder (-o), or pass --into-existing to write into it anyway (files at the release\'s paths are replaced)')
  }
  let seen = 0
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (++seen > 2 * expected.size + 1000) refuse('many other files')
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`
      if (prefix === '' && entry.name === STATE_DIR_NAME) continue
      const key = foldPath(relative)
      if (entry.isDirectory() && folders.has(key)) await walk(join(dir, entry.name), relative)
      else if (!entry.isDirectory() && expected.has(key) && expected.get(key)?.path === relative) continue
      else refuse(JSON.stringify(relative))
    }
  }
  await walk(outDir, '')
}
