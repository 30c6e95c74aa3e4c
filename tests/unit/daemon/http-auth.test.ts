/**
 * Who may call the API: the bearer token on every protected route (and that a refused request
 * changes nothing), the public routes, and the Host / Origin checks against DNS rebinding and
 * cross-site requests.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { call, closeAll, errorOf, rawRequest, start } from './api-fixture.js'
import { CID, OTHER_CID } from './fake-service.js'

afterEach(closeAll)

const TOKEN = 'secret-token-0123456789'

const PROTECTED: Array<[string, string, unknown?]> = [
  ['GET', '/metrics'],
  ['GET', '/api/v1/status'],
  ['GET', '/api/v1/models'],
  ['GET', `/api/v1/models/${CID}`],
  ['POST', '/api/v1/seeds', { folder: '/srv/models/x' }],
  ['POST', '/api/v1/fetches', { cid: OTHER_CID }],
  ['DELETE', `/api/v1/models/${CID}`],
  ['GET', '/api/v1/peers'],
  ['GET', '/api/v1/events']
]

const WRONG: Array<[string, Record<string, string>]> = [
  ['no Authorization header', {}],
  ['a wrong token', { authorization: 'Bearer wrong-token' }],
  ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ['the token plus a character', { authorization: `Bearer ${TOKEN}x` }],
  ['the token as Basic auth', { authorization: `Basic ${TOKEN}` }],
  ['the token without a scheme', { authorization: TOKEN }]
]

describe('API token', () => {
  for (const [what, headers] of WRONG) {
    it(`${what}: every protected route is a 401 and nothing reaches the service`, async () => {
      const { url, service } = await start({ token: TOKEN })
      for (const [method, path, body] of PROTECTED) {
        const res = await call(`${url}${path}`, method, body, headers)
        expect(res.status, `${method} ${path}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
        expect(await errorOf(res)).toMatch(/token/)
      }
      expect(service.calls).toEqual([])
      expect(service.models.has(CID)).toBe(true)
      expect(service.listeners.size).toBe(0)
    })
  }

  it('the right token opens every protected route', async () => {
    const { url, service } = await start({ token: TOKEN })
    for (const [method, path, body] of PROTECTED) {
      const ctrl = new AbortController()
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body != null ? { 'content-type': 'application/json' } : {}) },
        body: body != null ? JSON.stringify(body) : undefined,
        signal: ctrl.signal
      })
      expect(res.status, `${method} ${path}`).toBeLessThan(300)
      ctrl.abort() // ends the event stream
    }
    expect(service.called('addSeed')).toHaveLength(1)
    expect(service.called('addFetch')).toHaveLength(1)
    expect(service.called('remove')).toEqual([[CID]])
  })

  it('/healthz and the dashboard files need no token', async () => {
    const { url } = await start({ token: TOKEN })
    for (const path of ['/healthz', '/', '/index.html', '/app.js', '/api.js', '/format.js', '/style.css']) {
      expect((await call(`${url}${path}`, 'GET')).status, path).toBe(200)
    }
  })

  it('an unknown route with no token is refused, not described', async () => {
    const { url } = await start({ token: TOKEN })
    expect((await call(`${url}/api/v1/secret`, 'GET')).status).toBe(401)
  })

  it('without a token set, the API is open on loopback', async () => {
    const { url } = await start()
    expect((await call(`${url}/api/v1/status`, 'GET')).status).toBe(200)
  })
})

describe('Host and Origin checks', () => {
  it('without a token, a request naming a non-loopback Host is refused (DNS rebinding)', async () => {
    const { url, service } = await start()
    const port = new URL(url).port
    const refused = await rawRequest(`${url}/api/v1/models/${CID}`, 'DELETE', { host: `evil.example:${port}` })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body).error).toMatch(/localhost/)
    expect(service.calls).toEqual([])
    expect((await rawRequest(`${url}/`, 'GET', { host: `evil.example:${port}` })).status).toBe(403)
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await rawRequest(`${url}/api/v1/status`, 'GET', { host })).status, host).toBe(200)
    }
    // health checks come from anywhere
    expect((await rawRequest(`${url}/healthz`, 'GET', { host: 'nas.lan' })).status).toBe(200)
  })

  it('with a token, any Host is fine (the token is the check)', async () => {
    const { url } = await start({ token: TOKEN })
    const res = await rawRequest(`${url}/api/v1/status`, 'GET', { host: 'nas.lan:7171', authorization: `Bearer ${TOKEN}` })
    expect(res.status).toBe(200)
  })

  it('a cross-site request (foreign Origin) is refused before it reaches the service', async () => {
    const { url, service } = await start()
    const res = await call(`${url}/api/v1/fetches`, 'POST', { cid: OTHER_CID }, { origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(await errorOf(res)).toMatch(/cross-site/)
    expect(service.calls).toEqual([])
    const same = await call(`${url}/api/v1/fetches`, 'POST', { cid: OTHER_CID }, { origin: url })
    expect(same.status).toBe(202)
  })
})
