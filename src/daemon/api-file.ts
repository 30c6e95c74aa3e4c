/**
 * How the CLI finds a running daemon and proves it may drive it, as the ipfs CLI does: the
 * daemon writes <data-dir>/api.json ({url, pid, token}) when its API is up and removes it on a
 * clean stop. The API token lives in <data-dir>/api-token (mode 0600, in a data dir of mode
 * 0700): whoever can read the data dir may drive the daemon, and nobody else. The token is never
 * printed to logs or --json output; `p2pweights login-url` reads it from here for a browser.
 */
import { randomBytes } from 'node:crypto'
import { chmod, lstat, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../store/atomic.js'
import { DataDirPermissionError } from './errors.js'

export interface ApiFile {
  url: string
  pid: number
  /** Whether requests need the token from api-token (always true since tokens are required on loopback too). */
  token: boolean
}

export { DataDirPermissionError }

export const apiFilePath = (dataDir: string): string => join(dataDir, 'api.json')
export const tokenPath = (dataDir: string): string => join(dataDir, 'api-token')

export async function writeApiFile (dataDir: string, api: ApiFile): Promise<void> {
  await writeFileAtomic(apiFilePath(dataDir), JSON.stringify(api) + '\n')
}

export async function removeApiFile (dataDir: string): Promise<void> {
  await rm(apiFilePath(dataDir), { force: true })
}

export async function readApiFile (dataDir: string): Promise<ApiFile | undefined> {
  try {
    const api = JSON.parse(await readFile(apiFilePath(dataDir), 'utf8')) as ApiFile
    return typeof api.url === 'string' && Number.isInteger(api.pid) ? api : undefined
  } catch {
    return undefined
  }
}

/** The token, or undefined when there is none; other read errors (EACCES) are thrown. */
export async function readToken (dataDir: string): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(tokenPath(dataDir), 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    throw err
  }
  return text.trim() === '' ? undefined : text.trim()
}

/**
 * The daemon's token: the one in api-token if that file is private to us (a regular file of
 * ours, no group or other permission bits), else a new one (a token others could read must be
 * assumed leaked). Makes the data dir 0700 first. `onWarning` hears what was tightened.
 */
export async function loadOrCreateToken (dataDir: string, onWarning: (message: string) => void = () => {}): Promise<string> {
  await makePrivate(dataDir, onWarning)
  const path = tokenPath(dataDir)
  const s = await lstat(path).catch(() => undefined)
  if (s != null) {
    const mine = typeof process.getuid !== 'function' || s.uid === process.getuid()
    if (s.isFile() && mine && (s.mode & 0o077) === 0) {
      const existing = await readToken(dataDir)
      if (existing != null && existing.length >= 32) return existing
    } else {
      onWarning(`${path} was not a private file of this user (mode ${(s.mode & 0o777).toString(8)}); it was replaced with a new token`)
    }
  }
  const token = randomBytes(32).toString('base64url')
  await writeFileAtomic(path, token + '\n', 0o600)
  return token
}

/** Gives the data dir mode 0700 (it holds keys and the API token). */
async function makePrivate (dataDir: string, onWarning: (message: string) => void): Promise<void> {
  const s = await stat(dataDir)
  if ((s.mode & 0o077) === 0) return
  try {
    await chmod(dataDir, 0o700)
  } catch (err: any) {
    throw new DataDirPermissionError(`the data dir ${dataDir} is mode ${(s.mode & 0o777).toString(8)} and cannot be made 0700 (${String(err.code ?? err.message)}): it holds keys and the API token; fix its owner or mode`)
  }
  onWarning(`the data dir ${dataDir} was mode ${(s.mode & 0o777).toString(8)}; it is now 0700 (it holds keys and the API token)`)
}

/** The address a browser opens to log in to the dashboard; the token is in the fragment, which browsers never send. */
export function loginUrl (apiUrl: string, token: string): string {
  return `${apiUrl}/#token=${encodeURIComponent(token)}`
}
