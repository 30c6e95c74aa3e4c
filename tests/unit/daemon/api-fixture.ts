/**
 * Starts the HTTP API on 127.0.0.1, port 0, over a FakeService, and gives tests small request
 * helpers. Every server started here is closed by closeAll() (call it in afterEach). Servers
 * get TEST_TOKEN unless a test gives another; call() and rawRequest() send it unless the test
 * sets `authorization` itself ('' = send no Authorization header).
 */
import { request as httpRequest } from 'node:http'
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../../src/daemon/http/server.js'
import { FakeService } from './fake-service.js'

export interface Fixture {
  service: FakeService
  server: ApiServer
  url: string
  errors: Error[]
}

const open: ApiServer[] = []

export const TEST_TOKEN = 'fixture-token-0123456789abcdef'
/** Headers that carry TEST_TOKEN, for tests that call fetch() themselves. */
export const AUTH = { authorization: `Bearer ${TEST_TOKEN}` }

function withToken (headers: Record<string, string>): Record<string, string> {
  const out = { ...AUTH, ...headers }
  if (out.authorization === '') delete (out as Partial<typeof out>).authorization
  return out
}

export async function start (options: Partial<ApiServerOptions> = {}, service = new FakeService()): Promise<Fixture> {
  const errors: Error[] = []
  const server = await createApiServer(service, { host: '127.0.0.1', port: 0, token: TEST_TOKEN, onError: e => errors.push(e), ...options })
  open.push(server)
  return { service, server, url: server.url, errors }
}

export async function closeAll (): Promise<void> {
  await Promise.all(open.splice(0).map(async s => { await s.close() }))
}

/** fetch() with a JSON body (already a string when `raw`), bounded in time. */
export async function call (url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: withToken(headers), signal: AbortSignal.timeout(5000) }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
  }
  return await fetch(url, init)
}

/** The JSON error body of a response, checking its shape: exactly {error: non-empty string}. */
export async function errorOf (res: Response): Promise<string> {
  const body = await res.json() as Record<string, unknown>
  if (Object.keys(body).join() !== 'error' || typeof body.error !== 'string' || body.error === '') {
    throw new Error(`not an error body: ${JSON.stringify(body)}`)
  }
  return body.error
}

/** A raw request with full control of the headers (fetch does not let a caller set Host). */
export async function rawRequest (url: string, method: string, headers: Record<string, string>): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: withToken(headers), timeout: 5000 }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('timeout', () => { req.destroy(new Error('request timed out')) })
    req.on('error', reject)
    req.end()
  })
}

/** Polls `condition` every 10 ms; fails after `ms`. */
export async function waitFor (condition: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
