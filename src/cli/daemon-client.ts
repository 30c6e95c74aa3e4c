/**
 * The CLI's client of a running daemon: found through <data-dir>/api.json, spoken to over its
 * HTTP API (docs/api.md). When no daemon answers, the commands run standalone.
 */
import { request as httpRequest } from 'node:http'
import { loginUrl, readApiFile, readToken, tokenPath } from '../daemon/api-file.js'
import { isProcessAlive } from '../util/process.js'
import type { AddFetchRequest, AddSeedRequest, DaemonEvent, FollowEntry, FollowRequest, ModelInfo, NodeStatus, PeerSummary } from '../daemon/service.js'

import { DaemonApiError, DaemonTokenError } from './errors.js'

export { DaemonApiError, DaemonTokenError }

const REQUEST_TIMEOUT = 30_000
/** Seeding through the daemon waits for hashing, which may take long on a big folder. */
const SEED_TIMEOUT = 24 * 60 * 60 * 1000

export class DaemonClient {
  private constructor (readonly url: string, private readonly token: string) {}

  /**
   * The daemon of this data dir, if one is running and answers. Its token comes from
   * <data-dir>/api-token: a user who cannot read it gets DaemonTokenError rather than a silent
   * standalone run next to the daemon.
   */
  static async find (dataDir: string): Promise<DaemonClient | undefined> {
    const api = await readApiFile(dataDir)
    if (api == null || !isProcessAlive(api.pid)) return undefined
    try {
      const res = await fetch(`${api.url}/healthz`, { signal: AbortSignal.timeout(2000) })
      if (!res.ok) return undefined
    } catch {
      return undefined
    }
    let token: string | undefined
    try {
      token = await readToken(dataDir)
    } catch (err: any) {
      throw new DaemonTokenError(`a daemon runs for ${dataDir}, but its API token ${tokenPath(dataDir)} cannot be read (${String(err.code ?? err.message)}): run this as the daemon's user, or pass --no-daemon (seed, fetch) to run on your own`)
    }
    if (token == null) throw new DaemonTokenError(`a daemon runs for ${dataDir}, but it has no API token at ${tokenPath(dataDir)}; restart the daemon`)
    return new DaemonClient(api.url, token)
  }

  /** The dashboard URL that logs a browser in (the token in its fragment). */
  loginUrl (): string {
    return loginUrl(this.url, this.token)
  }

  async status (): Promise<NodeStatus> {
    return await this.request('GET', '/api/v1/status')
  }

  async list (): Promise<ModelInfo[]> {
    return await this.request('GET', '/api/v1/models')
  }

  async get (cid: string): Promise<ModelInfo> {
    return await this.request('GET', `/api/v1/models/${encodeURIComponent(cid)}`)
  }

  async peers (): Promise<PeerSummary[]> {
    return await this.request('GET', '/api/v1/peers')
  }

  /** Answers once hashed; `signal` (Ctrl-C) closes the request, and the daemon then stops hashing. */
  async addSeed (req: AddSeedRequest, signal?: AbortSignal): Promise<ModelInfo> {
    return await this.request('POST', '/api/v1/seeds', req, SEED_TIMEOUT, signal)
  }

  async addFetch (req: AddFetchRequest, signal?: AbortSignal): Promise<ModelInfo> {
    return await this.request('POST', '/api/v1/fetches', req, REQUEST_TIMEOUT, signal)
  }

  /** Cancels the seed of a folder the daemon is still hashing (or about to). */
  async cancelSeed (folder: string): Promise<void> {
    await this.request('DELETE', '/api/v1/seeds', { folder })
  }

  async remove (cid: string): Promise<void> {
    await this.request('DELETE', `/api/v1/models/${encodeURIComponent(cid)}`)
  }

  async follows (): Promise<FollowEntry[]> {
    return await this.request('GET', '/api/v1/follows')
  }

  async follow (req: FollowRequest): Promise<FollowEntry> {
    return await this.request('POST', '/api/v1/follows', req)
  }

  async unfollow (ref: string): Promise<void> {
    await this.request('DELETE', `/api/v1/follows/${ref.split('/').map(encodeURIComponent).join('/')}`)
  }

  /** The daemon's live events (Server-Sent Events), until `signal` aborts or the daemon goes. */
  async * events (signal: AbortSignal): AsyncGenerator<DaemonEvent | { type: 'snapshot', models: ModelInfo[] }> {
    const res = await fetch(`${this.url}/api/v1/events`, { headers: this.headers(), signal })
    if (!res.ok || res.body == null) throw new DaemonApiError(res.status, `the daemon refused the event stream (${res.status})`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n')
        const type = block.split('\n').find(l => l.startsWith('event:'))?.slice(6).trim()
        if (data === '' || type == null) continue // keepalive comments
        yield { type, ...JSON.parse(data) }
      }
    }
  }

  private headers (): Record<string, string> {
    return { authorization: `Bearer ${this.token}` }
  }

  /**
   * One JSON request. node:http rather than fetch(): fetch gives up when response headers take
   * more than 300 s, and POST /seeds answers only after hashing, which can take far longer.
   */
  private async request<T> (method: string, path: string, body?: unknown, timeout = REQUEST_TIMEOUT, signal?: AbortSignal): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = this.headers()
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    const { status, text } = await new Promise<{ status: number, text: string }>((resolve, reject) => {
      const req = httpRequest(`${this.url}${path}`, { method, headers, signal: AbortSignal.any([AbortSignal.timeout(timeout), ...(signal != null ? [signal] : [])]) }, res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { text += chunk })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        res.on('error', reject)
      })
      // Our own cancellation (Ctrl-C) is reported as such, not as an unreachable daemon.
      req.on('error', err => reject(signal?.aborted === true ? signal.reason : new DaemonApiError(0, `cannot reach the daemon at ${this.url}: ${err.message}`)))
      req.end(payload)
    })
    if (status === 204) return undefined as T
    let parsed: any
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = { error: text }
    }
    if (status < 200 || status >= 300) throw new DaemonApiError(status, `the daemon answered ${status}: ${parsed?.error ?? text}`)
    return parsed as T
  }
}
