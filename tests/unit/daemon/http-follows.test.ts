/**
 * The follow routes of the HTTP API (docs/api.md) over a fake DaemonService: list, follow,
 * unfollow by the name as the rest of the path, body validation, and the token when one is set.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { call, closeAll, errorOf, start } from './api-fixture.js'
import { BadRequestError } from './fake-service.js'

afterEach(closeAll)

const REF = '12D3KooWPublisher/acme/llama-7b'

describe('HTTP API: follows', () => {
  it('POST /api/v1/follows follows (201), GET lists, DELETE /api/v1/follows/<ref> unfollows (204, then 404)', async () => {
    const { url, service } = await start()
    const created = await call(`${url}/api/v1/follows`, 'POST', { ref: REF, keep: 3 })
    expect(created.status).toBe(201)
    expect(await created.json()).toMatchObject({ ref: REF, keep: 3 })
    expect(service.called('follow')).toEqual([[{ ref: REF, keep: 3 }]])
    expect(await (await call(`${url}/api/v1/follows`, 'GET')).json()).toMatchObject([{ ref: REF }])
    expect((await call(`${url}/api/v1/follows/${REF}`, 'DELETE')).status).toBe(204)
    expect(service.called('unfollow')).toEqual([[REF]])
    const again = await call(`${url}/api/v1/follows/${REF}`, 'DELETE')
    expect(again.status).toBe(404)
    expect(await errorOf(again)).toContain('GET /api/v1/follows')
  })

  it('refuses bad bodies before the service sees them, and maps a bad name to 400', async () => {
    const { url, service } = await start()
    for (const body of [{}, { ref: REF, keep: 0 }, { ref: REF, keep: 101 }, { ref: REF, keep: '2' }, { ref: REF, extra: 1 }, { ref: 'x'.repeat(301) }]) {
      const res = await call(`${url}/api/v1/follows`, 'POST', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
    }
    expect(service.called('follow')).toEqual([])
    service.failures.set('follow', new BadRequestError('"nope/acme/x" is neither a publisher id nor a trusted alias'))
    const res = await call(`${url}/api/v1/follows`, 'POST', { ref: 'nope/acme/x' })
    expect(res.status).toBe(400)
    expect(await errorOf(res)).toContain('trusted alias')
  })

  it('the follow routes need the token: none or a wrong one is a 401 and changes nothing', async () => {
    const { url, service } = await start({ token: 'secret-token-0123456789' })
    for (const authorization of ['', 'Bearer not-the-token-0123456789']) {
      expect((await call(`${url}/api/v1/follows`, 'POST', { ref: REF }, { authorization })).status).toBe(401)
      expect((await call(`${url}/api/v1/follows`, 'GET', undefined, { authorization })).status).toBe(401)
      expect((await call(`${url}/api/v1/follows/${REF}`, 'DELETE', undefined, { authorization })).status).toBe(401)
    }
    expect(service.called('follow')).toEqual([])
    expect(service.called('unfollow')).toEqual([])
    const ok = await call(`${url}/api/v1/follows`, 'POST', { ref: REF }, { authorization: 'Bearer secret-token-0123456789' })
    expect(ok.status).toBe(201)
  })
})
