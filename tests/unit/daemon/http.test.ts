/**
 * The HTTP API's contract (docs/api.md) over a fake DaemonService: every route, its status
 * codes, body validation and how service errors become statuses. Auth is in http-auth.test.ts,
 * the event stream in http-events.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { call, closeAll, errorOf, start } from './api-fixture.js'
import { BadRequestError, CID, ForbiddenFolderError, NotFoundError, OTHER_CID, PEERS, STATUS, model, namedError } from './fake-service.js'

afterEach(closeAll)

describe('HTTP API routes', () => {
  it('GET /healthz answers {ok: true}', async () => {
    const { url } = await start()
    const res = await call(`${url}/healthz`, 'GET')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
  })

  it('GET /api/v1/status, /models, /models/:cid and /peers answer what the service holds', async () => {
    const { url } = await start()
    expect(await (await call(`${url}/api/v1/status`, 'GET')).json()).toEqual(STATUS)
    expect(await (await call(`${url}/api/v1/models`, 'GET')).json()).toEqual([model()])
    const one = await call(`${url}/api/v1/models/${CID}`, 'GET')
    expect(one.status).toBe(200)
    expect(await one.json()).toEqual(model())
    expect(one.headers.get('cache-control')).toBe('no-store')
    expect(await (await call(`${url}/api/v1/peers`, 'GET')).json()).toEqual(PEERS)
  })

  it('GET /api/v1/models/:cid of an unknown CID is a 404 that says what to do', async () => {
    const { url } = await start()
    const res = await call(`${url}/api/v1/models/${OTHER_CID}`, 'GET')
    expect(res.status).toBe(404)
    expect(await errorOf(res)).toContain('GET /api/v1/models')
  })

  it('POST /api/v1/seeds hands the body to addSeed and answers 201 with the model', async () => {
    const { url, service } = await start()
    const res = await call(`${url}/api/v1/seeds`, 'POST', { folder: '/srv/models/x', name: 'x' })
    expect(res.status).toBe(201)
    expect(res.headers.get('location')).toBe(`/api/v1/models/${OTHER_CID}`)
    expect((await res.json() as { path: string }).path).toBe('/srv/models/x')
    expect(service.called('addSeed')).toEqual([[{ folder: '/srv/models/x', name: 'x' }]])
  })

  it('POST /api/v1/fetches hands the body to addFetch and answers 202', async () => {
    const { url, service } = await start()
    const body = { cid: OTHER_CID, outDir: '/data/out', trust: ['12D3KooWA'], peers: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWB'] }
    const res = await call(`${url}/api/v1/fetches`, 'POST', body)
    expect(res.status).toBe(202)
    expect((await res.json() as { state: string }).state).toBe('queued')
    expect(service.called('addFetch')).toEqual([[body]])
  })

  it('DELETE /api/v1/models/:cid answers 204, then 404 once it is gone', async () => {
    const { url, service } = await start()
    const res = await call(`${url}/api/v1/models/${CID}`, 'DELETE')
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')
    expect(service.models.has(CID)).toBe(false)
    const again = await call(`${url}/api/v1/models/${CID}`, 'DELETE')
    expect(again.status).toBe(404)
    expect(await errorOf(again)).toContain(CID)
  })

  it('GET /metrics is the service\'s Prometheus text', async () => {
    const { url } = await start()
    const res = await call(`${url}/metrics`, 'GET')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await res.text()).toContain('p2pweights_models 1')
  })

  it('an unknown route is a JSON 404', async () => {
    const { url } = await start()
    const res = await call(`${url}/api/v2/nothing`, 'GET')
    expect(res.status).toBe(404)
    expect(await errorOf(res)).toContain('/api/v1')
  })
})

describe('HTTP API request bodies', () => {
  const cases: Array<[string, string, unknown, number, RegExp, Record<string, string>?]> = [
    ['malformed JSON', '/api/v1/fetches', '{"cid": ', 400, /not valid JSON/],
    ['an empty JSON body', '/api/v1/fetches', '', 400, /empty/],
    ['a JSON array', '/api/v1/fetches', [OTHER_CID], 400, /body must be an object/],
    ['cid as a number', '/api/v1/fetches', { cid: 1 }, 400, /body\.cid must be a string/],
    ['trust as a string', '/api/v1/fetches', { cid: OTHER_CID, trust: 'x' }, 400, /body\.trust must be an array/],
    ['peers holding a number', '/api/v1/fetches', { cid: OTHER_CID, peers: [1] }, 400, /body\.peers\[0\] must be a string/],
    ['an unknown property', '/api/v1/fetches', { cid: OTHER_CID, evil: true }, 400, /unknown property "evil"/],
    ['a stall timeout under 1 s', '/api/v1/fetches', { cid: OTHER_CID, stallTimeout: 10 }, 400, /body\.stallTimeout must be >= 1000/],
    ['a find timeout over a day', '/api/v1/fetches', { cid: OTHER_CID, findTimeout: 1e12 }, 400, /body\.findTimeout must be <= 86400000/],
    ['a fractional timeout', '/api/v1/fetches', { cid: OTHER_CID, findTimeout: 1500.5 }, 400, /body\.findTimeout must be (an )?integer/],
    ['a missing cid', '/api/v1/fetches', { outDir: '/x' }, 400, /required property "cid"/],
    ['a too long cid or name', '/api/v1/fetches', { cid: 'b'.repeat(301) }, 400, /body\.cid must NOT have more than 300 characters/],
    ['a missing folder', '/api/v1/seeds', { name: 'x' }, 400, /required property "folder"/],
    ['a too long folder', '/api/v1/seeds', { folder: '/' + 'a'.repeat(5000) }, 400, /body\.folder/],
    ['a 100 KiB body', '/api/v1/seeds', { folder: '/' + 'a'.repeat(100 * 1024) }, 413, /64 KiB/],
    ['a text/plain body', '/api/v1/fetches', JSON.stringify({ cid: OTHER_CID }), 415, /application\/json/, { 'content-type': 'text/plain' }],
    ['a form body', '/api/v1/seeds', 'folder=%2Fetc', 415, /application\/json/, { 'content-type': 'application/x-www-form-urlencoded' }],
    ['no body at all', '/api/v1/seeds', undefined, 400, /body must be an object/]
  ]
  for (const [what, path, body, status, message, headers] of cases) {
    it(`${what} → ${status}, and the service is not called`, async () => {
      const { url, service } = await start()
      const res = await call(`${url}${path}`, 'POST', body, headers)
      expect(res.status).toBe(status)
      expect(await errorOf(res)).toMatch(message)
      expect(service.called('addFetch').length + service.called('addSeed').length).toBe(0)
    })
  }

  it('a too long CID in the path is a 400, not a silent 404', async () => {
    const { url, service } = await start()
    const res = await call(`${url}/api/v1/models/${'b'.repeat(201)}`, 'GET')
    expect(res.status).toBe(400)
    expect(service.called('get')).toEqual([])
  })
})

describe('HTTP API service errors', () => {
  const cases: Array<[Error, number]> = [
    [new BadRequestError('folder must be an absolute path'), 400],
    [new ForbiddenFolderError('/etc is outside the allowed folders'), 403],
    [new NotFoundError('no such thing'), 404],
    [namedError('InvalidCidError', 'not a CID'), 400],
    [namedError('UntrustedPublisherError', 'publisher not in --trust'), 400],
    [namedError('InvalidManifestError', 'manifest has a bad path'), 400]
  ]
  for (const [err, status] of cases) {
    it(`${err.name} → ${status} with its message`, async () => {
      const { url, service, errors } = await start()
      service.failures.set('addFetch', err)
      const res = await call(`${url}/api/v1/fetches`, 'POST', { cid: OTHER_CID })
      expect(res.status).toBe(status)
      expect(await errorOf(res)).toBe(err.message)
      expect(errors).toEqual([])
    })
  }

  it('any other error is a 500 with its message, no stack, reported to onError; the server keeps serving', async () => {
    const { url, service, errors } = await start()
    const boom = new TypeError('disk on fire')
    service.failures.set('addSeed', boom)
    const res = await call(`${url}/api/v1/seeds`, 'POST', { folder: '/srv/x' })
    expect(res.status).toBe(500)
    const message = await errorOf(res)
    expect(message).toContain('disk on fire')
    expect(message).not.toMatch(/\bat .*\.ts:\d+/)
    expect(errors).toEqual([boom])
    service.failures.set('status', new Error('sync failure'))
    expect((await call(`${url}/api/v1/status`, 'GET')).status).toBe(500)
    expect((await call(`${url}/healthz`, 'GET')).status).toBe(200)
  })
})

describe('dashboard files', () => {
  it('GET / is the dashboard page with the fetch form, under a strict CSP', async () => {
    const { url } = await start()
    const res = await call(`${url}/`, 'GET')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    const html = await res.text()
    for (const id of ['fetch-form', 'fetch-cid', 'fetch-outdir', 'fetch-submit', 'seed-form', 'seed-folder', 'model-rows']) {
      expect(html).toContain(`id="${id}"`)
    }
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//) // nothing from elsewhere
  })

  it('serves the scripts and the stylesheet, and nothing else from the folder', async () => {
    const { url } = await start()
    for (const [path, type] of [['/app.js', 'text/javascript'], ['/api.js', 'text/javascript'], ['/format.js', 'text/javascript'], ['/style.css', 'text/css']]) {
      const res = await call(`${url}${path}`, 'GET')
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toContain(type)
    }
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/dashboard/index.html', '/server.ts']) {
      expect((await call(`${url}${path}`, 'GET')).status, path).toBe(404)
    }
  })

  it('a missing dashboard folder is a 500 that says how to fix it, not a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pw-dash-'))
    try {
      const { url } = await start({ dashboardDir: dir })
      const res = await call(`${url}/`, 'GET')
      expect(res.status).toBe(500)
      expect(await errorOf(res)).toContain('npm run build')
      expect((await call(`${url}/api/v1/status`, 'GET')).status).toBe(200)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
