/**
 * The daemon's HTTP API (docs/api.md) and its dashboard, served with Fastify over a
 * DaemonService. This layer only translates: it validates bodies, checks the token, maps
 * errors to statuses and streams events; everything it answers comes from the service.
 */
import Fastify, { type FastifyReply } from 'fastify'
import { logger } from '@libp2p/logger'
import { CancelledError } from '../../engine/errors.js'
import { NotFoundError, type AddFetchRequest, type AddSeedRequest, type DaemonService, type FollowRequest } from '../service.js'
import { checkOrigin, checkToken, isLoopbackAddress, MIN_TOKEN_LENGTH } from './auth.js'
import { formatValidationError, toHttpError } from './errors.js'
import { DEFAULT_EVENT_STREAM_OPTIONS, EventStreams, type EventStreamOptions } from './events.js'
import { cancelSeedBody, cidParams, fetchBody, followBody, seedBody } from './schemas.js'
import { DASHBOARD_HEADERS, DASHBOARD_PATHS, DEFAULT_DASHBOARD_DIR, Dashboard } from './static.js'
import { registerHfRoutes } from './hf/routes.js'
import type { AddressInfo } from 'node:net'

export interface ApiServerOptions {
  /** Address to listen on, e.g. 127.0.0.1, ::1 or 0.0.0.0. */
  host: string
  /** 0 = a free port. */
  port: number
  /** Every route but /healthz and the dashboard's files needs `Authorization: Bearer <token>`. */
  token: string
  /** Default: the dashboard/ folder next to this file (in dist/ and in src/). */
  dashboardDir?: string
  /** Called with every error answered with a 500, for the daemon's log. */
  onError?: (err: Error) => void
  /** Event stream tuning (tests). */
  events?: Partial<EventStreamOptions>
}

export interface ApiServer {
  /** Where the API answers, e.g. http://127.0.0.1:7171 (a wildcard host is given as loopback). */
  url: string
  /** Ends event streams and open connections, then stops listening. Safe to call twice. */
  close: () => Promise<void>
}

const log = logger('p2pweights:daemon:api')

export const BODY_LIMIT = 64 * 1024
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Routes anyone who can reach the port may call, token or not. */
const PUBLIC_ROUTES = new Set(['/healthz', ...DASHBOARD_PATHS])

export async function createApiServer (service: DaemonService, options: ApiServerOptions): Promise<ApiServer> {
  const dashboard = new Dashboard(options.dashboardDir ?? DEFAULT_DASHBOARD_DIR)
  const events = new EventStreams(service, { ...DEFAULT_EVENT_STREAM_OPTIONS, ...options.events })
  const token = options.token
  // No "open" mode: loopback is reachable by every local user and, through browsers, by web pages.
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) throw new Error(`the API needs a token of at least ${MIN_TOKEN_LENGTH} characters`)
  const loopbackOnly = isLoopbackAddress(options.host)

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Bodies are small; a client that trickles one is cut off. (Responses may take long: a seed hashes first.)
    requestTimeout: 30_000,
    // A seed that is still hashing must not hold up the daemon's shutdown.
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 256 },
    // Refuse wrong types and unknown properties instead of coercing or dropping them.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    schemaErrorFormatter: formatValidationError
  })
  // JSON only: a form or text/plain body (what a cross-site page can send without asking) is a 415.
  app.removeContentTypeParser(['text/plain'])

  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url
    if (route === '/healthz') return
    checkOrigin(request.headers, loopbackOnly)
    if (route != null && PUBLIC_ROUTES.has(route)) return
    checkToken(request.headers, token)
    reply.header('cache-control', 'no-store')
  })

  app.setErrorHandler(async (err, _request, reply) => {
    const { status, message } = toHttpError(err)
    if (status >= 500) options.onError?.(err instanceof Error ? err : new Error(String(err)))
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="p2pweights"')
    return await reply.code(status).type('application/json; charset=utf-8').send({ error: message })
  })

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0]
    return await reply.code(404).send({ error: `no such route: ${request.method} ${path.slice(0, 200)}; the API is under /api/v1 (see docs/api.md)` })
  })

  app.get('/healthz', async () => ({ ok: true }))

  app.get('/metrics', async (_request, reply) => {
    const text = await service.metrics()
    return await reply.type(PROMETHEUS_CONTENT_TYPE).send(text)
  })

  app.get('/api/v1/status', async () => service.status())

  app.get('/api/v1/models', async () => service.list())

  app.get<{ Params: { cid: string } }>('/api/v1/models/:cid', { schema: { params: cidParams } }, async (request) => {
    const model = service.get(request.params.cid)
    if (model == null) throw notFound(request.params.cid)
    return model
  })

  app.post<{ Body: AddSeedRequest }>('/api/v1/seeds', { schema: { body: seedBody } }, async (request, reply) => {
    const model = await service.addSeed(request.body, { signal: clientGone(reply) })
    return await reply.code(201).header('location', modelPath(model.cid)).send(model)
  })

  app.post<{ Body: AddFetchRequest }>('/api/v1/fetches', { schema: { body: fetchBody } }, async (request, reply) => {
    const model = await service.addFetch(request.body, { signal: clientGone(reply) })
    return await reply.code(202).header('location', modelPath(model.cid)).send(model)
  })

  // A seed still waiting or hashing has no CID yet: it is cancelled by its folder.
  app.delete<{ Body: { folder: string } }>('/api/v1/seeds', { schema: { body: cancelSeedBody } }, async (request, reply) => {
    if (service.cancelSeed == null || !await service.cancelSeed(request.body.folder)) {
      throw new NotFoundError(`no seed of ${request.body.folder.slice(0, 200)} is waiting or hashing`)
    }
    return await reply.code(204).send()
  })

  app.delete<{ Params: { cid: string } }>('/api/v1/models/:cid', { schema: { params: cidParams } }, async (request, reply) => {
    if (!await service.remove(request.params.cid)) throw notFound(request.params.cid)
    return await reply.code(204).send()
  })

  app.get('/api/v1/peers', async () => service.peers())

  // Followed names (docs/names.md). The name is the rest of the path: <publisher-id>/<org>/<model>.
  app.get('/api/v1/follows', async () => service.follows())

  app.post<{ Body: FollowRequest }>('/api/v1/follows', { schema: { body: followBody } }, async (request, reply) => {
    return await reply.code(201).send(await service.follow(request.body))
  })

  app.delete<{ Params: { '*': string } }>('/api/v1/follows/*', async (request, reply) => {
    const ref = request.params['*']
    if (ref.length > 300 || !await service.unfollow(ref)) throw new NotFoundError(`${ref.slice(0, 300)} is not followed; GET /api/v1/follows lists what is`)
    return await reply.code(204).send()
  })

  app.get('/api/v1/events', { exposeHeadRoute: false }, async (_request, reply) => {
    // Taken before the stream starts, so a failing service is an ordinary JSON error.
    events.reserve()
    const snapshot = { status: service.status(), models: service.list() }
    reply.hijack()
    events.serve(reply.raw, snapshot)
  })

  for (const path of DASHBOARD_PATHS) {
    app.get(path, async (_request, reply) => {
      const file = await dashboard.file(path)
      if (file == null) throw new NotFoundError(`no dashboard file at ${path}`)
      return await reply.headers(DASHBOARD_HEADERS).type(file.type).send(file.body)
    })
  }

  // The Hugging Face-compatible endpoint (docs/hf.md), behind the same auth hook as the API.
  const servedReleases = service.servedReleases?.bind(service)
  if (servedReleases != null) registerHfRoutes(app, servedReleases)

  app.addHook('preClose', async () => { events.closeAll() })

  try {
    await app.listen({ host: options.host, port: options.port })
  } catch (err: any) {
    await app.close().catch(closeErr => { log('closing the API after a failed listen: %e', closeErr) })
    const hint = err.code === 'EADDRINUSE' ? ': the port is in use (another daemon?); choose another with --api' : ''
    throw new Error(`cannot serve the API on ${options.host}:${options.port}: ${String(err.code ?? err.message)}${hint}`)
  }

  const { port } = app.server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost(options.host)}:${port}`,
    close: async () => {
      closing ??= app.close()
      await closing
    }
  }
}

function notFound (cid: string): NotFoundError {
  return new NotFoundError(`no model with CID ${cid} on this daemon; GET /api/v1/models lists them`)
}

function modelPath (cid: string): string {
  return `/api/v1/models/${encodeURIComponent(cid)}`
}

/** The host part of a URL that reaches `host` from this machine. */
function urlHost (host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1'
  if (host === '::' || host === '[::]') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

/**
 * Aborted when the client goes away before its answer is sent (a closed tab, a Ctrl-C'd CLI):
 * the work it asked for (a seed's hashing, a name lookup) stops instead of running for no one.
 */
function clientGone (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new CancelledError('the client went away before the answer'))
  })
  return controller.signal
}
