/**
 * Who may call the API: the bearer token on every protected route, on loopback too (and that a
 * refused request changes nothing), the public routes, and the Host / Origin checks against DNS
 * rebinding and cross-site requests. The hostile client here is any local process or web page
 * that can reach 127.0.0.1 but cannot read the data dir.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createApiServer } from '../../../src/daemon/http/server.js'
import { call, closeAll, errorOf, rawRequest, start } from './api-fixture.js'
import { CID, FakeService, OTHER_CID } from './fake-service.js'

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
  ['no Authorization header', { authorization: '' }],
  ['a wrong token', { authorization: 'Bearer wrong-token' }],
  ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ['the token plus a character', { authorization: `Bearer ${TOKEN}x` }],
  ['the token as Basic auth', { authorization: `Basic ${TOKEN}` }],
  ['the token without a scheme', { authorization: TOKEN }]
]

/** What a hostile client tried must have reached nothing: no call, no model gone, no subscriber. */
function expectUntouched (service: FakeService): void {
  expect(service.calls).toEqual([])
  expect(service.models.has(CID)).toBe(true)
  expect(service.models.has(OTHER_CID)).toBe(false)
  expect(service.listeners.size).toBe(0)
}

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
      expectUntouched(service)
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
      expect((await call(`${url}${path}`, 'GET', undefined, { authorization: '' })).status, path).toBe(200)
    }
  })

  it('an unknown route with no token is refused, not described', async () => {
    const { url } = await start({ token: TOKEN })
    expect((await call(`${url}/api/v1/secret`, 'GET', undefined, { authorization: '' })).status).toBe(401)
  })

  it('on loopback too, a local client without the token gets 401 everywhere and changes nothing', async () => {
    const { url, service } = await start({ host: '127.0.0.1' })
    for (const [method, path, body] of PROTECTED) {
      const res = await call(`${url}${path}`, method, body, { authorization: '' })
      expect(res.status, `${method} ${path}`).toBe(401)
    }
    expectUntouched(service)
  })

  it('the token in a URL query is not accepted on any API route (URLs end up in logs and history)', async () => {
    const { url, service } = await start({ token: TOKEN })
    for (const [method, path, body] of PROTECTED) {
      for (const query of [`token=${TOKEN}`, `access_token=${TOKEN}`]) {
        const res = await call(`${url}${path}?${query}`, method, body, { authorization: '' })
        expect(res.status, `${method} ${path}?${query}`).toBe(401)
      }
    }
    expectUntouched(service)
  })

  it('refuses to start without a token, or with a short one', async () => {
    const service = new FakeService()
    for (const token of [undefined, '', 'short']) {
      await expect(createApiServer(service, { host: '127.0.0.1', port: 0, token: token as string })).rejects.toThrow(/token/)
    }
  })
})

describe('Host and Origin checks', () => {
  it('bound to loopback, a request naming a non-loopback Host is refused even with the token (DNS rebinding)', async () => {
    const { url, service } = await start()
    const port = new URL(url).port
    const refused = await rawRequest(`${url}/api/v1/models/${CID}`, 'DELETE', { host: `evil.example:${port}` })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body).error).toMatch(/localhost/)
    // without the token as well: 403 or 401, never through
    expect((await rawRequest(`${url}/api/v1/models/${CID}`, 'DELETE', { host: `evil.example:${port}`, authorization: '' })).status).toBe(403)
    expectUntouched(service)
    expect((await rawRequest(`${url}/`, 'GET', { host: `evil.example:${port}` })).status).toBe(403)
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await rawRequest(`${url}/api/v1/status`, 'GET', { host })).status, host).toBe(200)
    }
    // health checks come from anywhere
    expect((await rawRequest(`${url}/healthz`, 'GET', { host: 'nas.lan', authorization: '' })).status).toBe(200)
  })

  it('bound beyond loopback, any Host is fine (the token is the check)', async () => {
    const { url } = await start({ host: '0.0.0.0', token: TOKEN })
    const res = await rawRequest(`${url}/api/v1/status`, 'GET', { host: 'nas.lan:7171', authorization: `Bearer ${TOKEN}` })
    expect(res.status).toBe(200)
    const without = await rawRequest(`${url}/api/v1/status`, 'GET', { host: 'nas.lan:7171', authorization: '' })
    expect(without.status).toBe(401)
  })

  it('a cross-site request (foreign Origin) is refused before it reaches the service, token or not', async () => {
    const { url, service } = await start()
    const hostile: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'https://evil.example', authorization: '' }, { origin: 'null' }]
    for (const headers of hostile) {
      const res = await call(`${url}/api/v1/fetches`, 'POST', { cid: OTHER_CID }, headers)
      expect(res.status, JSON.stringify(headers)).toBe(403)
      expect(await errorOf(res)).toMatch(/cross-site/)
    }
    expectUntouched(service)
    const same = await call(`${url}/api/v1/fetches`, 'POST', { cid: OTHER_CID }, { origin: url })
    expect(same.status).toBe(202)
    expect(service.called('addFetch')).toEqual([[{ cid: OTHER_CID }]])
  })
})
