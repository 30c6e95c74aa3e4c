/**
 * How the CLI finds a running daemon, as the ipfs CLI does: the daemon writes
 * <data-dir>/api.json ({url, pid, token}) when its API is up and removes it on a clean stop.
 * The API token, needed when the API is bound beyond loopback, lives in <data-dir>/api-token
 * (mode 0600): whoever can read the data dir may drive the daemon.
 */
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../store/atomic.js'

export interface ApiFile {
  url: string
  pid: number
  /** Whether requests need the token from api-token. */
  token: boolean
}

export const apiFilePath = (dataDir: string): string => join(dataDir, 'api.json')
const tokenPath = (dataDir: string): string => join(dataDir, 'api-token')

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

export async function readToken (dataDir: string): Promise<string | undefined> {
  return (await readFile(tokenPath(dataDir), 'utf8').catch(() => ''))?.trim() || undefined
}

export async function loadOrCreateToken (dataDir: string): Promise<string> {
  const existing = await readToken(dataDir)
  if (existing != null) return existing
  const token = randomBytes(32).toString('base64url')
  await writeFileAtomic(tokenPath(dataDir), token + '\n', 0o600)
  return token
}

/** True for addresses only this machine can reach. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host)
}
