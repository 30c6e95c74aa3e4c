/**
 * The Hugging Face-compatible endpoint under `/hf` (HF_ENDPOINT=http://<api>/hf): enough of the
 * Hub's HTTP API for huggingface_hub, transformers, `hf download` and @huggingface/hub to read
 * the releases this daemon holds complete and verified. Repo ids contain a `/`, so one wildcard
 * route takes every path and splits it here. Auth is the API's own hook (server.ts): with a
 * token, `Authorization: Bearer <token>` (HF_TOKEN) is needed as on every API route.
 */
import { sendFile } from './files.js'
import { HfError, hasRepo, listModels, modelInfo, pathsInfo, pickRelease, treeEntries, type TreeEntry } from './repos.js'
import type { ServedRelease } from '../../service.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const HF_PREFIX = '/hf'
/** Tree entries per page, as the Hub; `?limit=` may ask for fewer. */
export const TREE_PAGE = 1000
const MAX_PATHS = 1000
const API_KEYWORDS = new Set(['revision', 'tree', 'paths-info'])
const FILE_KEYWORDS = new Set(['resolve', 'raw'])

type Releases = () => ServedRelease[]

export function registerHfRoutes (app: FastifyInstance, releases: Releases): void {
  // In a scope of its own, so the form parser (huggingface_hub posts paths-info as a form) is
  // not added to the rest of the API, which takes JSON only.
  void app.register(async scope => { hfRoutes(scope, releases) })
}

function hfRoutes (app: FastifyInstance, releases: Releases): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const form = new URLSearchParams(body as string)
    done(null, { paths: form.getAll('paths'), expand: form.get('expand') ?? undefined })
  })
  app.route({
    method: ['GET', 'HEAD', 'POST'],
    url: `${HF_PREFIX}/*`,
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      try {
        return await handle(request, reply, releases())
      } catch (err) {
        if (!(err instanceof HfError)) throw err
        if (err.code != null) reply.header('x-error-code', err.code)
        reply.header('x-error-message', err.message.replace(/[^\x20-\x7e]/g, '?'))
        return await reply.code(err.status).type('application/json; charset=utf-8').send(request.method === 'HEAD' ? undefined : { error: err.message })
      }
    }
  })
}

async function handle (request: FastifyRequest, reply: FastifyReply, all: ServedRelease[]): Promise<unknown> {
  const url = request.raw.url ?? ''
  const rawPath = url.split('?')[0].slice(HF_PREFIX.length + 1)
  const segments = rawPath.split('/').map(decodeSegment)
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')

  if (segments[0] === 'api' && segments[1] === 'models' && (segments.length === 2 || (segments.length === 3 && segments[2] === ''))) {
    if (request.method === 'POST') throw notFound(request)
    const models = listModels(all, { author: query.get('author') ?? undefined, search: query.get('search') ?? undefined })
    return page(request, reply, models, query, `${HF_PREFIX}/api/models`)
  }
  if (segments[0] === 'api' && segments[1] === 'models') {
    const { repo, rest } = splitRepo(segments.slice(2), all, r => r.length === 0 || (API_KEYWORDS.has(r[0]) && r.length >= 2))
    const [what, rev = 'main', ...path] = rest
    if (what === undefined || what === 'revision') {
      if (request.method === 'POST' || path.length > 0) throw notFound(request)
      return modelInfo(pickRelease(all, repo, rev))
    }
    if (what === 'tree' && request.method !== 'POST') return tree(request, reply, repo, rev, path.join('/'), query, all)
    if (what === 'paths-info' && request.method === 'POST' && path.length === 0) {
      const body = (request.body ?? {}) as { paths?: unknown, expand?: unknown }
      const paths = Array.isArray(body.paths) ? body.paths : typeof body.paths === 'string' ? [body.paths] : undefined
      if (paths == null || paths.length > MAX_PATHS || !paths.every(p => typeof p === 'string' && p.length <= 4096)) {
        throw new HfError(400, undefined, `paths-info needs a JSON body {"paths": [...]} with at most ${MAX_PATHS} paths`)
      }
      return pathsInfo(pickRelease(all, repo, rev), paths as string[], body.expand === true || String(body.expand).toLowerCase() === 'true')
    }
    throw notFound(request)
  }

  const { repo, rest } = splitRepo(segments, all, r => FILE_KEYWORDS.has(r[0]) && r.length >= 3)
  const [what, rev, ...path] = rest
  if (!FILE_KEYWORDS.has(what) || rev == null || path.length === 0 || request.method === 'POST') throw notFound(request)
  const release = pickRelease(all, repo, rev)
  return await sendFile(reply, release, path.join('/'), request.headers.range, request.method === 'HEAD')
}

/** GET .../tree/{rev}[/{path}]?recursive=&expand=&cursor=&limit= with a Hub-style Link header. */
function tree (request: FastifyRequest, reply: FastifyReply, repo: string, rev: string, path: string, query: URLSearchParams, all: ServedRelease[]): TreeEntry[] {
  const release = pickRelease(all, repo, rev)
  const recursive = query.get('recursive') === 'true' || query.get('recursive') === '1'
  const expand = query.get('expand') === 'true' || query.get('expand') === '1'
  const entries = treeEntries(release, path, recursive, expand)
  return page(request, reply, entries, query, `${HF_PREFIX}/api/models/${repo}/tree/${encodeURIComponent(rev)}${path === '' ? '' : `/${path.split('/').map(encodeURIComponent).join('/')}`}`)
}

/** One page of `items` (?limit=, ?cursor=), the next one named in a Hub-style absolute Link header. */
function page<T> (request: FastifyRequest, reply: FastifyReply, items: T[], query: URLSearchParams, route: string): T[] {
  const limit = query.has('limit') ? Number(query.get('limit')) : TREE_PAGE
  const cursor = query.get('cursor')
  const offset = cursor == null ? 0 : Number(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > TREE_PAGE) throw new HfError(400, undefined, `limit must be 1 to ${TREE_PAGE}`)
  if (!Number.isSafeInteger(offset) || offset < 0) throw new HfError(400, undefined, 'bad cursor')
  if (offset + limit < items.length) {
    const next = new URLSearchParams(query)
    next.set('cursor', Buffer.from(String(offset + limit), 'latin1').toString('base64url'))
    reply.header('link', `<${request.protocol}://${request.host}${route}?${next.toString()}>; rel="next"`)
  }
  return items.slice(offset, offset + limit)
}

/**
 * Splits `org/name/<rest>` or `name/<rest>`: the two-segment repo id when the daemon holds it
 * (or when only that reading fits), else the one-segment one.
 */
function splitRepo (segments: string[], all: ServedRelease[], restFits: (rest: string[]) => boolean): { repo: string, rest: string[] } {
  const two = segments.length >= 2 ? { repo: `${segments[0]}/${segments[1]}`, rest: segments.slice(2) } : undefined
  const one = segments.length >= 1 ? { repo: segments[0], rest: segments.slice(1) } : undefined
  for (const c of [two, one]) if (c != null && restFits(c.rest) && hasRepo(all, c.repo)) return c
  for (const c of [two, one]) if (c != null && restFits(c.rest)) return c
  return { repo: '', rest: [] }
}

function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new HfError(400, undefined, 'malformed percent-encoding in the URL')
  }
}

function notFound (request: FastifyRequest): HfError {
  return new HfError(404, undefined, `no such route on the Hugging Face endpoint: ${request.method} ${(request.raw.url ?? '').split('?')[0].slice(0, 200)}`)
}
